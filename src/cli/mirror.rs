//! `playmark mirror …`: groups of one person's accounts on several servers kept in step
//! (issue 21; README "Mirror"). The logic is `crate::mirror`; this file parses, prints and
//! picks exit codes.

use super::*;

use crate::mirror::fold::{FirstPass, MirrorPolicy};
use crate::mirror::pass::{run_pass, PassError, PassOptions, PassReport};

#[derive(Debug, Subcommand)]
pub(super) enum MirrorCommand {
    /// Keep these signed-in accounts (two or more, any mix of Jellyfin and Plex) in step.
    Add {
        #[arg(required = true, num_args = 2.., value_name = "ACCOUNT")]
        accounts: Vec<i64>,
        /// furthest-progress (default) or last-writer-wins.
        #[arg(long, conflicts_with = "prefer")]
        policy: Option<String>,
        /// This account's change wins a conflict.
        #[arg(long, value_name = "ACCOUNT")]
        prefer: Option<i64>,
        /// What a title's first pass does: agree-only (default), furthest, or from ACCOUNT.
        #[arg(long, num_args = 1..=2, value_name = "MODE")]
        first_pass: Option<Vec<String>>,
    },
    /// Forget a group (nothing is written to any server).
    Remove { id: i64 },
    /// The groups: members, policy, first-pass mode, last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Per group: matched, unmatched, ambiguous (the health list, with reasons), pending,
    /// last run, errors, and what was not kept.
    Status {
        /// One group (default: all).
        id: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// One pass: refresh every member, match, queue the changes to the sides that differ, and
    /// send each member's queue once.
    Run {
        /// One group (default: all).
        id: Option<i64>,
        /// Print every write it would make; queue and store nothing.
        #[arg(long)]
        dry_run: bool,
        /// For titles without an agreed state yet: agree-only, furthest, or from ACCOUNT.
        #[arg(long, num_args = 1..=2, value_name = "MODE")]
        first_pass: Option<Vec<String>>,
        /// Queue the writes but do not send them (`playmark --account ID sync` does).
        #[arg(long)]
        no_sync: bool,
    },
    /// Keep mirroring: a pass when a member's live socket reports a change (Jellyfin) and at
    /// every interval; Ctrl-C ends it.
    Watch {
        /// One group (default: all).
        id: Option<i64>,
        /// A pass at least this often, in seconds.
        #[arg(long, default_value_t = 900, value_name = "SECONDS")]
        interval: u64,
    },
}

fn parse_first_pass(words: &[String], members: &[i64]) -> Result<FirstPass, Failure> {
    let joined = words.join(" ");
    let parsed = match words {
        [w] if w == "agree-only" => Some(FirstPass::AgreeOnly),
        [w] if w == "furthest" => Some(FirstPass::Furthest),
        [w, a] if w == "from" => a.parse().ok().map(FirstPass::From),
        [w] => FirstPass::parse(w),
        _ => None,
    };
    match parsed {
        Some(FirstPass::From(a)) if !members.is_empty() && !members.contains(&a) => {
            Err(Failure::usage(format!(
                "--first-pass from {a}: account {a} is not in the group"
            )))
        }
        Some(f) => Ok(f),
        None => Err(Failure::usage(format!(
            "--first-pass \"{joined}\": choose agree-only, furthest, or from ACCOUNT"
        ))),
    }
}

/// A group not made or removed: a usage error, or the store's.
fn group_failure(e: crate::mirror::groups::GroupError) -> Failure {
    match e {
        crate::mirror::groups::GroupError::Store(e) => Failure::from(e),
        e => Failure::usage(e.to_string()),
    }
}

fn describe_first_pass(f: &str) -> String {
    match FirstPass::parse(f) {
        Some(FirstPass::From(a)) => format!("from account {a}"),
        Some(other) => other.as_string(),
        None => f.to_string(),
    }
}

fn describe_policy(p: &str) -> String {
    match MirrorPolicy::parse(p) {
        Some(MirrorPolicy::Prefer(a)) => format!("prefer account {a}"),
        Some(other) => other.as_string(),
        None => p.to_string(),
    }
}

pub(super) async fn run(data_dir: &Path, command: MirrorCommand) -> Result<u8, Failure> {
    match command {
        MirrorCommand::Add {
            accounts,
            policy,
            prefer,
            first_pass,
        } => add(data_dir, &accounts, policy, prefer, first_pass),
        MirrorCommand::Remove { id } => {
            let mut store = open_store(data_dir)?;
            crate::mirror::groups::remove_group(&mut store, id).map_err(group_failure)?;
            println!("Mirror group {id} removed (nothing was written to any server).");
            Ok(exit::OK)
        }
        MirrorCommand::List { json } => list(data_dir, json),
        MirrorCommand::Status { id, json } => status(data_dir, id, json),
        MirrorCommand::Run {
            id,
            dry_run,
            first_pass,
            no_sync,
        } => run_groups(data_dir, id, dry_run, first_pass, no_sync).await,
        MirrorCommand::Watch { id, interval } => watch(data_dir, id, interval).await,
    }
}

/// The mirror groups a command acts on: group `only`, or every group; none is a usage error.
fn selected_groups(
    store: &crate::store::Store,
    only: Option<i64>,
) -> Result<Vec<crate::store::MirrorGroupRow>, Failure> {
    let groups: Vec<_> = store
        .mirror_groups()?
        .into_iter()
        .filter(|g| only.is_none_or(|id| id == g.id))
        .collect();
    if groups.is_empty() {
        return Err(Failure::usage(match only {
            Some(id) => format!("no mirror group {id} (see `playmark mirror list`)"),
            None => "No mirror groups: `playmark mirror add ACCOUNT ACCOUNT` makes one.".into(),
        }));
    }
    Ok(groups)
}

async fn watch(data_dir: &Path, only: Option<i64>, interval: u64) -> Result<u8, Failure> {
    use crate::mirror::watch::{Trigger, WatchOptions};
    let store = open_store(data_dir)?;
    let groups = selected_groups(&store, only)?;
    let ids: Vec<i64> = groups.iter().map(|g| g.id).collect();
    let members: std::collections::HashMap<i64, Vec<i64>> =
        groups.iter().map(|g| (g.id, g.members.clone())).collect();
    println!(
        "Watching {} (a pass on every live change, and every {interval} s); Ctrl-C ends it.",
        crate::words::count(ids.len(), "mirror group", "mirror groups")
    );
    let engines = crate::mirror::pass::SignedInEngines {
        data_dir: data_dir.to_path_buf(),
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crate::mirror::watch::watch(
        &store::database_path(data_dir),
        &ids,
        WatchOptions {
            interval: Duration::from_secs(interval.max(1)),
            ..WatchOptions::default()
        },
        Arc::new(SystemClock),
        &engines,
        stop,
        |trigger, group, result| {
            let why = match trigger {
                Trigger::Start => "start",
                Trigger::Live => "live change",
                Trigger::Interval => "interval",
            };
            println!("Pass ({why}):");
            match result {
                Ok(r) => print_report(&store, &r, members.get(&group).map_or(&[], |m| m)),
                Err(e) => println!("Error: {e}"),
            }
        },
    )
    .await
    .map_err(|e| match e {
        PassError::Store(e) => Failure::from(e),
        e => Failure::usage(e.to_string()),
    })?;
    println!("Stopped.");
    Ok(exit::OK)
}

fn add(
    data_dir: &Path,
    accounts: &[i64],
    policy: Option<String>,
    prefer: Option<i64>,
    first_pass: Option<Vec<String>>,
) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let policy = match (policy.as_deref(), prefer) {
        (_, Some(p)) => MirrorPolicy::Prefer(p),
        (None, None) | (Some("furthest-progress"), None) => MirrorPolicy::FurthestProgress,
        (Some("last-writer-wins"), None) => MirrorPolicy::LastWriterWins,
        (Some(other), None) => {
            return Err(Failure::usage(format!(
                "--policy \"{other}\": choose furthest-progress or last-writer-wins, or \
                 --prefer ACCOUNT (prefer-local and prefer-server mean nothing between two servers)"
            )))
        }
    };
    let first_pass = match first_pass {
        Some(words) => parse_first_pass(&words, &[])?,
        None => FirstPass::AgreeOnly,
    };
    let id = crate::mirror::groups::add_group(
        &mut store,
        accounts,
        policy,
        first_pass,
        SystemClock.now(),
    )
    .map_err(group_failure)?;
    println!(
        "Mirror group {id}: accounts {} ({}, first pass {}). Try `playmark mirror run --dry-run`.",
        accounts
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        describe_policy(&policy.as_string()),
        describe_first_pass(&first_pass.as_string())
    );
    Ok(exit::OK)
}

fn member_json(store: &Store, id: i64) -> serde_json::Value {
    match store.account_by_id(id) {
        Ok(Some(a)) => json!({
            "id": a.id, "kind": a.kind.as_str(), "server": a.server_name, "user": a.user_name,
        }),
        _ => json!({ "id": id }),
    }
}

fn member_names(store: &Store, members: &[i64]) -> String {
    members
        .iter()
        .map(|id| match store.account_by_id(*id) {
            Ok(Some(a)) => format!("{} (account {id})", a.server_name),
            _ => format!("account {id}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(data_dir: &Path, json: bool) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let groups = store.mirror_groups()?;
    if json {
        let out: Vec<serde_json::Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "id": g.id,
                    "members": g.members.iter().map(|m| member_json(&store, *m)).collect::<Vec<_>>(),
                    "policy": g.policy,
                    "first_pass": g.first_pass,
                    "created_at": g.created_at,
                    "last_run_at": g.last_run_at,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(exit::OK);
    }
    if groups.is_empty() {
        println!("No mirror groups: `playmark mirror add ACCOUNT ACCOUNT` makes one (see `playmark accounts`).");
    }
    for g in &groups {
        println!(
            "{}: {} — {}, first pass {}{}",
            g.id,
            member_names(&store, &g.members),
            describe_policy(&g.policy),
            describe_first_pass(&g.first_pass),
            if g.last_run_at.is_some() {
                ""
            } else {
                ", never run"
            }
        );
    }
    Ok(exit::OK)
}

fn parse_items(items: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<(i64, String, String)>>(items)
        .unwrap_or_default()
        .into_iter()
        .map(|(account, item_id, label)| json!({"account": account, "item_id": item_id, "label": label}))
        .collect()
}

fn status(data_dir: &Path, only: Option<i64>, json: bool) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let groups: Vec<_> = store
        .mirror_groups()?
        .into_iter()
        .filter(|g| only.is_none_or(|id| id == g.id))
        .collect();
    if let (Some(id), true) = (only, groups.is_empty()) {
        return Err(Failure::usage(format!(
            "no mirror group {id} (see `playmark mirror list`)"
        )));
    }
    let mut out = Vec::new();
    for g in &groups {
        let last: serde_json::Value = g
            .last_run
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(serde_json::Value::Null);
        let errors: Vec<String> = g
            .last_errors
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let health: Vec<serde_json::Value> = store
            .mirror_health(g.id)?
            .into_iter()
            .map(|(kind, reason, items)| {
                json!({"kind": kind, "reason": reason, "items": parse_items(&items)})
            })
            .collect();
        let not_kept: Vec<serde_json::Value> = store
            .mirror_decisions(g.id, 20)?
            .into_iter()
            .map(|(at, summary)| json!({"at": at, "summary": summary}))
            .collect();
        let mut queued = serde_json::Map::new();
        for m in &g.members {
            queued.insert(m.to_string(), json!(store.counts(*m)?.total()));
        }
        let count = |k: &str| last.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        out.push(json!({
            "id": g.id,
            "members": g.members.iter().map(|m| member_json(&store, *m)).collect::<Vec<_>>(),
            "policy": g.policy,
            "first_pass": g.first_pass,
            "last_run_at": g.last_run_at,
            "matched": count("matched"),
            "unmatched": count("unmatched"),
            "ambiguous": count("ambiguous"),
            "waiting": count("waiting"),
            "pending": count("pending"),
            "queued": queued,
            "errors": errors,
            "health": health,
            "not_kept": not_kept,
        }));
    }
    if json {
        println!("{}", serde_json::Value::Array(out));
        return Ok(exit::OK);
    }
    if out.is_empty() {
        println!("No mirror groups: `playmark mirror add ACCOUNT ACCOUNT` makes one.");
    }
    for (g, v) in groups.iter().zip(&out) {
        println!(
            "Mirror group {}: {}",
            g.id,
            member_names(&store, &g.members)
        );
        if g.last_run_at.is_none() {
            println!("  Never run: `playmark mirror run --dry-run` shows what it would do.");
            continue;
        }
        println!(
            "  {} matched, {} unmatched, {} ambiguous, {} waiting for a first-pass choice, {} pending.",
            v["matched"], v["unmatched"], v["ambiguous"], v["waiting"], v["pending"]
        );
        for e in v["errors"].as_array().into_iter().flatten() {
            println!("  Error: {}", e.as_str().unwrap_or_default());
        }
        for h in v["health"].as_array().into_iter().flatten() {
            let items: Vec<String> = h["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{} (account {})",
                        i["label"].as_str().unwrap_or_default(),
                        i["account"]
                    )
                })
                .collect();
            println!(
                "  {}: {} — {}",
                h["kind"].as_str().unwrap_or_default(),
                items.join(", "),
                h["reason"].as_str().unwrap_or_default()
            );
        }
        for n in v["not_kept"].as_array().into_iter().flatten().take(5) {
            println!("  {}.", n["summary"].as_str().unwrap_or_default());
        }
    }
    Ok(exit::OK)
}

fn print_report(store: &Store, r: &PassReport, members: &[i64]) {
    println!(
        "Mirror group {} ({}): {} matched, {} unmatched, {} ambiguous{}.",
        r.group,
        member_names(store, members),
        r.matched,
        r.unmatched,
        r.ambiguous,
        if r.waiting > 0 {
            format!(
                ", {} differing with no agreed state yet (see `playmark mirror status`)",
                r.waiting
            )
        } else {
            String::new()
        }
    );
    if r.writes.is_empty() {
        println!("Nothing to write.");
    } else {
        println!(
            "{}",
            if r.dry_run {
                "Would write (dry run: nothing queued):"
            } else {
                "Queued:"
            }
        );
        for w in &r.writes {
            println!(
                "  {} (account {}): {} {} → {}",
                w.server,
                w.account,
                w.label,
                w.from.as_deref().unwrap_or("?"),
                w.to
            );
        }
    }
    for n in &r.not_kept {
        println!("{n}.");
    }
    for e in &r.errors {
        println!("Error: {e}");
    }
}

async fn run_groups(
    data_dir: &Path,
    only: Option<i64>,
    dry_run: bool,
    first_pass: Option<Vec<String>>,
    no_sync: bool,
) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let groups = selected_groups(&store, only)?;
    let mut code = exit::OK;
    for g in &groups {
        let first_pass = match &first_pass {
            Some(words) => Some(parse_first_pass(words, &g.members)?),
            None => None,
        };
        let options = PassOptions {
            dry_run,
            first_pass,
            sync: !dry_run && !no_sync,
        };
        let report = run_pass(data_dir, g.id, options, Arc::new(SystemClock))
            .await
            .map_err(|e| match e {
                PassError::Store(e) => Failure::from(e),
                e => Failure::usage(e.to_string()),
            })?;
        print_report(&store, &report, &g.members);
        if !dry_run {
            if !report.writes.is_empty() && options.sync {
                if report.undelivered == 0 {
                    println!("Every queued change was delivered.");
                } else {
                    println!(
                        "{} still queued: sent by the next `playmark mirror run` or `playmark --account ID sync`.",
                        crate::words::count(report.undelivered, "change", "changes")
                    );
                }
            }
            if report.undelivered > 0 || !report.errors.is_empty() {
                code = exit::PENDING;
            }
        }
    }
    Ok(code)
}
