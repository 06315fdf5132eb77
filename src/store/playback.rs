//! Delivery of a live session report (see `crate::player::session`).
//!
//! A live report (Jellyfin `/Sessions/Playing*`, Plex timeline) is a write with the server's
//! side effects. When it succeeds, the server holds the checkpoint it carried: the base learns
//! that (the same change applied to the base, as the server applied it to what it held) and the
//! outbox row is completed by compare-and-delete on `change_seq`, so the next pull sees no
//! phantom "another device" change and the outbox does not write it a second time. Whatever the
//! report did not carry (an earlier report that failed, a newer change) stays queued.

use rusqlite::params;

use super::outbox::{delete_row, row_of, RowState};
use super::sent;
use super::state::{base_of, write_base};
use super::{Result, Store};
use crate::model::{apply_change, AccountId, LocalChange, Millis, UserData};

/// What a live report carrying `change` does to what the server held: the change, but the
/// server's own last-played date is not known here (it is read back where the server sets it).
fn server_effect(base: &UserData, change: LocalChange, now: Millis) -> UserData {
    UserData {
        last_played: base.last_played,
        ..apply_change(base, change, now)
    }
}

/// What a delivered report did to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportDelivery {
    /// The row the report carried is gone: the server holds what the user has.
    Delivered,
    /// A row is still queued (newer change, or something an earlier report did not deliver).
    StillQueued,
    /// Nothing was queued for the item.
    NothingQueued,
}

impl Store {
    /// A live report carrying `change` (recorded as `change_seq`, `None` when recording it
    /// queued nothing) succeeded at `now`. One transaction: the base becomes `server_now` (read
    /// back from the server) or else `change` applied to it; the row is deleted only when it
    /// still has `change_seq` and wants exactly the new base (position, watched, play count);
    /// otherwise it is made due at once.
    pub fn deliver_report(
        &mut self,
        account: AccountId,
        item: &str,
        change: LocalChange,
        change_seq: Option<i64>,
        server_now: Option<UserData>,
        now: Millis,
    ) -> Result<(UserData, ReportDelivery)> {
        let tx = self.conn.transaction()?;
        let base = base_of(&tx, account, item)?.unwrap_or_default();
        let new_base = server_now.unwrap_or_else(|| server_effect(&base, change, now));
        write_base(&tx, account, item, &new_base, now)?;
        let row = row_of(&tx, account, item)?;
        let in_flight = row.as_ref().is_some_and(|r| r.state == RowState::InFlight);
        if !in_flight {
            // The report set what the server holds after any earlier write of ours: an earlier
            // write's unknown outcome no longer matters (while a write is in flight it may
            // still land after the report, and its record stays).
            sent::clear_sent(&tx, account, item, i64::MAX)?;
        }
        let outcome = match row {
            None => ReportDelivery::NothingQueued,
            Some(row) => {
                let d = row.desired;
                let same = d.position_ms == new_base.position_ms
                    && d.played == new_base.played
                    && d.play_count == new_base.play_count;
                // Compare-and-delete on `change_seq`, never under a write in flight: that
                // write's completion compares its own `change_seq` with the row's.
                if same && Some(row.change_seq) == change_seq && !in_flight {
                    delete_row(&tx, account, item)?;
                    ReportDelivery::Delivered
                } else {
                    // What the report did not carry goes now, not after the hold.
                    tx.execute(
                        "UPDATE sync_outbox SET next_attempt_at = ?3
                         WHERE account_id = ?1 AND item_id = ?2 AND state = 'pending' AND next_attempt_at > ?3",
                        params![account, item, now],
                    )?;
                    ReportDelivery::StillQueued
                }
            }
        };
        tx.commit()?;
        Ok((new_base, outcome))
    }

    /// The server holds `server` for `item` because one of our own play sessions left it there
    /// by itself (Jellyfin's session clock and idle stop, `Engine::open_play`): it becomes the
    /// base, so the merge that follows meets it as ours, not as another device's change. The
    /// local state and any queued change are left alone.
    pub fn take_session_base(
        &mut self,
        account: AccountId,
        item: &str,
        server: &UserData,
        now: Millis,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        write_base(&tx, account, item, server, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Make one item's queued change due now (a live report for it failed: the outbox takes
    /// over at once instead of after the hold).
    pub fn make_item_due(&mut self, account: AccountId, item: &str, now: Millis) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE sync_outbox SET next_attempt_at = ?3
             WHERE account_id = ?1 AND item_id = ?2 AND state = 'pending' AND next_attempt_at > ?3",
            params![account, item, now],
        )?;
        Ok(n > 0)
    }
}
