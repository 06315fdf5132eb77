//! The three-way merge of one item's user data: a pure function over plain data.
//!
//! `local` is what the user wants (the pending outbox state, or the base when nothing is
//! pending), `base` is the server's value as last seen, `remote` is what the server reports
//! now. Each field (position, played, play count, last played) is compared with the base:
//!
//! - changed on the server only → the server's value is taken;
//! - changed locally only → the local value is kept (and pushed);
//! - changed on both sides to the same value → agreed;
//! - changed on both sides to different values → a **conflict**, decided by the [`Policy`].
//!
//! Position and watched flag are compared as **one** field, "progress": marking watched resets
//! the position and unwatching clears both, so mixing one side's flag with the other side's
//! position would make a state nobody chose. The play count and last-played date are fields of
//! their own; a conflict on them goes to the same winner the policy picks for the item.
//!
//! After a merge the base is the remote state; the result must be pushed when it differs from
//! the remote. Pulling the same remote state again then changes nothing (idempotence), and once
//! the push lands both sides hold the result (convergence).

use serde::Serialize;

use crate::model::{DesiredState, Millis, UserData};

/// How a conflict (both sides changed the same field differently) is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// The later change wins: local change time against the server's `LastPlayedDate`. A
    /// server change without a date counts as older than any dated local change; a tie (same
    /// millisecond, or no time on either side) goes to the server.
    LastWriterWins,
    /// The state further along wins (watched beats any position, then the larger position),
    /// but an explicit unwatch or restart from the beginning, on either side, is respected.
    /// A tie goes to the server. The default: see the README ("Conflicts and merge").
    FurthestProgress,
    /// This device's change always wins.
    PreferLocal,
    /// The server's value always wins.
    PreferServer,
}

impl Policy {
    /// Every policy, in the order the README lists them.
    pub const ALL: [Policy; 4] = [
        Policy::LastWriterWins,
        Policy::FurthestProgress,
        Policy::PreferLocal,
        Policy::PreferServer,
    ];

    /// The policy of a new account.
    pub const DEFAULT: Policy = Policy::FurthestProgress;

    /// The name used in the CLI and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::LastWriterWins => "last-writer-wins",
            Policy::FurthestProgress => "furthest-progress",
            Policy::PreferLocal => "prefer-local",
            Policy::PreferServer => "prefer-server",
        }
    }

    /// Parse a policy name (as printed by [`Policy::as_str`]).
    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::DEFAULT
    }
}

/// What a server does with the last-played date a client writes. Under
/// [`Policy::LastWriterWins`] that date is what the next comparison reads, so it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerDates {
    /// The server keeps the date written (Jellyfin: `LastPlayedDate` in
    /// `POST /UserItems/{id}/UserData` is applied as sent).
    Kept,
    /// The server stamps its own time when a write arrives (Plex: scrobble and timeline take no
    /// date). A write carrying only a date changes nothing there.
    Stamped,
}

impl ServerDates {
    /// What a server of `kind` does with dates.
    pub fn of(kind: crate::model::ServerKind) -> ServerDates {
        match kind {
            crate::model::ServerKind::Plex => ServerDates::Stamped,
            crate::model::ServerKind::Jellyfin | crate::model::ServerKind::Demo => {
                ServerDates::Kept
            }
        }
    }
}

/// This device's side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSide {
    /// What the user wants the server to hold (the outbox's desired state), or the base when
    /// nothing is pending.
    pub state: UserData,
    /// When the user made the change (`play_state.changed_at`); `None` when unknown.
    pub changed_at: Option<Millis>,
}

/// Which side a decision went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// This device.
    Local,
    /// The server (another device's change).
    Server,
}

/// What the merge did, for the UI ("kept the server's 42:10 from another device").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Nothing changed on either side.
    Unchanged,
    /// Only the server changed: its values were applied locally.
    AdoptedServer,
    /// Only this device changed: the change is kept and will be pushed.
    KeptLocal,
    /// Both changed, to the same values, or different fields without a conflict.
    Combined,
    /// Both changed the same field differently; `winner` got it under `policy`.
    Conflict { winner: Side, policy: Policy },
}

/// The result of [`merge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The new local state (what the user sees).
    pub result: UserData,
    /// The new base: the remote state just seen.
    pub base: UserData,
    /// The result differs from the server: it must stay queued (be pushed).
    pub push: bool,
    /// What happened.
    pub decision: Decision,
}

impl Outcome {
    /// A short English description for logs and the CLI (the UI words its own, through
    /// gettext, from [`Outcome::decision`] and the positions).
    pub fn summary(&self) -> String {
        let at = |u: &UserData| {
            if u.played {
                "watched".to_string()
            } else {
                format_position(u.position_ms)
            }
        };
        match self.decision {
            Decision::Unchanged => "unchanged".to_string(),
            Decision::AdoptedServer => {
                format!("took {} from another device", at(&self.result))
            }
            Decision::KeptLocal => "your change is waiting to be sent".to_string(),
            Decision::Combined => format!("merged with the server: {}", at(&self.result)),
            Decision::Conflict {
                winner: Side::Server,
                policy,
            } => format!(
                "kept the server's {} from another device ({policy})",
                at(&self.result)
            ),
            Decision::Conflict {
                winner: Side::Local,
                policy,
            } => format!(
                "your change ({}) replaced the server's {} ({policy})",
                at(&self.result),
                at(&self.base)
            ),
        }
    }
}

