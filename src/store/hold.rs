//! Held changes and their undo: a bulk change (or "Use mine for all") the app offers to take
//! back.
//!
//! A bulk action ("Mark series unwatched") is recorded at once, like any change (DESIGN.md
//! invariant 1: play state and outbox rows in one transaction), but its rows carry a
//! `hold_until`: no claim takes them before then ([`Store::claim_due`]), whatever asks for a
//! send (the app's scheduler, "Sync now" in another process, `playmark sync`, `retry`). The
//! hold is a time, not a flag, so a hold whose app was killed ends by itself.
//!
//! The hold ends early when the person is done deciding ([`Store::release_hold`]: the Undo
//! toast went away, or Sync now in the app). Until then [`Store::undo_held`] puts every item
//! back to its state before the bulk action: a row whose state is back at the base is
//! dropped (invariant 2), so an undo of a bulk change of synced items sends nothing at all.
//! Undo is refused, with nothing changed, when any change of the batch may have been sent.

use rusqlite::{params, Transaction};

use super::outbox::{
    record_bulk_in, record_change_in, row_of, upsert_desired, BulkChild, RecordOutcome, RowState,
};
use super::sent::{overridden_in, restore_overridden, use_mine_change, Overridden};
use super::state::{local_of, write_local};
use super::{BulkOutcome, Result, Store};
use crate::model::{AccountId, DesiredState, Millis, UserData};

/// How long a bulk change is held at most for its Undo (the app's Undo toast goes earlier).
pub const UNDO_HOLD_MS: i64 = 30_000;

/// One item of a held bulk change: its local state before and after, and the change sequence
/// number of its held outbox row (`None`: the bulk change brought it back to the base, so no
/// row was queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    pub item_id: String,
    pub before: UserData,
    pub before_changed_at: Option<Millis>,
    pub after: UserData,
    pub change_seq: Option<i64>,
}

/// What a held batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldAction {
    /// A season or series (`parent`) marked watched (`played`) or not watched.
    Bulk { parent: String, played: bool },
    /// "Use mine for all": the person's values of these override notices queued after all
    /// (an undo puts the notices back, so "Use mine" stays possible for their 7 days).
    UseMine { notices: Vec<Overridden> },
}

/// A bulk change recorded with a hold ([`Store::record_bulk_held`],
/// [`Store::use_mine_held`]): what [`Store::undo_held`] needs to take it back and
/// [`Store::release_hold`] to let it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBatch {
    pub account: AccountId,
    /// What the change was.
    pub action: HeldAction,
    /// Not sent before this time (epoch ms).
    pub hold_until: Millis,
    /// Every child the action changed, in id order.
    pub items: Vec<HeldItem>,
    /// What the action did to the queue.
    pub outcome: BulkOutcome,
}

/// What [`Store::undo_held`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoOutcome {
    /// Every item of the batch is back to its state before (`restored` items; an item the
    /// person changed again since keeps that newer change and is not counted).
    Undone { restored: usize },
    /// Some change of the batch may have been sent (`sent` items: the hold is over, or a
    /// request carries it): nothing was changed.
    TooLate { sent: usize },
}

fn set_hold(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    hold_until: Option<Millis>,
    change_seq: i64,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE sync_outbox SET hold_until = ?3
         WHERE account_id = ?1 AND item_id = ?2 AND change_seq = ?4",
    )?
    .execute(params![account, item, hold_until, change_seq])
}

/// The batch's entry for one recorded change, its row (when queued) held until `hold_until`.
fn held_item(
    tx: &Transaction<'_>,
    account: AccountId,
    child: BulkChild,
    hold_until: Millis,
) -> Result<HeldItem> {
    let change_seq = match child.outcome {
        RecordOutcome::Queued { change_seq } => {
            set_hold(tx, account, &child.item_id, Some(hold_until), change_seq)?;
            Some(change_seq)
        }
        RecordOutcome::Dropped => None,
    };
    Ok(HeldItem {
        item_id: child.item_id,
        before: child.before,
        before_changed_at: child.before_changed_at,
        after: child.after,
        change_seq,
    })
}

impl Store {
    /// [`Store::record_bulk`] with every queued row held until `hold_until` (the same
    /// transaction: the change and its hold are durable together).
    #[allow(clippy::too_many_arguments)]
    pub fn record_bulk_held(
        &mut self,
        account: AccountId,
        parent: &str,
        played: bool,
        now: Millis,
        debounce_ms: i64,
        hold_until: Millis,
    ) -> Result<HeldBatch> {
        let tx = self.conn.transaction()?;
        let (outcome, children) = record_bulk_in(&tx, account, parent, played, now, debounce_ms)?;
        let items = children
            .into_iter()
            .map(|child| held_item(&tx, account, child, hold_until))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(HeldBatch {
            account,
            action: HeldAction::Bulk {
                parent: parent.to_string(),
                played,
            },
            hold_until,
            items,
            outcome,
        })
    }

