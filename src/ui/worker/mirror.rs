//! Mirroring while the app runs (issue 21; README "Mirror in the app"): while a mirror group
//! exists, every member account gets an engine of its own here (sending its queue, pulling,
//! listening), besides the one account the library shows; a pass of every group
//! ([`crate::mirror::pass::run_pass`], the same as `playmark mirror run`) runs at start, every
//! pull interval and on the Mirror page's "Run now". Passes run one at a time on the worker's
//! runtime, never on the GTK thread; the page gets the groups' status
//! ([`MirrorReport::Status`], the figures of `playmark mirror status`) after each.

use super::*;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::mirror::fold::{FirstPass, MirrorPolicy};
use crate::mirror::groups::{add_group, remove_group, GroupError};
use crate::mirror::pass::{run_pass, PassError, PassOptions};
use crate::model::{AccountId, Millis};
use crate::store::AccountStatus;

/// Requests of the Mirror page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorRequest {
    /// Send the groups and their status ([`MirrorReport::Status`]); start or stop the members'
    /// engines to follow the groups (made or removed with `playmark mirror`).
    Status,
    /// Run a pass of every group now (answered with `Started`, `Finished`, then `Status`).
    RunNow,
    /// The periodic pass: as `RunNow`, skipped while a pass runs.
    Periodic,
    /// Make a group of these signed-in accounts (as `playmark mirror add`, first pass
    /// agree-only), start their engines and run a pass (nothing differing is written before
    /// the person picks a first pass).
    AddGroup {
        members: Vec<AccountId>,
        policy: MirrorPolicy,
    },
    /// Forget a group (as `playmark mirror remove`; nothing is written to any server) and stop
    /// the engines of accounts no longer in any group.
    RemoveGroup { id: i64 },
    /// The person's first-pass choice for a group's titles without an agreed state: one pass
    /// of that group with it (as `playmark mirror run ID --first-pass …`).
    FirstPass { group: i64, choice: FirstPass },
}

/// A member account of a group (server text: never markup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorMember {
    pub account: AccountId,
    pub kind: ServerKind,
    pub server: String,
    pub user: String,
    /// Online, offline, sign-in needed: as its engine here last said, or as last stored.
    pub state: AccountState,
}

/// What kind of health entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorHealthKind {
    /// On one side only (or no ids to match by).
    Unmatched,
    /// Matches two on the other side, or its ids point to different items: never written.
    Ambiguous,
    /// The sides differ and no agreed state exists yet (the first pass's choice).
    FirstPass,
}

/// One entry of a group's health list: the items (server, label) and the pass's reason (its
/// English text: the page words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorHealth {
    pub kind: MirrorHealthKind,
    pub reason: String,
    pub items: Vec<(String, String)>,
}

/// A group and its status, as `playmark mirror status` says it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorGroupView {
    pub id: i64,
    pub members: Vec<MirrorMember>,
    /// As stored: `furthest-progress`, `last-writer-wins`, `prefer:ID`.
    pub policy: String,
    /// As stored: `agree-only`, `furthest`, `from:ID`.
    pub first_pass: String,
    pub last_run_at: Option<Millis>,
    pub matched: u64,
    pub unmatched: u64,
    pub ambiguous: u64,
    pub waiting: u64,
    pub pending: u64,
    /// Changes still queued, over the members.
    pub queued: usize,
    pub errors: Vec<String>,
    pub health: Vec<MirrorHealth>,
    /// What was not kept ("Kept Plex's 20:00 over Jellyfin's 12:00"), newest first.
    pub not_kept: Vec<String>,
}

/// What a "Run now" (or a periodic pass) did, over every group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorRunSummary {
    pub groups: usize,
    pub writes: usize,
    pub undelivered: usize,
    pub errors: usize,
    /// A pass could not run at all (the reason, for the log and the page).
    pub failed: Option<String>,
}

/// What the worker tells the Mirror page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorReport {
    /// The groups and their status; `running`: a pass runs now.
    Status {
        groups: Vec<MirrorGroupView>,
        running: bool,
        /// Every signed-in account (what a new group can be made of).
        accounts: Vec<MirrorMember>,
    },
    /// A pass started.
    Started,
    /// The pass finished.
    Finished { summary: MirrorRunSummary },
    /// A member account's engine here says its account went online, offline or needs a
    /// sign-in.
    MemberState {
        account: AccountId,
        state: AccountState,
    },
    /// A group was not made or removed (the reason, in English: the store's or the check's).
    GroupNotChanged { reason: String },
}

