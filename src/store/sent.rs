//! What was sent, remembered until its outcome is known (DESIGN.md invariant 8), and what a
//! merge kept over the person's change (invariant 11).
//!
//! A write whose answer never comes (a timeout, a reset, a proxy's 502, a crash or an abort while
//! the server holds it) may or may not have been applied. The transaction that plans a write
//! stores the server state it predicts (`sent_state`, beside the base, so that dropping,
//! discarding or completing the outbox row cannot lose it). Only a known outcome clears it: the
//! write's success, or a failure that proves nothing was applied (the connection was refused
//! before anything was sent). Until then every merge (the send-time read, a pull's listing, a
//! live message) first classifies what the server holds, comparing played and position only
//! (counts and dates are never compared):
//!
//! | the server holds            | means                          | the merge runs over base := |
//! |-----------------------------|--------------------------------|-----------------------------|
//! | what we sent                | ours landed                    | the server's value          |
//! | the old base                | ours did not land              | the old base (resend)       |
//! | the old base, dated after our read | ours landed, then someone went back | what we sent  |
//! | Plex: a state between our calls | a part of ours landed       | the server's value (resend) |
//! | anything else               | ours landed, someone changed it after | what we sent         |
//!
//! With base := what we sent, a person who changed nothing since gets the server's value with no
//! write, under every policy; a person who changed the item again meets the other device's
//! change as an ordinary conflict, which the policy decides.
//!
//! The oldest read a write may be based on is the batched read of its own claim: a read whose
//! merge could not be stored is dropped, and its rows are read again.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use super::state::current_mark;
use super::{Result, Store};
use crate::model::{AccountId, DesiredState, Millis, UserData};

/// A write whose outcome is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    /// The server state the write should leave (that server's rules applied).
    pub state: UserData,
    /// The outbox `change_seq` the write carried.
    pub change_seq: i64,
    /// The server's own clock (`Date` header) when the claim's read was answered, if known.
    pub read_date: Option<Millis>,
    /// The read-mark counter when the write was planned: a listing asked for before it
    /// describes the server before the write and leaves the item alone (see `ReadMark`).
    pub stamp: i64,
}

/// How a server value relates to a write whose outcome was unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    /// The server holds what we sent: our write landed.
    Ours,
    /// The server still holds the old base: our write did not land.
    NotLanded,
    /// The server holds something else (or the old base, dated after our read): our write
    /// landed and another device changed the item after it.
    Overwritten,
    /// Plex: the server holds a state our write of several calls passes through (unwatched at
    /// 0 after the unscrobble of an unscrobble + scrobble): a part of it landed, the rest
    /// never came. The merge runs over that state as the base, so the rest is sent again.
    Partly,
}

/// Played and position, as the server keeps them: positions are compared in whole seconds
/// (Jellyfin keeps ticks, Plex milliseconds; a player or a proxy may round to the second).
fn progress(u: &UserData) -> (bool, i64) {
    (u.played, u.position_ms.max(0) / 1000)
}

/// Classify what the server holds (`remote`) against what we sent and the base we had.
/// Dates can only turn "did not land" into "overwritten", never the reverse: a server value
/// equal to the base but dated after the claim's read was written after our write.
pub fn classify(
    sent: &UserData,
    read_date: Option<Millis>,
    base: Option<&UserData>,
    remote: &UserData,
) -> Landed {
    if progress(remote) == progress(sent) {
        return Landed::Ours;
    }
    let Some(base) = base else {
        // No base to compare with: we cannot tell that it did not land.
        return Landed::Overwritten;
    };
    if progress(remote) != progress(base) {
        return Landed::Overwritten;
    }
    // The `Date` header is whole seconds, cut down: a date written after our read (in the
    // same second, too) is at least the header's. A date that the base (what our claim's read
    // saw) does not hold was set after that read.
    match (remote.last_played, read_date) {
        (Some(written), Some(read))
            if written >= read && remote.last_played != base.last_played =>
        {
            Landed::Overwritten
        }
        _ => Landed::NotLanded,
    }
}

