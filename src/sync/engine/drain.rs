//! The drain loop: claim due rows, read, merge, write; store trouble and retries.

use super::*;
use futures::FutureExt;

mod complete;
mod requests;
mod verify;

impl Engine {
    /// Drain the outbox. See [`RunMode`].
    ///
    /// Read, merge, write: due rows are claimed in batches (up to [`MAX_READ_IDS`]); one
    /// batched read learns what the server holds now for the whole batch; each row goes
    /// through the same pure merge as a pull ([`Store::merge_claims`]); then only the writes
    /// the merges ask for are sent, at most [`EngineConfig::concurrency`] at once. The next
    /// batch is claimed and read while the last writes of the previous one are under way.
    ///
    /// A store error never ends the loop in [`RunMode::Forever`]: it is reported once
    /// ([`SyncEvent::StoreTrouble`]), retried with backoff, and [`SyncEvent::StoreRecovered`]
    /// follows. Nothing is lost meanwhile: a result that could not be stored is kept in memory
    /// and stored when the database works again (and its rows, still `in_flight`, would be sent
    /// again after their lease otherwise: writes are idempotent). In [`RunMode::UntilIdle`] a
    /// store error that lasts past the deadline is returned (the CLI says so).
    pub async fn run(&self, mode: RunMode) -> Result<RunOutcome, StoreError> {
        let mut ctx = RunCtx::default();
        let mut trouble_attempt: u32 = 0;
        loop {
            match self.tick(&mut ctx, mode).await {
                Ok(Some(outcome)) => {
                    self.store_ok(&mut trouble_attempt);
                    return Ok(outcome);
                }
                Ok(None) => self.store_ok(&mut trouble_attempt),
                Err(e) => {
                    trouble_attempt = trouble_attempt.saturating_add(1);
                    if trouble_attempt == 1 {
                        let message = store_trouble_message(&e);
                        tracing::warn!(%message, "store trouble");
                        self.emit(SyncEvent::StoreTrouble { message });
                    }
                    if let RunMode::UntilIdle { deadline } = mode {
                        if trouble_attempt > 1 && self.now() >= deadline {
                            return Err(e);
                        }
                    }
                    if self.shared.shutdown.load(Ordering::SeqCst) && ctx.is_idle() {
                        return Ok(RunOutcome::Stopped);
                    }
                    let delay = STORE_RETRY_BASE_MS
                        .saturating_mul(1 << trouble_attempt.min(8))
                        .min(STORE_RETRY_CAP_MS);
                    let wake = self.now() + delay;
                    // Any wake-up (a new change, Sync now, shutdown) tries again early.
                    tokio::select! {
                        _ = self.shared.clock.sleep_until(wake) => {}
                        _ = self.shared.notify.notified() => {}
                    }
                }
            }
        }
    }

    fn store_ok(&self, trouble_attempt: &mut u32) {
        if *trouble_attempt > 0 {
            *trouble_attempt = 0;
            tracing::info!("store works again");
            self.emit(SyncEvent::StoreRecovered);
        }
    }