    /// "Use mine for all": [`Store::use_mine`] for each of `items` that has an override
    /// notice, in one transaction, every queued row held until `hold_until`. The notices go
    /// (the person decided) and are kept in the batch for an undo. `None` when none of the
    /// items has a notice (any more).
    pub fn use_mine_held(
        &mut self,
        account: AccountId,
        items: &[String],
        now: Millis,
        debounce_ms: i64,
        hold_until: Millis,
    ) -> Result<Option<HeldBatch>> {
        let tx = self.conn.transaction()?;
        let notices: Vec<Overridden> = overridden_in(&tx, account, now)?
            .into_iter()
            .filter(|o| items.contains(&o.item_id))
            .collect();
        if notices.is_empty() {
            return Ok(None);
        }
        let mut held = Vec::with_capacity(notices.len());
        let (mut queued, mut dropped) = (0, 0);
        for notice in &notices {
            let child = record_change_in(
                &tx,
                account,
                &notice.item_id,
                use_mine_change(notice),
                now,
                debounce_ms,
            )?;
            let item = held_item(&tx, account, child, hold_until)?;
            match item.change_seq {
                Some(_) => queued += 1,
                None => dropped += 1,
            }
            held.push(item);
        }
        tx.commit()?;
        Ok(Some(HeldBatch {
            account,
            action: HeldAction::UseMine { notices },
            hold_until,
            items: held,
            outcome: BulkOutcome {
                queued,
                dropped,
                group_key: None,
            },
        }))
    }

    /// End the hold of `batch`: its rows are sent like any other (a row changed since, with
    /// its own hold or none, is left alone). Returns how many rows were released.
    pub fn release_hold(&mut self, batch: &HeldBatch) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for item in &batch.items {
            if let Some(seq) = item.change_seq {
                n += set_hold(&tx, batch.account, &item.item_id, None, seq)?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// End every hold of the account ("Sync now" in the app). Returns how many rows were held.
    pub fn release_all_holds(&mut self, account: AccountId, now: Millis) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE sync_outbox SET hold_until = NULL
             WHERE account_id = ?1 AND hold_until IS NOT NULL AND hold_until > ?2",
            params![account, now],
        )?)
    }

    /// How many rows of the account are held at `now` (`playmark status`).
    pub fn held(&self, account: AccountId, now: Millis) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM sync_outbox WHERE account_id = ?1 AND hold_until > ?2",
            params![account, now],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Take `batch` back: each item's local state returns to what it was before the bulk
    /// action, and its outbox row to what that state needs (none when it equals the base,
    /// DESIGN.md invariant 2; the earlier unsent change otherwise). One transaction.
    ///
    /// Refused ([`UndoOutcome::TooLate`], nothing changed) when any change of the batch may
    /// have been sent: its hold is over (released or expired) or a request carries it. An
    /// item the person changed again since keeps that change.
    pub fn undo_held(
        &mut self,
        batch: &HeldBatch,
        now: Millis,
        debounce_ms: i64,
    ) -> Result<UndoOutcome> {
        let account = batch.account;
        let tx = self.conn.transaction()?;
        let mut restore = Vec::new();
        let mut sent = 0;
        for item in &batch.items {
            let row = row_of(&tx, account, &item.item_id)?;
            let local = local_of(&tx, account, &item.item_id)?;
            let unchanged_here = local == Some(item.after);
            match (item.change_seq, row) {
                // Still the held change, still held: never sent.
                (Some(seq), Some(row))
                    if row.change_seq == seq
                        && row.state != RowState::InFlight
                        && row.held_at(now) =>
                {
                    restore.push(item)
                }
                // The held change, no longer held (or under way): it may be on the server.
                (Some(seq), Some(row)) if row.change_seq == seq => sent += 1,
                // A request carries a newer change: whatever it is, it is being sent.
                (Some(_), Some(row)) if row.state == RowState::InFlight => sent += 1,
                // The row went while the item still shows the bulk change: it was delivered.
                (Some(_), None) if unchanged_here => sent += 1,
                // Changed again by the person since: that newer change stays.
                (Some(_), _) => {}
                // The bulk change only brought the item back to the base: nothing to send.
                (None, None) if unchanged_here => restore.push(item),
                (None, _) => {}
            }
        }
        if sent > 0 {
            // Nothing written: the transaction is rolled back when dropped.
            return Ok(UndoOutcome::TooLate { sent });
        }
        for item in &restore {
            write_local(
                &tx,
                account,
                &item.item_id,
                &item.before,
                item.before_changed_at,
            )?;
            upsert_desired(
                &tx,
                account,
                &item.item_id,
                &DesiredState::from_user_data(&item.before),
                now,
                debounce_ms,
            )?;
            // The notice that "Use mine" replaced is back: the person can still choose.
            if let HeldAction::UseMine { notices } = &batch.action {
                for notice in notices.iter().filter(|n| n.item_id == item.item_id) {
                    restore_overridden(&tx, account, notice)?;
                }
            }
        }
        tx.execute(
            "DELETE FROM sync_groups WHERE account_id = ?1 AND group_key NOT IN
               (SELECT group_key FROM sync_outbox WHERE group_key IS NOT NULL)",
            [account],
        )?;
        tx.commit()?;
        Ok(UndoOutcome::Undone {
            restored: restore.len(),
        })
    }
}