/// Plex only (its writes are several calls; Jellyfin's are one): `remote` is neither the base
/// nor what we sent but a state our write passes through from the base (see
/// [`crate::backend::plex::intermediate_states`]). Such a state may also be another device's
/// change (an unwatch is the same unscrobble); no client can tell the two apart on a server
/// without versions, and taking it for ours resends the rest of our write instead of leaving a
/// state no one chose (docs/RELIABILITY.md, "The last write-targeted seeds").
fn partly_landed(
    tx: &Transaction<'_>,
    account: AccountId,
    sent: &UserData,
    base: Option<&UserData>,
    remote: &UserData,
) -> rusqlite::Result<bool> {
    let Some(base) = base else {
        return Ok(false);
    };
    if progress(remote) == progress(sent) || progress(remote) == progress(base) {
        return Ok(false);
    }
    let kind: Option<String> = tx
        .prepare_cached("SELECT kind FROM accounts WHERE id = ?1")?
        .query_row([account], |r| r.get(0))
        .optional()?;
    if kind.as_deref() != Some("plex") {
        return Ok(false);
    }
    let desired = DesiredState::from_user_data(sent);
    Ok(crate::backend::plex::intermediate_states(base, &desired)
        .iter()
        .any(|s| progress(s) == progress(remote)))
}

pub(super) fn sent_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<Sent>> {
    tx.prepare_cached(
        "SELECT position_ms, played, play_count, last_played, change_seq, read_date, stamp
         FROM sent_state WHERE account_id = ?1 AND item_id = ?2",
    )?
    .query_row(params![account, item], |r| {
        Ok(Sent {
            state: super::state::read_user_data(r, 0)?,
            change_seq: r.get(4)?,
            read_date: r.get(5)?,
            stamp: r.get(6)?,
        })
    })
    .optional()
}

/// Remember that `desired` (carried by `change_seq`) is about to be written. Stamped on the
/// read-mark counter like a base: older listings leave the item alone.
pub(super) fn record_sent(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    desired: &DesiredState,
    change_seq: i64,
    read_date: Option<Millis>,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "INSERT INTO sent_state (account_id, item_id, position_ms, played, play_count,
                                 last_played, change_seq, read_date, stamp, sent_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ",
        current_mark!(),
        ", ?9)
         ON CONFLICT (account_id, item_id) DO UPDATE SET position_ms = excluded.position_ms,
           played = excluded.played, play_count = excluded.play_count,
           last_played = excluded.last_played, change_seq = excluded.change_seq,
           read_date = excluded.read_date, stamp = excluded.stamp, sent_at = excluded.sent_at"
    ))?
    .execute(params![
        account,
        item,
        desired.position_ms,
        desired.played,
        desired.play_count,
        desired.last_played,
        change_seq,
        read_date,
        now
    ])?;
    Ok(())
}

/// The outcome of the write carrying `change_seq` (or an earlier one) is known: forget it.
/// A record of a later write stays.
pub(super) fn clear_sent(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    change_seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM sent_state WHERE account_id = ?1 AND item_id = ?2 AND change_seq <= ?3",
    )?
    .execute(params![account, item, change_seq])?;
    Ok(())
}

/// A write of the item failed without a known outcome just now: a listing asked for before
/// now may predate the write's arrival on the server, and must not settle it.
pub(super) fn restamp(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "UPDATE sent_state SET stamp = ",
        current_mark!(),
        " WHERE account_id = ?1 AND item_id = ?2"
    ))?
    .execute(params![account, item])?;
    Ok(())
}