    /// One wake-up of the drain loop. `Ok(Some(_))`: return that.
    async fn tick(
        &self,
        ctx: &mut RunCtx,
        mode: RunMode,
    ) -> Result<Option<RunOutcome>, StoreError> {
        let account = self.shared.account;
        self.shared.stats.wakeups.fetch_add(1, Ordering::Relaxed);
        // Results that could not be stored earlier (the store failed) go first. A read is not
        // merged late: what the server held then may have changed during the outage, and a write
        // planned from it would overwrite that. Its rows go back to the queue and are read
        // again: the oldest read a write is ever based on is its own claim's.
        while let Some(done) = ctx.unfinished.pop() {
            let stored = match &done {
                Done::Read { claims, .. } => self.requeue_unread(ctx, claims),
                Done::Write { .. } | Done::Verify { .. } => self.finish(ctx, &done),
            };
            if let Err(e) = stored {
                ctx.unfinished.push(done);
                return Err(e);
            }
        }
        if self.shared.shutdown.load(Ordering::SeqCst) {
            // Writes not started are given back first: a claim's writes that did finish are
            // then verified (their read is awaited here like any request under way).
            self.release_ready(ctx)?;
            while let Some(joined) = ctx.inflight.next().await {
                if let Some(done) = ctx.joined(joined) {
                    if let Err(e) = self.finish(ctx, &done) {
                        ctx.unfinished.push(done);
                        return Err(e);
                    }
                }
                self.release_ready(ctx)?;
                self.verify_ready(ctx);
            }
            return Ok(Some(RunOutcome::Stopped));
        }
        let now = self.now();
        self.with_store(|s| {
            s.recover_expired_leases(now)?;
            s.recover_orphaned_leases(now)
        })?;

        let (state, throttled_until, next_probe_at) = {
            let st = lock(&self.shared.status);
            (st.account, st.throttled_until, st.next_probe_at)
        };
        if state != AccountState::Online {
            // Planned writes that have not started wait for the account like any queued row.
            self.release_ready(ctx)?;
        }
        // Only an offline account needs to know whether anything is waiting (to probe). With
        // a pull loop (the app) it probes with nothing waiting too: a pull found the server
        // unreachable, and only a probe says when it is back.
        let actionable = state == AccountState::Offline
            && (self.shared.config.pull.is_some()
                || self.with_store(|s| s.has_sendable(account))?);

        if state == AccountState::Offline
            && actionable
            && now >= next_probe_at
            && ctx.inflight.is_empty()
        {
            self.probe().await;
            return Ok(None);
        }
        let concurrency = self.shared.config.concurrency.max(1);
        if state == AccountState::Online && now >= throttled_until {
            self.start_writes(ctx);
            // The next batch is claimed and read while the last round of the previous one's
            // writes is under way (it waits for no free slot: its read overlaps them, and its
            // writes queue behind them). One write at a time, the read waits for the write.
            let read_next = if concurrency > 1 {
                ctx.ready.len() < concurrency
            } else {
                ctx.ready.is_empty() && ctx.writes < concurrency
            };
            if read_next && !ctx.reading {
                // The last write of a batch starts after the read, the round of the previous
                // batch still queued, and ceil(batch / concurrency) writes before it: the
                // lease covers them all (a crashed process's leases are taken back at once
                // anyway, by owner).
                // One more round for the read that verifies a claim's Plex writes.
                let rounds = MAX_READ_IDS.div_ceil(concurrency) as i64 + 3;
                let lease_ms = self.shared.config.lease_ms.saturating_mul(rounds);
                let claims =
                    self.with_store(|s| s.claim_due(account, now, MAX_READ_IDS, lease_ms))?;
                if !claims.is_empty() {
                    for claim in &claims {
                        for row in claim.rows() {
                            self.emit(SyncEvent::ItemState {
                                item_id: row.item_id.clone(),
                                state: ItemSyncState::Syncing,
                            });
                        }
                    }
                    if self.shared.config.read_before_write {
                        ctx.reading = true;
                        ctx.inflight
                            .push(tagged(TaskKind::Read, self.spawn_read(claims)));
                    } else {
                        let writes = claims.into_iter().map(unread_write).collect();
                        self.queue_writes(ctx, writes);
                        self.start_writes(ctx);
                    }
                }
            }
        }

        let busy = ctx.reading || ctx.writes >= concurrency;
        let wake_at = match state {
            // A finished request is what wakes us (no spinning on due rows).
            AccountState::Online if busy => None,
            AccountState::Online if !ctx.ready.is_empty() => Some(throttled_until),
            AccountState::Online => self
                .with_store(|s| s.next_wakeup(account))?
                .map(|t| t.max(throttled_until)),
            AccountState::Offline if actionable => Some(next_probe_at),
            _ => None,
        };

        self.emit_counts_if_stale();
        if let RunMode::UntilIdle { deadline } = mode {
            let throttled_past = !ctx.ready.is_empty() && throttled_until > deadline;
            if ctx.inflight.is_empty() && (ctx.ready.is_empty() || throttled_past) {
                self.release_ready(ctx)?;
                if !ctx.inflight.is_empty() {
                    // Writes given back let their claim's finished writes be verified: wait
                    // for that read.
                    return Ok(None);
                }
                let counts = self.counts()?;
                if counts.total() == 0 {
                    return Ok(Some(RunOutcome::Empty));
                }
                let stuck =
                    counts.pending + counts.failed == 0 || wake_at.is_none_or(|w| w > deadline);
                if stuck
                    || matches!(
                        state,
                        AccountState::SignInNeeded | AccountState::ServerChanged
                    )
                {
                    return Ok(Some(match state {
                        AccountState::Offline => RunOutcome::Offline { counts },
                        AccountState::SignInNeeded => RunOutcome::SignInNeeded { counts },
                        AccountState::ServerChanged => RunOutcome::ServerChanged { counts },
                        AccountState::Online => RunOutcome::Pending { counts },
                    }));
                }
            }
        }

        let sleep = wake_at.map(|t| self.shared.clock.sleep_until(t));
        tokio::select! {
            Some(joined) = ctx.inflight.next(), if !ctx.inflight.is_empty() => {
                // The requests that finished together (a round of writes started together
                // ends together) are stored together: their completions in one transaction.
                let mut dones: Vec<Done> = ctx.joined(joined).into_iter().collect();
                while let Some(Some(joined)) = ctx.inflight.next().now_or_never() {
                    dones.extend(ctx.joined(joined));
                }
                self.finish_all(ctx, dones)?;
                self.verify_ready(ctx);
                // A slot freed: the next planned write starts now, not after the next
                // wake-up's lease recovery (the account may have changed meanwhile).
                self.start_next_writes(ctx);
            }
            _ = self.shared.notify.notified() => {}
            _ = async { match sleep { Some(s) => s.await, None => std::future::pending().await } } => {}
        }
        Ok(None)
    }

