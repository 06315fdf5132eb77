//! One matched title in one mirror pass: which sides changed since their bases, the agreed
//! state the group's policy makes of them, and what to queue to each side (issue 21, item 3).
//!
//! Each title keeps one **agreed** state (watched, resume point) and, per side, its **base**:
//! the server value last confirmed equal to the agreed state. A side whose value differs from
//! both its base and the agreed state changed — watched, unwatched, a resume point forward or
//! back alike. The changes are folded into the agreed state by the group's
//! [`MirrorPolicy`] (the furthest-progress rules are `merge.rs`'s: an unwatch or a restart is
//! respected, then the furthest wins); the result is queued to every side that differs. A side
//! that holds the agreed state is confirmed (its base becomes its value), so the mirror's own
//! write is never carried back. Play counts are not part of the state: they are never copied.
//!
//! Pure: plain data in, plain data out.

use serde::{Deserialize, Serialize};

use crate::model::{AccountId, Millis, UserData};

/// Watched and resume point: what a mirror carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    pub played: bool,
    pub position_ms: i64,
}

impl WatchState {
    pub fn of(u: &UserData) -> WatchState {
        WatchState {
            played: u.played,
            position_ms: if u.played { 0 } else { u.position_ms.max(0) },
        }
    }

    /// Equal as a person sees it: the watched flag, and the position to the second (servers
    /// keep different units).
    pub fn same(&self, other: &WatchState) -> bool {
        self.played == other.played
            && (self.played || self.position_ms / 1000 == other.position_ms / 1000)
    }

    fn user_data(&self) -> UserData {
        UserData {
            position_ms: self.position_ms,
            played: self.played,
            ..UserData::default()
        }
    }

    /// "watched", "not watched" or "12:00".
    pub fn describe(&self) -> String {
        if self.played {
            "watched".to_string()
        } else if self.position_ms == 0 {
            "not watched".to_string()
        } else {
            crate::merge::format_position(self.position_ms)
        }
    }
}

/// How a group decides between sides that changed the same title differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorPolicy {
    /// An unwatch or a restart is respected; otherwise the furthest state wins (watched beats
    /// any position). The default.
    FurthestProgress,
    /// The later change wins (a change with no server date is dated by the pass that saw it).
    LastWriterWins,
    /// This account's change wins; between the others, furthest progress.
    Prefer(AccountId),
}

impl MirrorPolicy {
    /// `furthest-progress`, `last-writer-wins`, `prefer:ID`.
    pub fn as_string(&self) -> String {
        match self {
            MirrorPolicy::FurthestProgress => "furthest-progress".into(),
            MirrorPolicy::LastWriterWins => "last-writer-wins".into(),
            MirrorPolicy::Prefer(a) => format!("prefer:{a}"),
        }
    }

    pub fn parse(s: &str) -> Option<MirrorPolicy> {
        match s {
            "furthest-progress" => Some(MirrorPolicy::FurthestProgress),
            "last-writer-wins" => Some(MirrorPolicy::LastWriterWins),
            _ => s
                .strip_prefix("prefer:")
                .and_then(|a| a.parse().ok())
                .map(MirrorPolicy::Prefer),
        }
    }
}

/// What a title's first pass (no agreed state yet) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPass {
    /// Record the agreed state only where every side already holds the same; list the rest.
    AgreeOnly,
    /// Carry only what is further: never unwatches, never moves a position back.
    Furthest,
    /// This account's state wins, unwatched and positions back included.
    From(AccountId),
}

impl FirstPass {
    /// `agree-only`, `furthest`, `from:ID`.
    pub fn as_string(&self) -> String {
        match self {
            FirstPass::AgreeOnly => "agree-only".into(),
            FirstPass::Furthest => "furthest".into(),
            FirstPass::From(a) => format!("from:{a}"),
        }
    }

    pub fn parse(s: &str) -> Option<FirstPass> {
        match s {
            "agree-only" => Some(FirstPass::AgreeOnly),
            "furthest" => Some(FirstPass::Furthest),
            _ => s
                .strip_prefix("from:")
                .and_then(|a| a.parse().ok())
                .map(FirstPass::From),
        }
    }
}