/// Before a merge with `remote` (what the server holds, read after the write was planned):
/// settle an unknown outcome (see the module docs) and return the base to merge over. The
/// record is forgotten: the classification is the outcome.
pub(super) fn settle(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    base: Option<UserData>,
    remote: &UserData,
) -> rusqlite::Result<(Option<UserData>, Option<Landed>)> {
    let Some(sent) = sent_of(tx, account, item)? else {
        return Ok((base, None));
    };
    let landed = if partly_landed(tx, account, &sent.state, base.as_ref(), remote)? {
        Landed::Partly
    } else {
        classify(&sent.state, sent.read_date, base.as_ref(), remote)
    };
    tx.prepare_cached("DELETE FROM sent_state WHERE account_id = ?1 AND item_id = ?2")?
        .execute(params![account, item])?;
    tracing::debug!(
        item,
        ?landed,
        "outcome of an earlier write settled by a read"
    );
    let base = match landed {
        Landed::Ours | Landed::Partly => Some(*remote),
        Landed::NotLanded => base,
        Landed::Overwritten => Some(sent.state),
    };
    Ok((base, Some(landed)))
}

/// How long the person's overridden values are kept for "Use mine".
pub const OVERRIDDEN_KEEP_MS: Millis = 7 * 24 * 3600 * 1000;

/// A merge kept the server's value over a change of the person's (invariant 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overridden {
    pub item_id: String,
    /// What the merge kept (the server's progress).
    pub kept: Progress,
    /// What the person had set.
    pub yours: Progress,
    /// Why, in English (the merge's summary).
    pub why: String,
    /// The person's value lost because a read after a write of theirs with an unknown outcome
    /// found another value (decision table, last row): ours is taken to have landed and been
    /// changed after, which cannot be told from "ours never landed".
    pub after_unknown_outcome: bool,
    /// When the merge decided (ms since the epoch).
    pub at: Millis,
}

/// Played and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub played: bool,
    pub position_ms: i64,
}

impl Progress {
    pub fn of(u: &UserData) -> Progress {
        Progress {
            played: u.played,
            position_ms: u.position_ms,
        }
    }
}

/// Remember that a merge kept `kept` over the person's `yours`; a later decision for the item
/// replaces it.
#[allow(clippy::too_many_arguments)]
fn record_overridden(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    kept: &UserData,
    yours: &UserData,
    why: &str,
    after_unknown: bool,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO overridden (account_id, item_id, decided_at, kept_position_ms, kept_played,
                                 yours_position_ms, yours_played, why, unknown_outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (account_id, item_id) DO UPDATE SET decided_at = excluded.decided_at,
           kept_position_ms = excluded.kept_position_ms, kept_played = excluded.kept_played,
           yours_position_ms = excluded.yours_position_ms, yours_played = excluded.yours_played,
           why = excluded.why, unknown_outcome = excluded.unknown_outcome",
    )?
    .execute(params![
        account,
        item,
        now,
        kept.position_ms,
        kept.played,
        yours.position_ms,
        yours.played,
        why,
        after_unknown
    ])?;
    Ok(())
}

/// After a merge of an item with a change of the person's (`yours`): when the merge kept
/// something else, remember their value for "Use mine" (invariant 11). `landed` is how the
/// read settled an unknown outcome, if there was one: after "overwritten" the person's value
/// lost to a change made after theirs reached the server, and the reason says so.
pub(super) fn note_merge(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    yours: &UserData,
    outcome: &crate::merge::Outcome,
    landed: Option<Landed>,
    now: Millis,
) -> rusqlite::Result<()> {
    let kept = &outcome.result;
    if (kept.played, kept.position_ms) == (yours.played, yours.position_ms) {
        return Ok(());
    }
    let after_unknown = landed == Some(Landed::Overwritten);
    let why = if after_unknown {
        let at = |u: &UserData| {
            if u.played {
                "watched".to_string()
            } else {
                crate::merge::format_position(u.position_ms)
            }
        };
        format!(
            "another device set {} after your {} reached the server — kept {}",
            at(kept),
            at(yours),
            at(kept)
        )
    } else {
        outcome.summary()
    };
    record_overridden(tx, account, item, kept, yours, &why, after_unknown, now)
}

