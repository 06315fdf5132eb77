//! Mirroring while the app runs (issue 21; README "Mirror in the app"): while a mirror group
//! exists, every member account gets an engine of its own here (sending its queue, pulling,
//! listening), besides the one account the library shows; a pass of every group
//! ([`crate::mirror::pass::run_pass`], the same as `playmark mirror run`) runs at start, every
//! pull interval and on the Mirror page's "Run now". Passes run one at a time on the worker's
//! runtime, never on the GTK thread; the page gets the groups' status
//! ([`MirrorReport::Status`], the figures of `playmark mirror status`) after each.

use super::*;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::mirror::pass::{run_pass, PassOptions};
use crate::model::{AccountId, Millis};

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
}

/// A member account of a group (server text: never markup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorMember {
    pub account: AccountId,
    pub kind: ServerKind,
    pub server: String,
    pub user: String,
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
    },
    /// A pass started.
    Started,
    /// The pass finished.
    Finished { summary: MirrorRunSummary },
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
    }
}

/// The groups and their status, read from the database of `data_dir`.
fn read_status(data_dir: &Path) -> Result<Vec<MirrorGroupView>, crate::store::StoreError> {
    if !database_path(data_dir).exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&database_path(data_dir))?;
    let mut out = Vec::new();
    for g in store.mirror_groups()? {
        let mut members = Vec::new();
        let mut queued = 0;
        for id in &g.members {
            if let Some(a) = store.account_by_id(*id)? {
                members.push(MirrorMember {
                    account: a.id,
                    kind: a.kind,
                    server: a.server_name,
                    user: a.user_name,
                });
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
    Ok(out)
}

fn send_status(data_dir: &Path, running: bool, out: &relm4::Sender<SyncQueueOutput>) {
    match read_status(data_dir) {
        Ok(groups) => {
            let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::Status {
                groups,
                running,
            }));
        }
        Err(e) => tracing::warn!(error = %e, "mirror status not read"),
    }
}

/// One pass of every group of `data_dir`, one at a time; the page hears `Started`, `Finished`
/// and the new status. Each member's queue is delivered once by the pass (its engine here
/// goes on sending what is left, with its backoff); the rows of the library's account that
/// the pass wrote are sent again, so what crossed to it shows.
async fn run_passes(
    data_dir: PathBuf,
    lock: Arc<tokio::sync::Mutex<()>>,
    running: Arc<AtomicBool>,
    shown: Option<Engine>,
    members: Vec<Engine>,
    out: relm4::Sender<SyncQueueOutput>,
) {
    let _one = lock.lock().await;
    running.store(true, Ordering::SeqCst);
    let _ = out.send(SyncQueueOutput::Mirror(MirrorReport::Started));
    let groups = Store::open(&database_path(&data_dir)).and_then(|s| s.mirror_groups());
    let mut summary = MirrorRunSummary::default();
    let mut written = Vec::new();
    match groups {
        Ok(groups) => {
            for g in groups {
                let options = PassOptions {
                    dry_run: false,
                    first_pass: None,
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
    send_status(&data_dir, false, &out);
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
                let running = self.mirrors.running.load(Ordering::SeqCst);
                send_status(&self.base_dir(), running, sender.output_sender());
            }
            MirrorRequest::RunNow | MirrorRequest::Periodic => {
                let any = self.follow_mirrors(sender);
                let running = self.mirrors.running.load(Ordering::SeqCst);
                // The periodic pass skips a turn while one runs, or with no group (all
                // removed while the app runs).
                if request == MirrorRequest::Periodic && (running || !any) {
                    return;
                }
                let task = run_passes(
                    self.base_dir(),
                    self.mirrors.lock.clone(),
                    self.mirrors.running.clone(),
                    self.shown_engine(),
                    self.mirrors
                        .engines
                        .values()
                        .map(|(e, _)| e.clone())
                        .collect(),
                    sender.output_sender().clone(),
                );
                match self.runtime() {
                    Ok(rt) => {
                        rt.spawn(task);
                    }
                    Err(message) => tracing::warn!(%message, "no mirror pass"),
                }
            }
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
                    tracing::warn!(account = account.id, error = %e, "no mirror engine");
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
            tracing::info!(account = account.id, "mirror engine started");
            self.mirrors
                .engines
                .insert(account.id, (engine, vec![task]));
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
