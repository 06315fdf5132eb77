//! The worker's half of Undo for bulk changes: the held batches (see `store::hold`) by the
//! number the UI's toast knows them by. What comes in: a held batch from the engine, then the
//! toast's Undo or its end; what goes out: [`SyncQueueOutput::BulkHeld`], the rows' data after
//! an undo, or [`SyncQueueOutput::UndoTooLate`].

use std::collections::HashMap;

use super::relay::Relay;
use super::{send_item, SyncQueueOutput};
use crate::model::ItemKind;
use crate::store::{HeldAction, HeldBatch, StoreError, UndoOutcome};
use crate::sync::{Engine, ItemSyncState};

/// Held bulk changes by batch number.
#[derive(Debug, Default)]
pub(super) struct HeldBatches {
    batches: HashMap<u64, HeldBatch>,
    next: u64,
}

impl HeldBatches {
    /// Keep `batch` and tell the UI, which offers its Undo.
    pub(super) fn announce(
        &mut self,
        engine: &Engine,
        batch: HeldBatch,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        self.next += 1;
        let number = self.next;
        let held = batch
            .items
            .iter()
            .filter(|i| i.change_seq.is_some())
            .count();
        let count = batch.items.len();
        let _ = out.send(match &batch.action {
            HeldAction::Bulk { parent, played } => {
                let parent = engine
                    .with_store(|s| s.item(batch.account, parent))
                    .ok()
                    .flatten();
                let name = parent.as_ref().map(|p| p.name.clone()).unwrap_or_default();
                let series = parent
                    .filter(|p| p.kind == ItemKind::Season)
                    .and_then(|p| p.series_name);
                SyncQueueOutput::BulkHeld {
                    batch: number,
                    name,
                    series,
                    count,
                    played: *played,
                    held,
                }
            }
            HeldAction::UseMine { .. } => SyncQueueOutput::UseMineHeld {
                batch: number,
                count,
                held,
            },
        });
        self.batches.insert(number, batch);
    }

    /// "Use mine for all": the person's values go on the rows at once, held like a bulk
    /// change while the UI offers its Undo (which brings the override notices back).
    pub(super) fn use_mine(
        &mut self,
        engine: &Engine,
        relay: &Relay,
        items: &[String],
        out: &relm4::Sender<SyncQueueOutput>,
    ) -> Result<(), StoreError> {
        if let Some(batch) = engine.use_mine_held(items)? {
            let account = engine.account_state();
            let queued: Vec<(String, bool)> = batch
                .items
                .iter()
                .map(|i| (i.item_id.clone(), i.change_seq.is_some()))
                .collect();
            self.announce(engine, batch, out);
            for (item, held) in queued {
                send_item(engine, out, &item);
                if held {
                    relay.item_state(item, ItemSyncState::waiting(account));
                }
            }
        }
        relay.overridden(false);
        Ok(())
    }

    /// Undo the batch: its rows show their state before again, or the UI hears it is too late.
    /// A batch of another account (the person switched since) is left to its hold's end.
    pub(super) fn undo(
        &mut self,
        engine: &Engine,
        number: u64,
        out: &relm4::Sender<SyncQueueOutput>,
    ) -> Result<(), StoreError> {
        let Some(batch) = self.take(engine, number) else {
            let _ = out.send(SyncQueueOutput::UndoTooLate { batch: number });
            return Ok(());
        };
        match engine.undo(&batch)? {
            UndoOutcome::Undone { .. } => {
                for item in &batch.items {
                    send_item(engine, out, &item.item_id);
                }
            }
            UndoOutcome::TooLate { .. } => {
                let _ = out.send(SyncQueueOutput::UndoTooLate { batch: number });
            }
        }
        Ok(())
    }

    /// The Undo is no longer offered: the batch is sent now.
    pub(super) fn release(&mut self, engine: &Engine, number: u64) -> Result<(), StoreError> {
        match self.take(engine, number) {
            Some(batch) => engine.release_hold(&batch).map(|_| ()),
            None => Ok(()),
        }
    }

    /// "Sync now": every hold of the account ends.
    pub(super) fn release_all(&mut self, engine: &Engine) -> Result<(), StoreError> {
        self.batches.clear();
        engine.release_all_holds().map(|_| ())
    }

    fn take(&mut self, engine: &Engine, number: u64) -> Option<HeldBatch> {
        self.batches
            .remove(&number)
            .filter(|b| b.account == engine.account())
    }
}
