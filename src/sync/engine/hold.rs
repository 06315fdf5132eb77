//! Held bulk changes (see `store::hold`): recorded at once, sent when the person is done
//! deciding, or taken back with Undo while nothing of them was sent.

use super::*;
use crate::store::{HeldBatch, UndoOutcome, UNDO_HOLD_MS};

impl Engine {
    /// [`Engine::record_bulk`], held for [`UNDO_HOLD_MS`] at most: nothing of it is sent
    /// before [`Engine::release_hold`] (or the hold's end), and [`Engine::undo`] can take it
    /// back until then.
    pub fn record_bulk_held(&self, parent: &str, played: bool) -> Result<HeldBatch, StoreError> {
        let now = self.now();
        let batch = self.with_store(|s| {
            s.record_bulk_held(
                self.shared.account,
                parent,
                played,
                now,
                self.shared.config.debounce_ms,
                now.saturating_add(UNDO_HOLD_MS),
            )
        })?;
        self.emit_counts();
        // The scheduler's next wake-up is the hold's end (or an earlier row's).
        self.shared.notify.notify_one();
        Ok(batch)
    }

    /// "Use mine for all" ([`Store::use_mine_held`]), held like a bulk change for its Undo.
    /// `None` when none of `items` has an override notice any more.
    pub fn use_mine_held(&self, items: &[String]) -> Result<Option<HeldBatch>, StoreError> {
        let now = self.now();
        let batch = self.with_store(|s| {
            s.use_mine_held(
                self.shared.account,
                items,
                now,
                self.shared.config.debounce_ms,
                now.saturating_add(UNDO_HOLD_MS),
            )
        })?;
        if batch.is_some() {
            self.emit_counts();
            self.shared.notify.notify_one();
        }
        Ok(batch)
    }

    /// The person is done deciding about `batch`: its changes are sent now.
    pub fn release_hold(&self, batch: &HeldBatch) -> Result<usize, StoreError> {
        let n = self.with_store(|s| s.release_hold(batch))?;
        self.shared.notify.notify_one();
        Ok(n)
    }

    /// End every hold of the account (the app's "Sync now": the person asked for a send).
    pub fn release_all_holds(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let n = self.with_store(|s| s.release_all_holds(self.shared.account, now))?;
        self.shared.notify.notify_one();
        Ok(n)
    }

    /// Undo `batch` (see [`Store::undo_held`]): each item goes back to its state before, and
    /// its badge follows (nothing to send, or its earlier change queued again).
    pub fn undo(&self, batch: &HeldBatch) -> Result<UndoOutcome, StoreError> {
        let now = self.now();
        let outcome =
            self.with_store(|s| s.undo_held(batch, now, self.shared.config.debounce_ms))?;
        if let UndoOutcome::Undone { .. } = outcome {
            let account = self.shared.account;
            for item in &batch.items {
                let queued = self
                    .with_store(|s| s.outbox_row(account, &item.item_id))?
                    .is_some();
                let state = if queued {
                    self.queued_badge()
                } else {
                    ItemSyncState::Discarded
                };
                self.emit(SyncEvent::ItemState {
                    item_id: item.item_id.clone(),
                    state,
                });
            }
            self.emit_counts();
            self.shared.notify.notify_one();
        }
        Ok(outcome)
    }
}