/// One side (account) of a title in this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideInput {
    pub account: AccountId,
    pub item_id: String,
    /// For notes: "Plex", "Jellyfin at media.local".
    pub name: String,
    /// What its server holds, from this pass's listing; `None` when it was not read (its
    /// server could not be reached).
    pub current: Option<WatchState>,
    /// The server's date of its last play, when it has one (last-writer-wins).
    pub last_played: Option<Millis>,
    /// The server value last confirmed equal to the agreed state.
    pub base: Option<WatchState>,
    /// A change of this account to this item is queued or its outcome unknown: its value is
    /// not read as a change, and nothing more is queued to it until it settles, unless the
    /// agreed state changes meanwhile (then the new one replaces what is queued).
    pub unsettled: bool,
}

/// A write the pass queues: `to` on `account`'s `item_id` (from `from`, when read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Write {
    pub account: AccountId,
    pub item_id: String,
    pub from: Option<WatchState>,
    pub to: WatchState,
}

/// What a pass decides for one title.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TitleOutcome {
    /// The agreed state after the pass (`None`: still in its first pass).
    pub agreed: Option<WatchState>,
    /// The agreed state changed in this pass.
    pub agreed_changed: bool,
    /// Bases confirmed in this pass.
    pub bases: Vec<(AccountId, WatchState)>,
    pub writes: Vec<Write>,
    /// What was not kept: "Kept Plex's 20:00 over Jellyfin's 12:00".
    pub not_kept: Vec<String>,
    /// Why nothing was decided (first pass): for the health list.
    pub waiting: Option<String>,
}

/// Does `a` (changed from `from_a`) win over `b` (changed from `from_b`) under
/// furthest-progress? Each is a reset or not from what its side held before it (merge.rs's
/// three-way rule).
fn further(a: &WatchState, from_a: &WatchState, b: &WatchState, from_b: &WatchState) -> bool {
    let (ra, rb) = (
        crate::merge::is_reset(&a.user_data(), &from_a.user_data()),
        crate::merge::is_reset(&b.user_data(), &from_b.user_data()),
    );
    match (ra, rb) {
        (true, false) => true,
        (false, true) => false,
        _ => crate::merge::progress(&a.user_data()) > crate::merge::progress(&b.user_data()),
    }
}

/// A change of one side: its value, what it changed from and when it was made. `side` is
/// `None` for the agreed state itself when it competes with a change made by a side that never
/// held it.
struct Change<'a> {
    side: Option<&'a SideInput>,
    value: WatchState,
    from: WatchState,
    at: Millis,
}

fn fold(changes: &[Change<'_>], policy: MirrorPolicy) -> WatchState {
    let mut best = &changes[0];
    let account = |c: &Change<'_>| c.side.map(|s| s.account);
    for c in &changes[1..] {
        let wins = match policy {
            MirrorPolicy::Prefer(a) if account(c) == Some(a) => true,
            MirrorPolicy::Prefer(a) if account(best) == Some(a) => false,
            MirrorPolicy::LastWriterWins if c.at != best.at => c.at > best.at,
            _ => further(&c.value, &c.from, &best.value, &best.from),
        };
        if wins {
            best = c;
        }
    }
    best.value
}

/// Decide one title (see the module documentation). `now` dates changes whose server gives no
/// date (every unwatch).
pub fn decide(
    agreed: Option<(WatchState, Millis)>,
    sides: &[SideInput],
    policy: MirrorPolicy,
    first_pass: FirstPass,
    now: Millis,
) -> TitleOutcome {
    let readable = |s: &SideInput| s.current.filter(|_| !s.unsettled);
    let Some((agreed, agreed_at)) = agreed else {
        return first(sides, first_pass);
    };
    let mut out = TitleOutcome {
        agreed: Some(agreed),
        ..TitleOutcome::default()
    };
    let mut changes = Vec::new();
    for s in sides {
        let Some(cur) = readable(s) else { continue };
        if cur.same(&agreed) {
            continue;
        }
        if let Some(b) = s.base.filter(|b| !cur.same(b)) {
            let at = s.last_played.filter(|d| *d > agreed_at).unwrap_or(now);
            changes.push(Change {
                side: Some(s),
                value: cur,
                from: b,
                at,
            });
        }
    }
    // A side that changed without ever holding the agreed state (the write carrying it was
    // still on its way, or merged away): its change was made concurrently with the change the
    // agreed state carries, not after it, so the agreed state competes with it by the policy
    // rather than losing to it as an older value (mirror simulation, seed 5: a position set
    // on Jellyfin beat Plex's earlier "watched" as if it were an unwatch of it).
    if let Some(from) = changes
        .iter()
        .map(|c| c.from)
        .find(|from| !from.same(&agreed))
    {
        changes.insert(
            0,
            Change {
                side: None,
                value: agreed,
                from,
                at: agreed_at,
            },
        );
    }
    let next = if changes.is_empty() {
        agreed
    } else {
        fold(&changes, policy)
    };
    let winner = changes.iter().find(|c| c.value.same(&next));
    let name = |c: &Change<'_>| match c.side {
        Some(s) => format!("{}'s", s.name),
        None => "the agreed".to_string(),
    };
    for c in &changes {
        if !c.value.same(&next) {
            if let Some(w) = winner {
                out.not_kept.push(format!(
                    "Kept {} {} over {} {}",
                    name(w),
                    next.describe(),
                    name(c),
                    c.value.describe()
                ));
            }
        }
    }
    out.agreed_changed = next != agreed;
    out.agreed = Some(next);
    settle(sides, &next, &mut out, !next.same(&agreed));
    out
}

