//! Player checkpoints and live session reports, on the engine (see `crate::player::session`).

use super::*;
use crate::store::ReportDelivery;

impl Engine {
    /// Record a player checkpoint like any local change (play state + outbox row, one
    /// transaction), but due only after `hold_ms`: a live report carrying it is under way and,
    /// when it succeeds, completes the row ([`Engine::deliver_report`]); only what it could not
    /// deliver is sent by the outbox.
    pub fn record_checkpoint(
        &self,
        item: &str,
        change: LocalChange,
        hold_ms: i64,
    ) -> Result<(UserData, RecordOutcome), StoreError> {
        let now = self.now();
        let (state, outcome) =
            self.with_store(|s| s.record_change(self.shared.account, item, change, now, hold_ms))?;
        let badge = match outcome {
            RecordOutcome::Queued { .. } => self.queued_badge(),
            RecordOutcome::Dropped => ItemSyncState::Synced,
        };
        self.emit(SyncEvent::ItemState {
            item_id: item.to_string(),
            state: badge,
        });
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok((state, outcome))
    }

    /// A live report carrying `change` (queued as `change_seq`) succeeded: the base learns
    /// what the server now holds (`server_now` when it was read back) and the row is completed
    /// by compare-and-delete.
    pub fn deliver_report(
        &self,
        item: &str,
        change: LocalChange,
        change_seq: Option<i64>,
        server_now: Option<UserData>,
    ) -> Result<ReportDelivery, StoreError> {
        let now = self.now();
        let (_, outcome) = self.with_store(|s| {
            s.deliver_report(
                self.shared.account,
                item,
                change,
                change_seq,
                server_now,
                now,
            )
        })?;
        if outcome == ReportDelivery::StillQueued {
            self.shared.notify.notify_one();
        } else {
            self.emit(SyncEvent::ItemState {
                item_id: item.to_string(),
                state: ItemSyncState::Synced,
            });
            self.emit_counts();
        }
        Ok(outcome)
    }

    /// A live report for `item` failed: its queued change becomes due now, so the outbox's
    /// read-merge-write delivers it (or waits for the server like any change).
    pub fn report_failed(&self, item: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.with_store(|s| s.make_item_due(self.shared.account, item, now))?;
        self.shared.notify.notify_one();
        Ok(())
    }
}