    /// Start planned writes in the free slots, if the account is online, not throttled and the
    /// engine is not stopping.
    fn start_next_writes(&self, ctx: &mut RunCtx) {
        let (state, throttled_until) = {
            let st = lock(&self.shared.status);
            (st.account, st.throttled_until)
        };
        if state == AccountState::Online
            && self.now() >= throttled_until
            && !self.shared.shutdown.load(Ordering::SeqCst)
        {
            self.start_writes(ctx);
        }
    }

    /// Planned writes that will not start now go back to the queue.
    fn release_ready(&self, ctx: &mut RunCtx) -> Result<(), StoreError> {
        if ctx.ready.is_empty() {
            return Ok(());
        }
        let rows: Vec<ClaimedRow> = ctx
            .ready
            .iter()
            .flat_map(|w| w.rows().iter().cloned())
            .collect();
        let now = self.now();
        self.with_store(|s| s.release_claims(self.shared.account, &rows, now))?;
        for row in &rows {
            ctx.leave_batch(&row.item_id);
        }
        ctx.ready.clear();
        self.verify_ready(ctx);
        let badge = self.queued_badge();
        for row in rows {
            self.emit(SyncEvent::ItemState {
                item_id: row.item_id,
                state: badge.clone(),
            });
        }
        self.shared.counts_stale.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Start planned writes while there is room.
    fn start_writes(&self, ctx: &mut RunCtx) {
        let concurrency = self.shared.config.concurrency.max(1);
        while ctx.writes < concurrency {
            let Some(write) = ctx.ready.pop_front() else {
                break;
            };
            ctx.writes += 1;
            let batch = match &write {
                PlannedWrite::Item { row, .. } => ctx.batch_of.get(&row.item_id).copied(),
                PlannedWrite::Group { .. } => None,
            };
            ctx.inflight
                .push(tagged(TaskKind::Write(batch), self.spawn_write(write)));
        }
    }

    fn epoch(&self) -> u64 {
        lock(&self.shared.status).epoch
    }

    /// Store a finished read or write. On a store error nothing was stored (one transaction)
    /// and the caller keeps `done` to try again.
    fn finish(&self, ctx: &mut RunCtx, done: &Done) -> Result<(), StoreError> {
        match done {
            Done::Read {
                claims,
                epoch,
                result,
            } => {
                self.finish_read(ctx, claims, *epoch, result)?;
                ctx.reading = false;
            }
            Done::Write {
                write,
                epoch,
                started,
                result,
            } => {
                self.finish_write(ctx, write, (*epoch, *started), result)?;
                ctx.writes = ctx.writes.saturating_sub(1);
            }
            Done::Verify {
                written,
                epoch,
                result,
            } => self.finish_verify(written, *epoch, result)?,
        }
        self.shared.counts_stale.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn finish_read(
        &self,
        ctx: &mut RunCtx,
        claims: &[Claim],
        epoch: u64,
        result: &Result<(ServerRead, Listed), SyncError>,
    ) -> Result<(), StoreError> {
        let account = self.shared.account;
        let now = self.now();
        let (read, listed) = match result {
            Ok((read, listed)) => (read, listed),
            Err(error) => {
                let rows: Vec<ClaimedRow> = claims
                    .iter()
                    .flat_map(|c| c.rows().iter().cloned())
                    .collect();
                return self.failed(&rows, error.clone(), now, epoch);
            }
        };
        if let Some(id) = read
            .server_id
            .as_deref()
            .filter(|id| self.server_changed(id))
        {
            tracing::warn!(
                server_id = id,
                "another server answers at the account's address"
            );
            self.set_account_from(epoch, AccountState::ServerChanged);
            let rows: Vec<ClaimedRow> = claims
                .iter()
                .flat_map(|c| c.rows().iter().cloned())
                .collect();
            self.with_store(|s| s.release_claims(account, &rows, now))?;
            for row in rows {
                self.emit(SyncEvent::ItemState {
                    item_id: row.item_id,
                    state: ItemSyncState::WaitingForSignIn,
                });
            }
            return Ok(());
        }
        self.set_account_from(epoch, AccountState::Online);
        let remote: HashMap<String, UserData> = read.items.iter().cloned().collect();
        // What a play of ours left on the server by itself is the base (`open_play`).
        self.rebase_our_sessions(&remote)?;
        let plan = self.with_store(|s| {
            s.merge_claims_listed_at(account, claims, &remote, listed, read.date, now)
        })?;
        self.emit_merges(&plan.report);
        for item_id in plan.settled {
            self.emit(SyncEvent::ItemState {
                item_id,
                state: ItemSyncState::Synced,
            });
        }
        for item_id in plan.released {
            self.emit(SyncEvent::ItemState {
                item_id,
                state: ItemSyncState::Discarded,
            });
        }
        self.queue_writes(ctx, plan.writes);
        self.start_writes(ctx);
        Ok(())
    }

    /// The rows of a read whose merge could not be stored: back to the queue, to be read again.
    fn requeue_unread(&self, ctx: &mut RunCtx, claims: &[Claim]) -> Result<(), StoreError> {
        let rows: Vec<ClaimedRow> = claims
            .iter()
            .flat_map(|c| c.rows().iter().cloned())
            .collect();
        let now = self.now();
        self.with_store(|s| s.release_claims(self.shared.account, &rows, now))?;
        tracing::debug!(
            items = rows.len(),
            "a read that could not be stored is dropped; its rows are read again"
        );
        ctx.reading = false;
        self.shared.counts_stale.store(true, Ordering::Relaxed);
        self.shared.notify.notify_one();
        Ok(())
    }

    fn finish_write(
        &self,
        ctx: &mut RunCtx,
        write: &PlannedWrite,
        (epoch, started): (u64, Millis),
        result: &Result<Vec<(String, UserData)>, SyncError>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let account = self.shared.account;
        match result {
            Ok(after) if self.hand_to_verify(ctx, write, epoch, after) => return Ok(()),
            Ok(_) => {}
            Err(_) => {
                if let PlannedWrite::Item { row, .. } = write {
                    ctx.leave_batch(&row.item_id);
                }
            }
        }
        let after = match result {
            Ok(after) => after,
            Err(error) => {
                if error.proves_nothing_applied() {
                    // Nothing of the write reached the server: its outcome is known.
                    self.with_store(|s| s.nothing_applied(account, write.rows()))?;
                    return self.failed(write.rows(), error.clone(), now, epoch);
                }
                // The server may still be working on a write we stopped waiting for (a
                // timeout: it had the request all that time) and apply it later. Read again
                // only after twice as long as we waited, so that such a late write has landed
                // and the read says "ours landed" instead of "did not land": resending then
                // would count a second view on Plex (a scrobble is not idempotent) or put an
                // older value of ours over a newer one. A reset or a cut-off answer came
                // quickly and costs next to nothing here.
                let waited = now.saturating_sub(started).max(0);
                let not_before = now.saturating_add(waited.saturating_mul(LATE_WRITE_FACTOR));
                self.failed_not_before(write.rows(), error.clone(), (now, not_before), epoch)?;
                // A server still holding this write may hold an earlier one of ours too: the
                // items whose outcome is unknown wait as long (simulation seed 717: three
                // scrobbles held in a row, the first one's retry read before it landed).
                if waited > 0 {
                    self.with_store(|s| s.defer_unknown_outcomes(account, not_before))?;
                }
                return Ok(());
            }
        };
        self.complete_writes(&[(write, epoch, after.as_slice())])
    }

    fn failed(
        &self,
        rows: &[ClaimedRow],
        error: SyncError,
        now: Millis,
        epoch: u64,
    ) -> Result<(), StoreError> {
        self.failed_not_before(rows, error, (now, now), epoch)
    }

    /// [`Engine::failed`], retrying a transient failure no earlier than `not_before`.
    fn failed_not_before(
        &self,
        rows: &[ClaimedRow],
        error: SyncError,
        (now, not_before): (Millis, Millis),
        epoch: u64,
    ) -> Result<(), StoreError> {
        let account = self.shared.account;
        let items: Vec<String> = rows.iter().map(|r| r.item_id.clone()).collect();
        tracing::warn!(kind = error.kind.as_str(), detail = %error.detail, items = items.len(), "send failed");
        let mut next_attempt_at = now;
        let badge = match error.kind {
            ErrorKind::Offline => {
                self.set_account_from(epoch, AccountState::Offline);
                ItemSyncState::WaitingForConnection
            }
            ErrorKind::Auth => {
                self.set_account_from(epoch, AccountState::SignInNeeded);
                ItemSyncState::WaitingForSignIn
            }
            ErrorKind::Transient => {
                let attempt = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
                let retry_after = error
                    .retry_after
                    .map(|d| d.as_millis().min(i64::MAX as u128) as i64);
                let delay = {
                    let mut rng = lock(&self.shared.rng);
                    self.shared.config.backoff.next_delay(
                        attempt.clamp(1, 64) as u32,
                        &mut *rng,
                        retry_after,
                    )
                };
                next_attempt_at = (now + delay).max(not_before);
                if let Some(ra) = retry_after {
                    let mut st = lock(&self.shared.status);
                    st.throttled_until = st.throttled_until.max(now + ra);
                }
                ItemSyncState::Retrying {
                    attempt,
                    next_attempt_at,
                }
            }
            ErrorKind::NotFound | ErrorKind::Rejected => ItemSyncState::NeedsAttention {
                kind: error.kind,
                detail: error.detail.clone(),
            },
        };
        self.with_store(|s| {
            s.fail(
                account,
                rows,
                error.kind,
                &error.detail,
                next_attempt_at,
                now,
            )
        })?;
        for item in &items {
            self.emit(SyncEvent::ItemState {
                item_id: item.clone(),
                state: badge.clone(),
            });
        }
        self.emit(SyncEvent::Failure { error, items });
        Ok(())
    }
}

/// After a write whose outcome is unknown, the item is read and written again no earlier than
/// this many times as long as the failed write was waited for (see `finish_write`).
const LATE_WRITE_FACTOR: i64 = 2;

/// First delay after a store error; it doubles up to [`STORE_RETRY_CAP_MS`].
const STORE_RETRY_BASE_MS: i64 = 250;
/// Longest delay between tries while the store fails.
const STORE_RETRY_CAP_MS: i64 = 30_000;

/// A person's sentence for a store error ("Can't write to Playmark's database: disk full —
/// changes saved before are kept"). English: the engine has no gettext; the UI may word its own.
pub fn store_trouble_message(e: &StoreError) -> String {
    use rusqlite::ffi::ErrorCode;
    let reason = match e {
        StoreError::Sqlite(e) => match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => "disk full",
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                "another program is holding it locked"
            }
            Some(ErrorCode::ReadOnly) => "the file is read-only",
            Some(ErrorCode::PermissionDenied) => "permission denied",
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
                "the disk reported an error"
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => "the file is damaged",
            _ => "an unexpected database error",
        },
        StoreError::Io { .. } => "the disk reported an error",
        StoreError::Corrupt { .. } => "the file is damaged",
        StoreError::TooNew { .. } => "it was written by a newer version of Playmark",
        _ => "an unexpected database error",
    };
    format!("Can't write to Playmark's database: {reason} — changes saved before are kept")
}

