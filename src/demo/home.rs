//! The "home" lists both demo servers answer: items to resume and the next episode of each
//! series, as the real servers compute them (docs/SERVERS.md, "Real client libraries").
//!
//! - **Resume** (Jellyfin `GET /UserItems/Resume`, Plex's continue watching): playable items
//!   with a position (`IsResumable`: `PlaybackPositionTicks > 0`), most recently played first.
//! - **Next up** (Jellyfin `GET /Shows/NextUp`, `TVSeriesManager.GetNextUp`): per series with
//!   a watched episode, the first unplayed episode after the last watched one in
//!   season/episode order (season 0, the specials, left out); an episode with a position
//!   counts only when resumable ones are wanted. Series ordered by their most recent play. A
//!   series asked for by id offers its first unplayed episode even when nothing was watched.

use chrono::{DateTime, Utc};

use super::library::LibItem;
use super::state::State;
use crate::model::ItemKind;

/// Most recently played first, items never played last (each group in library order).
fn by_last_played_desc(items: &mut [(Option<DateTime<Utc>>, usize, &LibItem)]) {
    items.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Playable items with a resume position, most recently played first.
pub(crate) fn resume(state: &State) -> Vec<&LibItem> {
    let mut rows: Vec<(Option<DateTime<Utc>>, usize, &LibItem)> = state
        .items()
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind.is_playable())
        .filter_map(|(n, i)| {
            let s = state.stored(&i.id);
            (s.position_ticks > 0).then_some((s.last_played, n, i))
        })
        .collect();
    by_last_played_desc(&mut rows);
    rows.into_iter().map(|(_, _, i)| i).collect()
}

/// What next up asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct NextUpQuery<'a> {
    /// Only this series (its first episode even when nothing was watched).
    pub series: Option<&'a str>,
    /// Episodes with a position count too (Jellyfin's `enableResumable`, default true).
    pub resumable: bool,
}

/// The next episode of each series, most recently watched series first.
pub(crate) fn next_up<'s>(state: &'s State, query: &NextUpQuery<'_>) -> Vec<&'s LibItem> {
    let series: Vec<&LibItem> = state
        .items()
        .iter()
        .filter(|i| i.kind == ItemKind::Series)
        .filter(|i| query.series.is_none_or(|s| s == i.id))
        .collect();
    let mut rows: Vec<(Option<DateTime<Utc>>, usize, &LibItem)> = Vec::new();
    for (n, show) in series.into_iter().enumerate() {
        let mut episodes: Vec<&LibItem> = state
            .descendants(&show.id)
            .into_iter()
            .filter_map(|i| state.items().get(i))
            .filter(|i| i.kind == ItemKind::Episode && i.season_number != Some(0))
            .collect();
        episodes.sort_by_key(|e| (e.season_number, e.episode_number));
        let watched: Vec<&&LibItem> = episodes
            .iter()
            .filter(|e| state.stored(&e.id).played)
            .collect();
        // Only series something was watched of, unless this one was asked for.
        if watched.is_empty() && query.series.is_none() {
            continue;
        }
        let last_watched = watched
            .iter()
            .filter_map(|e| state.stored(&e.id).last_played)
            .max();
        let after = watched.last().map(|e| (e.season_number, e.episode_number));
        let Some(next) = episodes.iter().find(|e| {
            !state.stored(&e.id).played
                && after.is_none_or(|a| (e.season_number, e.episode_number) > a)
        }) else {
            continue;
        };
        if !query.resumable && state.stored(&next.id).position_ticks > 0 {
            continue;
        }
        rows.push((last_watched, n, next));
    }
    by_last_played_desc(&mut rows);
    rows.into_iter().map(|(_, _, i)| i).collect()
}

/// Plex's On Deck and continue watching: what to resume, then the next episode of each show
/// in progress (each item once).
pub(crate) fn on_deck(state: &State) -> Vec<&LibItem> {
    let mut out = resume(state);
    let next = next_up(
        state,
        &NextUpQuery {
            series: None,
            resumable: false,
        },
    );
    for n in next {
        if !out.iter().any(|i| i.id == n.id) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::demo::library::{DemoLibrary, TICKS_PER_MS};

    fn state() -> State {
        State::new(DemoLibrary::seeded().without_progress(), "10.11.11".into())
    }

    fn episodes_of(state: &State, series: &str) -> Vec<String> {
        let mut eps: Vec<&LibItem> = state
            .descendants(series)
            .into_iter()
            .filter_map(|i| state.items().get(i))
            .filter(|i| i.kind == ItemKind::Episode)
            .collect();
        eps.sort_by_key(|e| (e.season_number, e.episode_number));
        eps.into_iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn next_up_is_the_first_unplayed_episode_after_the_last_watched_latest_first() {
        let mut s = state();
        let series: Vec<String> = s
            .items()
            .iter()
            .filter(|i| i.kind == ItemKind::Series)
            .map(|i| i.id.clone())
            .collect();
        let (a, b) = (&series[0], &series[1]);
        let q = NextUpQuery {
            resumable: true,
            ..NextUpQuery::default()
        };
        let ea = episodes_of(&s, a);
        let eb = episodes_of(&s, b);
        // Nothing watched: nothing is next, unless the series is asked for.
        assert!(next_up(&s, &q).is_empty());
        let only_a = NextUpQuery {
            series: Some(a),
            ..q.clone()
        };
        assert_eq!(next_up(&s, &only_a)[0].id, ea[0]);
        let now = s.now();
        s.mark_played(&ea[0], Some(now - chrono::Duration::hours(2)));
        s.mark_played(&eb[0], Some(now - chrono::Duration::hours(1)));
        s.mark_played(&eb[1], Some(now));
        let ids: Vec<String> = next_up(&s, &q).iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, vec![eb[2].clone(), ea[1].clone()]);
        // What comes after the last watched episode, not an earlier one left unwatched.
        let mut skipped = state();
        skipped.mark_played(&ea[2], Some(now));
        let ids: Vec<String> = next_up(&skipped, &q).iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, vec![ea[3].clone()]);
        // A resumable next episode counts only when asked for.
        s.stored_mut(&ea[1]).position_ticks = 60_000 * TICKS_PER_MS;
        let no_resumable = NextUpQuery {
            resumable: false,
            ..NextUpQuery::default()
        };
        let ids: Vec<String> = next_up(&s, &no_resumable)
            .iter()
            .map(|i| i.id.clone())
            .collect();
        assert_eq!(ids, vec![eb[2].clone()]);
        assert_eq!(resume(&s)[0].id, ea[1]);
        let deck: Vec<String> = on_deck(&s).iter().map(|i| i.id.clone()).collect();
        assert_eq!(deck, vec![ea[1].clone(), eb[2].clone()]);
    }
}
