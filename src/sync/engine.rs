//! The scheduler: event-driven, no timer while there is nothing to do.
//!
//! One loop per account. It wakes on: a new change (after the debounce), a retry/sync-now
//! request, the earliest `next_attempt_at` or lease expiry, a connectivity hint, a finished
//! request, and (only while offline with work queued) the next reachability probe.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::{FuturesUnordered, StreamExt};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{broadcast, Notify};

mod playback;

use super::backoff::Backoff;
use super::events::{AccountState, ItemSyncState, SyncEvent};
use crate::backend::{ErrorKind, MediaServer, SyncError};
use crate::clock::Clock;
use crate::model::{AccountId, LocalChange, Millis, UserData};
use crate::store::{
    BulkOutcome, Claim, ClaimedRow, CompleteOutcome, Counts, MergeReport, RecordOutcome,
    RefreshStats, Store, StoreError, REMOVED_DETAIL,
};

/// Tunables. The defaults are what the app and the CLI use.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A new change waits this long before it is sent, so a burst becomes one batch.
    pub debounce_ms: i64,
    /// Requests in flight at once for the account.
    pub concurrency: usize,
    /// How long a claimed row stays `in_flight` before another run may take it back
    /// (longer than any request timeout).
    pub lease_ms: i64,
    /// Retry delays for transient failures.
    pub backoff: Backoff,
    /// Re-probe delays while the server is unreachable.
    pub probe_backoff: Backoff,
    /// Seed of the jitter RNG (tests fix it; `None` = from entropy).
    pub seed: Option<u64>,
    /// Periodic library pull while the app runs ([`Engine::run_pull`]); `None` = never (the
    /// CLI). Disabled, it sets no timer at all.
    pub pull: Option<PullSchedule>,
    /// Reconnect delays of the live connection ([`Engine::run_live`]).
    pub live_backoff: Backoff,
    /// Read what the server holds now before every write and merge with it (DESIGN.md
    /// invariant 6). Default `true`; only the simulation turns it off, to show the lost update
    /// it prevents.
    pub read_before_write: bool,
    /// The account's server id (Jellyfin `ServerId`, Plex `machineIdentifier`). When set, a
    /// probe or read that reports another id puts the account in
    /// [`AccountState::ServerChanged`] and no write is sent. `None`: not checked.
    pub expected_server_id: Option<String>,
}

/// When the periodic pull runs: every `interval_ms`, doubling up to `max_interval_ms` while a
/// scan finds nothing new on the server, back to `interval_ms` as soon as one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullSchedule {
    /// First and shortest interval (default 5 minutes).
    pub interval_ms: i64,
    /// Longest interval (default 1 hour).
    pub max_interval_ms: i64,
    /// Items per page.
    pub page_size: u64,
}

impl Default for PullSchedule {
    fn default() -> PullSchedule {
        PullSchedule {
            interval_ms: 5 * 60_000,
            max_interval_ms: 60 * 60_000,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl PullSchedule {
    /// The interval after a scan: back to the shortest when the server changed, else doubled
    /// (capped).
    pub fn next_interval(&self, current_ms: i64, changed: bool) -> i64 {
        if changed {
            self.interval_ms
        } else {
            current_ms
                .saturating_mul(2)
                .clamp(self.interval_ms, self.max_interval_ms.max(self.interval_ms))
        }
    }
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            debounce_ms: 500,
            concurrency: 4,
            lease_ms: 120_000,
            backoff: Backoff::default(),
            probe_backoff: Backoff {
                base_ms: 1_000,
                cap_ms: 60_000,
            },
            seed: None,
            pull: None,
            live_backoff: Backoff {
                base_ms: 1_000,
                cap_ms: 60_000,
            },
            read_before_write: true,
            expected_server_id: None,
        }
    }
}

/// How long [`Engine::run`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Until [`Engine::shutdown`] (the app).
    Forever,
    /// Until nothing more can be sent before `deadline` (the CLI's `sync [--wait]`).
    UntilIdle { deadline: Millis },
}