/// What a request task hands back.
enum Done {
    Read {
        claims: Vec<Claim>,
        epoch: u64,
        /// What the server holds, and for each group (by key) the children its parent's
        /// listing named.
        result: Result<(ServerRead, Listed), SyncError>,
    },
    Write {
        write: PlannedWrite,
        epoch: u64,
        /// When the write was started (the engine's clock).
        started: Millis,
        result: Result<Vec<(String, UserData)>, SyncError>,
    },
    /// The read after a claim's Plex writes: each row with the state its write should have left.
    Verify {
        written: Vec<(ClaimedRow, UserData)>,
        epoch: u64,
        result: Result<ServerRead, SyncError>,
    },
}

/// A write the server answered: the write, the epoch it was started in, and what its answer
/// reported by item.
type Answered<'a> = (&'a PlannedWrite, u64, &'a [(String, UserData)]);

/// The children a parent's listing named, by group key.
type Listed = HashMap<String, HashSet<String>>;

/// Which kind of task a joined handle was (known even when the task panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Read,
    /// A write, with the verify batch of its claim (Plex).
    Write(Option<u64>),
    Verify,
}

type Joined = (TaskKind, Result<Done, tokio::task::JoinError>);
type Task = futures::future::BoxFuture<'static, Joined>;

fn tagged(kind: TaskKind, handle: tokio::task::JoinHandle<Done>) -> Task {
    Box::pin(async move { (kind, handle.await) })
}

