//! Storing what finished: the writes that completed together in one transaction, a Plex
//! write handed to its claim's verify read.

use super::*;

impl Engine {
    /// Store requests that finished together: the writes that completed (and are not waiting
    /// for a verify read) in one transaction, the rest one by one through [`Engine::finish`].
    /// On a store error whatever was not stored is kept in `ctx.unfinished` (the transaction
    /// stored nothing), to be tried again one by one.
    pub(super) fn finish_all(&self, ctx: &mut RunCtx, dones: Vec<Done>) -> Result<(), StoreError> {
        let mut completed = Vec::new();
        let mut rest = Vec::new();
        for done in dones {
            match done {
                Done::Write {
                    write,
                    epoch,
                    started,
                    result: Ok(after),
                } => {
                    if self.hand_to_verify(ctx, &write, epoch, &after) {
                        ctx.writes = ctx.writes.saturating_sub(1);
                    } else {
                        completed.push((write, epoch, started, after));
                    }
                }
                other => rest.push(other),
            }
        }
        if !completed.is_empty() {
            let list: Vec<Answered<'_>> = completed
                .iter()
                .map(|(write, epoch, _, after)| (write, *epoch, after.as_slice()))
                .collect();
            if let Err(e) = self.complete_writes(&list) {
                ctx.unfinished.extend(rest);
                ctx.unfinished.extend(completed.into_iter().map(
                    |(write, epoch, started, after)| Done::Write {
                        write,
                        epoch,
                        started,
                        result: Ok(after),
                    },
                ));
                return Err(e);
            }
            ctx.writes = ctx.writes.saturating_sub(completed.len());
            self.shared.counts_stale.store(true, Ordering::Relaxed);
        }
        let mut rest = rest.into_iter();
        while let Some(done) = rest.next() {
            if let Err(e) = self.finish(ctx, &done) {
                ctx.unfinished.push(done);
                ctx.unfinished.extend(rest);
                return Err(e);
            }
        }
        Ok(())
    }

    /// A Plex item write's answer carries no state (invariant 10): what it should have left
    /// waits for the read that verifies the claim's writes together. `true`: the write was
    /// handed to its claim's verify batch (nothing to store now). Every finished item write
    /// leaves its batch here.
    pub(super) fn hand_to_verify(
        &self,
        ctx: &mut RunCtx,
        write: &PlannedWrite,
        epoch: u64,
        after: &[(String, UserData)],
    ) -> bool {
        let PlannedWrite::Item { row, .. } = write else {
            return false;
        };
        let Some(batch) = ctx.leave_batch(&row.item_id) else {
            return false;
        };
        let Some((_, expected)) = after.iter().find(|(id, _)| *id == row.item_id) else {
            return false;
        };
        let Some(b) = ctx.batches.get_mut(&batch) else {
            return false;
        };
        b.written.push((row.clone(), *expected));
        b.epoch = b.epoch.max(epoch);
        true
    }

    /// Writes the server answered: the base becomes what each answer reported (else what was
    /// sent), the sent record is cleared and the row compare-and-deleted on `change_seq`, all
    /// in one transaction (`Store::complete_writes`).
    pub(super) fn complete_writes(&self, writes: &[Answered<'_>]) -> Result<(), StoreError> {
        let now = self.now();
        let account = self.shared.account;
        let afters: Vec<HashMap<String, UserData>> = writes
            .iter()
            .map(|(_, _, after)| after.iter().cloned().collect())
            .collect();
        let list: Vec<(&PlannedWrite, &HashMap<String, UserData>)> = writes
            .iter()
            .zip(&afters)
            .map(|((write, _, _), after)| (*write, after))
            .collect();
        let outcomes = self.with_store(|s| s.complete_writes(account, &list, now))?;
        for ((write, epoch, _), outcomes) in writes.iter().zip(outcomes) {
            self.set_account_from(*epoch, AccountState::Online);
            for (row, outcome) in write.rows().iter().zip(outcomes) {
                let state = match outcome {
                    CompleteOutcome::Delivered | CompleteOutcome::Gone => ItemSyncState::Synced,
                    CompleteOutcome::Requeued => ItemSyncState::Queued,
                };
                self.emit(SyncEvent::ItemState {
                    item_id: row.item_id.clone(),
                    state,
                });
            }
        }
        Ok(())
    }
}
