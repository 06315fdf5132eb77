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

mod drain;
mod hold;
mod live;
mod playback;
mod probe;
mod pull;

pub use playback::{OpenPlayGuard, ServerEffect, SESSION_SLACK_MS};

use super::backoff::Backoff;
use super::events::{AccountState, ItemSyncState, SyncEvent, SyncSnapshot};
use crate::backend::{ErrorKind, MediaServer, ServerRead, SyncError, MAX_READ_IDS};
use crate::clock::Clock;
use crate::model::{AccountId, LocalChange, Millis, ServerKind, UserData};
use crate::store::{
    BulkOutcome, Claim, ClaimedRow, CompleteOutcome, Counts, MergeReport, PlannedWrite,
    RecordOutcome, RefreshStats, Store, StoreError, Verified, REMOVED_DETAIL,
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
    /// How many events a subscriber may fall behind before it lags
    /// ([`tokio::sync::broadcast::error::RecvError::Lagged`]; it then takes a fresh
    /// [`Engine::subscribe_with_snapshot`]). Tests make it tiny to show that path.
    pub event_capacity: usize,
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
            event_capacity: 4096,
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
    /// Reads after a claim's Plex writes that verify them (DESIGN.md invariant 10): one per
    /// claim whose Plex item writes succeeded.
    pub verifies: AtomicU64,
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
    /// Plays of ours that are running ([`Engine::open_play`]).
    open_plays: Mutex<playback::OpenPlays>,
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
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
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
                open_plays: Mutex::new(playback::OpenPlays::default()),
            }),
        }
    }

    pub fn account(&self) -> AccountId {
        self.shared.account
    }

    /// The kind of server the account is on.
    pub fn server_kind(&self) -> crate::model::ServerKind {
        self.shared.server.kind()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.shared.events.subscribe()
    }

    /// Everything an observer shows of this engine (the account's state, the counts, every
    /// queued change's state, the needs-attention rows, the override notices), read at one
    /// moment, and the events from that moment on: nothing is missed between the two and
    /// nothing in the snapshot is older than an event that follows it. An observer that lags
    /// takes a new one; that is its only re-read.
    pub fn subscribe_with_snapshot(
        &self,
    ) -> Result<(SyncSnapshot, broadcast::Receiver<SyncEvent>), StoreError> {
        let now = self.now();
        let account = self.shared.account;
        // Every change is written under the store's lock and its event sent after it: a
        // subscription made while holding the lock receives the events of every change the
        // snapshot does not hold yet (and may repeat some it does, which are states, not steps).
        let mut store = lock(&self.shared.store);
        let events = self.shared.events.subscribe();
        let state = self.account_state();
        let rows = store.outbox(account)?;
        let counts = store.counts(account)?;
        let overridden = store.overridden(account, now)?;
        drop(store);
        let items = rows
            .iter()
            .map(|row| (row.item_id.clone(), ItemSyncState::for_row(row, state)))
            .collect();
        let attention = rows
            .into_iter()
            .filter(|r| r.state == crate::store::RowState::NeedsAttention)
            .collect();
        let snapshot = SyncSnapshot {
            account: state,
            counts,
            items,
            attention,
            overridden,
        };
        Ok((snapshot, events))
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
        self.recorded(item, outcome);
        Ok(state)
    }

    /// A local change was recorded: its badge, the counts, and the drain loop woken.
    fn recorded(&self, item: &str, outcome: RecordOutcome) {
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

    /// The badge of a change waiting to be sent now ([`ItemSyncState::for_row`]).
    fn queued_badge(&self) -> ItemSyncState {
        ItemSyncState::waiting(self.account_state())
    }

    /// Retry failed / needs-attention rows now (all when `items` is `None`).
    /// Each retried change that was failed or needed attention gets its badge again (an
    /// `ItemState` event, [`ItemSyncState::for_row`]): queued, off the needs-attention list.
    pub fn retry(&self, items: Option<&[String]>) -> Result<usize, StoreError> {
        let now = self.now();
        let account = self.shared.account;
        let (n, rows) = self.with_store(|s| {
            let waiting = |r: &crate::store::OutboxRow| {
                matches!(
                    r.state,
                    crate::store::RowState::Failed | crate::store::RowState::NeedsAttention
                ) && items.is_none_or(|items| items.contains(&r.item_id))
            };
            let before: Vec<String> = s
                .outbox(account)?
                .into_iter()
                .filter(waiting)
                .map(|r| r.item_id)
                .collect();
            let n = s.retry(account, items, now)?;
            let after: Vec<crate::store::OutboxRow> = s
                .outbox(account)?
                .into_iter()
                .filter(|r| before.contains(&r.item_id))
                .collect();
            Ok::<_, StoreError>((n, after))
        })?;
        let state = self.account_state();
        for row in &rows {
            self.emit(SyncEvent::ItemState {
                item_id: row.item_id.clone(),
                state: ItemSyncState::for_row(row, state),
            });
        }
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

    /// "Use mine": queue the person's value again where a merge kept the server's over it
    /// (see [`Store::overridden`]). Returns the new local state, or `None` when no such
    /// decision of the last 7 days is known for the item.
    pub fn use_mine(&self, item: &str) -> Result<Option<UserData>, StoreError> {
        let now = self.now();
        let done = self.with_store(|s| {
            s.use_mine(
                self.shared.account,
                item,
                now,
                self.shared.config.debounce_ms,
            )
        })?;
        let Some((state, outcome)) = done else {
            return Ok(None);
        };
        self.recorded(item, outcome);
        Ok(Some(state))
    }

    /// The merges of the last 7 days that kept the server's value over a change of the
    /// person's, newest first ([`Store::overridden`]).
    pub fn overridden(&self) -> Result<Vec<crate::store::Overridden>, StoreError> {
        let now = self.now();
        self.with_store(|s| s.overridden(self.shared.account, now))
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

    /// The server asked for a pause (`429`/`503` with `Retry-After`, seen outside the
    /// engine, e.g. by the CLI's identity check): no request goes out before `wait` is over.
    pub fn server_busy_for(&self, wait: std::time::Duration) {
        let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        let until = self.now().saturating_add(ms);
        let mut st = lock(&self.shared.status);
        st.throttled_until = st.throttled_until.max(until);
    }
}