/// The drain loop's work in progress.
#[derive(Default)]
struct RunCtx {
    inflight: FuturesUnordered<Task>,
    /// A batched read is under way (one at a time).
    reading: bool,
    /// Writes under way.
    writes: usize,
    /// Planned writes waiting for a free slot.
    ready: VecDeque<PlannedWrite>,
    /// Results the store could not take yet.
    unfinished: Vec<Done>,
    /// Plex write batches (one per claim) waiting for their writes before their verify read.
    batches: HashMap<u64, VerifyBatch>,
    /// The batch of each queued or running Plex item write, by item id.
    batch_of: HashMap<String, u64>,
    next_batch: u64,
}

/// A claim's Plex item writes, verified together by one read when the last one is done.
struct VerifyBatch {
    /// Writes not finished yet.
    pending: usize,
    /// Finished writes with the state each should have left.
    written: Vec<(ClaimedRow, UserData)>,
    epoch: u64,
}

impl RunCtx {
    fn is_idle(&self) -> bool {
        self.inflight.is_empty() && self.ready.is_empty() && self.unfinished.is_empty()
    }

    /// A write of `item` finished or was given back: it leaves its batch (the batch is
    /// returned).
    fn leave_batch(&mut self, item: &str) -> Option<u64> {
        let id = self.batch_of.remove(item)?;
        if let Some(b) = self.batches.get_mut(&id) {
            b.pending = b.pending.saturating_sub(1);
        }
        Some(id)
    }

    /// A joined task; a panicked one is logged and dropped (its rows keep their lease and
    /// come back when it expires), and its slot is freed.
    fn joined(&mut self, (kind, joined): Joined) -> Option<Done> {
        match joined {
            Ok(done) => Some(done),
            Err(e) => {
                tracing::error!(error = %e, "request task failed");
                match kind {
                    TaskKind::Read => self.reading = false,
                    TaskKind::Write(batch) => {
                        self.writes = self.writes.saturating_sub(1);
                        // Its claim's other writes are still verified; this row comes back
                        // when its lease expires (its sent record kept).
                        if let Some(b) = batch.and_then(|id| self.batches.get_mut(&id)) {
                            b.pending = b.pending.saturating_sub(1);
                        }
                    }
                    TaskKind::Verify => {}
                }
                None
            }
        }
    }
}

/// A claim sent without reading first ([`EngineConfig::read_before_write`] off).
fn unread_write(claim: Claim) -> PlannedWrite {
    match claim {
        Claim::Item(row) => PlannedWrite::Item { row, current: None },
        Claim::Group {
            group_key,
            parent_id,
            played,
            rows,
        } => PlannedWrite::Group {
            group_key,
            parent_id,
            played,
            rows,
            current: Vec::new(),
        },
    }
}