/// `h:mm:ss` or `m:ss`.
pub fn format_position(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A state that deliberately goes back: an unwatch (watched → not watched), or a restart (an
/// item not watched goes back to position 0).
///
/// A watched state is never a restart. "Watched at 0" from "watched at 42:10" is what marking a
/// watched item watched again leaves (the position is cleared), and it is the same state as a
/// seek to 0 inside the watched item: the state alone cannot tell them apart, and the app shows
/// both as "Watched". Counting it as a restart let a second "mark watched" beat another
/// device's explicit unwatch (simulation seed 8256); to start a watched item over, the person
/// unwatches it, which is a reset.
pub fn is_reset(state: &UserData, from: &UserData) -> bool {
    let unwatch = from.played && !state.played;
    let restart = !state.played && state.position_ms == 0 && from.position_ms > 0;
    unwatch || restart
}

/// This device's play started over a watched item, not an unwatch the person chose: on a
/// server that keeps the dates written (Jellyfin), the playback start un-watches the item and
/// dates it (`LocalChange::Playback { unwatch: true }` records the same offline), while "mark
/// unwatched" leaves the local state undated. Under furthest-progress it is progress (a
/// position), not a reset (issue 17: an offline play of a watched item beat another device's
/// later "watched" as an "explicit unwatch"). Local states only: on the server an item
/// un-watched through the user-data endpoint keeps its date.
fn is_play_over_watched(dates: ServerDates, state: &UserData, from: &UserData) -> bool {
    dates == ServerDates::Kept && from.played && !state.played && state.last_played.is_some()
}

/// Order of progress: watched beats any position, then the larger position.
pub fn progress(u: &UserData) -> (bool, i64) {
    (u.played, u.position_ms)
}

/// Clamp a position into `[0, runtime]` (`runtime` when known).
fn clamp(u: UserData, runtime_ms: Option<i64>) -> UserData {
    let mut p = u.position_ms.max(0);
    if let Some(rt) = runtime_ms.filter(|rt| *rt > 0) {
        p = p.min(rt);
    }
    UserData {
        position_ms: p,
        play_count: u.play_count.max(0),
        ..u
    }
}

/// The date the server's change carries, for last-writer-wins: `None` when it brought none.
/// A value that moved away from the base (played or position) while still carrying the
/// base's own date was dated by nobody: Jellyfin keeps the old `LastPlayedDate` on an unwatch
/// written through `POST /UserItems/{id}/UserData` and on every progress save (10.11 sets it
/// only at playback start and on a mark-played of an undated item), Plex stamps
/// `lastViewedAt` only on a completed view. That date is the base's change's, not this one's:
/// the change is an undated server change (simulation seed 7450: another device's unwatch
/// carried the date of an earlier seek from a clock 10 minutes ahead, and beat this device's
/// later "watched").
fn server_change_date(base: &UserData, remote: &UserData) -> Option<Millis> {
    let moved = progress(remote) != progress(base);
    remote
        .last_played
        .filter(|d| !(moved && base.last_played == Some(*d)))
}

/// Who wins a conflict under `policy`.
fn winner(
    (policy, dates): (Policy, ServerDates),
    local: &LocalSide,
    base: &UserData,
    remote: &UserData,
) -> Side {
    match policy {
        Policy::PreferLocal => Side::Local,
        Policy::PreferServer => Side::Server,
        Policy::LastWriterWins => match (local.changed_at, server_change_date(base, remote)) {
            (Some(l), Some(r)) if l > r => Side::Local,
            (Some(_), None) => Side::Local,
            _ => Side::Server,
        },
        Policy::FurthestProgress => {
            // Only this device's own play is known to be one: the server's state of an item
            // un-watched through `POST /UserItems/{id}/UserData` keeps its date too, and is an
            // unwatch someone chose (simulation seed 5106).
            let local_reset =
                is_reset(&local.state, base) && !is_play_over_watched(dates, &local.state, base);
            let remote_reset = is_reset(remote, base);
            match (local_reset, remote_reset) {
                (true, false) => Side::Local,
                (false, true) => Side::Server,
                _ if progress(&local.state) > progress(remote) => Side::Local,
                _ => Side::Server,
            }
        }
    }
}

/// Merge one item for a server that stamps its own dates ([`ServerDates::Stamped`]); see
/// [`merge_on`].
pub fn merge(
    local: &LocalSide,
    base: &UserData,
    remote: &UserData,
    policy: Policy,
    runtime_ms: Option<i64>,
) -> Outcome {
    merge_on(
        ServerDates::Stamped,
        local,
        base,
        remote,
        policy,
        runtime_ms,
    )
}

/// Merge one item. `runtime_ms` bounds positions (when known): no outcome holds a position
/// outside `[0, runtime]`. `dates` says whether the server keeps the dates written to it: under
/// last-writer-wins on such a server, a change that agrees with the server's state but is newer
/// than the server's date is still written (its date), or a later comparison with another
/// device's older change would read the older date and let that change win (simulation seed
/// 1062: a "watched" that agreed with the server was settled without a write, and an earlier
/// seek from a third device then replaced it).
pub fn merge_on(
    dates: ServerDates,
    local: &LocalSide,
    base: &UserData,
    remote: &UserData,
    policy: Policy,
    runtime_ms: Option<i64>,
) -> Outcome {
    let base = clamp(*base, runtime_ms);
    let remote = clamp(*remote, runtime_ms);
    let local = LocalSide {
        state: clamp(local.state, runtime_ms),
        changed_at: local.changed_at,
    };
    let l = &local.state;

    // Per field: (local changed, remote changed, conflict). Position and watched flag are one
    // field, "progress": marking watched moves the position too, so they are never mixed.
    let field = |lv: bool, rv: bool, same: bool| (lv, rv, lv && rv && !same);
    let prog = |u: &UserData| (u.position_ms, u.played);
    // Under last-writer-wins a newer date on the server is a newer write of the item, even
    // when it wrote the value the base already held (another device marked watched again what
    // this device had seen watched): it competes with this device's change by date, or an
    // older local change would slip past it (simulation seed 1062).
    // Only where the server keeps the dates written (Jellyfin): a server that stamps its own
    // (Plex) gives this device's own write a date of the server's, which is no rewrite by
    // anyone (simulation seed 5993: a scrobble stamped as it arrived then beat this device's
    // own later unwatch, made in the same second).
    let remote_rewrote = policy == Policy::LastWriterWins
        && dates == ServerDates::Kept
        && remote.last_played.is_some()
        && remote.last_played != base.last_played;
    // Under furthest-progress, while this device plays an item it had seen watched
    // (`is_play_over_watched`), a new date on the server's "watched" is another device's play
    // of it to the end (Jellyfin dates the start of a play): it competes with this device's
    // play as progress, and watched is further along. Without it the server "had not changed"
    // and our play's un-watch was written over the other device's later "watched".
    let remote_replayed = policy == Policy::FurthestProgress
        && is_play_over_watched(dates, l, &base)
        && remote.played
        && remote.last_played.is_some()
        && remote.last_played != base.last_played;
    let remote_rewrote = remote_rewrote || remote_replayed;
    // The same on this device's side: a queued change whose progress the base already holds,
    // with a newer date, is a rewrite of that state at its own date. It is queued for that
    // date alone (`dated_here` below: a pull found another device's older "watched" and moved
    // the base to it), and it stays a change of progress: a later change of progress on the
    // server competes with it by date, instead of being taken as the only change (simulation
    // seed 1962: d2's "watched", queued for its date after its pull found d0's older
    // "watched", lost to d3's seek, older by the devices' clocks, that landed before d2 sent).
    let local_rewrote = policy == Policy::LastWriterWins
        && dates == ServerDates::Kept
        && l.last_played
            .is_some_and(|d| base.last_played.is_none_or(|b| d > b));
    let pos = field(
        prog(l) != prog(&base) || local_rewrote,
        prog(&remote) != prog(&base) || remote_rewrote,
        prog(l) == prog(&remote),
    );
    let count = field(
        l.play_count != base.play_count,
        remote.play_count != base.play_count,
        l.play_count == remote.play_count,
    );
    // On a server that stamps its own dates, a new date there is no change anyone chose (it is
    // when a write arrived, ours included); a new play there shows in the play count.
    let last = field(
        l.last_played != base.last_played,
        remote.last_played != base.last_played && dates == ServerDates::Kept,
        l.last_played == remote.last_played,
    );
    let any_local = pos.0 || count.0 || last.0;
    let any_remote = pos.1 || count.1 || last.1;
    let any_conflict = pos.2 || count.2 || last.2;

    let win = any_conflict.then(|| winner((policy, dates), &local, &base, &remote));
    // One field: the winner's value on a conflict, else whichever side changed it.
    fn pick<T>(f: (bool, bool, bool), win: Option<Side>, lv: T, rv: T) -> T {
        match (f, win) {
            ((_, _, true), Some(Side::Local)) => lv,
            ((_, _, true), _) => rv,
            ((true, _, _), _) => lv,
            _ => rv,
        }
    }
    let (position_ms, played) = pick(pos, win, prog(l), prog(&remote));
    let mut result = UserData {
        position_ms,
        played,
        play_count: pick(count, win, l.play_count, remote.play_count),
        last_played: pick(last, win, l.last_played, remote.last_played),
    };

    let decision = match (any_local, any_remote, win) {
        (_, _, Some(winner)) => Decision::Conflict { winner, policy },
        (false, false, _) => Decision::Unchanged,
        (false, true, _) => Decision::AdoptedServer,
        (true, false, _) => Decision::KeptLocal,
        (true, true, _) => Decision::Combined,
    };
    // Only position and watched flag are worth a call (as for the outbox): when they agree
    // with the server, the server's count and date are taken too, so both sides hold the same.
    // The one exception is a play this device counted that the server has not (a play whose
    // start report failed: the stop marked it watched there without counting it): the count
    // alone is worth the write, or the play is lost.
    let counted_here = count.0 && !count.1 && result.play_count > remote.play_count;
    // Under last-writer-wins the date of a change this device made is part of what it wants
    // the server to hold, when the server keeps dates and this device's date is the newer.
    let dated_here = policy == Policy::LastWriterWins
        && dates == ServerDates::Kept
        && (pos.0 || last.0)
        && prog(&result) == prog(l)
        && result
            .last_played
            .is_some_and(|d| remote.last_played.is_none_or(|r| d > r));
    let push =
        !DesiredState::from_user_data(&result).same_as(&remote) || counted_here || dated_here;
    if !push {
        result = remote;
    } else if dates == ServerDates::Kept {
        // A date written never takes the server's back in time. The result is either a change
        // made after this device saw the server's state (its clock may be behind), or one that
        // beat the server's by date anyway; writing an older date than the server's would let
        // a third device's change, older than the one that set the server's date, win the
        // next comparison (simulation seed 6982: a seek inside a watched item, from a clock
        // 7 min behind, wrote its date over a newer "watched", and an older seek then won).
        if let (Some(mine), Some(theirs)) = (result.last_played, remote.last_played) {
            result.last_played = Some(mine.max(theirs));
        }
    }
    Outcome {
        push,
        result,
        base: remote,
        decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RT: Option<i64> = Some(3_600_000);

    fn at(position_ms: i64) -> UserData {
        UserData {
            position_ms,
            ..UserData::default()
        }
    }

    fn watched(when: Millis) -> UserData {
        UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(when),
        }
    }

    fn pos(position_ms: i64, when: Millis) -> UserData {
        UserData {
            position_ms,
            played: false,
            play_count: 0,
            last_played: Some(when),
        }
    }

    fn local(state: UserData, changed_at: Millis) -> LocalSide {
        LocalSide {
            state,
            changed_at: Some(changed_at),
        }
    }

    #[test]
    fn policy_names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.as_str()), Some(p));
        }
        assert_eq!(Policy::parse("newest"), None);
        assert_eq!(Policy::default(), Policy::FurthestProgress);
    }

    #[test]
    fn remote_only_change_is_adopted() {
        let base = at(0);
        let o = merge(
            &local(base, 0),
            &base,
            &pos(60_000, 5),
            Policy::PreferLocal,
            RT,
        );
        assert_eq!(o.result, pos(60_000, 5));
        assert_eq!(o.decision, Decision::AdoptedServer);
        assert!(!o.push);
    }

    #[test]
    fn local_only_change_is_kept_for_push() {
        let base = pos(10_000, 1);
        let o = merge(
            &local(pos(20_000, 9), 9),
            &base,
            &base,
            Policy::PreferServer,
            RT,
        );
        assert_eq!(o.result, pos(20_000, 9));
        assert_eq!(o.decision, Decision::KeptLocal);
        assert!(o.push);
    }

    #[test]
    fn furthest_progress_respects_a_local_restart() {
        let base = pos(40_000, 1);
        let o = merge(
            &local(at(0), 2),
            &base,
            &pos(50_000, 3),
            Policy::FurthestProgress,
            RT,
        );
        assert_eq!(o.result.position_ms, 0);
        assert_eq!(
            o.decision,
            Decision::Conflict {
                winner: Side::Local,
                policy: Policy::FurthestProgress
            }
        );
    }

    /// Simulation seed 8256: this device marks a watched item (at 4:00 under the flag) watched
    /// again while another device unwatched it. "Watched again" clears the position, but it is
    /// not a restart: the other device's explicit unwatch wins.
    #[test]
    fn furthest_progress_a_second_mark_watched_is_no_reset_against_an_unwatch() {
        let base = UserData {
            position_ms: 240_000,
            ..watched(1)
        };
        let again = crate::model::apply_change(&base, crate::model::LocalChange::MarkUnwatched, 5);
        assert!(!again.played, "the other device's unwatch");
        let mine = crate::model::apply_change(&base, crate::model::LocalChange::MarkWatched, 6);
        let o = merge(&local(mine, 6), &base, &again, Policy::FurthestProgress, RT);
        assert!(!o.result.played);
        assert_eq!(o.result.position_ms, 0);
        assert_eq!(
            o.decision,
            Decision::Conflict {
                winner: Side::Server,
                policy: Policy::FurthestProgress
            }
        );
        // The other way round: this device's unwatch beats the other's second "watched".
        let o = merge(&local(again, 6), &base, &mine, Policy::FurthestProgress, RT);
        assert!(!o.result.played);
        assert!(o.push);
    }

    #[test]
    fn furthest_progress_takes_the_server_watched_flag_as_whole() {
        let base = pos(10_000, 1);
        let o = merge(
            &local(pos(30_000, 5), 5),
            &base,
            &watched(4),
            Policy::FurthestProgress,
            RT,
        );
        assert_eq!(o.result, watched(4));
        assert!(!o.push);
    }

    #[test]
    fn last_writer_wins_missing_date_and_tie() {
        let base = pos(10_000, 1);
        let mut remote = pos(30_000, 1);
        remote.last_played = None;
        // Server change without a date: the dated local change wins.
        let o = merge(
            &local(pos(20_000, 5), 5),
            &base,
            &remote,
            Policy::LastWriterWins,
            RT,
        );
        assert_eq!(o.result.position_ms, 20_000);
        // Same millisecond: the server wins.
        let o = merge(
            &local(pos(20_000, 7), 7),
            &base,
            &pos(30_000, 7),
            Policy::LastWriterWins,
            RT,
        );
        assert_eq!(o.result.position_ms, 30_000);
    }

    /// Simulation seed 1962 (Jellyfin, last-writer-wins, skewed clocks): d0 marked the
    /// episode watched at -68 s; this device marked it watched at 856 s, and its pull found
    /// d0's "watched" and kept the change queued for its newer date (the base became d0's
    /// state). d3's seek from 71 s then landed. This device's change is a rewrite of
    /// "watched" at 856 s: it wins the conflict with the seek, and "watched" is written with its
    /// date. Where the server stamps its own dates (Plex) a date alone is no change.
    #[test]
    fn last_writer_wins_a_change_queued_for_its_date_still_competes_as_progress() {
        let base = watched(-68_000);
        let mine = local(watched(856_000), 856_000);
        // The pull that moved the base: the change stays queued for its date.
        let o = merge_on(
            ServerDates::Kept,
            &mine,
            &UserData::default(),
            &base,
            Policy::LastWriterWins,
            RT,
        );
        assert!(o.push, "{o:?}");
        // Then d3's older seek lands.
        let seek = pos(580_000, 71_000);
        let o = merge_on(
            ServerDates::Kept,
            &mine,
            &base,
            &seek,
            Policy::LastWriterWins,
            RT,
        );
        assert!(o.result.played, "{o:?}");
        assert_eq!(o.result.last_played, Some(856_000));
        assert!(o.push);
        assert_eq!(
            o.decision,
            Decision::Conflict {
                winner: Side::Local,
                policy: Policy::LastWriterWins
            }
        );
        // A newer seek beats it.
        let o = merge_on(
            ServerDates::Kept,
            &mine,
            &base,
            &pos(580_000, 900_000),
            Policy::LastWriterWins,
            RT,
        );
        assert_eq!(o.result.position_ms, 580_000);
        assert!(!o.push);
        // Plex: the date is the server's own, no change of this device's.
        let o = merge_on(
            ServerDates::Stamped,
            &mine,
            &base,
            &seek,
            Policy::LastWriterWins,
            RT,
        );
        assert_eq!(o.result.position_ms, 580_000);
        // The other policies do not look at dates: the seek is the only change of progress.
        for policy in [
            Policy::FurthestProgress,
            Policy::PreferLocal,
            Policy::PreferServer,
        ] {
            let o = merge_on(ServerDates::Kept, &mine, &base, &seek, policy, RT);
            assert_eq!(o.result.position_ms, 580_000, "{policy}");
        }
    }

    /// Simulation seed 7450 (Jellyfin, last-writer-wins, skewed clocks): the base is a seek
    /// dated 586 s by a clock ahead; another device unwatched the item through `POST
    /// /UserItems/{id}/UserData`, which keeps that date; this device marks it watched at 300 s
    /// on its own clock, after the unwatch by the devices' clocks. The unwatch brought no date
    /// of its own: it is an undated server change, and the dated local change wins. A server
    /// change that brings a date of its own is still compared by it.
    #[test]
    fn last_writer_wins_a_server_change_with_the_bases_own_date_is_undated() {
        let base = pos(1_200_000, 586_000);
        let unwatched_keeping_the_date = UserData {
            position_ms: 0,
            played: false,
            play_count: 0,
            last_played: Some(586_000),
        };
        let mine = local(watched(300_000), 300_000);
        for dates in [ServerDates::Kept, ServerDates::Stamped] {
            let o = merge_on(
                dates,
                &mine,
                &base,
                &unwatched_keeping_the_date,
                Policy::LastWriterWins,
                RT,
            );
            assert!(o.result.played, "{dates:?}: {o:?}");
            assert!(o.push, "{dates:?}");
            assert_eq!(
                o.decision,
                Decision::Conflict {
                    winner: Side::Local,
                    policy: Policy::LastWriterWins
                }
            );
            // A progress save (the date kept) is undated the same way.
            let saved = pos(1_500_000, 586_000);
            let o = merge_on(dates, &mine, &base, &saved, Policy::LastWriterWins, RT);
            assert!(o.result.played, "{dates:?}: {o:?}");
            // A change dated by the server after this device's change still wins.
            let o = merge_on(
                dates,
                &mine,
                &base,
                &pos(1_500_000, 400_000),
                Policy::LastWriterWins,
                RT,
            );
            assert!(!o.result.played, "{dates:?}: {o:?}");
            assert_eq!(o.result.position_ms, 1_500_000);
        }
    }

    #[test]
    fn last_writer_wins_writes_a_newer_date_the_server_keeps() {
        // Seed 1062: this device marks watched at 30; another device's "watched" from 10 is
        // on the server already. The state agrees, but the server must learn the newer date
        // or a third device's seek from 20 would win the next comparison.
        let lww = |dates, local: &LocalSide, base: &UserData, remote: &UserData| {
            merge_on(dates, local, base, remote, Policy::LastWriterWins, RT)
        };
        let base = pos(60_000, 5);
        let mine = local(watched(30), 30);
        let o = lww(ServerDates::Kept, &mine, &base, &watched(10));
        assert!(o.push);
        assert_eq!(o.result.last_played, Some(30));
        assert!(o.result.played);
        // Pushed and read back: nothing more to write.
        let landed = o.result;
        assert!(!lww(ServerDates::Kept, &local(landed, 30), &landed, &landed).push);
        // A server that stamps its own dates (Plex) gains nothing from a date-only write.
        assert!(!lww(ServerDates::Stamped, &mine, &base, &watched(10)).push);
        // The server's date is the newer: nothing to write.
        let o = lww(ServerDates::Kept, &mine, &base, &watched(40));
        assert!(!o.push);
        assert_eq!(o.result, watched(40));
        // The other policies do not look at dates.
        for policy in [
            Policy::FurthestProgress,
            Policy::PreferLocal,
            Policy::PreferServer,
        ] {
            let o = merge_on(ServerDates::Kept, &mine, &base, &watched(10), policy, RT);
            assert!(!o.push, "{policy}");
        }
    }

    #[test]
    fn last_writer_wins_a_newer_rewrite_of_the_same_value_beats_an_older_change() {
        // The server held watched (10) when this device last looked; another device marked it
        // watched again at 60; this device's seek from 20 is older and loses.
        let base = watched(10);
        let local = local(pos(1_405_000, 20), 20);
        let remote = watched(60);
        let lww = |local: &LocalSide| {
            merge_on(
                ServerDates::Kept,
                local,
                &base,
                &remote,
                Policy::LastWriterWins,
                RT,
            )
        };
        let o = lww(&local);
        assert_eq!(o.result, remote);
        assert!(!o.push);
        // A seek newer than the rewrite wins.
        let local_newer = LocalSide {
            state: pos(1_405_000, 70),
            changed_at: Some(70),
        };
        let o = lww(&local_newer);
        assert_eq!(o.result.position_ms, 1_405_000);
        assert!(o.push);
        // Furthest-progress does not look at dates: the server's progress did not change, so
        // this device's explicit step back from watched stands.
        let o = merge(&local, &base, &remote, Policy::FurthestProgress, RT);
        assert_eq!(o.result.position_ms, 1_405_000);
        assert!(o.push);
    }

    /// Simulation seed 5993 (Plex, last-writer-wins, one device): this device's scrobble was
    /// stamped by the server when it arrived; this device then unwatched the item in the same
    /// second. The server's date is its own stamp of our write, not another device's newer
    /// change: the unwatch is sent, and no conflict is reported.
    #[test]
    fn last_writer_wins_our_own_write_stamped_by_the_server_is_no_rewrite() {
        let base = watched(1_000);
        let stamped = watched(600_000);
        let unwatch = local(UserData::default(), 600_000);
        let o = merge_on(
            ServerDates::Stamped,
            &unwatch,
            &base,
            &stamped,
            Policy::LastWriterWins,
            RT,
        );
        assert!(!o.result.played);
        assert!(o.push);
        assert_eq!(o.decision, Decision::KeptLocal);
    }

    /// Simulation seed 6982 (Jellyfin keeps the dates written): this device, its clock behind,
    /// seeks inside an item another device marked watched later by the clocks, after seeing
    /// it. The change is written, with the server's date, never an older one.
    #[test]
    fn a_date_written_never_goes_back_on_a_server_that_keeps_dates() {
        let theirs = watched(558_000);
        let mine = local(
            UserData {
                position_ms: 1_000_000,
                ..watched(-449_000)
            },
            -449_000,
        );
        for policy in Policy::ALL {
            let o = merge_on(ServerDates::Kept, &mine, &theirs, &theirs, policy, RT);
            assert!(o.push, "{policy}");
            assert_eq!(o.result.position_ms, 1_000_000, "{policy}");
            assert_eq!(o.result.last_played, Some(558_000), "{policy}");
        }
        // A newer date is kept as it is; a server that stamps its own dates is left alone.
        let later = local(
            UserData {
                position_ms: 1_000_000,
                ..watched(600_000)
            },
            600_000,
        );
        let o = merge_on(
            ServerDates::Kept,
            &later,
            &theirs,
            &theirs,
            Policy::LastWriterWins,
            RT,
        );
        assert_eq!(o.result.last_played, Some(600_000));
        let o = merge(&mine, &theirs, &theirs, Policy::LastWriterWins, RT);
        assert_eq!(o.result.last_played, Some(-449_000));
    }

    #[test]
    fn positions_are_clamped_to_the_runtime() {
        let base = at(0);
        let o = merge(
            &local(base, 0),
            &base,
            &at(9_999_999),
            Policy::PreferServer,
            RT,
        );
        assert_eq!(o.result.position_ms, 3_600_000);
    }

    #[test]
    fn summary_names_the_position() {
        let base = pos(10_000, 1);
        let o = merge(
            &local(pos(30_000, 5), 5),
            &base,
            &pos(2_530_000, 9),
            Policy::PreferServer,
            RT,
        );
        assert_eq!(
            o.summary(),
            "kept the server's 42:10 from another device (prefer-server)"
        );
    }

    mod properties {
        use super::super::*;
        use crate::model::{apply_change, LocalChange};
        use proptest::prelude::*;

        const RUNTIME: i64 = 3_000_000;

        fn policy() -> impl Strategy<Value = Policy> {
            prop::sample::select(Policy::ALL.to_vec())
        }

        fn dates() -> impl Strategy<Value = ServerDates> {
            prop_oneof![Just(ServerDates::Kept), Just(ServerDates::Stamped)]
        }

        fn user_data() -> impl Strategy<Value = UserData> {
            (
                -10_000i64..4_000_000,
                any::<bool>(),
                0i64..5,
                prop::option::of(0i64..1_000),
            )
                .prop_map(|(position_ms, played, play_count, last_played)| UserData {
                    position_ms,
                    played,
                    play_count,
                    last_played,
                })
        }

        fn change() -> impl Strategy<Value = LocalChange> {
            prop_oneof![
                (0i64..RUNTIME).prop_map(|p| LocalChange::Position { position_ms: p }),
                Just(LocalChange::Position { position_ms: 0 }),
                Just(LocalChange::MarkWatched),
                Just(LocalChange::MarkUnwatched),
            ]
        }

        /// One step of a history on two devices.
        #[derive(Debug, Clone)]
        enum Step {
            /// The user changes something here.
            Local(LocalChange),
            /// Another device changes the server.
            Remote(LocalChange),
            /// A pull: merge what the server holds.
            Pull,
            /// The pending change (if any) reaches the server.
            Push,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                change().prop_map(Step::Local),
                change().prop_map(Step::Remote),
                Just(Step::Pull),
                Just(Step::Push),
            ]
        }

        /// The client as the store keeps it: shown state, base, pending desired state.
        struct Client {
            shown: UserData,
            base: UserData,
            pending: Option<(UserData, Millis)>,
        }

        impl Client {
            fn pull(&mut self, server: &UserData, policy: Policy, dates: ServerDates) -> Outcome {
                let local = match self.pending {
                    Some((state, at)) => LocalSide {
                        state,
                        changed_at: Some(at),
                    },
                    None => LocalSide {
                        state: self.base,
                        changed_at: None,
                    },
                };
                let o = merge_on(dates, &local, &self.base, server, policy, Some(RUNTIME));
                self.base = o.base;
                self.shown = o.result;
                self.pending = o.push.then_some((o.result, local.changed_at.unwrap_or(0)));
                o
            }

            /// What `POST /UserItems/{id}/UserData` does with the desired state (the date is
            /// only sent when known).
            fn push(&mut self, server: &mut UserData) {
                if let Some((d, _)) = self.pending.take() {
                    server.position_ms = d.position_ms;
                    server.played = d.played;
                    server.play_count = d.play_count;
                    if d.last_played.is_some() {
                        server.last_played = d.last_played;
                    }
                    self.base = *server;
                }
            }
        }

        proptest! {
            /// Random histories on both devices: after a final pull + push + pull, both sides
            /// show the same position and watched flag, and nothing is left to send.
            #[test]
            fn converges(
                start in user_data(),
                steps in prop::collection::vec(step(), 0..24),
                policy in policy(),
                dates in dates(),
            ) {
                let start = UserData { position_ms: start.position_ms.clamp(0, RUNTIME), ..start };
                let mut server = start;
                let mut c = Client { shown: start, base: start, pending: None };
                for (t, s) in steps.into_iter().enumerate() {
                    let now = 2_000 + t as Millis * 10;
                    match s {
                        Step::Local(ch) => {
                            c.shown = apply_change(&c.shown, ch, now);
                            c.pending = (!DesiredState::from_user_data(&c.shown).same_as(&c.base))
                                .then_some((c.shown, now));
                        }
                        Step::Remote(ch) => server = apply_change(&server, ch, now + 1),
                        Step::Pull => { c.pull(&server, policy, dates); }
                        Step::Push => c.push(&mut server),
                    }
                }
                c.pull(&server, policy, dates);
                c.push(&mut server);
                let o = c.pull(&server, policy, dates);
                prop_assert!(!o.push);
                prop_assert_eq!(c.shown.position_ms, server.position_ms);
                prop_assert_eq!(c.shown.played, server.played);
            }

            /// Merging the same remote state a second time changes nothing.
            #[test]
            fn idempotent(
                local in user_data(),
                changed_at in prop::option::of(0i64..1_000),
                base in user_data(),
                remote in user_data(),
                policy in policy(),
                dates in dates(),
            ) {
                let first = merge_on(dates, &LocalSide { state: local, changed_at }, &base, &remote, policy, Some(RUNTIME));
                let again_local = LocalSide {
                    state: if first.push { first.result } else { first.base },
                    changed_at,
                };
                let second = merge_on(dates, &again_local, &first.base, &remote, policy, Some(RUNTIME));
                prop_assert_eq!(second.result, first.result);
                prop_assert_eq!(second.push, first.push);
                prop_assert!(matches!(second.decision, Decision::Unchanged | Decision::KeptLocal));
            }

            /// An explicit action (watched, unwatched, a new position, a restart) is never undone
            /// by a stale server value (the server still holding what it held before).
            #[test]
            fn explicit_action_survives_a_stale_server(
                base in user_data(),
                action in change(),
                policy in policy(),
            ) {
                let base = UserData { position_ms: base.position_ms.clamp(0, RUNTIME), ..base };
                let wanted = apply_change(&base, action, 5_000);
                let o = merge(&LocalSide { state: wanted, changed_at: Some(5_000) }, &base, &base, policy, Some(RUNTIME));
                prop_assert_eq!(o.result.position_ms, wanted.position_ms);
                prop_assert_eq!(o.result.played, wanted.played);
            }

            /// Under furthest-progress an explicit unwatch or restart wins against another
            /// device's progress, even a later one.
            #[test]
            fn furthest_progress_keeps_an_explicit_reset(
                base_pos in 1i64..RUNTIME,
                base_played in any::<bool>(),
                remote_pos in 1i64..RUNTIME,
                remote_played in any::<bool>(),
                unwatch in any::<bool>(),
            ) {
                let base = UserData { position_ms: base_pos, played: base_played, play_count: 1, last_played: Some(1) };
                // A seek to 0 inside a watched item leaves it watched: not a restart (see
                // `is_reset`), so the restart case starts from an item not watched.
                prop_assume!(unwatch || !base_played);
                let change = if unwatch { LocalChange::MarkUnwatched } else { LocalChange::Position { position_ms: 0 } };
                let wanted = apply_change(&base, change, 9);
                let remote = UserData { position_ms: remote_pos, played: remote_played, play_count: 1, last_played: Some(50) };
                // The other device made progress (it did not itself unwatch).
                prop_assume!(!is_reset(&remote, &base));
                let o = merge(&LocalSide { state: wanted, changed_at: Some(9) }, &base, &remote, Policy::FurthestProgress, Some(RUNTIME));
                prop_assert_eq!(o.result.position_ms, 0);
                prop_assert_eq!(o.result.played, wanted.played);
            }

            /// Under furthest-progress, when neither side went back, the result is the further
            /// of the two (watched beats any position, then the larger position).
            #[test]
            fn furthest_progress_keeps_the_furthest(
                base in user_data(),
                local in user_data(),
                remote in user_data(),
            ) {
                let c = |u: UserData| UserData { position_ms: u.position_ms.clamp(0, RUNTIME), ..u };
                let (base, local, remote) = (c(base), c(local), c(remote));
                prop_assume!(!is_reset(&local, &base) && !is_reset(&remote, &base));
                prop_assume!(progress(&local) != progress(&base) && progress(&remote) != progress(&base));
                let o = merge(&LocalSide { state: local, changed_at: Some(1) }, &base, &remote, Policy::FurthestProgress, Some(RUNTIME));
                prop_assert_eq!(progress(&o.result), progress(&local).max(progress(&remote)));
            }

            /// No outcome holds a position outside [0, runtime], whatever the inputs.
            #[test]
            fn positions_stay_within_the_runtime(
                local in user_data(),
                base in user_data(),
                remote in user_data(),
                policy in policy(),
                runtime in 1i64..RUNTIME,
            ) {
                let o = merge(&LocalSide { state: local, changed_at: Some(3) }, &base, &remote, policy, Some(runtime));
                prop_assert!((0..=runtime).contains(&o.result.position_ms));
                prop_assert!((0..=runtime).contains(&o.base.position_ms));
            }
        }
    }
}