/// Confirm the sides that hold `target`, queue it to the others (`changed`: also to sides not
/// read in this pass).
fn settle(sides: &[SideInput], target: &WatchState, out: &mut TitleOutcome, changed: bool) {
    for s in sides {
        if s.unsettled {
            // What is queued there carries an agreed state this pass replaced: queue the new
            // one (the outbox coalesces it with the queued change), or the old one lands later
            // and looks like a change of that side (mirror simulation, seed 7).
            if changed && s.base.is_some() {
                out.writes.push(Write {
                    account: s.account,
                    item_id: s.item_id.clone(),
                    from: None,
                    to: *target,
                });
            }
            continue;
        }
        match s.current {
            Some(cur) if cur.same(target) => out.bases.push((s.account, cur)),
            Some(cur) => out.writes.push(Write {
                account: s.account,
                item_id: s.item_id.clone(),
                from: Some(cur),
                to: *target,
            }),
            None if changed && s.base.is_some() => out.writes.push(Write {
                account: s.account,
                item_id: s.item_id.clone(),
                from: None,
                to: *target,
            }),
            None => {}
        }
    }
}

fn first(sides: &[SideInput], mode: FirstPass) -> TitleOutcome {
    let mut out = TitleOutcome::default();
    let unread: Vec<&str> = sides
        .iter()
        .filter(|s| s.current.is_none() || s.unsettled)
        .map(|s| s.name.as_str())
        .collect();
    if !unread.is_empty() {
        out.waiting = Some(format!(
            "first pass waits for {} (not read in this pass)",
            unread.join(", ")
        ));
        return out;
    }
    let values: Vec<(&SideInput, WatchState)> = sides
        .iter()
        .filter_map(|s| s.current.map(|c| (s, c)))
        .collect();
    let Some((_, first_value)) = values.first().copied() else {
        return out;
    };
    let all_same = values.iter().all(|(_, v)| v.same(&first_value));
    let target = match mode {
        _ if all_same => Some(first_value),
        FirstPass::AgreeOnly => None,
        FirstPass::Furthest => values.iter().map(|(_, v)| *v).reduce(|a, b| {
            if crate::merge::progress(&b.user_data()) > crate::merge::progress(&a.user_data()) {
                b
            } else {
                a
            }
        }),
        FirstPass::From(account) => values
            .iter()
            .find(|(s, _)| s.account == account)
            .map(|(_, v)| *v),
    };
    let Some(target) = target else {
        let held: Vec<String> = values
            .iter()
            .map(|(s, v)| format!("{} {}", s.name, v.describe()))
            .collect();
        out.waiting = Some(format!(
            "first pass: the servers differ ({}); nothing written until you choose \
             `--first-pass furthest` or `--first-pass from ACCOUNT`",
            held.join(", ")
        ));
        return out;
    };
    out.agreed = Some(target);
    out.agreed_changed = true;
    settle(sides, &target, &mut out, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> WatchState {
        WatchState {
            played: false,
            position_ms: s * 1000,
        }
    }

    const WATCHED: WatchState = WatchState {
        played: true,
        position_ms: 0,
    };

    fn side(account: AccountId, current: WatchState, base: WatchState) -> SideInput {
        SideInput {
            account,
            item_id: format!("i{account}"),
            name: format!("S{account}"),
            current: Some(current),
            last_played: None,
            base: Some(base),
            unsettled: false,
        }
    }

    fn run(agreed: WatchState, sides: &[SideInput], policy: MirrorPolicy) -> TitleOutcome {
        decide(
            Some((agreed, 0)),
            sides,
            policy,
            FirstPass::AgreeOnly,
            1_000,
        )
    }

    fn targets(o: &TitleOutcome) -> Vec<(AccountId, WatchState)> {
        o.writes.iter().map(|w| (w.account, w.to)).collect()
    }

    #[test]
    fn nothing_changed_writes_nothing() {
        let o = run(
            at(60),
            &[side(1, at(60), at(60)), side(2, at(60), at(60))],
            MirrorPolicy::FurthestProgress,
        );
        assert!(o.writes.is_empty());
        assert!(!o.agreed_changed);
        assert_eq!(o.bases.len(), 2);
    }

    #[test]
    fn one_change_crosses_unwatched_and_back_included() {
        for (from, to) in [
            (at(0), WATCHED),
            (WATCHED, at(0)),
            (at(1200), at(300)),
            (at(300), at(1200)),
        ] {
            for policy in [
                MirrorPolicy::FurthestProgress,
                MirrorPolicy::LastWriterWins,
                MirrorPolicy::Prefer(2),
            ] {
                let o = run(from, &[side(1, to, from), side(2, from, from)], policy);
                assert_eq!(targets(&o), [(2, to)], "{from:?} → {to:?} {policy:?}");
                assert_eq!(o.agreed, Some(to));
                assert_eq!(o.bases, [(1, to)]);
            }
        }
    }

    #[test]
    fn our_own_write_is_confirmed_not_carried_back() {
        // Side 2 now holds what was queued to it: its base moves, nothing is written.
        let o = run(
            WATCHED,
            &[side(1, WATCHED, WATCHED), side(2, WATCHED, at(0))],
            MirrorPolicy::FurthestProgress,
        );
        assert!(o.writes.is_empty());
        assert_eq!(o.bases, [(1, WATCHED), (2, WATCHED)]);
    }

    #[test]
    fn both_changed_the_policy_decides_and_says_what_was_not_kept() {
        let sides = [side(1, at(720), at(60)), side(2, at(1200), at(60))];
        let o = run(at(60), &sides, MirrorPolicy::FurthestProgress);
        assert_eq!(targets(&o), [(1, at(1200))]);
        assert_eq!(o.not_kept, ["Kept S2's 20:00 over S1's 12:00"]);
        let o = run(at(60), &sides, MirrorPolicy::Prefer(1));
        assert_eq!(targets(&o), [(2, at(720))]);
        // Last writer: dated by the server where it has a date, else by the pass.
        let mut dated = sides.clone();
        dated[0].last_played = Some(500);
        let o = run(at(60), &dated, MirrorPolicy::LastWriterWins);
        assert_eq!(
            targets(&o),
            [(1, at(1200))],
            "undated: dated by the pass (1000 > 500)"
        );
        dated[1].last_played = Some(400);
        let o = run(at(60), &dated, MirrorPolicy::LastWriterWins);
        assert_eq!(targets(&o), [(2, at(720))]);
        // A restart is respected over a further position under furthest-progress, and an
        // unwatch over a "watched" made meanwhile elsewhere (merge.rs's rules).
        let o = run(
            at(600),
            &[side(1, at(0), at(600)), side(2, at(1200), at(600))],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(o.agreed, Some(at(0)));
        let o = run(
            at(600),
            &[side(1, WATCHED, at(600)), side(2, at(0), at(600))],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(o.agreed, Some(at(0)));
    }

    #[test]
    fn a_change_made_without_the_agreed_state_competes_with_it() {
        // Plex's "watched" is agreed, its write to Jellyfin never landed (Jellyfin's base is
        // still "not watched"), then Jellyfin moved to 7:00: concurrent with "watched", which
        // is further; 7:00 is not an unwatch of a state Jellyfin never held.
        let o = run(
            WATCHED,
            &[side(1, at(420), at(0)), side(2, WATCHED, WATCHED)],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(o.agreed, Some(WATCHED));
        assert_eq!(targets(&o), [(1, WATCHED)]);
        assert_eq!(o.not_kept, ["Kept the agreed watched over S1's 7:00"]);
        // An explicit unwatch there is still respected, and a side that held the agreed state
        // changes it as before.
        let o = run(
            at(600),
            &[side(1, at(0), at(300)), side(2, at(600), at(600))],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(o.agreed, Some(at(0)));
        let o = run(
            WATCHED,
            &[side(1, at(420), WATCHED), side(2, WATCHED, WATCHED)],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(o.agreed, Some(at(420)));
    }

    #[test]
    fn an_unsettled_side_is_not_read_and_gets_only_a_new_agreed_state() {
        let mut b = side(2, at(900), at(60));
        b.unsettled = true;
        let o = run(
            at(60),
            &[side(1, at(60), at(60)), b.clone()],
            MirrorPolicy::FurthestProgress,
        );
        assert!(o.writes.is_empty());
        assert!(!o.agreed_changed);
        let o = run(
            at(60),
            &[side(1, WATCHED, at(60)), b],
            MirrorPolicy::FurthestProgress,
        );
        // The agreed state moved on while a write to side 2 is queued: the new state is
        // queued to it too (coalesced there), so the old one never lands on its own.
        assert_eq!(targets(&o), [(2, WATCHED)], "{o:?}");
        assert_eq!(o.writes[0].from, None);
        assert_eq!(o.agreed, Some(WATCHED));
    }

    #[test]
    fn a_side_not_read_gets_the_change_through_its_queue() {
        let mut b = side(2, at(60), at(60));
        b.current = None;
        let o = run(
            at(60),
            &[side(1, WATCHED, at(60)), b],
            MirrorPolicy::FurthestProgress,
        );
        assert_eq!(targets(&o), [(2, WATCHED)]);
    }

    #[test]
    fn first_pass_modes() {
        let fresh = |a: AccountId, v: WatchState| SideInput {
            base: None,
            ..side(a, v, v)
        };
        let sides = [fresh(1, WATCHED), fresh(2, at(300))];
        let o = decide(
            None,
            &sides,
            MirrorPolicy::FurthestProgress,
            FirstPass::AgreeOnly,
            0,
        );
        assert!(o.writes.is_empty() && o.agreed.is_none());
        assert!(o.waiting.unwrap().contains("S1 watched, S2 5:00"));
        let o = decide(
            None,
            &sides,
            MirrorPolicy::FurthestProgress,
            FirstPass::Furthest,
            0,
        );
        assert_eq!(targets(&o), [(2, WATCHED)]);
        assert_eq!(o.bases, [(1, WATCHED)]);
        let o = decide(
            None,
            &sides,
            MirrorPolicy::FurthestProgress,
            FirstPass::From(2),
            0,
        );
        assert_eq!(targets(&o), [(1, at(300))], "from: unwatches too");
        // Furthest never moves back.
        let back = [fresh(1, at(0)), fresh(2, at(300))];
        let o = decide(
            None,
            &back,
            MirrorPolicy::FurthestProgress,
            FirstPass::Furthest,
            0,
        );
        assert_eq!(targets(&o), [(1, at(300))]);
        // Agreeing sides are recorded with no write.
        let same = [fresh(1, at(300)), fresh(2, at(300))];
        let o = decide(
            None,
            &same,
            MirrorPolicy::FurthestProgress,
            FirstPass::AgreeOnly,
            0,
        );
        assert!(o.writes.is_empty());
        assert_eq!(o.agreed, Some(at(300)));
        // A side not read stays in its first pass.
        let mut down = fresh(2, at(300));
        down.current = None;
        let o = decide(
            None,
            &[fresh(1, at(300)), down],
            MirrorPolicy::FurthestProgress,
            FirstPass::Furthest,
            0,
        );
        assert!(o.agreed.is_none() && o.writes.is_empty());
    }
}