/// The mirroring the worker runs: the members' engines and the passes.
#[derive(Default)]
pub(super) struct Mirrors {
    /// The engine of each member account other than the one the library shows.
    engines: HashMap<AccountId, (Engine, Vec<tokio::task::JoinHandle<()>>)>,
    /// The periodic passes.
    periodic: Option<tokio::task::JoinHandle<()>>,
    /// One pass at a time (Run now waits for a periodic pass under way).
    lock: Arc<tokio::sync::Mutex<()>>,
    running: Arc<AtomicBool>,
    /// The member accounts' states as their engines here last said.
    states: States,
    /// Follows the state of the engine the library shows, when its account is a member.
    shown_watch: Option<tokio::task::JoinHandle<()>>,
}

type States = Arc<std::sync::Mutex<HashMap<AccountId, AccountState>>>;

/// The state as stored (before an engine here said anything).
fn stored_state(s: AccountStatus) -> AccountState {
    match s {
        AccountStatus::Online => AccountState::Online,
        AccountStatus::Offline => AccountState::Offline,
        AccountStatus::SignInNeeded => AccountState::SignInNeeded,
        AccountStatus::ServerChanged => AccountState::ServerChanged,
    }
}

/// Record `state` of `account` and tell the page.
fn publish(
    states: &States,
    out: &relm4::Sender<SyncQueueOutput>,
    account: AccountId,
    state: AccountState,
) {
    states
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(account, state);
    let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::MemberState {
        account,
        state,
    }));
}

