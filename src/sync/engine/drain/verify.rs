//! Trust, then verify (DESIGN.md invariant 10): a claim's Plex item writes, checked by one read.
use super::*;

impl Engine {
    /// Queue a claim's planned writes. On Plex (whose write answers carry no state) the
    /// claim's item writes form one batch, verified by one read when the last of them is done
    /// (DESIGN.md invariant 10).
    pub(super) fn queue_writes(&self, ctx: &mut RunCtx, writes: Vec<PlannedWrite>) {
        if self.shared.server.kind() == ServerKind::Plex {
            let items: Vec<String> = writes
                .iter()
                .filter_map(|w| match w {
                    PlannedWrite::Item { row, .. } => Some(row.item_id.clone()),
                    PlannedWrite::Group { .. } => None,
                })
                .collect();
            if !items.is_empty() {
                ctx.next_batch += 1;
                let id = ctx.next_batch;
                ctx.batches.insert(
                    id,
                    VerifyBatch {
                        pending: items.len(),
                        written: Vec::new(),
                        epoch: self.epoch(),
                    },
                );
                for item in items {
                    ctx.batch_of.insert(item, id);
                }
            }
        }
        ctx.ready.extend(writes);
    }

    /// Send the verifying read of every batch whose writes have all finished.
    pub(super) fn verify_ready(&self, ctx: &mut RunCtx) {
        let done: Vec<u64> = ctx
            .batches
            .iter()
            .filter(|(_, b)| b.pending == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let Some(batch) = ctx.batches.remove(&id) else {
                continue;
            };
            if !batch.written.is_empty() {
                ctx.inflight.push(tagged(
                    TaskKind::Verify,
                    self.spawn_verify(batch.written, batch.epoch),
                ));
            }
        }
    }

    /// The read that verifies a claim's Plex writes: `GET /library/metadata/{ids}` for all of
    /// them at once (a claim holds at most [`MAX_READ_IDS`] rows: one request).
    pub(super) fn spawn_verify(
        &self,
        written: Vec<(ClaimedRow, UserData)>,
        epoch: u64,
    ) -> tokio::task::JoinHandle<Done> {
        self.shared.stats.verifies.fetch_add(1, Ordering::Relaxed);
        let server = self.shared.server.clone();
        tokio::spawn(async move {
            let ids: Vec<String> = written.iter().map(|(r, _)| r.item_id.clone()).collect();
            let mut read = ServerRead::default();
            let mut result = Ok(());
            for chunk in ids.chunks(MAX_READ_IDS) {
                match server.read_user_data(chunk).await {
                    Ok(part) => read.items.extend(part.items),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            Done::Verify {
                written,
                epoch,
                result: result.map(|()| read),
            }
        })
    }

    /// The verifying read's answer: each write completes when the server holds what it should
    /// have left, is a needs-attention when the server still holds the old base (the base is
    /// not moved to a value the server does not hold), and goes back to the queue otherwise
    /// (the next read settles it). A failed read leaves the outcome unknown: the sent records
    /// stay and the rows are retried like after a transient failure.
    pub(super) fn finish_verify(
        &self,
        written: &[(ClaimedRow, UserData)],
        epoch: u64,
        result: &Result<ServerRead, SyncError>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let account = self.shared.account;
        let rows: Vec<ClaimedRow> = written.iter().map(|(r, _)| r.clone()).collect();
        let read = match result {
            Ok(read) => read,
            Err(e) => {
                let mut error = e.clone();
                if matches!(error.kind, ErrorKind::NotFound | ErrorKind::Rejected) {
                    error.kind = ErrorKind::Transient;
                }
                error.detail = format!("could not check what Plex did: {}", error.detail);
                return self.failed(&rows, error, now, epoch);
            }
        };
        let remote: HashMap<&str, &UserData> =
            read.items.iter().map(|(id, u)| (id.as_str(), u)).collect();
        let mut unread = Vec::new();
        let mut ignored: Vec<(ClaimedRow, &'static str)> = Vec::new();
        for (row, expected) in written {
            let Some(remote) = remote.get(row.item_id.as_str()) else {
                unread.push(row.clone());
                continue;
            };
            let verified =
                self.with_store(|s| s.verify_write(account, row, expected, remote, now))?;
            let state = match verified {
                Verified::Delivered(CompleteOutcome::Delivered | CompleteOutcome::Gone) => {
                    ItemSyncState::Synced
                }
                Verified::Delivered(CompleteOutcome::Requeued) | Verified::Settling => {
                    ItemSyncState::Queued
                }
                Verified::NotApplied => {
                    let what = if expected.played != remote.played {
                        if expected.played {
                            "Plex did not apply the change to watched"
                        } else {
                            "Plex did not apply the change to not watched"
                        }
                    } else {
                        "Plex did not apply the new resume point"
                    };
                    ignored.push((row.clone(), what));
                    continue;
                }
            };
            self.emit(SyncEvent::ItemState {
                item_id: row.item_id.clone(),
                state,
            });
        }
        if !unread.is_empty() {
            let error = SyncError::transient("Plex did not list the item when asked what it did");
            self.failed(&unread, error, now, epoch)?;
        }
        for (row, what) in ignored {
            self.failed(
                std::slice::from_ref(&row),
                SyncError::rejected(what),
                now,
                epoch,
            )?;
        }
        self.set_account_from(epoch, AccountState::Online);
        self.shared.notify.notify_one();
        Ok(())
    }
}
