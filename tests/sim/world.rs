//! The simulated world: one demo server, K devices (each a real engine with its own SQLite file
//! and skewed fake clock), one global fake clock, and the step executor.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use playmark::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use playmark::backend::plex::PlexClient;
use playmark::backend::{LiveUpdates, MediaServer, ServerInfo, ServerRead, SyncError};
use playmark::clock::{BoxFuture, Clock, FakeClock};
use playmark::demo::{
    DemoClock, DemoConfig, DemoKind, DemoLibrary, DemoServer, Fault, PathPattern, RecordedRequest,
    RequestMatch, DEMO_PASSWORD, DEMO_PLEX_TOKEN, DEMO_USER,
};
use playmark::model::{
    DesiredState, ItemKind, ItemsPage, LocalChange, Millis, RemoteItem, ServerKind, UserData,
};
use playmark::store::{database_path, NewAccount, Store};
use playmark::sync::{Engine, EngineConfig, RunMode, RunOutcome, SyncEvent};

use super::history::{Change, FaultKind, LockAt, Op, Params, Recorded, Target, Value};

/// Simulation time at the start of every history (2023-11-14T22:13:20Z).
pub const T0: Millis = 1_700_000_000_000;
/// The client's request timeout, on the device's (fake) clock.
pub const TIMEOUT_MS: i64 = 30_000;
/// A step that has not finished after this much real time is a hang: the history is printed.
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// A device's clock: the world's clock plus a fixed skew.
#[derive(Clone)]
pub struct SkewedClock {
    pub base: FakeClock,
    pub skew: i64,
}

impl Clock for SkewedClock {
    fn now(&self) -> Millis {
        self.base.now() + self.skew
    }

    fn sleep_until(&self, deadline: Millis) -> BoxFuture {
        self.base.sleep_until(deadline - self.skew)
    }
}

/// The device's network link: a partition cuts it off from the server.
#[derive(Default)]
pub struct Link {
    pub partitioned: AtomicBool,
}

/// The client as the engine sees it: the real HTTP client, behind the device's link, with the
/// request timeout on the device's fake clock (so a request the server holds times out when
/// the simulation moves time, never on the wall clock).
pub struct SimClient {
    inner: Arc<dyn MediaServer>,
    clock: SkewedClock,
    link: Arc<Link>,
}

impl SimClient {
    async fn call<T>(
        &self,
        f: impl Future<Output = Result<T, SyncError>> + Send,
    ) -> Result<T, SyncError> {
        if self.link.partitioned.load(Ordering::SeqCst) {
            return Err(SyncError::offline("simulated partition: no route to host"));
        }
        let deadline = self.clock.now() + TIMEOUT_MS;
        tokio::select! {
            r = f => r,
            _ = self.clock.sleep_until(deadline) => Err(SyncError::transient("operation timed out (simulated clock)")),
        }
    }
}

#[async_trait]
impl MediaServer for SimClient {
    fn kind(&self) -> ServerKind {
        self.inner.kind()
    }

    async fn probe(&self) -> Result<ServerInfo, SyncError> {
        self.call(self.inner.probe()).await
    }

    async fn push_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
    ) -> Result<Option<UserData>, SyncError> {
        self.call(self.inner.push_item(item_id, desired)).await
    }

    async fn push_group(&self, parent_id: &str, played: bool) -> Result<(), SyncError> {
        self.call(self.inner.push_group(parent_id, played)).await
    }

    async fn fetch_items(&self, start: u64, limit: u64) -> Result<ItemsPage, SyncError> {
        self.call(self.inner.fetch_items(start, limit)).await
    }

    async fn fetch_by_ids(&self, ids: &[String]) -> Result<Vec<RemoteItem>, SyncError> {
        self.call(self.inner.fetch_by_ids(ids)).await
    }

    async fn read_children(&self, parent_id: &str) -> Result<Option<ServerRead>, SyncError> {
        self.call(self.inner.read_children(parent_id)).await
    }

    // Forwarded, not left to the trait's default (which asks `fetch_by_ids` and has no `Date`):
    // the claim's read carries the server's clock, which the decision table's dated row needs
    // (seed 5771: without it an unscrobble whose answer was lost was sent again over another
    // device's later play to the end, whose new `lastViewedAt` said "overwritten after").
    async fn read_user_data(&self, ids: &[String]) -> Result<ServerRead, SyncError> {
        self.call(self.inner.read_user_data(ids)).await
    }

    async fn write_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
        current: &UserData,
        runtime_ms: Option<i64>,
    ) -> Result<Option<UserData>, SyncError> {
        self.call(self.inner.write_item(item_id, desired, current, runtime_ms))
            .await
    }

    async fn write_group(
        &self,
        parent_id: &str,
        played: bool,
        current: &[(String, UserData)],
    ) -> Result<(), SyncError> {
        self.call(self.inner.write_group(parent_id, played, current))
            .await
    }

    async fn live_updates(&self) -> Result<Option<LiveUpdates>, SyncError> {
        Ok(None)
    }
}

/// One device: its database, account, clock, link and (unless crashed) engine.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub account: i64,
    pub clock: SkewedClock,
    pub link: Arc<Link>,
    pub client: Arc<dyn MediaServer>,
    pub config: EngineConfig,
    pub engine: Engine,
}

impl Device {
    fn start_engine(&self) -> Engine {
        let store = Store::open(&database_path(self.dir.path())).expect("store reopens");
        Engine::new(
            store,
            self.account,
            Arc::new(SimClient {
                inner: self.client.clone(),
                clock: self.clock.clone(),
                link: self.link.clone(),
            }),
            Arc::new(self.clock.clone()),
            self.config.clone(),
        )
    }

    /// Position and watched flag of every item, as this device shows them.
    /// Whether a change of `item` is queued here (a sync will read it).
    pub fn queued(&self, item: &str) -> bool {
        self.engine
            .with_store(|s| s.item(self.account, item))
            .ok()
            .flatten()
            .is_some_and(|v| v.sync_state.is_some())
    }

    pub fn local(&self, item: &str) -> Value {
        let view = self
            .engine
            .with_store(|s| s.item(self.account, item))
            .expect("store readable")
            .expect("item known");
        Value {
            position_ms: view.position_ms,
            played: view.played,
        }
    }