/// A task that publishes `engine`'s account state now and at every change.
fn watch_state(
    rt: &tokio::runtime::Handle,
    engine: &Engine,
    states: States,
    out: relm4::Sender<SyncQueueOutput>,
) -> tokio::task::JoinHandle<()> {
    let mut events = engine.subscribe();
    let engine = engine.clone();
    rt.spawn(async move {
        let account = engine.account();
        publish(&states, &out, account, engine.account_state());
        loop {
            match events.recv().await {
                Ok(SyncEvent::Account { state }) => publish(&states, &out, account, state),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    publish(&states, &out, account, engine.account_state());
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

impl Mirrors {
    /// A network hint for the members' engines too (see `Engine::connectivity_changed`).
    pub(super) fn connectivity_changed(&self, online: bool) {
        for (engine, _) in self.engines.values() {
            engine.connectivity_changed(online);
        }
    }

    /// Stop every member engine and the periodic passes.
    pub(super) fn stop(&mut self) {
        for (_, (engine, tasks)) in self.engines.drain() {
            engine.shutdown();
            for t in tasks {
                t.abort();
            }
        }
        if let Some(t) = self.periodic.take() {
            t.abort();
        }
        if let Some(t) = self.shown_watch.take() {
            t.abort();
        }
    }
}

/// The groups and their status, and every signed-in account, read from the database of
/// `data_dir`; a member's state is its engine's here when one said it (`states`).
fn read_status(
    data_dir: &Path,
    states: &States,
) -> Result<(Vec<MirrorGroupView>, Vec<MirrorMember>), crate::store::StoreError> {
    if !database_path(data_dir).exists() {
        return Ok((Vec::new(), Vec::new()));
    }
    let store = Store::open(&database_path(data_dir))?;
    let states = states.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let member = |a: crate::store::Account| MirrorMember {
        account: a.id,
        kind: a.kind,
        state: states
            .get(&a.id)
            .copied()
            .unwrap_or_else(|| stored_state(a.state)),
        server: a.server_name,
        user: a.user_name,
    };
    let accounts: Vec<MirrorMember> = store.accounts()?.into_iter().map(member).collect();
    let mut out = Vec::new();
    for g in store.mirror_groups()? {
        let mut members = Vec::new();
        let mut queued = 0;
        for id in &g.members {
            if let Some(a) = accounts.iter().find(|a| a.account == *id) {
                members.push(a.clone());
            }
            queued += store.counts(*id)?.total();
        }
        let last: serde_json::Value = g
            .last_run
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null);
        let count = |k: &str| last.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let names: HashMap<AccountId, String> = members
            .iter()
            .map(|m| (m.account, m.server.clone()))
            .collect();
        let health = store
            .mirror_health(g.id)?
            .into_iter()
            .map(|(kind, reason, items)| MirrorHealth {
                kind: match kind.as_str() {
                    "ambiguous" => MirrorHealthKind::Ambiguous,
                    "first_pass" => MirrorHealthKind::FirstPass,
                    _ => MirrorHealthKind::Unmatched,
                },
                reason,
                items: serde_json::from_str::<Vec<(i64, String, String)>>(&items)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(account, _, label)| {
                        let server = names.get(&account).cloned().unwrap_or_default();
                        (server, label)
                    })
                    .collect(),
            })
            .collect();
        out.push(MirrorGroupView {
            id: g.id,
            members,
            policy: g.policy,
            first_pass: g.first_pass,
            last_run_at: g.last_run_at,
            matched: count("matched"),
            unmatched: count("unmatched"),
            ambiguous: count("ambiguous"),
            waiting: count("waiting"),
            pending: count("pending"),
            queued,
            errors: g
                .last_errors
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
            health,
            not_kept: store
                .mirror_decisions(g.id, 5)?
                .into_iter()
                .map(|(_, summary)| summary)
                .collect(),
        });
    }
    Ok((out, accounts))
}

fn send_status(
    data_dir: &Path,
    states: &States,
    running: bool,
    out: &relm4::Sender<SyncQueueOutput>,
) {
    match read_status(data_dir, states) {
        Ok((groups, accounts)) => {
            let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::Status {
                groups,
                running,
                accounts,
            }));
        }
        Err(e) => tracing::warn!(error = %e, "mirror status not read"),
    }
}

/// One pass of every group of `data_dir`, one at a time; the page hears `Started`, `Finished`
/// and the new status. Each member's queue is delivered once by the pass (its engine here
/// goes on sending what is left, with its backoff); the rows of the library's account that
/// the pass wrote are sent again, so what crossed to it shows.
/// `only`: one group, with the person's first-pass choice for it (else every group with its
/// own first-pass mode).
struct PassJob {
    data_dir: PathBuf,
    lock: Arc<tokio::sync::Mutex<()>>,
    running: Arc<AtomicBool>,
    states: States,
    shown: Option<Engine>,
    members: Vec<Engine>,
    only: Option<(i64, FirstPass)>,
    out: relm4::Sender<SyncQueueOutput>,
}

async fn run_passes(job: PassJob) {
    let PassJob {
        data_dir,
        lock,
        running,
        states,
        shown,
        members,
        only,
        out,
    } = job;
    let _one = lock.lock().await;
    running.store(true, Ordering::SeqCst);
    let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::Started));
    let groups = Store::open(&database_path(&data_dir)).and_then(|s| s.mirror_groups());
    let mut summary = MirrorRunSummary::default();
    let mut written = Vec::new();
    match groups {
        Ok(groups) => {
            for g in groups {
                if only.is_some_and(|(id, _)| id != g.id) {
                    continue;
                }
                let options = PassOptions {
                    dry_run: false,
                    first_pass: only.map(|(_, choice)| choice),
                    sync: true,
                };
                match run_pass(&data_dir, g.id, options, Arc::new(SystemClock)).await {
                    Ok(r) => {
                        summary.groups += 1;
                        summary.writes += r.writes.len();
                        summary.undelivered += r.undelivered;
                        summary.errors += r.errors.len();
                        written.extend(r.writes.into_iter().map(|w| (w.account, w.item_id)));
                    }
                    // Removed from the page while the pass ran.
                    Err(PassError::NoGroup(_)) => {}
                    Err(e) => {
                        tracing::warn!(group = g.id, error = %e, "mirror pass failed");
                        summary.failed = Some(e.to_string());
                    }
                }
            }
        }
        Err(e) => summary.failed = Some(e.to_string()),
    }
    if let Some(engine) = &shown {
        for (_, item) in written.iter().filter(|(a, _)| *a == engine.account()) {
            send_item(engine, &out, item);
        }
    }
    // What the pass could not deliver (a server down) is this process's engines' to send:
    // they are woken (their own store did not see the rows come), and one offline probes
    // with its backoff until its server is back.
    if summary.undelivered > 0 {
        for engine in members.iter().chain(shown.iter()) {
            if let Err(e) = engine.sync_now() {
                tracing::warn!(account = engine.account(), error = %e, "mirror engine not woken");
            }
        }
    }
    running.store(false, Ordering::SeqCst);
    let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::Finished { summary }));
    send_status(&data_dir, &states, false, &out);
}

