//! Which items of a mirror group's accounts are the same title: by provider ids only, never by
//! title, and never a guess (issue 21, item 2).
//!
//! - An item's **own** ids (`imdb:…`, `tmdb:…`, `tvdb:…`, compared with their provider) match
//!   it first. An episode with none of its own matches by its series' ids plus its season and
//!   episode numbers (TVDB and TMDB number seasons differently, e.g. for anime, so such a match
//!   is only as good as the numbering; the health list says so).
//! - A **title** is a set of items, at most one per account, whose ids agree pairwise: where
//!   two items both carry an id of one provider, the values are equal.
//! - Anything else is listed, never written: two candidates on one account, or ids that
//!   disagree → **ambiguous**; an item no other account has → **unmatched**.
//!
//! Pure: plain data in, plain data out (no store, no HTTP).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{AccountId, ItemKind, Provider, ProviderId};

/// One playable item of one account, as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub account: AccountId,
    pub item_id: String,
    pub kind: ItemKind,
    /// For the health list ("Paper Cities S2E9 Borrowed Light").
    pub label: String,
    /// The item's own provider ids.
    pub ids: Vec<ProviderId>,
    /// Episodes: the provider ids of their series.
    pub series_ids: Vec<ProviderId>,
    pub season: Option<i64>,
    pub episode: Option<i64>,
}

/// Items of several accounts that are one title (at most one item per account, sorted by
/// account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Title {
    pub items: Vec<(AccountId, String)>,
    /// Matched through an episode's series ids and numbers (at least one side has no ids of
    /// its own).
    pub by_numbers: bool,
}

impl Title {
    /// A stable key of the title: its items, `account:item` joined by `|`.
    pub fn key(&self) -> String {
        self.items
            .iter()
            .map(|(a, i)| format!("{a}:{i}"))
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Why an item is not mirrored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// Present on one account only (or without any id to match by).
    Unmatched,
    /// Two candidates, or ids that disagree: never written.
    Ambiguous,
}

/// One entry of the health list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub kind: HealthKind,
    /// (account, item id, label) of every item concerned.
    pub items: Vec<(AccountId, String, String)>,
    pub reason: String,
}

/// The result of [`match_items`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Matching {
    pub titles: Vec<Title>,
    pub health: Vec<Health>,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Own(ProviderId),
    Numbers(ProviderId, i64, i64),
}

struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, i: usize) -> usize {
        let mut r = i;
        while self.0[r] != r {
            r = self.0[r];
        }
        let mut i = i;
        while self.0[i] != r {
            let next = self.0[i];
            self.0[i] = r;
            i = next;
        }
        r
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

fn numbers_keys(c: &Candidate) -> Vec<Key> {
    match (c.kind, c.season, c.episode) {
        (ItemKind::Episode, Some(s), Some(e)) => c
            .series_ids
            .iter()
            .map(|p| Key::Numbers(p.clone(), s, e))
            .collect(),
        _ => Vec::new(),
    }
}

/// The values `ids` hold for `provider`.
fn values(ids: &[ProviderId], provider: Provider) -> BTreeSet<&str> {
    ids.iter()
        .filter(|p| p.provider == provider)
        .map(|p| p.value.as_str())
        .collect()
}

/// Where two id lists disagree: a provider both name with no value in common.
fn disagreement(a: &[ProviderId], b: &[ProviderId]) -> Option<Provider> {
    [Provider::Imdb, Provider::Tmdb, Provider::Tvdb]
        .into_iter()
        .find(|p| {
            let (x, y) = (values(a, *p), values(b, *p));
            !x.is_empty() && !y.is_empty() && x.is_disjoint(&y)
        })
}

fn show(ids: &[ProviderId], provider: Provider) -> String {
    values(ids, provider)
        .into_iter()
        .map(|v| format!("{}:{v}", provider.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why two items of different accounts cannot be one title, if they cannot.
fn pair_conflict(a: &Candidate, b: &Candidate) -> Option<String> {
    if a.kind != b.kind {
        return Some(format!(
            "one id names a {} and a {}",
            a.kind.as_str().to_lowercase(),
            b.kind.as_str().to_lowercase()
        ));
    }
    if let Some(p) = disagreement(&a.ids, &b.ids) {
        return Some(format!(
            "the ids disagree: {} on {}, {} on {}",
            show(&a.ids, p),
            a.label,
            show(&b.ids, p),
            b.label
        ));
    }
    if a.ids.is_empty() || b.ids.is_empty() {
        if let Some(p) = disagreement(&a.series_ids, &b.series_ids) {
            return Some(format!(
                "the series ids disagree: {} and {}",
                show(&a.series_ids, p),
                show(&b.series_ids, p)
            ));
        }
        if (a.season, a.episode) != (b.season, b.episode) {
            return Some("matched by series ids but the numbers differ".to_string());
        }
    }
    None
}

/// Match the playable items of a group's accounts into titles; list every item that is not
/// mirrored with the reason (see the module documentation for the rules).
pub fn match_items(candidates: &[Candidate]) -> Matching {
    let n = candidates.len();
    let mut sets = Sets((0..n).collect());
    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        for id in &c.ids {
            by_key.entry(Key::Own(id.clone())).or_default().push(i);
        }
        for k in numbers_keys(c) {
            by_key.entry(k).or_default().push(i);
        }
    }
    for (key, members) in &by_key {
        match key {
            Key::Own(_) => {
                for w in members.windows(2) {
                    sets.union(w[0], w[1]);
                }
            }
            // Series ids + numbers join an episode only where it has no ids of its own.
            Key::Numbers(..) => {
                let bare: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|i| candidates[*i].ids.is_empty())
                    .collect();
                if let Some(first) = bare.first() {
                    for m in members {
                        sets.union(*first, *m);
                    }
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        groups.entry(sets.find(i)).or_default().push(i);
    }
    let mut out = Matching::default();
    let label = |i: &usize| {
        let c = &candidates[*i];
        (c.account, c.item_id.clone(), c.label.clone())
    };
    for members in groups.values() {
        let accounts: BTreeSet<AccountId> =
            members.iter().map(|i| candidates[*i].account).collect();
        let items = members.iter().map(label).collect::<Vec<_>>();
        if members.len() == 1 {
            let c = &candidates[members[0]];
            let reason = if c.ids.is_empty() && numbers_keys(c).is_empty() {
                "no provider ids (IMDb, TMDB, TVDB) to match by".to_string()
            } else {
                "no item with these ids on the other servers".to_string()
            };
            out.health.push(Health {
                kind: HealthKind::Unmatched,
                items,
                reason,
            });
            continue;
        }
        if accounts.len() < members.len() {
            let twice = accounts
                .iter()
                .find(|a| {
                    members
                        .iter()
                        .filter(|i| candidates[**i].account == **a)
                        .count()
                        > 1
                })
                .copied()
                .unwrap_or_default();
            out.health.push(Health {
                kind: HealthKind::Ambiguous,
                items,
                reason: format!("two or more items of account {twice} carry the same ids"),
            });
            continue;
        }
        let conflict = members.iter().enumerate().find_map(|(k, a)| {
            members[k + 1..]
                .iter()
                .find_map(|b| pair_conflict(&candidates[*a], &candidates[*b]))
        });
        if let Some(reason) = conflict {
            out.health.push(Health {
                kind: HealthKind::Ambiguous,
                items,
                reason,
            });
            continue;
        }
        let mut title_items: Vec<(AccountId, String)> = members
            .iter()
            .map(|i| (candidates[*i].account, candidates[*i].item_id.clone()))
            .collect();
        title_items.sort();
        out.titles.push(Title {
            items: title_items,
            by_numbers: members.iter().any(|i| candidates[*i].ids.is_empty()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<ProviderId> {
        v.iter().filter_map(|s| ProviderId::parse(s)).collect()
    }

    fn movie(account: AccountId, id: &str, pids: &[&str]) -> Candidate {
        Candidate {
            account,
            item_id: id.into(),
            kind: ItemKind::Movie,
            label: id.into(),
            ids: ids(pids),
            series_ids: Vec::new(),
            season: None,
            episode: None,
        }
    }

    fn episode(
        account: AccountId,
        id: &str,
        own: &[&str],
        series: &[&str],
        s: i64,
        e: i64,
    ) -> Candidate {
        Candidate {
            kind: ItemKind::Episode,
            series_ids: ids(series),
            season: Some(s),
            episode: Some(e),
            ..movie(account, id, own)
        }
    }

    fn titles(m: &Matching) -> Vec<String> {
        m.titles.iter().map(Title::key).collect()
    }

    #[test]
    fn ids_match_only_with_their_provider() {
        let m = match_items(&[movie(1, "a", &["tmdb:65"]), movie(2, "b", &["tvdb:65"])]);
        assert!(m.titles.is_empty(), "{m:?}");
        assert_eq!(m.health.len(), 2);
        assert!(m.health.iter().all(|h| h.kind == HealthKind::Unmatched));
        let m = match_items(&[movie(1, "a", &["tmdb:65"]), movie(2, "b", &["tmdb:65"])]);
        assert_eq!(titles(&m), ["1:a|2:b"]);
        assert!(m.health.is_empty());
    }

    #[test]
    fn no_title_matches() {
        // Same label, no ids: nothing matches.
        let mut a = movie(1, "x", &[]);
        let mut b = movie(2, "y", &[]);
        a.label = "Amélie".into();
        b.label = "Amélie".into();
        let m = match_items(&[a, b]);
        assert!(m.titles.is_empty());
        assert!(m
            .health
            .iter()
            .all(|h| h.reason.contains("no provider ids")));
    }

    #[test]
    fn episodes_match_by_own_ids_first() {
        // Same series and numbers but different own ids: not one title (TVDB and TMDB number
        // seasons differently; own ids win).
        let m = match_items(&[
            episode(1, "a", &["tvdb:1"], &["tvdb:100"], 1, 1),
            episode(2, "b", &["tvdb:2"], &["tvdb:100"], 1, 1),
        ]);
        assert!(m.titles.is_empty(), "{m:?}");
        // Different numbers, same own id: one title.
        let m = match_items(&[
            episode(1, "a", &["tvdb:1"], &["tvdb:100"], 1, 1),
            episode(2, "b", &["tvdb:1"], &["tmdb:100"], 2, 13),
        ]);
        assert_eq!(titles(&m), ["1:a|2:b"]);
        assert!(!m.titles[0].by_numbers);
    }

    #[test]
    fn series_ids_and_numbers_only_where_an_episode_has_no_ids() {
        let m = match_items(&[
            episode(1, "a", &["tvdb:1"], &["tvdb:100"], 1, 2),
            episode(2, "b", &[], &["tvdb:100"], 1, 2),
            episode(2, "c", &[], &["tvdb:100"], 1, 3),
        ]);
        assert_eq!(titles(&m), ["1:a|2:b"]);
        assert!(m.titles[0].by_numbers);
        assert_eq!(m.health.len(), 1);
        assert_eq!(m.health[0].items[0].1, "c");
        // Series ids of another provider do not match.
        let m = match_items(&[
            episode(1, "a", &[], &["tvdb:100"], 1, 2),
            episode(2, "b", &[], &["tmdb:100"], 1, 2),
        ]);
        assert!(m.titles.is_empty());
    }

    #[test]
    fn two_candidates_are_ambiguous() {
        let m = match_items(&[
            movie(1, "a", &["tmdb:65"]),
            movie(2, "b", &["tmdb:65"]),
            movie(2, "c", &["tmdb:65", "imdb:tt1"]),
        ]);
        assert!(m.titles.is_empty(), "{m:?}");
        assert_eq!(m.health.len(), 1);
        assert_eq!(m.health[0].kind, HealthKind::Ambiguous);
        assert_eq!(m.health[0].items.len(), 3);
    }

    #[test]
    fn ids_that_disagree_make_the_whole_set_ambiguous() {
        let m = match_items(&[
            movie(1, "a", &["tmdb:65", "imdb:tt1"]),
            movie(2, "b", &["tmdb:65", "imdb:tt2"]),
        ]);
        assert!(m.titles.is_empty());
        assert_eq!(m.health[0].kind, HealthKind::Ambiguous);
        assert!(m.health[0].reason.contains("imdb:tt1"), "{:?}", m.health);
        // Three accounts: a and b agree, c disagrees with a through b's other id.
        let m = match_items(&[
            movie(1, "a", &["tmdb:65"]),
            movie(2, "b", &["tmdb:65", "imdb:tt1"]),
            movie(3, "c", &["imdb:tt1", "tmdb:66"]),
        ]);
        assert!(m.titles.is_empty(), "{m:?}");
        assert_eq!(m.health.len(), 1);
    }

    #[test]
    fn one_side_only_is_unmatched_and_kinds_must_agree() {
        let m = match_items(&[movie(1, "a", &["imdb:tt1"])]);
        assert_eq!(m.health[0].kind, HealthKind::Unmatched);
        assert!(m.health[0].reason.contains("other servers"));
        let m = match_items(&[
            movie(1, "a", &["imdb:tt1"]),
            episode(2, "b", &["imdb:tt1"], &[], 1, 1),
        ]);
        assert!(m.titles.is_empty());
        assert_eq!(m.health[0].kind, HealthKind::Ambiguous);
    }

    #[test]
    fn three_accounts_that_agree_are_one_title() {
        let m = match_items(&[
            movie(3, "c", &["imdb:tt1"]),
            movie(1, "a", &["tmdb:65", "imdb:tt1"]),
            movie(2, "b", &["tmdb:65"]),
        ]);
        assert_eq!(titles(&m), ["1:a|2:b|3:c"]);
    }
}