    pub fn play_count(&self, item: &str) -> i64 {
        self.engine
            .with_store(|s| s.item(self.account, item))
            .ok()
            .flatten()
            .map(|v| v.play_count)
            .unwrap_or(0)
    }

    pub fn base(&self, item: &str) -> Option<Value> {
        self.engine
            .with_store(|s| s.base(self.account, item))
            .expect("store readable")
            .map(|u| Value {
                position_ms: u.position_ms,
                played: u.played,
            })
    }
}

/// Counters over a run of histories.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub histories: u64,
    pub steps: u64,
    pub changes: u64,
    pub faults: std::collections::BTreeMap<&'static str, u64>,
    pub crashes: u64,
    pub crashes_mid_request: u64,
    /// Held requests (of any method: mostly reads) the server applied after the client gave
    /// up.
    pub late_writes_applied: u64,
    /// What the faults that fired hit: a read (or a probe), a write the server did not apply,
    /// a write the server applied whose answer was lost (reset, timeout, truncated body).
    pub fired_on_reads: u64,
    pub fired_on_writes_not_applied: u64,
    pub fired_on_writes_applied_lost: u64,
    /// Crashes mid-request while the server held a write, and how many of those writes the
    /// server applied after the kill.
    pub crashes_holding_write: u64,
    pub crashes_holding_write_applied: u64,
    /// Engines aborted (account switch) while the server held a write, and how many of those
    /// writes it applied after the abort.
    pub aborts: u64,
    pub aborts_holding_write: u64,
    pub aborts_holding_write_applied: u64,
    /// Second engines on a device's data directory that synced while its first engine's write
    /// was held.
    pub two_engines: u64,
    pub partitions: u64,
    pub server_restarts: u64,
    /// Pulls whose answers were held while their device sent (`Op::PullDuringSync`), and
    /// items such a pull left alone because a write had completed meanwhile.
    pub pulls_during_sync: u64,
    pub stale_left_alone: u64,
    /// Syncs run against a database another program held locked (`Op::StoreLocked`), and how
    /// many of them ran into the lock (a store error the engine had to survive).
    pub store_locks: u64,
    pub store_locks_hit: u64,
    /// Delayed live messages delivered (`Op::StaleLive`), how many were older than the
    /// server's state when delivered, and how many items their merges adopted.
    pub stale_live: u64,
    pub stale_live_outdated: u64,
    pub stale_live_adopted: u64,
    /// Items played while offline (`Op::OfflinePlay`).
    pub offline_plays: u64,
    pub violations: u64,
}

impl Stats {
    pub fn absorb(&mut self, o: &Stats) {
        self.histories += o.histories;
        self.steps += o.steps;
        self.changes += o.changes;
        for (k, v) in &o.faults {
            *self.faults.entry(k).or_default() += v;
        }
        self.crashes += o.crashes;
        self.crashes_mid_request += o.crashes_mid_request;
        self.late_writes_applied += o.late_writes_applied;
        self.fired_on_reads += o.fired_on_reads;
        self.fired_on_writes_not_applied += o.fired_on_writes_not_applied;
        self.fired_on_writes_applied_lost += o.fired_on_writes_applied_lost;
        self.crashes_holding_write += o.crashes_holding_write;
        self.crashes_holding_write_applied += o.crashes_holding_write_applied;
        self.aborts += o.aborts;
        self.aborts_holding_write += o.aborts_holding_write;
        self.aborts_holding_write_applied += o.aborts_holding_write_applied;
        self.two_engines += o.two_engines;
        self.partitions += o.partitions;
        self.server_restarts += o.server_restarts;
        self.pulls_during_sync += o.pulls_during_sync;
        self.stale_left_alone += o.stale_left_alone;
        self.store_locks += o.store_locks;
        self.store_locks_hit += o.store_locks_hit;
        self.stale_live += o.stale_live;
        self.stale_live_outdated += o.stale_live_outdated;
        self.stale_live_adopted += o.stale_live_adopted;
        self.offline_plays += o.offline_plays;
        self.violations += o.violations;
    }
}

/// The world of one history.
pub struct World {
    pub params: Params,
    pub clock: FakeClock,
    pub server: DemoServer,
    pub devices: Vec<Device>,
    /// Playable items, in library order.
    pub items: Vec<RemoteItem>,
    /// The season the bulk actions act on, and its episodes (indices into `items`).
    pub season: String,
    pub season_items: Vec<usize>,
    /// For each `Fault::Hold` armed (by its id) and not yet released: apply it when released?
    decisions: HashMap<u64, bool>,
    /// The step's own held answers (a pull during a sync, the first engine's write beside a
    /// second engine): no faults, not counted.
    own_holds: bool,
    /// The request a crash or an abort in this step happened in (index into the step's
    /// requests), and whether it was an abort.
    killed_in: Option<(usize, bool)>,
    /// The recorded history (text, hashed for determinism).
    pub log: Vec<String>,
    /// Every change a device reported as recorded.
    pub recorded: Vec<Recorded>,
    /// Per device and item: the log position of its last contact that could show it the
    /// server's state of the item (a pull; a live message about it; a sync that read it,
    /// i.e. had a change of it queued).
    contact: Vec<Vec<Option<usize>>>,
    /// Per device: the log positions of the steps that ran its engine's sends (a sync; a crash
    /// in the middle of a request). A change can reach the server, and so another device, only
    /// through one of them.
    pub sends: Vec<Vec<usize>>,
    /// Per device: the items a write of its engine was applied to by the server while the
    /// answer was lost (a reset or cut-off answer after the write was applied, a timeout
    /// the server applied later, a crash or an abort while the server held it). Its engine
    /// cannot know whether that write landed (the checker's "ABA after an unknown outcome").
    pub answer_lost: Vec<BTreeSet<usize>>,
    /// Invariant 6 (see the checker), judged at the end of each step that pulled.
    pub step_violations: Vec<String>,
    /// The server's user data of every item at the end of each step (write-targeted mix only):
    /// what a live message computed then would say ([`Op::StaleLive`]).
    snapshots: Vec<Vec<UserData>>,
    pub stats: Stats,
}