/// The person made a new change to the item: an older override notice no longer applies.
pub(super) fn forget_overridden(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM overridden WHERE account_id = ?1 AND item_id = ?2")?
        .execute(params![account, item])?;
    Ok(())
}

/// Put back an override notice as it was (an undo of "Use mine for all", see `store::hold`):
/// its decision time too, so it is kept for the same 7 days.
pub(super) fn restore_overridden(
    tx: &Transaction<'_>,
    account: AccountId,
    o: &Overridden,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO overridden (account_id, item_id, decided_at, kept_position_ms,
           kept_played, yours_position_ms, yours_played, why, unknown_outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        account,
        o.item_id,
        o.at,
        o.kept.position_ms,
        o.kept.played,
        o.yours.position_ms,
        o.yours.played,
        o.why,
        o.after_unknown_outcome
    ])?;
    Ok(())
}

/// [`Store::overridden`] inside the caller's transaction.
pub(super) fn overridden_in(
    tx: &Transaction<'_>,
    account: AccountId,
    now: Millis,
) -> rusqlite::Result<Vec<Overridden>> {
    tx.execute(
        "DELETE FROM overridden WHERE account_id = ?1 AND decided_at < ?2",
        params![account, now.saturating_sub(OVERRIDDEN_KEEP_MS)],
    )?;
    let mut stmt = tx.prepare(
        "SELECT item_id, decided_at, kept_position_ms, kept_played, yours_position_ms,
                yours_played, why, unknown_outcome
         FROM overridden WHERE account_id = ?1 ORDER BY decided_at DESC, item_id",
    )?;
    let rows = stmt.query_map([account], |r| {
        Ok(Overridden {
            item_id: r.get(0)?,
            at: r.get(1)?,
            kept: Progress {
                position_ms: r.get(2)?,
                played: r.get(3)?,
            },
            yours: Progress {
                position_ms: r.get(4)?,
                played: r.get(5)?,
            },
            why: r.get(6)?,
            after_unknown_outcome: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// The change that sends the person's value of an override notice ("Use mine").
pub(super) fn use_mine_change(entry: &Overridden) -> crate::model::LocalChange {
    if entry.yours.played {
        crate::model::LocalChange::MarkWatched
    } else {
        crate::model::LocalChange::Playback {
            position_ms: entry.yours.position_ms,
            watched: false,
            add_play: false,
            unwatch: true,
        }
    }
}

impl Store {
    /// The merges of the last 7 days that kept the server's value over a change of the
    /// person's, newest first (older ones are forgotten here).
    pub fn overridden(&mut self, account: AccountId, now: Millis) -> Result<Vec<Overridden>> {
        let tx = self.conn.transaction()?;
        let out = overridden_in(&tx, account, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// "Use mine": queue the person's value that a merge kept the server's over, as a new
    /// change (it is sent, and merged at send time like any change). `None` when no such
    /// decision of the last 7 days is known for the item.
    pub fn use_mine(
        &mut self,
        account: AccountId,
        item: &str,
        now: Millis,
        debounce_ms: i64,
    ) -> Result<Option<(UserData, super::RecordOutcome)>> {
        let Some(entry) = self
            .overridden(account, now)?
            .into_iter()
            .find(|o| o.item_id == item)
        else {
            return Ok(None);
        };
        let change = use_mine_change(&entry);
        // Recording the change forgets the decision (`forget_overridden`).
        Ok(Some(self.record_change(
            account,
            item,
            change,
            now,
            debounce_ms,
        )?))
    }

    /// A write failed just now with an unknown outcome, and the engine reads its item again no
    /// earlier than `not_before` (a server that held it may apply it late). Every other item
    /// whose write's outcome is still unknown and that waits for its retry waits at least as
    /// long: a server that is holding our requests now may still hold an earlier one, which
    /// a read before it lands would take for "did not land" (a second scrobble on Plex).
    /// Returns how many rows were deferred.
    pub fn defer_unknown_outcomes(
        &mut self,
        account: AccountId,
        not_before: Millis,
    ) -> Result<usize> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE sync_outbox SET next_attempt_at = ?2
             WHERE account_id = ?1 AND state = 'failed' AND next_attempt_at < ?2
               AND item_id IN (SELECT item_id FROM sent_state WHERE account_id = ?1)",
            )?
            .execute(params![account, not_before])?;
        Ok(n)
    }

    /// Whether a write of the item has an unknown outcome (for tests and `status`).
    pub fn has_unknown_outcome(&mut self, account: AccountId, item: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let sent = sent_of(&tx, account, item)?;
        tx.commit()?;
        Ok(sent.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> UserData {
        UserData {
            position_ms: s * 1000,
            ..UserData::default()
        }
    }

    #[test]
    fn classify_rows() {
        let base = at(600);
        let sent = at(1200);
        // Row 1: the server holds what we sent (to the second).
        assert_eq!(classify(&sent, None, Some(&base), &at(1200)), Landed::Ours);
        let mut close = at(1200);
        close.position_ms += 400;
        assert_eq!(classify(&sent, None, Some(&base), &close), Landed::Ours);
        // Row 2: the old base.
        assert_eq!(
            classify(&sent, None, Some(&base), &at(600)),
            Landed::NotLanded
        );
        // Row 3: anything else.
        assert_eq!(
            classify(&sent, None, Some(&base), &at(180)),
            Landed::Overwritten
        );
        let watched = UserData {
            played: true,
            ..at(0)
        };
        assert_eq!(
            classify(&sent, None, Some(&base), &watched),
            Landed::Overwritten
        );
        // No base: it cannot be shown not to have landed.
        assert_eq!(classify(&sent, None, None, &at(600)), Landed::Overwritten);
    }

    #[test]
    fn a_date_after_the_read_turns_not_landed_into_overwritten_never_the_reverse() {
        let base = UserData {
            last_played: Some(1_000),
            ..at(600)
        };
        let sent = at(1200);
        let later = UserData {
            last_played: Some(5_000),
            ..at(600)
        };
        assert_eq!(
            classify(&sent, Some(4_000), Some(&base), &later),
            Landed::Overwritten
        );
        // Dated before the read, or with no read date: it did not land.
        assert_eq!(
            classify(&sent, Some(6_000), Some(&base), &later),
            Landed::NotLanded
        );
        assert_eq!(
            classify(&sent, None, Some(&base), &later),
            Landed::NotLanded
        );
        // The base's own date is no new write.
        assert_eq!(
            classify(&sent, Some(500), Some(&base), &base),
            Landed::NotLanded
        );
        // The `Date` header is whole seconds: a date written in the same second as our read
        // was answered (after it) equals the header and is still "after our read" (seed 320:
        // another device's season "watched", dated 4 000 on a clock that moved in whole
        // seconds, was taken for "ours did not land" and our unwatch was sent over it).
        let same_second = UserData {
            played: true,
            last_played: Some(4_000),
            ..at(0)
        };
        let watched_base = UserData {
            played: true,
            last_played: Some(1_000),
            ..at(0)
        };
        assert_eq!(
            classify(&at(0), Some(4_000), Some(&watched_base), &same_second),
            Landed::Overwritten
        );
        // A date written before the read was seen by it: the base holds it.
        assert_eq!(
            classify(&at(0), Some(4_000), Some(&same_second), &same_second),
            Landed::NotLanded
        );
        // A date never turns "ours" into anything else.
        let ours_dated = UserData {
            last_played: Some(9_000),
            ..at(1200)
        };
        assert_eq!(
            classify(&sent, Some(4_000), Some(&base), &ours_dated),
            Landed::Ours
        );
    }
}