impl SyncQueue {
    /// The engine the library shows, when its account is one of the data directory's (not
    /// the demo library's own database).
    fn shown_engine(&self) -> Option<Engine> {
        let base = self.base_dir();
        self.engine
            .clone()
            .filter(|_| self.data_dir.as_deref() == Some(base.as_path()))
    }

    /// A request of the Mirror page.
    pub(super) fn mirror_request(
        &mut self,
        request: MirrorRequest,
        sender: &ComponentSender<Self>,
    ) {
        match request {
            MirrorRequest::Status => {
                self.follow_mirrors(sender);
                self.send_mirror_status(sender);
            }
            MirrorRequest::RunNow | MirrorRequest::Periodic => {
                let any = self.follow_mirrors(sender);
                let running = self.mirrors.running.load(Ordering::SeqCst);
                // The periodic pass skips a turn while one runs, or with no group (all
                // removed while the app runs).
                if request == MirrorRequest::Periodic && (running || !any) {
                    return;
                }
                self.spawn_passes(None, sender);
            }
            MirrorRequest::FirstPass { group, choice } => {
                self.follow_mirrors(sender);
                self.spawn_passes(Some((group, choice)), sender);
            }
            MirrorRequest::AddGroup { members, policy } => {
                let made = Store::open(&database_path(&self.base_dir()))
                    .map_err(GroupError::from)
                    .and_then(|mut store| {
                        add_group(
                            &mut store,
                            &members,
                            policy,
                            FirstPass::AgreeOnly,
                            SystemClock.now(),
                        )
                    });
                match made {
                    Ok(id) => {
                        tracing::info!(group = id, ?members, "mirror group made");
                        self.follow_mirrors(sender);
                        self.send_mirror_status(sender);
                        self.spawn_passes(None, sender);
                    }
                    Err(e) => self.group_not_changed(&e, sender),
                }
            }
            MirrorRequest::RemoveGroup { id } => {
                let removed = Store::open(&database_path(&self.base_dir()))
                    .map_err(GroupError::from)
                    .and_then(|mut store| remove_group(&mut store, id));
                match removed {
                    Ok(()) => {
                        tracing::info!(group = id, "mirror group removed");
                        self.follow_mirrors(sender);
                        self.send_mirror_status(sender);
                    }
                    Err(e) => self.group_not_changed(&e, sender),
                }
            }
        }
    }

    fn group_not_changed(&self, e: &GroupError, sender: &ComponentSender<Self>) {
        tracing::warn!(error = %e, "mirror group not changed");
        let _ = sender.output(SyncQueueOutput::Mirror(MirrorReport::GroupNotChanged {
            reason: e.to_string(),
        }));
        self.send_mirror_status(sender);
    }

    fn send_mirror_status(&self, sender: &ComponentSender<Self>) {
        let running = self.mirrors.running.load(Ordering::SeqCst);
        send_status(
            &self.base_dir(),
            &self.mirrors.states,
            running,
            sender.output_sender(),
        );
    }

    /// A pass of every group (`only`: of one group, with the person's first-pass choice), on
    /// the worker's runtime.
    fn spawn_passes(&mut self, only: Option<(i64, FirstPass)>, sender: &ComponentSender<Self>) {
        let task = run_passes(PassJob {
            data_dir: self.base_dir(),
            lock: self.mirrors.lock.clone(),
            running: self.mirrors.running.clone(),
            states: self.mirrors.states.clone(),
            shown: self.shown_engine(),
            members: self
                .mirrors
                .engines
                .values()
                .map(|(e, _)| e.clone())
                .collect(),
            only,
            out: sender.output_sender().clone(),
        });
        match self.runtime() {
            Ok(rt) => {
                rt.spawn(task);
            }
            Err(message) => tracing::warn!(%message, "no mirror pass"),
        }
    }