/// A failure of an engine operation that talks to the server.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Server(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Items fetched per library page by [`Engine::refresh`].
pub const DEFAULT_PAGE_SIZE: u64 = 200;

/// Why [`Engine::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The queue is empty.
    Empty,
    /// Changes are still queued (retrying later, or needing attention).
    Pending { counts: Counts },
    /// The server is unreachable; changes wait for it.
    Offline { counts: Counts },
    /// The account must sign in again; changes are kept.
    SignInNeeded { counts: Counts },
    /// Another server answers at the account's address; nothing was sent, changes are kept.
    ServerChanged { counts: Counts },
    /// Shut down on request.
    Stopped,
}

/// Counters for tests and benchmarks.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Write requests sent (items and groups).
    pub requests: AtomicU64,
    /// Reachability probes sent.
    pub probes: AtomicU64,
    /// Scheduler loop iterations (each is a wake-up).
    pub wakeups: AtomicU64,
    /// Library scans started (manual, periodic or after a live reconnect).
    pub scans: AtomicU64,
    /// Live connections established.
    pub live_connects: AtomicU64,
    /// Live user-data messages applied.
    pub live_updates: AtomicU64,
}

#[derive(Debug)]
struct Status {
    account: AccountState,
    /// No request before this (the server's `Retry-After`).
    throttled_until: Millis,
    probe_attempt: u32,
    next_probe_at: Millis,
}

struct Shared {
    store: Mutex<Store>,
    server: Arc<dyn MediaServer>,
    clock: Arc<dyn Clock>,
    rng: Mutex<SmallRng>,
    config: EngineConfig,
    account: AccountId,
    notify: Notify,
    /// Wakes the pull and live loops on shutdown.
    side_notify: Notify,
    events: broadcast::Sender<SyncEvent>,
    status: Mutex<Status>,
    stats: EngineStats,
    shutdown: AtomicBool,
    /// Requests finished since the last counts event.
    counts_stale: AtomicBool,
}

/// A handle on the engine of one account. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("account", &self.shared.account)
            .finish()
    }
}