fn client_options() -> ClientOptions {
    ClientOptions {
        // A safety net only: the simulated timeout (fake clock) fires first.
        timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

/// The simulation's library: one series with one season of four episodes, and two movies.
pub fn library() -> DemoLibrary {
    DemoLibrary::generated(1, 1, 4, 2)
}

fn short(r: &RecordedRequest) -> String {
    let fault = r
        .fault
        .as_deref()
        .map(|f| format!(" fault={f}"))
        .unwrap_or_default();
    format!("    {} {} -> {}{fault}", r.method, r.path, r.status)
}

impl World {
    pub async fn new(params: Params) -> World {
        let clock = FakeClock::new(T0);
        let kind = match params.kind {
            ServerKind::Plex => DemoKind::Plex,
            _ => DemoKind::Jellyfin,
        };
        let base = if kind == DemoKind::Plex {
            DemoConfig::plex()
        } else {
            DemoConfig::default()
        };
        let server = DemoServer::start(DemoConfig {
            kind,
            library: library(),
            clock: DemoClock(Arc::new(clock.clone())),
            ..base
        })
        .await
        .expect("demo server starts");
        let mut devices = Vec::new();
        for d in 0..params.devices {
            devices.push(Self::new_device(&params, &server, &clock, d).await);
        }
        let all = server.items();
        let items: Vec<RemoteItem> = all
            .iter()
            .filter(|i| i.kind.is_playable())
            .cloned()
            .collect();
        let season = all
            .iter()
            .find(|i| i.kind == ItemKind::Season)
            .map(|i| i.id.clone())
            .expect("a season");
        let season_items = items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.season_id.as_deref() == Some(season.as_str()))
            .map(|(n, _)| n)
            .collect();
        server.clear_requests();
        let snapshots = if params.write_faults {
            vec![items
                .iter()
                .map(|i| server.user_data(&i.id).unwrap_or_default())
                .collect()]
        } else {
            Vec::new()
        };
        World {
            snapshots,
            log: vec![params.describe()],
            params,
            clock,
            server,
            devices,
            items,
            season,
            season_items,
            decisions: HashMap::new(),
            own_holds: false,
            killed_in: None,
            recorded: Vec::new(),
            contact: Vec::new(),
            sends: Vec::new(),
            answer_lost: Vec::new(),
            step_violations: Vec::new(),
            stats: Stats {
                histories: 1,
                ..Stats::default()
            },
        }
    }

    async fn new_device(
        params: &Params,
        server: &DemoServer,
        clock: &FakeClock,
        d: usize,
    ) -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&database_path(dir.path())).expect("store opens");
        let device_id = store.device_id().expect("device id");
        let url = server.url();
        let (client, user_id, server_id): (Arc<dyn MediaServer>, String, String) = match params.kind
        {
            ServerKind::Plex => {
                let c = PlexClient::new(&url, PlexClient::device(&device_id), client_options())
                    .expect("plex client")
                    .with_token(DEMO_PLEX_TOKEN.to_string());
                let info = c.sign_in_check().await.expect("plex token accepted");
                (Arc::new(c), "1".to_string(), info.server_id)
            }
            _ => {
                let c =
                    JellyfinClient::new(&url, DeviceInfo::playmark(&device_id), client_options())
                        .expect("jellyfin client");
                let session = c
                    .authenticate(DEMO_USER, DEMO_PASSWORD)
                    .await
                    .expect("sign in");
                let c = c.with_session(session.access_token, session.user_id.clone());
                (Arc::new(c), session.user_id, session.server_id)
            }
        };
        let account = store
            .upsert_account(
                &NewAccount {
                    kind: params.kind,
                    base_url: &url,
                    server_id: &server_id,
                    server_name: "Sim",
                    user_id: &user_id,
                    user_name: DEMO_USER,
                    device_id: &device_id,
                },
                T0,
            )
            .expect("account");
        let policy = params.policy_of(d);
        store.set_policy(account, policy).expect("policy");
        let clock = SkewedClock {
            base: clock.clone(),
            skew: params.skews[d],
        };
        let link = Arc::new(Link::default());
        let config = params.engine_config(d);
        let engine = Engine::new(
            store,
            account,
            Arc::new(SimClient {
                inner: client.clone(),
                clock: clock.clone(),
                link: link.clone(),
            }),
            Arc::new(clock.clone()),
            config.clone(),
        );
        engine.refresh(50).await.expect("first library scan");
        Device {
            dir,
            account,
            clock,
            link,
            client,
            config,
            engine,
        }
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
    }

    /// Log the requests the server saw since the last call, and forget them.
    fn note_requests(&mut self) {
        let reqs = self.server.requests();
        self.server.clear_requests();
        for r in &reqs {
            self.log.push(short(r));
        }
    }

    /// Run `fut` (an engine operation of one device) to its end. A request held by the server
    /// (`Fault::Hold`) makes the client wait for its timeout: time moves on by the timeout, so
    /// it fires, exactly when the request is held.
    async fn drive<T>(&mut self, fut: impl Future<Output = T>) -> T {
        tokio::pin!(fut);
        let stuck = tokio::time::sleep(STUCK_AFTER);
        tokio::pin!(stuck);
        loop {
            let held = self.server.held_requests();
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = self.server.until_held(held) => {
                    self.clock.advance(TIMEOUT_MS);
                }
                _ = &mut stuck => {
                    panic!("a step hung for {STUCK_AFTER:?}:\n{}", self.log.join("\n"));
                }
            }
        }
    }

    /// Requests held at the end of a step are released as they were armed: applied (the write
    /// lands after the client gave up) or dropped.
    fn release_holds(&mut self) {
        while let Some(armed) = self.server.held_armed().first().copied() {
            let apply = armed
                .and_then(|id| self.decisions.remove(&id))
                .unwrap_or(false);
            if self.server.release_held(apply) && apply {
                self.stats.late_writes_applied += 1;
                self.note("    (held request applied after the client gave up)".into());
            }
        }
    }

    /// Arm `fault` for the request `target` names; a `Fault::Hold` is released at the end of
    /// the step as `hold_apply` says. Returns the armed fault's id.
    fn arm(&mut self, fault: Fault, hold_apply: Option<bool>, target: Target) -> u64 {
        let when = match target {
            Target::Next => RequestMatch::any(),
            Target::Write => RequestMatch::user_data_writes(),
            Target::GroupWrite => RequestMatch::group_writes(&self.season),
        };
        let id = self.server.fail_matching(when, fault);
        if let Some(apply) = hold_apply {
            self.decisions.insert(id, apply);
        }
        id
    }

    /// The newest request the server holds right now (index into the step's requests).
    fn newest_held(&self) -> Option<usize> {
        self.server.requests().iter().rposition(|r| {
            r.status == 0 && matches!(r.fault.as_deref(), Some("hold" | "hold-answer"))
        })
    }

    /// Count what the faults that fired in this step hit (after its holds were released).
    fn count_fired(&mut self, from: usize, dev: Option<usize>) {
        let reqs = self.server.requests();
        let killed = self.killed_in.take();
        if std::mem::take(&mut self.own_holds) {
            return;
        }
        for (i, r) in reqs.iter().enumerate().skip(from) {
            let Some(fault) = r.fault.as_deref() else {
                continue;
            };
            let applied = match fault {
                "truncated" | "applied-reset" | "hold-answer" => true,
                // Released with `apply` (status set) or not (status 0).
                "hold" => r.status != 0,
                f if f.starts_with("delay") => true,
                _ => false,
            };
            let write = r.is_user_data_write();
            if write && applied {
                if let Some(d) = dev {
                    let items = self.items_written_by(r);
                    if self.answer_lost.len() <= d {
                        self.answer_lost.resize(d + 1, BTreeSet::new());
                    }
                    self.answer_lost[d].extend(items);
                }
            }
            match killed {
                Some((k, abort)) if k == i => {
                    if !write {
                        self.stats.fired_on_reads += 1;
                    } else if abort {
                        self.stats.aborts_holding_write += 1;
                        self.stats.aborts_holding_write_applied += u64::from(applied);
                    } else {
                        self.stats.crashes_holding_write += 1;
                        self.stats.crashes_holding_write_applied += u64::from(applied);
                    }
                }
                _ if !write => self.stats.fired_on_reads += 1,
                _ if applied => self.stats.fired_on_writes_applied_lost += 1,
                _ => self.stats.fired_on_writes_not_applied += 1,
            }
        }
    }

    /// The items a user-data write names: by id in its path or a query value (Plex `key`,
    /// `ratingKey`, `/library/metadata/{id}`), or the season's episodes for a write on it.
    fn items_written_by(&self, r: &playmark::demo::RecordedRequest) -> Vec<usize> {
        let names = |id: &str| {
            r.path.split('/').any(|seg| seg == id)
                || r.query
                    .iter()
                    .any(|(_, v)| v == id || v.ends_with(&format!("/{id}")))
        };
        if names(&self.season) {
            return self.season_items.clone();
        }
        (0..self.items.len())
            .filter(|&i| names(&self.items[i].id))
            .collect()
    }

    async fn sync(&mut self, d: usize) -> String {
        let engine = self.devices[d].engine.clone();
        let deadline = self.devices[d].clock.now();
        let out = self
            .drive(async move { engine.run(RunMode::UntilIdle { deadline }).await })
            .await;
        match out {
            Ok(o) => outcome_text(&o),
            Err(e) => format!("store error: {e}"),
        }
    }

    async fn pull(&mut self, d: usize) -> String {
        let engine = self.devices[d].engine.clone();
        match self.drive(async move { engine.refresh(50).await }).await {
            Ok(s) => format!("pulled: adopted {} conflicts {}", s.adopted, s.conflicts),
            Err(e) => format!("pull failed: {e}"),
        }
    }

    /// A pull whose every answer is computed on arrival and held ([`Fault::HoldAnswer`]) while
    /// the device sends what is due, then delivered: the listing is older than the writes.
    /// Faults armed before the step hit the pull's first requests, as they would any step's.
    async fn pull_during_sync(&mut self, d: usize) -> String {
        if self.server.armed_faults() > 0 || self.server.held_requests() > 0 {
            // A fault armed for the next request meets the pull as in any step, and a held
            // timeout needs `drive`'s clock: a plain pull, then the sync.
            let pulled = self.pull(d).await;
            let sync = self.sync(d).await;
            return format!("{pulled}; then {sync}");
        }
        let engine = self.devices[d].engine.clone();
        self.server.fail_next(1, Fault::HoldAnswer);
        self.stats.pulls_during_sync += 1;
        self.own_holds = true;
        let mut pull = tokio::spawn(async move { engine.refresh(50).await });
        let mut sync = String::new();
        let stuck = tokio::time::sleep(STUCK_AFTER);
        tokio::pin!(stuck);
        let out = loop {
            tokio::select! {
                biased;
                out = &mut pull => break out,
                _ = self.server.until_held(0) => {
                    // The device sends while the answer listing the items' user data waits
                    // (Plex: the episodes, after the sections, series and seasons).
                    let listing = self
                        .server
                        .requests()
                        .last()
                        .is_some_and(RecordedRequest::lists_user_data);
                    if sync.is_empty() && listing {
                        sync = self.sync(d).await;
                    }
                    self.server.fail_next(1, Fault::HoldAnswer);
                    self.server.release_held(true);
                }
                _ = &mut stuck => {
                    panic!("a step hung for {STUCK_AFTER:?}:\n{}", self.log.join("\n"));
                }
            }
        };
        // The hold armed for a request that never came.
        self.server.clear_faults();
        let pulled = match out {
            Ok(Ok(s)) => {
                self.stats.stale_left_alone += s.stale as u64;
                format!(
                    "pulled: adopted {} conflicts {} stale {}",
                    s.adopted, s.conflicts, s.stale
                )
            }
            Ok(Err(e)) => format!("pull failed: {e}"),
            Err(e) => format!("pull panicked: {e}"),
        };
        if sync.is_empty() {
            sync = self.sync(d).await;
        }
        format!("{pulled}; meanwhile {sync}")
    }

    /// The app switches accounts while the device's engine waits on a write the server holds:
    /// a new engine opens on the same data directory, then the old one is shut down and its
    /// run task aborted (`SyncQueue::stop_engine`); the write is applied (or not) at the end
    /// of the step, after the abort.
    async fn abort_mid_write(&mut self, d: usize, apply: bool) -> String {
        self.stats.aborts += 1;
        let held = self.server.held_requests();
        self.arm(Fault::Hold, Some(apply), Target::Write);
        let engine = self.devices[d].engine.clone();
        // What is queued is due now (past the debounce and any backoff).
        let _ = engine.sync_now();
        let deadline = self.devices[d].clock.now();
        let mut task =
            tokio::spawn(async move { engine.run(RunMode::UntilIdle { deadline }).await });
        let (text, running) = tokio::select! {
            biased;
            _ = self.server.until_held(held) => {
                self.killed_in = self.newest_held().map(|i| (i, true));
                ("aborted mid-request".to_string(), true)
            }
            out = &mut task => (match out {
                Ok(Ok(o)) => format!("no request to abort ({})", outcome_text(&o)),
                Ok(Err(e)) => format!("no request to abort ({e})"),
                Err(e) => format!("run panicked: {e}"),
            }, false),
        };
        // The new engine opens before the old one stops, as in `SyncQueue::launch`.
        let fresh = self.devices[d].start_engine();
        self.devices[d].engine.shutdown();
        if running {
            task.abort();
            let _ = task.await;
        }
        self.devices[d].engine = fresh;
        text
    }

    /// A second engine on the device's data directory (a CLI `sync` beside the app) syncs to
    /// the end while the first engine's write is held; then the server applies and answers
    /// it and the first engine finishes. Only on a quiet server (no fault armed or held), so
    /// the first engine's request cannot time out meanwhile.
    async fn two_engines(&mut self, d: usize) -> String {
        if self.server.armed_faults() > 0 || self.server.held_requests() > 0 {
            return format!("server not quiet: a plain sync: {}", self.sync(d).await);
        }
        let id = self
            .server
            .fail_matching(RequestMatch::user_data_writes(), Fault::Hold);
        let engine = self.devices[d].engine.clone();
        let _ = engine.sync_now();
        let deadline = self.devices[d].clock.now();
        let run = engine.run(RunMode::UntilIdle { deadline });
        tokio::pin!(run);
        let first = tokio::select! {
            biased;
            _ = self.server.until_held(0) => None,
            out = &mut run => Some(out),
        };
        if let Some(out) = first {
            self.server.clear_faults();
            return match out {
                Ok(o) => format!("no write to hold: {}", outcome_text(&o)),
                Err(e) => format!("no write to hold: store error: {e}"),
            };
        }
        self.stats.two_engines += 1;
        self.own_holds = true;
        debug_assert_eq!(self.server.held_armed(), vec![Some(id)]);
        let second = self.devices[d].start_engine();
        let now = self.devices[d].clock.now();
        let out2 = second.run(RunMode::UntilIdle { deadline: now }).await;
        drop(second);
        self.server.release_held(true);
        let out1 = self.drive(&mut run).await;
        let text = |o: Result<RunOutcome, _>| match o {
            Ok(o) => outcome_text(&o),
            Err(e) => format!("store error: {e}"),
        };
        format!(
            "second engine: {}; first engine: {}",
            text(out2),
            text(out1)
        )
    }

    /// Another program holds the device's database while it syncs (`Op::StoreLocked`): the
    /// engine's busy timeout is made short, the lock taken at the point `at` names (a read's or
    /// a write's answer is held meanwhile, so the lock is in place when it arrives), and
    /// released once the engine reported the trouble; a "sync now" then wakes its retry, and
    /// the sync runs to its end. Off a quiet server (a fault armed or a request held) the lock
    /// is taken at the start.
    async fn store_locked(&mut self, d: usize, at: LockAt) -> String {
        self.stats.store_locks += 1;
        let engine = self.devices[d].engine.clone();
        if let Err(e) = engine.with_store(|s| s.set_busy_timeout(Duration::from_millis(20))) {
            return format!("busy timeout not set: {e}");
        }
        let quiet = self.server.armed_faults() == 0 && self.server.held_requests() == 0;
        let at = if quiet { at } else { LockAt::Start };
        let other = rusqlite::Connection::open(database_path(self.devices[d].dir.path()))
            .expect("a second connection opens");
        let mut events = engine.subscribe();
        let _ = engine.sync_now();
        let deadline = self.devices[d].clock.now();
        let mut waiting = match at {
            LockAt::Start => {
                other
                    .execute_batch("BEGIN EXCLUSIVE")
                    .expect("the lock is taken");
                false
            }
            LockAt::Read => {
                let reads = RequestMatch::request(Some("GET"), PathPattern::Exact("/Items".into()))
                    .or(RequestMatch::request(
                        Some("GET"),
                        PathPattern::Prefix("/library/metadata/".into()),
                    ));
                self.server.fail_matching(reads, Fault::HoldAnswer);
                self.own_holds = true;
                true
            }
            LockAt::Write => {
                self.server
                    .fail_matching(RequestMatch::user_data_writes(), Fault::HoldAnswer);
                self.own_holds = true;
                true
            }
        };
        let mut locked = at == LockAt::Start;
        let mut hit = false;
        let run = engine.run(RunMode::UntilIdle { deadline });
        tokio::pin!(run);
        let stuck = tokio::time::sleep(STUCK_AFTER);
        tokio::pin!(stuck);
        let out = loop {
            // Our own hold is the only one on a quiet server: wait for it from 0, or a request
            // held before this line would never be seen.
            let held = if waiting {
                0
            } else {
                self.server.held_requests()
            };
            tokio::select! {
                biased;
                out = &mut run => break out,
                ev = events.recv() => {
                    if locked && matches!(ev, Ok(SyncEvent::StoreTrouble { .. })) {
                        hit = true;
                        locked = false;
                        other.execute_batch("COMMIT").expect("the lock is released");
                        // Wakes the engine's retry (it sleeps on the fake clock otherwise).
                        let _ = engine.sync_now();
                    }
                }
                _ = self.server.until_held(held) => {
                    if waiting {
                        // Our held answer: the lock goes in place, then the answer arrives.
                        waiting = false;
                        other
                            .execute_batch("BEGIN EXCLUSIVE")
                            .expect("the lock is taken");
                        locked = true;
                        self.server.release_held(true);
                    } else {
                        self.clock.advance(TIMEOUT_MS);
                    }
                }
                _ = &mut stuck => {
                    panic!("a step hung for {STUCK_AFTER:?}:\n{}", self.log.join("\n"));
                }
            }
        };
        // A run that failed twice in one go (a wake-up was pending: no wait between its
        // attempts) ended before its trouble was seen here.
        while let Ok(ev) = events.try_recv() {
            hit |= locked && matches!(ev, SyncEvent::StoreTrouble { .. });
        }
        if locked {
            other.execute_batch("COMMIT").expect("the lock is released");
        }
        if waiting {
            // The hold armed for a request that never came (the server was quiet before).
            self.server.clear_faults();
        }
        let _ = engine.with_store(|s| s.set_busy_timeout(playmark::store::BUSY_TIMEOUT));
        self.stats.store_locks_hit += u64::from(hit);
        let text = match out {
            Ok(o) => outcome_text(&o),
            Err(e) => format!("store error: {e}"),
        };
        if hit {
            format!("ran into the lock at {at:?}, then {text}")
        } else {
            format!("never ran into the lock: {text}")
        }
    }

    /// A live message computed `back` steps ago reaches the device (`Op::StaleLive`; Jellyfin
    /// only, Plex has no live channel).
    async fn stale_live(&mut self, d: usize, item: usize, back: usize) -> String {
        if self.params.kind == ServerKind::Plex {
            return "no live channel".to_string();
        }
        let item = item % self.items.len();
        let id = self.items[item].id.clone();
        let from = self.snapshots.len().saturating_sub(back);
        let Some(said) = self.snapshots.get(from).map(|s| s[item]) else {
            return "no message".to_string();
        };
        self.stats.stale_live += 1;
        let now = self.server.user_data(&id).unwrap_or_default();
        if Value::of(&now) != Value::of(&said) {
            self.stats.stale_live_outdated += 1;
        }
        let says = format!("it says {}", Value::of(&said));
        if self.params.live_as_sent {
            return match self.devices[d].engine.apply_live_user_data(&[(id, said)]) {
                Ok(s) => {
                    self.stats.stale_live_adopted += s.adopted as u64;
                    format!(
                        "live, as sent ({says}): adopted {} conflicts {}",
                        s.adopted, s.conflicts
                    )
                }
                Err(e) => format!("live failed: {e}"),
            };
        }
        let engine = self.devices[d].engine.clone();
        let hint = vec![(id, said)];
        match self
            .drive(async move { engine.apply_live_hint(&hint).await })
            .await
        {
            Ok(s) => {
                self.stats.stale_live_adopted += s.adopted as u64;
                format!(
                    "live, read again ({says}): adopted {} conflicts {} stale {}",
                    s.adopted, s.conflicts, s.stale
                )
            }
            Err(e) => format!("live failed: {e}"),
        }
    }

    /// The device plays an item while cut off from the server (`Op::OfflinePlay`), then the
    /// link comes back and it syncs.
    async fn offline_play(
        &mut self,
        d: usize,
        item: usize,
        checkpoints: u8,
        finish: bool,
    ) -> String {
        self.stats.offline_plays += 1;
        let item = item % self.items.len();
        let id = self.items[item].id.clone();
        let rt = self.items[item].runtime_ms.unwrap_or(1_800_000);
        let link = self.devices[d].link.clone();
        let was_cut = link.partitioned.swap(true, Ordering::SeqCst);
        let shown = self.devices[d].local(&id);
        let mut position = if shown.played { 0 } else { shown.position_ms };
        let jellyfin = self.params.kind != ServerKind::Plex;
        let mut texts = Vec::new();
        let mut counted = false;
        for k in 0..checkpoints {
            let first = k == 0;
            let last = k + 1 == checkpoints;
            // 15 s of play per checkpoint; past 90 % of the runtime (the players' default
            // threshold, both servers) or at the end it is watched.
            self.clock.advance(15_000);
            position = (position + 15_000).min(rt - 1000);
            let watched = (last && finish) || position >= rt * 9 / 10;
            let (add_play, unwatch) = if jellyfin {
                (first, first)
            } else {
                (watched && !counted, false)
            };
            counted |= watched;
            let change = LocalChange::Playback {
                position_ms: if watched { 0 } else { position },
                watched,
                add_play,
                unwatch,
            };
            texts.push(self.record(d, item, change));
        }
        if !was_cut {
            link.partitioned.store(false, Ordering::SeqCst);
            self.devices[d].engine.connectivity_changed(true);
        }
        let _ = self.devices[d].engine.sync_now();
        let sync = self.sync(d).await;
        format!(
            "{}; back online{}: {sync}",
            texts.join(", "),
            if was_cut {
                " (no: it was cut before)"
            } else {
                ""
            }
        )
    }

    /// Invariant 6: right after a pull (nothing else touched the server meanwhile but the
    /// device's own sends), every item the device has no queued change for shows what the
    /// server holds: a listing cannot put back a state the server no longer has.
    fn check_pulled(&mut self, n: usize, d: usize) {
        for (i, it) in self.items.iter().enumerate() {
            if self.devices[d].queued(&it.id) {
                continue;
            }
            let server = Value::of(&self.server.user_data(&it.id).unwrap_or_default());
            let local = self.devices[d].local(&it.id);
            let same = local.played == server.played
                && (local.played || local.position_ms == server.position_ms);
            if !same {
                self.step_violations.push(format!(
                    "step {n}: after its pull d{d} shows {local} for item {i}, the server holds {server} (invariant 6)"
                ));
            }
        }
    }

    /// Drop a device's engine (with its store connection) and start a new one on the same file.
    fn restart_device(&mut self, d: usize) {
        let fresh = self.devices[d].start_engine();
        self.devices[d].engine = fresh;
    }

    /// Record one local change on device `d` (with what the checker needs to know about it).
    fn record(&mut self, d: usize, item: usize, change: LocalChange) -> String {
        let id = self.items[item].id.clone();
        let before = self.devices[d].local(&id);
        let base = self.devices[d].base(&id);
        let at = self.devices[d].clock.now();
        match self.devices[d].engine.record_change(&id, change) {
            Ok(state) => {
                let value = Value {
                    position_ms: state.position_ms,
                    played: state.played,
                };
                let dated = state.last_played.is_some();
                self.push_recorded(d, item, value, (before, base), at, dated);
                if let LocalChange::Playback { add_play, .. } = change {
                    // The play counted is the checkpoint that adds it, not the flag.
                    if let Some(r) = self.recorded.last_mut() {
                        r.watched = add_play;
                    }
                }
                format!("recorded {value}")
            }
            Err(e) => format!("not recorded: {e}"),
        }
    }

    fn push_recorded(
        &mut self,
        d: usize,
        item: usize,
        value: Value,
        (before, base): (Value, Option<Value>),
        at: Millis,
        dated: bool,
    ) {
        let step = self.log.len();
        self.stats.changes += 1;
        let contact = self
            .contact
            .get(d)
            .and_then(|c| c.get(item).copied())
            .flatten();
        self.recorded.push(Recorded {
            contact,
            id: self.recorded.len(),
            device: d,
            item,
            step,
            value,
            before,
            base: base.unwrap_or(before),
            at,
            dated,
            watched: value.played && !before.played,
        });
    }

    /// Execute one step.
    pub async fn step(&mut self, n: usize, op: &Op) {
        self.stats.steps += 1;
        // A pull or a live message always shows the server's state; a sync only when it
        // sent something (it reads before it writes).
        let requests_before = self.server.requests().len();
        let queued_before: Vec<usize> = match *op {
            Op::Sync { dev, .. } | Op::TwoEngines { dev } | Op::StoreLocked { dev, .. } => (0
                ..self.items.len())
                .filter(|&i| self.devices[dev].queued(&self.items[i].id))
                .collect(),
            _ => Vec::new(),
        };
        let result = match *op {
            Op::Change { dev, item, change } => {
                let item = item % self.items.len();
                let change = match change {
                    Change::Position { permille } => {
                        let rt = self.items[item].runtime_ms.unwrap_or(1_800_000);
                        // Whole seconds (Plex keeps ms, Jellyfin ticks; both exact), distinct
                        // per step so a value tells which change it came from.
                        let secs = (rt / 1000 - 2).max(1) * i64::from(permille) / 1000;
                        LocalChange::Position {
                            position_ms: (secs.max(1) * 1000).min(rt - 1000),
                        }
                    }
                    Change::Restart => LocalChange::Position { position_ms: 0 },
                    Change::Watched => LocalChange::MarkWatched,
                    Change::Unwatched => LocalChange::MarkUnwatched,
                };
                self.record(dev, item, change)
            }
            Op::Bulk { dev, played } => {
                let season = self.season.clone();
                let members = self.season_items.clone();
                let at = self.devices[dev].clock.now();
                let before: Vec<(Value, Option<Value>)> = members
                    .iter()
                    .map(|&i| {
                        let id = self.items[i].id.clone();
                        (self.devices[dev].local(&id), self.devices[dev].base(&id))
                    })
                    .collect();
                match self.devices[dev].engine.record_bulk(&season, played) {
                    Ok(o) => {
                        for (&i, (b, base)) in members.iter().zip(before) {
                            let id = self.items[i].id.clone();
                            let value = self.devices[dev].local(&id);
                            self.push_recorded(dev, i, value, (b, base), at, played);
                        }
                        format!("bulk recorded: queued {} dropped {}", o.queued, o.dropped)
                    }
                    Err(e) => format!("bulk not recorded: {e}"),
                }
            }
            Op::Sync { dev, now } => {
                if now {
                    let _ = self.devices[dev].engine.sync_now();
                }
                self.sync(dev).await
            }
            Op::Pull { dev } => self.pull(dev).await,
            Op::PullDuringSync { dev } => self.pull_during_sync(dev).await,
            Op::Live { dev, item } => {
                // A live message carries the server's current user data of the item it is
                // about; it goes through the same merge as a scan.
                let id = self.items[item % self.items.len()].id.clone();
                match self.server.user_data(&id) {
                    Some(u) if self.params.kind != ServerKind::Plex => {
                        match self.devices[dev].engine.apply_live_user_data(&[(id, u)]) {
                            Ok(s) => {
                                format!("live: adopted {} conflicts {}", s.adopted, s.conflicts)
                            }
                            Err(e) => format!("live failed: {e}"),
                        }
                    }
                    _ => "no live channel".to_string(),
                }
            }
            Op::Advance { ms } => {
                self.clock.advance(ms);
                format!("now T0+{}ms", self.clock.now() - T0)
            }
            Op::Fault { kind, target } => {
                *self.stats.faults.entry(kind.name()).or_default() += 1;
                let (fault, hold) = match kind {
                    FaultKind::Status5xx(code) => (
                        Fault::Status {
                            code,
                            retry_after: None,
                        },
                        None,
                    ),
                    FaultKind::TooMany(secs) => (
                        Fault::Status {
                            code: 429,
                            retry_after: Some(secs),
                        },
                        None,
                    ),
                    FaultKind::Reset => (Fault::Reset, None),
                    FaultKind::ResetMidBody => (Fault::Truncated, None),
                    FaultKind::TruncatedJson => (Fault::Malformed, None),
                    FaultKind::Timeout => (Fault::Hold, Some(false)),
                    FaultKind::LateWrite => (Fault::Hold, Some(true)),
                    FaultKind::AppliedReset => (Fault::AppliedReset, None),
                    // Applied on arrival; the held answer is dropped at the end of the step.
                    FaultKind::AppliedTimeout => (Fault::HoldAnswer, Some(false)),
                };
                self.arm(fault, hold, target);
                "armed".to_string()
            }
            Op::Partition { dev } => {
                let link = &self.devices[dev].link;
                let cut = !link.partitioned.load(Ordering::SeqCst);
                link.partitioned.store(cut, Ordering::SeqCst);
                if cut {
                    self.stats.partitions += 1;
                    "partitioned".to_string()
                } else {
                    self.devices[dev].engine.connectivity_changed(true);
                    "healed".to_string()
                }
            }
            Op::Crash {
                dev,
                mid_request,
                target,
            } => {
                self.stats.crashes += 1;
                let text = match mid_request {
                    None => "crashed while idle".to_string(),
                    Some(apply) => {
                        let held = self.server.held_requests();
                        self.arm(Fault::Hold, Some(apply), target);
                        let engine = self.devices[dev].engine.clone();
                        if target != Target::Next {
                            // Aimed at a write: what is queued is due now.
                            let _ = engine.sync_now();
                        }
                        let deadline = self.devices[dev].clock.now();
                        let run = engine.run(RunMode::UntilIdle { deadline });
                        let crashed = tokio::select! {
                            biased;
                            _ = self.server.until_held(held) => Ok(()),
                            out = run => Err(match out {
                                Ok(o) => outcome_text(&o),
                                Err(e) => e.to_string(),
                            }),
                        };
                        let text = match crashed {
                            Ok(()) => {
                                self.killed_in = self.newest_held().map(|i| (i, false));
                                self.stats.crashes_mid_request += 1;
                                "crashed mid-request".to_string()
                            }
                            Err(o) => format!("no request to crash in ({o})"),
                        };
                        drop(engine);
                        text
                    }
                };
                // The engine (and its store connection) is gone; a new one starts on the file.
                self.restart_device(dev);
                text
            }
            Op::Abort { dev, apply } => self.abort_mid_write(dev, apply).await,
            Op::TwoEngines { dev } => self.two_engines(dev).await,
            Op::StoreLocked { dev, at } => self.store_locked(dev, at).await,
            Op::StaleLive { dev, item, back } => self.stale_live(dev, item, back).await,
            Op::OfflinePlay {
                dev,
                item,
                checkpoints,
                finish,
            } => self.offline_play(dev, item, checkpoints, finish).await,
            Op::ServerRestart => {
                self.stats.server_restarts += 1;
                // Held requests die with the process.
                while let Some(armed) = self.server.held_armed().first().copied() {
                    if let Some(id) = armed {
                        self.decisions.remove(&id);
                    }
                    self.server.release_held(false);
                }
                self.server.set_offline(true);
                self.server.set_offline(false);
                // A restarting Jellyfin answers 503 with an HTML page for a moment.
                self.server.fail_next(1, Fault::Starting);
                // Let clients see their keep-alive connections close (real time, not
                // simulated: the sockets are real).
                tokio::time::sleep(Duration::from_millis(5)).await;
                "server restarted".to_string()
            }
        };
        // Only a contact that worked shows anything: a pull or live message that merged, a
        // sync with an answered request.
        let answered = || {
            self.server
                .requests()
                .iter()
                .skip(requests_before)
                .any(|r| r.status == 200)
        };
        let contact: Option<(usize, Vec<usize>)> = match *op {
            Op::Pull { dev } | Op::PullDuringSync { dev } if result.starts_with("pulled") => {
                Some((dev, (0..self.items.len()).collect()))
            }
            Op::Live { dev, item } if result.starts_with("live:") => {
                Some((dev, vec![item % self.items.len()]))
            }
            // Read again: it shows the server's state now (merged as sent it does not).
            Op::StaleLive { dev, item, .. } if result.starts_with("live, read again") => {
                Some((dev, vec![item % self.items.len()]))
            }
            Op::Sync { dev, .. }
            | Op::TwoEngines { dev }
            | Op::StoreLocked { dev, .. }
            | Op::OfflinePlay { dev, .. }
                if answered() =>
            {
                Some((dev, queued_before))
            }
            _ => None,
        };
        let sent_by = match *op {
            // A sync the server answered nothing of (its read met a 500, a 503 "starting", a
            // 429, a reset) wrote nothing: no change reached the server through it (seed
            // 6316: d1's sync failed at its read, and d0, which then pulled the initial 0s,
            // was taken to know d1's unwatch to 0s).
            Op::Sync { dev, .. } if answered() => Some(dev),
            Op::PullDuringSync { dev }
            | Op::TwoEngines { dev }
            | Op::StoreLocked { dev, .. }
            | Op::OfflinePlay { dev, .. }
            | Op::Abort { dev, .. } => Some(dev),
            Op::Crash {
                dev,
                mid_request: Some(_),
                ..
            } => Some(dev),
            _ => None,
        };
        if let Some(dev) = sent_by {
            if self.sends.len() <= dev {
                self.sends.resize(dev + 1, Vec::new());
            }
            self.sends[dev].push(self.log.len());
        }
        if let Some((dev, items)) = contact {
            let at = self.log.len();
            if self.contact.len() <= dev {
                self.contact.resize(dev + 1, Vec::new());
            }
            let row = &mut self.contact[dev];
            if row.len() < self.items.len() {
                row.resize(self.items.len(), None);
            }
            for i in items {
                row[i] = Some(at);
            }
        }
        let line = format!("{n:>3} {op} -> {result}");
        self.log.push(line);
        if let Op::Pull { dev } | Op::PullDuringSync { dev } = *op {
            if result.starts_with("pulled") {
                self.check_pulled(n, dev);
            }
        }
        self.release_holds();
        self.count_fired(requests_before, op.device());
        self.note_requests();
        if self.params.write_faults {
            let now = self
                .items
                .iter()
                .map(|i| self.server.user_data(&i.id).unwrap_or_default())
                .collect();
            self.snapshots.push(now);
        }
    }

    /// Heal everything, then let every device pull, sync and pull again (twice round), so all
    /// should agree.
    pub async fn converge(&mut self) {
        self.note("--- heal: faults cleared, partitions healed, time moves on ---".into());
        self.server.clear_faults();
        while self.server.held_requests() > 0 {
            self.server.release_held(false);
        }
        self.decisions.clear();
        for d in &self.devices {
            d.link.partitioned.store(false, Ordering::SeqCst);
        }
        // Past every backoff and Retry-After.
        self.clock.advance(30 * 60_000);
        for round in 0..2 {
            for d in 0..self.devices.len() {
                self.devices[d].engine.connectivity_changed(true);
                let pulled = self.pull(d).await;
                let _ = self.devices[d].engine.sync_now();
                let synced = self.sync(d).await;
                self.note(format!("    heal {round} d{d}: {pulled}; {synced}"));
                self.note_requests();
            }
        }
        for d in 0..self.devices.len() {
            let pulled = self.pull(d).await;
            self.note(format!("    final pull d{d}: {pulled}"));
            self.note_requests();
        }
        self.note("--- end state ---".into());
        for (n, it) in self.items.iter().enumerate() {
            let server = self.server.user_data(&it.id).unwrap_or_default();
            let locals: Vec<String> = self
                .devices
                .iter()
                .map(|d| d.local(&it.id).to_string())
                .collect();
            self.log.push(format!(
                "item {n}: server {} count {} | devices {}",
                Value::of(&server),
                server.play_count,
                locals.join(" ")
            ));
        }
    }
}

fn outcome_text(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Empty => "sent all".to_string(),
        RunOutcome::Pending { counts } => format!("pending {}", counts.total()),
        RunOutcome::Offline { counts } => format!("offline, {} waiting", counts.total()),
        RunOutcome::SignInNeeded { counts } => {
            format!("sign-in needed, {} waiting", counts.total())
        }
        RunOutcome::Stopped => "stopped".to_string(),
        other => format!("{other:?}"),
    }
}