    /// Start an engine for every member account of a group (but the one the library shows,
    /// whose engine runs already), stop those of accounts no longer in a group, and run the
    /// passes: one now when they were not running, then every pull interval. Called after an
    /// engine starts (`launch`) and by the periodic passes (groups made or removed with
    /// `playmark mirror` while the app runs). Says whether a group exists.
    pub(super) fn follow_mirrors(&mut self, sender: &ComponentSender<Self>) -> bool {
        let base = self.base_dir();
        // No database yet (a new user on the demo library): no group, and none is made here.
        if !database_path(&base).exists() {
            return false;
        }
        let read = Store::open(&database_path(&base)).and_then(|s| {
            let groups = s.mirror_groups()?;
            let mut accounts = Vec::new();
            for id in groups.iter().flat_map(|g| g.members.iter()) {
                if let Some(a) = s.account_by_id(*id)? {
                    if !accounts
                        .iter()
                        .any(|x: &crate::store::Account| x.id == a.id)
                    {
                        accounts.push(a);
                    }
                }
            }
            Ok((groups.is_empty(), accounts, engine_config(&s)))
        });
        let (no_groups, accounts, config) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "mirror groups not read");
                return false;
            }
        };
        let shown = self.shown_engine().map(|e| e.account());
        let wanted: HashSet<AccountId> = accounts
            .iter()
            .map(|a| a.id)
            .filter(|id| Some(*id) != shown)
            .collect();
        let gone: Vec<AccountId> = self
            .mirrors
            .engines
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some((engine, tasks)) = self.mirrors.engines.remove(&id) {
                engine.shutdown();
                tasks.into_iter().for_each(|t| t.abort());
            }
        }
        let Ok(rt) = self.runtime().map(|rt| rt.handle().clone()) else {
            return !no_groups;
        };
        for account in accounts.iter().filter(|a| wanted.contains(&a.id)) {
            if self.mirrors.engines.contains_key(&account.id) {
                continue;
            }
            let built = Store::open(&database_path(&base))
                .map_err(|e| e.to_string())
                .and_then(|store| {
                    rt.block_on(crate::account::session::account_engine(
                        store,
                        &base,
                        account,
                        ClientOptions::default(),
                        config.clone(),
                    ))
                    .map_err(|e| e.to_string())
                });
            let engine = match built {
                Ok(engine) => engine,
                Err(e) => {
                    // No sign-in to run it with (signed out, keyring locked): the person
                    // signs in again.
                    tracing::warn!(account = account.id, error = %e, "no mirror engine");
                    publish(
                        &self.mirrors.states,
                        sender.output_sender(),
                        account.id,
                        AccountState::SignInNeeded,
                    );
                    continue;
                }
            };
            let runner = engine.clone();
            let task = rt.spawn(async move {
                let (sent, (), ()) = tokio::join!(
                    runner.run(RunMode::Forever),
                    runner.run_pull(),
                    runner.run_live(),
                );
                if let Err(e) = sent {
                    tracing::error!(error = %e, "mirror engine stopped");
                }
            });
            let states = watch_state(
                &rt,
                &engine,
                self.mirrors.states.clone(),
                sender.output_sender().clone(),
            );
            tracing::info!(account = account.id, "mirror engine started");
            self.mirrors
                .engines
                .insert(account.id, (engine, vec![task, states]));
        }
        // The library's engine's state too, when its account is a member (followed afresh:
        // the library may show another engine since the last call).
        if let Some(t) = self.mirrors.shown_watch.take() {
            t.abort();
        }
        if let Some(engine) = self
            .shown_engine()
            .filter(|e| accounts.iter().any(|a| a.id == e.account()))
        {
            self.mirrors.shown_watch = Some(watch_state(
                &rt,
                &engine,
                self.mirrors.states.clone(),
                sender.output_sender().clone(),
            ));
        }
        if no_groups || self.mirrors.periodic.is_some() {
            return !no_groups;
        }
        let input = sender.input_sender().clone();
        self.mirrors.periodic = Some(rt.spawn(async move {
            loop {
                input.emit(SyncQueueInput::Mirror(MirrorRequest::Periodic));
                // The pull interval as saved now (Preferences may have changed it).
                let interval = Store::open(&database_path(&base))
                    .map(|s| engine_config(&s))
                    .ok()
                    .and_then(|c| c.pull)
                    .map_or(PullSchedule::default().interval_ms, |p| p.interval_ms);
                let interval = u64::try_from(interval).unwrap_or(1).max(1_000);
                tokio::time::sleep(Duration::from_millis(interval)).await;
            }
        }));
        true
    }
}
