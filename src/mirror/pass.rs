//! One pass of a mirror group: refresh every member's library through its own engine (the
//! same paged listing and merge as `playmark refresh`), match, decide each title
//! ([`super::fold::decide`]), and queue the writes as ordinary local changes of each account
//! (`Store::record_change` → its outbox, delivered by its engine with every guarantee: the
//! send-time read and merge, coalescing, backoff, offline, unknown outcomes). With `sync`,
//! each member's engine then delivers its queue once (`playmark sync` does the same later).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::fold::{decide, FirstPass, MirrorPolicy, SideInput, WatchState, Write};
use super::matching::{match_items, Candidate, HealthKind};
use crate::backend::jellyfin::ClientOptions;
use crate::clock::Clock;
use crate::model::{AccountId, ItemKind, LocalChange};
use crate::store::{
    self, Account, MirrorGroupRow, MirrorPassRecord, MirrorTitleRecord, Progress, Store, StoreError,
};
use crate::sync::{Engine, EngineConfig, RunMode, RunOutcome, DEFAULT_PAGE_SIZE};

/// How to run a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassOptions {
    /// Decide and report every write, queue and store nothing.
    pub dry_run: bool,
    /// Overrides the group's first-pass mode for this pass.
    pub first_pass: Option<FirstPass>,
    /// Deliver each member's queue once after queueing.
    pub sync: bool,
}

/// A write the pass queued (or, in a dry run, would queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedWrite {
    pub account: AccountId,
    pub server: String,
    pub item_id: String,
    pub label: String,
    pub from: Option<String>,
    pub to: String,
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PassReport {
    pub group: i64,
    pub matched: usize,
    pub unmatched: usize,
    pub ambiguous: usize,
    /// Titles in their first pass that were not decided (listed in the health list).
    pub waiting: usize,
    /// Titles with a side not yet confirmed equal to the agreed state.
    pub pending: usize,
    pub writes: Vec<PlannedWrite>,
    pub not_kept: Vec<String>,
    pub errors: Vec<String>,
    /// Changes still queued per account after delivery (only with `sync`).
    pub undelivered: usize,
    pub dry_run: bool,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no mirror group {0} (see `playmark mirror list`)")]
    NoGroup(i64),
    #[error("the group's stored {0} is not understood")]
    BadSetting(String),
}

/// A member during a pass: its account, its engine (when one could be built) and whether its
/// library was read in this pass.
struct Member {
    account: Account,
    engine: Option<Engine>,
    read: bool,
}

fn progress_of(w: &WatchState) -> Progress {
    Progress {
        played: w.played,
        position_ms: w.position_ms,
    }
}

fn watch_of(p: &Progress) -> WatchState {
    WatchState {
        played: p.played,
        position_ms: p.position_ms,
    }
}

/// The label of an item for the health list and the dry run.
fn label(i: &store::ItemView) -> String {
    match (i.kind, i.season_number, i.episode_number) {
        (ItemKind::Episode, Some(s), Some(e)) => format!(
            "{} S{s}E{e} “{}”",
            i.series_name.as_deref().unwrap_or("?"),
            i.name
        ),
        _ => format!("“{}”", i.name),
    }
}

/// Run one pass of `group` (see the module documentation). `data_dir` holds the database and
/// the members' sign-ins.
pub async fn run_pass(
    data_dir: &Path,
    group: i64,
    options: PassOptions,
    clock: Arc<dyn Clock>,
) -> Result<PassReport, PassError> {
    let engines = SignedInEngines {
        data_dir: data_dir.to_path_buf(),
    };
    run_pass_with(
        &store::database_path(data_dir),
        group,
        options,
        clock,
        &engines,
    )
    .await
}

/// Builds the engine a pass reads and writes a member through.
#[async_trait::async_trait]
pub trait MemberEngines: Send + Sync {
    /// An engine of `account` over a store of its own on `db` (`Err`: why it could not be
    /// built; the member is then not read in this pass).
    async fn engine(&self, db: &Path, account: &Account) -> Result<Engine, String>;
}

/// The members' engines as `playmark` signs them in: their stored sign-ins, the system clock.
pub struct SignedInEngines {
    pub data_dir: std::path::PathBuf,
}