type Finished = (Claim, Result<Option<UserData>, SyncError>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn claim_items(claim: &Claim) -> &[ClaimedRow] {
    match claim {
        Claim::Item(row) => std::slice::from_ref(row),
        Claim::Group { rows, .. } => rows,
    }
}

impl Engine {
    /// An engine for `account`, owning `store` (the writing connection).
    pub fn new(
        store: Store,
        account: AccountId,
        server: Arc<dyn MediaServer>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Engine {
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_entropy(),
        };
        let (events, _) = broadcast::channel(4096);
        Engine {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                server,
                clock,
                rng: Mutex::new(rng),
                config,
                account,
                notify: Notify::new(),
                side_notify: Notify::new(),
                events,
                status: Mutex::new(Status {
                    account: AccountState::Online,
                    throttled_until: 0,
                    probe_attempt: 0,
                    next_probe_at: 0,
                }),
                stats: EngineStats::default(),
                shutdown: AtomicBool::new(false),
                counts_stale: AtomicBool::new(false),
            }),
        }
    }

    pub fn account(&self) -> AccountId {
        self.shared.account
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.shared.events.subscribe()
    }

    pub fn stats(&self) -> &EngineStats {
        &self.shared.stats
    }

    /// The account's connection state as the engine sees it.
    pub fn account_state(&self) -> AccountState {
        lock(&self.shared.status).account
    }

    /// Read (or write) through the engine's store connection.
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut lock(&self.shared.store))
    }

    pub fn counts(&self) -> Result<Counts, StoreError> {
        self.with_store(|s| s.counts(self.shared.account))
    }

    fn emit(&self, event: SyncEvent) {
        // No receiver is fine: nobody is watching.
        let _ = self.shared.events.send(event);
    }

    /// Send the queue counts to whoever listens. Counting scans the outbox, so nothing is counted
    /// when nobody listens (the CLI), and finished requests only mark the counts stale: the
    /// scheduler sends them once per wake-up instead of once per request.
    fn emit_counts(&self) {
        if self.shared.events.receiver_count() == 0 {
            return;
        }
        self.shared.counts_stale.store(false, Ordering::Relaxed);
        if let Ok(counts) = self.counts() {
            self.emit(SyncEvent::Counts { counts });
        }
    }

    fn emit_counts_if_stale(&self) {
        if self.shared.counts_stale.load(Ordering::Relaxed) {
            self.emit_counts();
        }
    }

    fn now(&self) -> Millis {
        self.shared.clock.now()
    }

    /// Record a local change durably (play state + outbox, one transaction) and wake the
    /// scheduler. Returns the new local state.
    pub fn record_change(&self, item: &str, change: LocalChange) -> Result<UserData, StoreError> {
        let now = self.now();
        let (state, outcome) = self.with_store(|s| {
            s.record_change(
                self.shared.account,
                item,
                change,
                now,
                self.shared.config.debounce_ms,
            )
        })?;
        let badge = match outcome {
            RecordOutcome::Queued { .. } => self.queued_badge(),
            RecordOutcome::Dropped => ItemSyncState::Discarded,
        };
        self.emit(SyncEvent::ItemState {
            item_id: item.to_string(),
            state: badge,
        });
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok(state)
    }

    /// Mark a season or series watched / not watched (one call on the parent while intact).
    pub fn record_bulk(&self, parent: &str, played: bool) -> Result<BulkOutcome, StoreError> {
        let now = self.now();
        let outcome = self.with_store(|s| {
            s.record_bulk(
                self.shared.account,
                parent,
                played,
                now,
                self.shared.config.debounce_ms,
            )
        })?;
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok(outcome)
    }

    fn queued_badge(&self) -> ItemSyncState {
        match self.account_state() {
            AccountState::Online => ItemSyncState::Queued,
            AccountState::Offline => ItemSyncState::WaitingForConnection,
            AccountState::SignInNeeded | AccountState::ServerChanged => {
                ItemSyncState::WaitingForSignIn
            }
        }
    }

    /// Retry failed / needs-attention rows now (all when `items` is `None`).
    pub fn retry(&self, items: Option<&[String]>) -> Result<usize, StoreError> {
        let now = self.now();
        let n = self.with_store(|s| s.retry(self.shared.account, items, now))?;
        self.wake_probe(now);
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok(n)
    }

    /// Send everything queued now, skipping debounce and backoff (never a `Retry-After`).
    pub fn sync_now(&self) -> Result<usize, StoreError> {
        let now = self.now();
        let n = self.with_store(|s| s.make_due(self.shared.account, now))?;
        self.wake_probe(now);
        self.shared.notify.notify_one();
        Ok(n)
    }

    /// Drop queued changes; the local state goes back to the server's.
    pub fn discard(&self, items: &[String]) -> Result<usize, StoreError> {
        let now = self.now();
        let n = self.with_store(|s| s.discard(self.shared.account, items, now))?;
        for item in items {
            self.emit(SyncEvent::ItemState {
                item_id: item.clone(),
                state: ItemSyncState::Discarded,
            });
        }
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok(n)
    }

    /// A connectivity hint (e.g. gio's NetworkMonitor). Only "online" acts: it re-probes at once.
    /// "Offline" is not trusted (VPNs report it wrongly); failed requests decide.
    pub fn connectivity_changed(&self, online: bool) {
        if online {
            self.wake_probe(self.now());
            self.shared.notify.notify_one();
        }
    }

    /// The account signed in again: resume sending (clears [`AccountState::SignInNeeded`] and
    /// [`AccountState::ServerChanged`]).
    pub fn signed_in(&self) {
        {
            let mut st = lock(&self.shared.status);
            if matches!(
                st.account,
                AccountState::SignInNeeded | AccountState::ServerChanged
            ) {
                st.account = AccountState::Online;
            }
        }
        self.emit(SyncEvent::Account {
            state: AccountState::Online,
        });
        self.shared.notify.notify_one();
    }

    fn wake_probe(&self, now: Millis) {
        let mut st = lock(&self.shared.status);
        if st.account == AccountState::Offline {
            st.next_probe_at = now;
        }
    }

    /// Ask a running [`Engine::run`] to stop.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.notify.notify_one();
        self.shared.side_notify.notify_waiters();
    }

    fn set_account(&self, state: AccountState) {
        let changed = {
            let mut st = lock(&self.shared.status);
            let changed = st.account != state;
            if changed && state == AccountState::Offline {
                st.probe_attempt = 0;
                let delay = self.probe_delay(1);
                st.next_probe_at = self.now() + delay;
            }
            st.account = state;
            changed
        };
        if changed {
            tracing::info!(?state, "account state");
            self.emit(SyncEvent::Account { state });
        }
    }

    fn probe_delay(&self, attempt: u32) -> i64 {
        let mut rng = lock(&self.shared.rng);
        // At least a quarter of the ceiling so probes never spin.
        let b = self.shared.config.probe_backoff;
        let d = b.next_delay(attempt, &mut *rng, None);
        d.max(b.ceiling(attempt) / 4)
    }

    /// Probe the server while offline; back online on any answer.
    async fn probe(&self) {
        self.shared.stats.probes.fetch_add(1, Ordering::Relaxed);
        let result = self.shared.server.probe().await;
        match result {
            Err(e) if matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) => {
                let failed_probes = {
                    let mut st = lock(&self.shared.status);
                    st.probe_attempt = st.probe_attempt.saturating_add(1);
                    st.probe_attempt
                };
                // Delay 1 was used when the account went offline; each failed probe moves on one.
                let delay = self.probe_delay(failed_probes + 1);
                lock(&self.shared.status).next_probe_at = self.now() + delay;
                tracing::debug!(delay, "server still unreachable");
            }
            Ok(info) if self.server_changed(&info.server_id) => {
                self.set_account(AccountState::ServerChanged);
            }
            // Any answer, even an error status, means the server is reachable. (The probe count
            // restarts when the account next goes offline.)
            _ => self.set_account(AccountState::Online),
        }
    }

    /// True when the account expects a server id and `server_id` is another one.
    fn server_changed(&self, server_id: &str) -> bool {
        self.shared
            .config
            .expected_server_id
            .as_deref()
            .is_some_and(|expected| expected != server_id)
    }

    /// Fetch the whole library with user data, page by page, into the store; every playable
    /// item goes through the three-way merge (items with a queued change are never
    /// overwritten: their base moves and the account's policy decides). After a complete scan,
    /// items the server no longer lists are marked removed and their queued changes need
    /// attention ("no longer on the server").
    pub async fn refresh(&self, page_size: u64) -> Result<RefreshStats, EngineError> {
        self.shared.stats.scans.fetch_add(1, Ordering::Relaxed);
        let mut start = 0;
        let mut report = MergeReport::default();
        let mut seen = HashSet::new();
        let mut first_total = None;
        let complete = loop {
            let page = self
                .shared
                .server
                .fetch_items(start, page_size.max(1))
                .await?;
            // A server that ignores `startIndex` would hand out the same page forever.
            if page.start != start {
                return Err(EngineError::Server(SyncError::unexpected_response(
                    format!(
                        "the library listing ignored paging (asked for items from {start}, got \
                     items from {})",
                        page.start
                    ),
                )));
            }
            let n = page.items.len() as u64;
            let first_total = *first_total.get_or_insert(page.total);
            seen.extend(page.items.iter().map(|i| i.id.clone()));
            let now = self.now();
            report.absorb(
                self.with_store(|s| s.merge_remote_items(self.shared.account, &page.items, now))?,
            );
            start += n;
            if n == 0 || start >= page.total {
                // A library that changed size during the scan may have shifted pages: then
                // absence proves nothing and no item is marked removed.
                break start >= page.total && page.total == first_total;
            }
        };
        if complete {
            // Confirm before removing: an item a scan skipped (pages shifting under the sort
            // order) is still there when asked for by id.
            let unseen = self.with_store(|s| s.unseen_items(self.shared.account, &seen))?;
            if !unseen.is_empty() {
                let found = self.shared.server.fetch_by_ids(&unseen).await?;
                seen.extend(found.iter().map(|i| i.id.clone()));
                let now = self.now();
                report.absorb(
                    self.with_store(|s| s.merge_remote_items(self.shared.account, &found, now))?,
                );
            }
            let now = self.now();
            let (removed, attention) =
                self.with_store(|s| s.mark_unseen_removed(self.shared.account, &seen, now))?;
            report.stats.removed += removed;
            for item_id in attention {
                self.emit(SyncEvent::ItemState {
                    item_id,
                    state: ItemSyncState::NeedsAttention {
                        error: REMOVED_DETAIL.to_string(),
                    },
                });
            }
        }
        self.emit_merges(&report);
        self.emit_counts();
        Ok(report.stats)
    }

    fn emit_merges(&self, report: &MergeReport) {
        for m in &report.merges {
            tracing::info!(item = %m.item_id, outcome = %m.outcome.summary(), "merged");
            self.emit(SyncEvent::Merged {
                item_id: m.item_id.clone(),
                outcome: m.outcome,
            });
        }
        if report.merges.iter().any(|m| m.outcome.push) {
            // A merge queued a state for the server: the drain loop sends it.
            self.shared.notify.notify_one();
        }
    }

    /// Apply user data the server pushed (live update) through the same merge as a scan.
    pub fn apply_live_user_data(
        &self,
        updates: &[(String, UserData)],
    ) -> Result<RefreshStats, StoreError> {
        let now = self.now();
        let report =
            self.with_store(|s| s.merge_remote_user_data(self.shared.account, updates, now))?;
        self.shared
            .stats
            .live_updates
            .fetch_add(1, Ordering::Relaxed);
        self.emit_merges(&report);
        if !report.merges.is_empty() {
            self.emit_counts();
        }
        Ok(report.stats)
    }

    /// The periodic pull ([`EngineConfig::pull`]): a scan at once, then one every interval,
    /// backing off while nothing changes on the server. Returns at once when disabled, and on
    /// [`Engine::shutdown`]. Failed scans (offline…) back off the same way.
    pub async fn run_pull(&self) {
        let Some(schedule) = self.shared.config.pull else {
            return;
        };
        let mut interval: Option<i64> = None;
        loop {
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let changed = match self.refresh(schedule.page_size).await {
                Ok(stats) => stats.adopted + stats.conflicts + stats.removed > 0,
                Err(e) => {
                    tracing::debug!(error = %e, "periodic pull failed");
                    false
                }
            };
            // The first sleep is the shortest; then it doubles while nothing changes.
            let next = match interval {
                None => schedule.interval_ms,
                Some(prev) => schedule.next_interval(prev, changed),
            };
            interval = Some(next);
            let wake = self.now() + next;
            let shutdown = self.shared.side_notify.notified();
            tokio::pin!(shutdown);
            // Registered before the flag is checked, so a shutdown in between is not missed.
            shutdown.as_mut().enable();
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            tokio::select! {
                _ = self.shared.clock.sleep_until(wake) => {}
                _ = shutdown => return,
            }
        }
    }

    /// Live updates ([`MediaServer::live_updates`]): keep a connection open and apply each
    /// change through the merge. On a drop, reconnect with backoff and scan once (changes made
    /// while disconnected are caught up). Returns at once when the server has no live
    /// channel (scans then are the only pull), and on [`Engine::shutdown`].
    pub async fn run_live(&self) {
        let mut attempt: u32 = 0;
        let mut connected_before = false;
        loop {
            let shutdown = self.shared.side_notify.notified();
            tokio::pin!(shutdown);
            // Registered before the flag is checked, so a shutdown in between is not missed.
            shutdown.as_mut().enable();
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let connected = tokio::select! {
                r = self.shared.server.live_updates() => r,
                _ = &mut shutdown => return,
            };
            match connected {
                Ok(None) => return,
                Ok(Some(mut stream)) => {
                    attempt = 0;
                    self.shared
                        .stats
                        .live_connects
                        .fetch_add(1, Ordering::Relaxed);
                    self.emit(SyncEvent::Live { connected: true });
                    if connected_before {
                        if let Err(e) = self.refresh(DEFAULT_PAGE_SIZE).await {
                            tracing::debug!(error = %e, "catch-up scan failed");
                        }
                    }
                    connected_before = true;
                    loop {
                        let next = tokio::select! {
                            n = stream.next() => n,
                            _ = &mut shutdown => return,
                        };
                        match next {
                            Some(Ok(updates)) => {
                                if let Err(e) = self.apply_live_user_data(&updates) {
                                    tracing::warn!(error = %e, "live update not stored");
                                }
                            }
                            Some(Err(e)) => {
                                tracing::debug!(detail = %e.detail, "live connection lost");
                                break;
                            }
                            None => break,
                        }
                    }
                    self.emit(SyncEvent::Live { connected: false });
                }
                Err(e) => {
                    tracing::debug!(detail = %e.detail, "live connection failed");
                    if !matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) {
                        // No socket here (404, a proxy), or not allowed: retrying soon will
                        // not help; scans carry on, the socket is tried again at the cap.
                        attempt = attempt.max(16);
                    }
                }
            }
            attempt = attempt.saturating_add(1);
            let delay = {
                let mut rng = lock(&self.shared.rng);
                let b = self.shared.config.live_backoff;
                b.next_delay(attempt.min(64), &mut *rng, None)
                    .max(b.ceiling(attempt.min(64)) / 4)
            };
            let wake = self.now() + delay;
            tokio::select! {
                _ = self.shared.clock.sleep_until(wake) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// Drain the outbox. See [`RunMode`].
    pub async fn run(&self, mode: RunMode) -> Result<RunOutcome, StoreError> {
        let account = self.shared.account;
        let mut inflight: FuturesUnordered<tokio::task::JoinHandle<Finished>> =
            FuturesUnordered::new();
        loop {
            self.shared.stats.wakeups.fetch_add(1, Ordering::Relaxed);
            if self.shared.shutdown.load(Ordering::SeqCst) {
                while let Some(done) = inflight.next().await {
                    self.finish(done)?;
                }
                return Ok(RunOutcome::Stopped);
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
            // Only an offline account needs to know whether anything is waiting (to probe).
            let actionable =
                state == AccountState::Offline && self.with_store(|s| s.has_sendable(account))?;

            if state == AccountState::Offline
                && actionable
                && now >= next_probe_at
                && inflight.is_empty()
            {
                self.probe().await;
                continue;
            }
            if state == AccountState::Online && now >= throttled_until {
                let room = self
                    .shared
                    .config
                    .concurrency
                    .saturating_sub(inflight.len());
                if room > 0 {
                    let claims = self.with_store(|s| {
                        s.claim_due(account, now, room, self.shared.config.lease_ms)
                    })?;
                    for claim in claims {
                        for row in claim_items(&claim) {
                            self.emit(SyncEvent::ItemState {
                                item_id: row.item_id.clone(),
                                state: ItemSyncState::Syncing,
                            });
                        }
                        inflight.push(self.send(claim));
                    }
                }
            }

            let full = inflight.len() >= self.shared.config.concurrency;
            let wake_at = match state {
                // With every slot busy, a finished request is what wakes us (no spinning on due rows).
                AccountState::Online if full => None,
                AccountState::Online => self
                    .with_store(|s| s.next_wakeup(account))?
                    .map(|t| t.max(throttled_until)),
                AccountState::Offline if actionable => Some(next_probe_at),
                _ => None,
            };

            self.emit_counts_if_stale();
            if let RunMode::UntilIdle { deadline } = mode {
                if inflight.is_empty() {
                    let counts = self.counts()?;
                    if counts.total() == 0 {
                        return Ok(RunOutcome::Empty);
                    }
                    let stuck =
                        counts.pending + counts.failed == 0 || wake_at.is_none_or(|w| w > deadline);
                    if stuck
                        || matches!(
                            state,
                            AccountState::SignInNeeded | AccountState::ServerChanged
                        )
                    {
                        return Ok(match state {
                            AccountState::Offline => RunOutcome::Offline { counts },
                            AccountState::SignInNeeded => RunOutcome::SignInNeeded { counts },
                            AccountState::ServerChanged => RunOutcome::ServerChanged { counts },
                            AccountState::Online => RunOutcome::Pending { counts },
                        });
                    }
                }
            }

            let sleep = wake_at.map(|t| self.shared.clock.sleep_until(t));
            tokio::select! {
                Some(done) = inflight.next(), if !inflight.is_empty() => self.finish(done)?,
                _ = self.shared.notify.notified() => {}
                _ = async { match sleep { Some(s) => s.await, None => std::future::pending().await } } => {}
            }
        }
    }

    /// Start one request on tokio.
    fn send(&self, claim: Claim) -> tokio::task::JoinHandle<Finished> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let server = self.shared.server.clone();
        tokio::spawn(async move {
            let result = match &claim {
                Claim::Item(row) => server.push_item(&row.item_id, &row.desired).await,
                Claim::Group {
                    parent_id, played, ..
                } => server.push_group(parent_id, *played).await.map(|()| None),
            };
            (claim, result)
        })
    }

    fn finish(&self, joined: Result<Finished, tokio::task::JoinError>) -> Result<(), StoreError> {
        let (claim, result) = match joined {
            Ok(done) => done,
            // A panicked request task: its rows keep their lease and come back when it expires.
            Err(e) => {
                tracing::error!(error = %e, "request task failed");
                return Ok(());
            }
        };
        let now = self.now();
        let account = self.shared.account;
        match result {
            Ok(after) => {
                self.set_account(AccountState::Online);
                let outcomes = match &claim {
                    Claim::Item(row) => {
                        vec![self.with_store(|s| s.complete(account, row, after, now))?]
                    }
                    Claim::Group {
                        group_key, rows, ..
                    } => self.with_store(|s| s.complete_group(account, group_key, rows, now))?,
                };
                for (row, outcome) in claim_items(&claim).iter().zip(outcomes) {
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
            Err(error) => self.failed(&claim, error, now)?,
        }
        self.shared.counts_stale.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn failed(&self, claim: &Claim, error: SyncError, now: Millis) -> Result<(), StoreError> {
        let account = self.shared.account;
        let rows = claim_items(claim);
        let items: Vec<String> = rows.iter().map(|r| r.item_id.clone()).collect();
        tracing::warn!(kind = error.kind.as_str(), detail = %error.detail, items = items.len(), "send failed");
        let mut next_attempt_at = now;
        let badge = match error.kind {
            ErrorKind::Offline => {
                self.set_account(AccountState::Offline);
                ItemSyncState::WaitingForConnection
            }
            ErrorKind::Auth => {
                self.set_account(AccountState::SignInNeeded);
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
                next_attempt_at = now + delay;
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
                error: error.detail.clone(),
            },
        };
        self.with_store(|s| {
            s.fail(
                account,
                &items,
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
