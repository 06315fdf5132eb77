//! The scheduler: event-driven, no timer while there is nothing to do.
//!
//! One loop per account. It wakes on: a new change (after the debounce), a retry/sync-now
//! request, the earliest `next_attempt_at` or lease expiry, a connectivity hint, a finished
//! request, and (only while offline with work queued) the next reachability probe.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::{FuturesUnordered, StreamExt};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{broadcast, Notify};

mod playback;

use super::backoff::Backoff;
use super::events::{AccountState, ItemSyncState, SyncEvent};
use crate::backend::{ErrorKind, MediaServer, ServerRead, SyncError, MAX_READ_IDS};
use crate::clock::Clock;
use crate::model::{AccountId, LocalChange, Millis, UserData};
use crate::store::{
    BulkOutcome, Claim, ClaimedRow, CompleteOutcome, Counts, MergeReport, PlannedWrite,
    RecordOutcome, RefreshStats, Store, StoreError, REMOVED_DETAIL,
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
    /// Another server answers at the account's address ([`Engine::pull`]); nothing was scanned.
    #[error("another server answers at the account's address (server id {server_id})")]
    ServerChanged { server_id: String },
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
    /// Batched reads sent (before writes, and after a group write).
    pub reads: AtomicU64,
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
    /// Bumped at every account state change. A request's result only moves the account state
    /// when nothing moved it since the request was sent (compare-and-set): a success that
    /// finishes after a concurrent 401 does not put the account back online.
    epoch: u64,
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
    /// The app's window is in front: pull at least this often (ms; 0 = the idle schedule).
    foreground_pull_ms: AtomicI64,
    /// The idle schedule's shortest interval, when changed since the start
    /// ([`Engine::set_pull_interval`]; ms, 0 = [`EngineConfig::pull`]'s).
    pull_interval_ms: AtomicI64,
    /// A scan was asked for ([`Engine::pull_soon`]).
    pull_requested: AtomicBool,
    /// Wakes the pull loop when one of the three above changes.
    pull_notify: Notify,
    /// When the last complete scan finished (any: periodic, manual, a live catch-up); 0 = none.
    last_scan_at: AtomicI64,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The wait before the next periodic scan: the idle schedule's, or the foreground interval
/// when the app is in front and that is shorter.
fn pull_interval(idle_ms: i64, foreground_ms: Option<i64>) -> i64 {
    match foreground_ms {
        Some(fg) => idle_ms.min(fg),
        None => idle_ms,
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
                    epoch: 0,
                }),
                stats: EngineStats::default(),
                shutdown: AtomicBool::new(false),
                counts_stale: AtomicBool::new(false),
                foreground_pull_ms: AtomicI64::new(0),
                pull_interval_ms: AtomicI64::new(0),
                pull_requested: AtomicBool::new(false),
                pull_notify: Notify::new(),
                last_scan_at: AtomicI64::new(0),
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
                st.epoch += 1;
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
        self.set_account_if(None, state);
    }

    /// [`Engine::set_account`] from a request's result: only when the state has not moved since
    /// the request was sent at `epoch`.
    fn set_account_from(&self, epoch: u64, state: AccountState) {
        self.set_account_if(Some(epoch), state);
    }

    fn set_account_if(&self, epoch: Option<u64>, state: AccountState) {
        let changed = {
            let mut st = lock(&self.shared.status);
            if epoch.is_some_and(|e| e != st.epoch) {
                if st.account != state {
                    tracing::debug!(?state, current = ?st.account, "stale request result; account state kept");
                }
                return;
            }
            let changed = st.account != state;
            if changed {
                st.epoch += 1;
            }
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
            // Taken before asking: a write completing while the page is on its way is newer
            // than the page (see `ReadMark`).
            let read_at = self.with_store(|s| s.read_mark())?;
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
            report.absorb(self.with_store(|s| {
                s.merge_remote_items(self.shared.account, &page.items, read_at, now)
            })?);
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
                let read_at = self.with_store(|s| s.read_mark())?;
                let found = self.shared.server.fetch_by_ids(&unseen).await?;
                seen.extend(found.iter().map(|i| i.id.clone()));
                let now = self.now();
                report.absorb(self.with_store(|s| {
                    s.merge_remote_items(self.shared.account, &found, read_at, now)
                })?);
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
        self.shared
            .last_scan_at
            .store(self.now().max(1), Ordering::SeqCst);
        Ok(report.stats)
    }

    /// [`Engine::refresh`] after checking who answers, when the account expects a server id
    /// ([`EngineConfig::expected_server_id`]): another server at the account's address gets no
    /// scan (its library would mark every item of ours removed) and the account goes to
    /// [`AccountState::ServerChanged`]. The app's loops ([`Engine::run_pull`],
    /// [`Engine::run_live`]'s catch-up) pull this way; one probe request more per scan.
    pub async fn pull(&self, page_size: u64) -> Result<RefreshStats, EngineError> {
        if self.shared.config.expected_server_id.is_some() {
            let info = self.shared.server.probe().await?;
            if self.server_changed(&info.server_id) {
                tracing::warn!(
                    server_id = info.server_id,
                    "another server answers at the account's address; no scan"
                );
                self.set_account(AccountState::ServerChanged);
                return Err(EngineError::ServerChanged {
                    server_id: info.server_id,
                });
            }
        }
        self.refresh(page_size).await
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

    /// The periodic pull ([`EngineConfig::pull`]): a scan at once (unless one just finished),
    /// then one every interval,
    /// backing off while nothing changes on the server. Returns at once when disabled, and on
    /// [`Engine::shutdown`]. Failed scans (offline…) back off the same way. Any finished scan
    /// (a start-up refresh, a live catch-up) restarts the wait; while the app is in front
    /// ([`Engine::set_foreground_pull`]) the wait is at most the foreground interval, a new
    /// idle interval ([`Engine::set_pull_interval`]) applies at once, and
    /// [`Engine::pull_soon`] scans at once.
    pub async fn run_pull(&self) {
        if self.shared.config.pull.is_none() {
            return;
        }
        let mut interval: Option<i64> = None;
        loop {
            let Some(schedule) = self.pull_schedule() else {
                return;
            };
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            // A scan that finished before the loop started (the app's start-up refresh) is
            // this loop's first one.
            let skip = interval.is_none()
                && self.last_scan().is_some()
                && !self.shared.pull_requested.load(Ordering::SeqCst);
            let changed = if skip {
                false
            } else {
                self.shared.pull_requested.store(false, Ordering::SeqCst);
                match self.pull(schedule.page_size).await {
                    Ok(stats) => stats.adopted + stats.conflicts + stats.removed > 0,
                    Err(e) => {
                        tracing::debug!(error = %e, "periodic pull failed");
                        false
                    }
                }
            };
            let attempted_at = if skip { 0 } else { self.now() };
            // The first sleep is the shortest; then it doubles while nothing changes.
            let mut next = match interval {
                None => schedule.interval_ms,
                Some(prev) => schedule.next_interval(prev, changed),
            };
            interval = Some(next);
            let mut shortest = schedule.interval_ms;
            // Sleep until the next scan is due; a change of the foreground or idle interval or
            // a `pull_soon` wakes the loop to look again.
            loop {
                let shutdown = self.shared.side_notify.notified();
                tokio::pin!(shutdown);
                let poked = self.shared.pull_notify.notified();
                tokio::pin!(poked);
                // Registered before the flags are checked, so nothing in between is missed.
                shutdown.as_mut().enable();
                poked.as_mut().enable();
                if self.shared.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                // Any scan counts (a live reconnect's catch-up, "Sync now"), and so does a failed
                // attempt (no retry storm while offline).
                let scanned_at = attempted_at.max(self.last_scan().unwrap_or(0));
                // A new idle interval (Preferences) starts the schedule afresh from it.
                let now_shortest = self.pull_schedule().map_or(shortest, |s| s.interval_ms);
                if now_shortest != shortest {
                    shortest = now_shortest;
                    next = now_shortest;
                    interval = Some(next);
                }
                let wake = scanned_at + pull_interval(next, self.foreground_pull());
                if self.shared.pull_requested.load(Ordering::SeqCst) || self.now() >= wake {
                    break;
                }
                tokio::select! {
                    _ = self.shared.clock.sleep_until(wake) => {}
                    _ = poked => {}
                    _ = shutdown => return,
                }
            }
        }
    }

    /// The app's window came to the front (`Some(interval)`: pull at least that often) or went
    /// to the back (`None`: the idle schedule of [`EngineConfig::pull`] again). A scan that is
    /// already overdue under the new interval starts at once.
    pub fn set_foreground_pull(&self, interval_ms: Option<i64>) {
        let ms = interval_ms.map_or(0, |ms| ms.max(1));
        self.shared.foreground_pull_ms.store(ms, Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    /// The idle pull schedule's shortest interval changed (the app's Preferences): the
    /// running pull loop uses it from now on, starting from it again (no restart needed). A
    /// scan already overdue under the new interval starts at once. Intervals longer than the
    /// schedule's cap are not doubled.
    pub fn set_pull_interval(&self, interval_ms: i64) {
        self.shared
            .pull_interval_ms
            .store(interval_ms.max(1), Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    /// The idle pull schedule now: [`EngineConfig::pull`] with the interval of
    /// [`Engine::set_pull_interval`] when one was set.
    fn pull_schedule(&self) -> Option<PullSchedule> {
        let schedule = self.shared.config.pull?;
        Some(match self.shared.pull_interval_ms.load(Ordering::SeqCst) {
            0 => schedule,
            ms => PullSchedule {
                interval_ms: ms,
                ..schedule
            },
        })
    }

    /// The server asked for a pause (`429`/`503` with `Retry-After`, seen outside the
    /// engine, e.g. by the CLI's identity check): no request goes out before `wait` is over.
    pub fn server_busy_for(&self, wait: std::time::Duration) {
        let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let until = self.now().saturating_add(ms);
        let mut st = lock(&self.shared.status);
        st.throttled_until = st.throttled_until.max(until);
    }

    /// Ask the pull loop ([`Engine::run_pull`]) for a scan now (e.g. after the server came
    /// back, or "Sync now"). Does nothing without a running pull loop.
    pub fn pull_soon(&self) {
        self.shared.pull_requested.store(true, Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    fn last_scan(&self) -> Option<Millis> {
        match self.shared.last_scan_at.load(Ordering::SeqCst) {
            0 => None,
            at => Some(at),
        }
    }

    fn foreground_pull(&self) -> Option<i64> {
        match self.shared.foreground_pull_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(ms),
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
                        if let Err(e) = self.pull(DEFAULT_PAGE_SIZE).await {
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
                            // Not from our server: nothing of it is ours to store.
                            Some(Ok(_)) if self.account_state() == AccountState::ServerChanged => {}
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
        // Results that could not be stored earlier (the store failed) go first.
        while let Some(done) = ctx.unfinished.pop() {
            if let Err(e) = self.finish(ctx, &done) {
                ctx.unfinished.push(done);
                return Err(e);
            }
        }
        if self.shared.shutdown.load(Ordering::SeqCst) {
            while let Some(joined) = ctx.inflight.next().await {
                if let Some(done) = ctx.joined(joined) {
                    if let Err(e) = self.finish(ctx, &done) {
                        ctx.unfinished.push(done);
                        return Err(e);
                    }
                }
            }
            self.release_ready(ctx)?;
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
        // Only an offline account needs to know whether anything is waiting (to probe).
        let actionable =
            state == AccountState::Offline && self.with_store(|s| s.has_sendable(account))?;

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
            if ctx.ready.is_empty() && !ctx.reading && ctx.writes < concurrency {
                // The last write of a batch starts after the read and ceil(batch / concurrency)
                // writes before it: the lease covers them all (a crashed process's leases are
                // taken back at once anyway, by owner).
                let rounds = MAX_READ_IDS.div_ceil(concurrency) as i64 + 1;
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
                        ctx.ready.extend(claims.into_iter().map(unread_write));
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
                if let Some(done) = ctx.joined(joined) {
                    if let Err(e) = self.finish(ctx, &done) {
                        ctx.unfinished.push(done);
                        return Err(e);
                    }
                }
            }
            _ = self.shared.notify.notified() => {}
            _ = async { match sleep { Some(s) => s.await, None => std::future::pending().await } } => {}
        }
        Ok(None)
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
        ctx.ready.clear();
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
            ctx.inflight
                .push(tagged(TaskKind::Write, self.spawn_write(write)));
        }
    }

    fn epoch(&self) -> u64 {
        lock(&self.shared.status).epoch
    }

    /// The batched read of a claim, on tokio.
    fn spawn_read(&self, claims: Vec<Claim>) -> tokio::task::JoinHandle<Done> {
        self.shared.stats.reads.fetch_add(1, Ordering::Relaxed);
        let server = self.shared.server.clone();
        let check_identity = self.shared.config.expected_server_id.is_some();
        let epoch = self.epoch();
        tokio::spawn(async move {
            let ids: Vec<String> = claims
                .iter()
                .flat_map(|c| c.rows().iter().map(|r| r.item_id.clone()))
                .collect();
            let mut read = ServerRead::default();
            let mut result = Ok(());
            for chunk in ids.chunks(MAX_READ_IDS) {
                match server.read_user_data(chunk).await {
                    Ok(part) => {
                        read.server_id = read.server_id.or(part.server_id);
                        read.items.extend(part.items);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            // A server whose answers name no server id (Plex) is asked who it is before any
            // write, when the account must be checked.
            if result.is_ok() && check_identity && read.server_id.is_none() {
                match server.probe().await {
                    Ok(info) => read.server_id = Some(info.server_id),
                    Err(e) => result = Err(e),
                }
            }
            Done::Read {
                claims,
                epoch,
                result: result.map(|()| read),
            }
        })
    }

    /// One planned write, on tokio. A group write is followed by a read of its members, so
    /// the base holds what the server set (its own dates and counts), not our guess.
    fn spawn_write(&self, write: PlannedWrite) -> tokio::task::JoinHandle<Done> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let epoch = self.epoch();
        tokio::spawn(async move {
            let server = &shared.server;
            let result = match &write {
                PlannedWrite::Item {
                    row,
                    current: Some(current),
                } => server
                    .write_item(&row.item_id, &row.desired, current)
                    .await
                    .map(|after| {
                        after
                            .map(|a| vec![(row.item_id.clone(), a)])
                            .unwrap_or_default()
                    }),
                PlannedWrite::Item { row, current: None } => server
                    .push_item(&row.item_id, &row.desired)
                    .await
                    .map(|after| {
                        after
                            .map(|a| vec![(row.item_id.clone(), a)])
                            .unwrap_or_default()
                    }),
                PlannedWrite::Group {
                    parent_id,
                    played,
                    rows,
                    current,
                    ..
                } => {
                    let written = if current.is_empty() {
                        server.push_group(parent_id, *played).await
                    } else {
                        server.write_group(parent_id, *played, current).await
                    };
                    match written {
                        Ok(()) if shared.config.read_before_write => {
                            shared.stats.reads.fetch_add(1, Ordering::Relaxed);
                            let ids: Vec<String> = rows.iter().map(|r| r.item_id.clone()).collect();
                            let mut after = Vec::new();
                            for chunk in ids.chunks(MAX_READ_IDS) {
                                match server.read_user_data(chunk).await {
                                    Ok(read) => after.extend(read.items),
                                    // The write is done; without the read the base is what
                                    // we sent.
                                    Err(e) => {
                                        tracing::debug!(detail = %e.detail, "read after a group write failed");
                                        break;
                                    }
                                }
                            }
                            Ok(after)
                        }
                        Ok(()) => Ok(Vec::new()),
                        Err(e) => Err(e),
                    }
                }
            };
            Done::Write {
                write,
                epoch,
                result,
            }
        })
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
                result,
            } => {
                self.finish_write(write, *epoch, result)?;
                ctx.writes = ctx.writes.saturating_sub(1);
            }
        }
        self.shared.counts_stale.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn finish_read(
        &self,
        ctx: &mut RunCtx,
        claims: &[Claim],
        epoch: u64,
        result: &Result<ServerRead, SyncError>,
    ) -> Result<(), StoreError> {
        let account = self.shared.account;
        let now = self.now();
        let read = match result {
            Ok(read) => read,
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
        let plan = self.with_store(|s| s.merge_claims(account, claims, &remote, now))?;
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
        ctx.ready.extend(plan.writes);
        self.start_writes(ctx);
        Ok(())
    }

    fn finish_write(
        &self,
        write: &PlannedWrite,
        epoch: u64,
        result: &Result<Vec<(String, UserData)>, SyncError>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let account = self.shared.account;
        let after = match result {
            Ok(after) => after,
            Err(error) => return self.failed(write.rows(), error.clone(), now, epoch),
        };
        let after: HashMap<String, UserData> = after.iter().cloned().collect();
        let outcomes = match write {
            PlannedWrite::Item { row, .. } => {
                vec![self.with_store(|s| {
                    s.complete(account, row, after.get(&row.item_id).copied(), now)
                })?]
            }
            PlannedWrite::Group {
                group_key, rows, ..
            } => self.with_store(|s| s.complete_group(account, group_key, rows, &after, now))?,
        };
        self.set_account_from(epoch, AccountState::Online);
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
        Ok(())
    }

    fn failed(
        &self,
        rows: &[ClaimedRow],
        error: SyncError,
        now: Millis,
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
        result: Result<ServerRead, SyncError>,
    },
    Write {
        write: PlannedWrite,
        epoch: u64,
        result: Result<Vec<(String, UserData)>, SyncError>,
    },
}

/// Which kind of task a joined handle was (known even when the task panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskKind {
    Read,
    Write,
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
}

impl RunCtx {
    fn is_idle(&self) -> bool {
        self.inflight.is_empty() && self.ready.is_empty() && self.unfinished.is_empty()
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
                    TaskKind::Write => self.writes = self.writes.saturating_sub(1),
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