#[async_trait::async_trait]
impl MemberEngines for SignedInEngines {
    async fn engine(&self, db: &Path, account: &Account) -> Result<Engine, String> {
        let store = Store::open(db).map_err(|e| e.to_string())?;
        crate::account::session::account_engine(
            store,
            &self.data_dir,
            account,
            ClientOptions::default(),
            EngineConfig::default(),
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// [`run_pass`] with the members' engines built by `engines` (the simulation's engines run
/// behind its faults and partitions, on its fake clock).
pub async fn run_pass_with(
    db: &Path,
    group: i64,
    options: PassOptions,
    clock: Arc<dyn Clock>,
    engines: &dyn MemberEngines,
) -> Result<PassReport, PassError> {
    let mut store = Store::open(db)?;
    let row: MirrorGroupRow = store
        .mirror_groups()?
        .into_iter()
        .find(|g| g.id == group)
        .ok_or(PassError::NoGroup(group))?;
    let policy = MirrorPolicy::parse(&row.policy)
        .ok_or_else(|| PassError::BadSetting(format!("policy \"{}\"", row.policy)))?;
    let first_pass = match options.first_pass {
        Some(f) => f,
        None => FirstPass::parse(&row.first_pass)
            .ok_or_else(|| PassError::BadSetting(format!("first pass \"{}\"", row.first_pass)))?,
    };
    let mut report = PassReport {
        group,
        dry_run: options.dry_run,
        ..PassReport::default()
    };

    // 0. Writes delivered since the last pass confirmed its bases (a pass killed between
    // delivering and confirming, or `mirror run --no-sync` then `playmark sync`): confirm them
    // before the refresh replaces what the engines know with what the servers hold now, or a
    // change made there since (a position moved back from our write) is judged from the side's
    // base before our write and loses to the agreed state it moved on from (mirror
    // simulation, seed 199).
    if !options.dry_run {
        let titles: Vec<(String, Vec<(AccountId, String)>)> = store
            .mirror_titles(group)?
            .into_keys()
            .map(|key| {
                let sides = sides_of_key(&key);
                (key, sides)
            })
            .collect();
        confirm_delivered(&mut store, group, &titles, &row.members)?;
    }

    // 1. Refresh every member through its own engine.
    let mut members = Vec::new();
    for id in &row.members {
        let Some(account) = store.account_by_id(*id)? else {
            report.errors.push(format!("account {id} no longer exists"));
            continue;
        };
        let mut m = Member {
            account,
            engine: None,
            read: false,
        };
        match engines.engine(db, &m.account).await {
            Ok(engine) => {
                match engine.refresh(DEFAULT_PAGE_SIZE).await {
                    Ok(_) => m.read = true,
                    Err(e) => report.errors.push(format!(
                        "{} (account {}) was not read: {e}",
                        m.account.server_name, m.account.id
                    )),
                }
                m.engine = Some(engine);
            }
            Err(e) => report.errors.push(format!(
                "{} (account {}): {e}",
                m.account.server_name, m.account.id
            )),
        }
        members.push(m);
    }

    // 2. Match.
    let mut candidates = Vec::new();
    let mut views: HashMap<(AccountId, String), store::ItemView> = HashMap::new();
    let mut unsettled: HashMap<AccountId, std::collections::HashSet<String>> = HashMap::new();
    for m in &members {
        let account = m.account.id;
        let items = store.items(account)?;
        let ids = store.provider_ids(account)?;
        unsettled.insert(account, store.unsettled_items(account)?);
        for i in &items {
            if !i.kind.is_playable() {
                continue;
            }
            let series_ids = i
                .series_id
                .as_ref()
                .and_then(|s| ids.get(s))
                .cloned()
                .unwrap_or_default();
            candidates.push(Candidate {
                account,
                item_id: i.item_id.clone(),
                kind: i.kind,
                label: label(i),
                ids: ids.get(&i.item_id).cloned().unwrap_or_default(),
                series_ids,
                season: i.season_number,
                episode: i.episode_number,
            });
        }
        for i in items {
            views.insert((account, i.item_id.clone()), i);
        }
    }
    let matching = match_items(&candidates);
    report.matched = matching.titles.len();
    let mut record = MirrorPassRecord::default();
    for h in &matching.health {
        match h.kind {
            HealthKind::Unmatched => report.unmatched += 1,
            HealthKind::Ambiguous => report.ambiguous += 1,
        }
        let kind = match h.kind {
            HealthKind::Unmatched => "unmatched",
            HealthKind::Ambiguous => "ambiguous",
        };
        record.health.push((
            kind.to_string(),
            h.reason.clone(),
            serde_json::to_string(&h.items).unwrap_or_else(|_| "[]".into()),
        ));
    }

    // 3. Decide each title.
    let now = clock.now();
    let stored = store.mirror_titles(group)?;
    let name_of: HashMap<AccountId, String> = members
        .iter()
        .map(|m| (m.account.id, m.account.server_name.clone()))
        .collect();
    let read: HashMap<AccountId, bool> = members.iter().map(|m| (m.account.id, m.read)).collect();
    let mut writes: Vec<(String, Write)> = Vec::new();
    for title in &matching.titles {
        let key = title.key();
        let known = stored.get(&key);
        let sides: Vec<SideInput> = title
            .items
            .iter()
            .map(|(account, item)| {
                let view = views.get(&(*account, item.clone()));
                let was_read = read.get(account).copied().unwrap_or(false);
                SideInput {
                    account: *account,
                    item_id: item.clone(),
                    name: name_of.get(account).cloned().unwrap_or_default(),
                    current: view.filter(|_| was_read).map(|v| {
                        WatchState::of(&crate::model::UserData {
                            position_ms: v.position_ms,
                            played: v.played,
                            play_count: v.play_count,
                            last_played: v.last_played,
                        })
                    }),
                    last_played: view.and_then(|v| v.last_played),
                    base: known.and_then(|k| k.bases.get(account)).map(watch_of),
                    unsettled: unsettled.get(account).is_some_and(|u| u.contains(item)),
                }
            })
            .collect();
        let outcome = decide(
            known.map(|k| (watch_of(&k.agreed), k.agreed_at)),
            &sides,
            policy,
            first_pass,
            now,
        );
        if let Some(why) = &outcome.waiting {
            report.waiting += 1;
            let items: Vec<(AccountId, String, String)> = sides
                .iter()
                .map(|s| {
                    let l = views
                        .get(&(s.account, s.item_id.clone()))
                        .map(label)
                        .unwrap_or_default();
                    (s.account, s.item_id.clone(), l)
                })
                .collect();
            record.health.push((
                "first_pass".to_string(),
                why.clone(),
                serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()),
            ));
        }
        if !outcome.writes.is_empty() || sides.iter().any(|s| s.unsettled) {
            report.pending += 1;
        }
        report.not_kept.extend(outcome.not_kept.iter().cloned());
        writes.extend(outcome.writes.iter().map(|w| (key.clone(), w.clone())));
        record.titles.push(MirrorTitleRecord {
            key,
            agreed: outcome
                .agreed
                .filter(|_| outcome.agreed_changed)
                .map(|a| (progress_of(&a), now)),
            // Only bases that moved: a quiet pass stores nothing per title.
            bases: outcome
                .bases
                .iter()
                .filter(|(account, base)| {
                    known.and_then(|k| k.bases.get(account)) != Some(&progress_of(base))
                })
                .filter_map(|(account, base)| {
                    let item = title.items.iter().find(|(a, _)| a == account)?;
                    Some((*account, item.1.clone(), progress_of(base)))
                })
                .collect(),
        });
    }
    record.decisions = report.not_kept.clone();

    // 4. Queue (or, dry, only report) the writes.
    for (_, w) in &writes {
        let label = views
            .get(&(w.account, w.item_id.clone()))
            .map(label)
            .unwrap_or_default();
        report.writes.push(PlannedWrite {
            account: w.account,
            server: name_of.get(&w.account).cloned().unwrap_or_default(),
            item_id: w.item_id.clone(),
            label,
            from: w.from.map(|f| f.describe()),
            to: w.to.describe(),
        });
        if options.dry_run {
            continue;
        }
        for change in changes_for(w) {
            store.record_change(w.account, &w.item_id, change, now, 0)?;
        }
    }
    if options.dry_run {
        return Ok(report);
    }
    record.summary_json = serde_json::to_string(&serde_json::json!({
        "matched": report.matched,
        "unmatched": report.unmatched,
        "ambiguous": report.ambiguous,
        "waiting": report.waiting,
        "pending": report.pending,
        "writes": report.writes.len(),
    }))
    .unwrap_or_default();
    record.errors_json = serde_json::to_string(&report.errors).unwrap_or_default();
    store.save_mirror_pass(group, &record, now)?;

    // 5. Deliver each member's queue once.
    if options.sync {
        for m in &members {
            let Some(engine) = &m.engine else { continue };
            if engine.sync_now().is_err() {
                continue;
            }
            let outcome = engine
                .run(RunMode::UntilIdle {
                    deadline: clock.now(),
                })
                .await?;
            let left = match outcome {
                RunOutcome::Empty | RunOutcome::Stopped => 0,
                RunOutcome::Pending { counts }
                | RunOutcome::Offline { counts }
                | RunOutcome::SignInNeeded { counts }
                | RunOutcome::ServerChanged { counts } => counts.total(),
            };
            report.undelivered += left;
        }
        // A delivered write is confirmed (the engine read it back: its result is the
        // account's base now): that side's base becomes what its server holds, so a change
        // made there before the next pass is not mistaken for a side that lags behind. Not
        // only this pass's writes: one queued by an earlier pass (`--no-sync`, or settled only
        // after its pass) is confirmed by the first pass that finds it delivered (mirror
        // simulation, seed 4: otherwise a side that then goes back to its old base, a restart
        // or an unwatch, looks as if it lagged and is overwritten).
        let titles: Vec<(String, Vec<(AccountId, String)>)> = matching
            .titles
            .iter()
            .map(|t| (t.key(), t.items.clone()))
            .collect();
        let accounts: Vec<AccountId> = members.iter().map(|m| m.account.id).collect();
        confirm_delivered(&mut store, group, &titles, &accounts)?;
    }
    Ok(report)
}

/// A title's sides as its stored key names them (`account:item|account:item`, see
/// [`super::matching::Title::key`]).
fn sides_of_key(key: &str) -> Vec<(AccountId, String)> {
    key.split('|')
        .filter_map(|side| {
            let (account, item) = side.split_once(':')?;
            Some((account.parse().ok()?, item.to_string()))
        })
        .collect()
}

/// Confirm, as its base, the agreed state of every side of `titles` whose account's engine
/// knows its server to hold it (a delivered write: the engine read it back, and that is the
/// account's base now) and that has nothing queued or unsettled there.
fn confirm_delivered(
    store: &mut Store,
    group: i64,
    titles: &[(String, Vec<(AccountId, String)>)],
    accounts: &[AccountId],
) -> Result<(), StoreError> {
    let stored = store.mirror_titles(group)?;
    let mut confirmed = MirrorPassRecord::default();
    let mut settled_of: HashMap<AccountId, std::collections::HashSet<String>> = HashMap::new();
    for account in accounts {
        settled_of.insert(*account, store.unsettled_items(*account)?);
    }
    for (key, items) in titles {
        let Some(row) = stored.get(key) else {
            continue;
        };
        let agreed = watch_of(&row.agreed);
        for (account, item) in items {
            if row
                .bases
                .get(account)
                .map(watch_of)
                .is_some_and(|b| b.same(&agreed))
            {
                continue;
            }
            let Some(unsettled) = settled_of.get(account) else {
                continue;
            };
            if unsettled.contains(item) {
                continue;
            }
            let base = store.base(*account, item)?;
            if let Some(base) = base.filter(|b| WatchState::of(b).same(&agreed)) {
                confirmed.titles.push(MirrorTitleRecord {
                    key: key.clone(),
                    agreed: None,
                    bases: vec![(*account, item.clone(), progress_of(&WatchState::of(&base)))],
                });
            }
        }
    }
    store.save_mirror_bases(group, &confirmed)
}

/// The local changes that make an account's item hold `w.to`.
fn changes_for(w: &Write) -> Vec<LocalChange> {
    let was_played = w.from.map(|f| f.played);
    if w.to.played {
        return vec![LocalChange::MarkWatched];
    }
    let mut out = Vec::new();
    if was_played != Some(false) {
        out.push(LocalChange::MarkUnwatched);
    }
    if w.to.position_ms > 0 || was_played == Some(false) {
        out.push(LocalChange::Position {
            position_ms: w.to.position_ms,
        });
    }
    out
}
