//! The queue's commands: `mark-watched`, `mark-unwatched`, `progress`, `use-mine`, `sync`,
//! `status`, `retry` and `discard`.

use super::*;

pub(super) fn record(
    data_dir: &Path,
    f: impl FnOnce(&mut Store, &Account) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    // A change that could not be written is reported as such, never claimed.
    let not_recorded = |e: Failure| Failure {
        code: e.code,
        message: format!("Not recorded: {}", e.message),
    };
    let mut store = open_store(data_dir).map_err(not_recorded)?;
    let account = require_account(&store).map_err(not_recorded)?;
    f(&mut store, &account).map_err(not_recorded)?;
    let queued = store.counts(account.id)?.total();
    if queued == 0 {
        println!("Nothing to send: {} already has this.", account.server_name);
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "{count} change queued; run `playmark sync` to send it now.",
            "{count} changes queued; run `playmark sync` to send them now.",
            queued,
            &[],
        )
    );
    Ok(exit::OK)
}

pub(super) fn mark(data_dir: &Path, ids: &[String], played: bool) -> Result<u8, Failure> {
    let word = if played { "watched" } else { "not watched" };
    record(data_dir, |store, account| {
        let now = SystemClock.now();
        for id in ids {
            let item = store
                .item(account.id, id)?
                .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.clone())))?;
            if item.kind.is_playable() {
                let change = if played {
                    LocalChange::MarkWatched
                } else {
                    LocalChange::MarkUnwatched
                };
                store.record_change(account.id, id, change, now, 0)?;
                println!("Marked “{}” {word}.", item.name);
            } else {
                let outcome = store.record_bulk(account.id, id, played, now, 0)?;
                println!(
                    "Marked {} of “{}” {word}{}.",
                    crate::words::count(outcome.queued + outcome.dropped, "episode", "episodes"),
                    item.name,
                    if outcome.group_key.is_some() {
                        " (one server call)"
                    } else {
                        ""
                    }
                );
            }
        }
        Ok(())
    })
}

pub(super) fn use_mine(data_dir: &Path, ids: &[String]) -> Result<u8, Failure> {
    record(data_dir, |store, account| {
        let now = SystemClock.now();
        for id in ids {
            let name = store
                .item(account.id, id)?
                .map(|i| i.name)
                .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.clone())))?;
            let Some((state, _)) = store.use_mine(account.id, id, now, 0)? else {
                return Err(Failure::usage(format!(
                    "no change of yours to “{name}” was replaced in the last 7 days (see `playmark status`)"
                )));
            };
            let what = if state.played {
                "watched".to_string()
            } else {
                format!("at {}", format_position(state.position_ms))
            };
            println!("“{name}”: yours again ({what}).");
        }
        Ok(())
    })
}

pub(super) fn progress(data_dir: &Path, id: &str, position: &str) -> Result<u8, Failure> {
    let position_ms = parse_position(position).map_err(Failure::usage)?;
    record(data_dir, |store, account| {
        let item = store
            .item(account.id, id)?
            .ok_or_else(|| Failure::from(StoreError::UnknownItem(id.to_string())))?;
        if item.kind == ItemKind::Series || item.kind == ItemKind::Season {
            return Err(Failure::usage(format!(
                "“{}” is a {}: a position needs an episode or movie",
                item.name,
                item.kind.as_str()
            )));
        }
        if let Some(runtime) = item.runtime_ms.filter(|r| *r > 0) {
            if position_ms > runtime {
                return Err(Failure::usage(format!(
                    "{} is past the end of “{}” ({})",
                    format_position(position_ms),
                    item.name,
                    format_position(runtime)
                )));
            }
        }
        store.record_change(
            account.id,
            id,
            LocalChange::Position { position_ms },
            SystemClock.now(),
            0,
        )?;
        println!(
            "“{}” resumes at {}.",
            item.name,
            format_position(position_ms)
        );
        Ok(())
    })
}

/// The engine of the chosen account, after checking that its server still answers at its
/// address: another server there gets no request beyond that check (exit 5, state
/// `server_changed` persisted for `status` and `accounts`). An unreachable server passes (the
/// engine waits for it and checks again when it probes).
pub(super) async fn engine_for(data_dir: &Path) -> Result<(Engine, Account), Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    // Signed out: said before anything is sent.
    server_for(data_dir, &account, ClientOptions::default()).await?;
    let probe_options = ClientOptions {
        trusted_certificate_pem: trusted_certificate(data_dir, &account)?,
        ..ClientOptions::default()
    };
    let probe = probe_account(&account, probe_options).await;
    if let Ok(info) = &probe {
        if !crate::cli::accounts::same_server(&account, info) {
            store.set_account_state(account.id, AccountStatus::ServerChanged)?;
            let queued = store.counts(account.id)?.total();
            return Err(Failure {
                code: exit::SERVER_CHANGED,
                message: crate::cli::accounts::server_changed_message(&account, Some(info), queued),
            });
        }
        if account.state == AccountStatus::ServerChanged {
            // The account's own server is back at its address.
            store.set_account_state(account.id, AccountStatus::Online)?;
        }
    }
    let engine = crate::account::session::account_engine(
        store,
        data_dir,
        &account,
        ClientOptions::default(),
        EngineConfig::default(),
    )
    .await
    .map_err(|e| match e {
        crate::account::SessionError::Secret(e) => tokens::read_failure(&e),
        e => Failure::usage(e.to_string()),
    })?;
    // A busy server answered the check with `Retry-After`: nothing is sent before it is over.
    if let Some(wait) = probe.err().and_then(|e| e.retry_after) {
        engine.server_busy_for(wait);
    }
    Ok((engine, account))
}

pub(super) async fn sync(data_dir: &Path, wait: Option<f64>) -> Result<u8, Failure> {
    let wait_ms = match wait {
        Some(w) if !w.is_finite() || w < 0.0 => {
            return Err(Failure::usage(
                "--wait takes a number of seconds, 0 or more",
            ))
        }
        Some(w) => (w * 1000.0) as i64,
        None => 0,
    };
    let (engine, account) = engine_for(data_dir).await?;
    engine.sync_now()?;
    let deadline = SystemClock.now() + wait_ms;
    let outcome = engine.run(RunMode::UntilIdle { deadline }).await?;
    let delivered = engine
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let server = &account.server_name;
    let seen = match &outcome {
        RunOutcome::ServerChanged { .. } => AccountStatus::ServerChanged,
        RunOutcome::Offline { .. } => AccountStatus::Offline,
        RunOutcome::SignInNeeded { .. } => AccountStatus::SignInNeeded,
        _ => AccountStatus::Online,
    };
    engine.with_store(|s| s.set_account_state(account.id, seen))?;
    Ok(match outcome {
        RunOutcome::Empty | RunOutcome::Stopped => {
            println!(
                "All changes are on {server} ({} sent).",
                crate::words::count(delivered as usize, "request", "requests")
            );
            exit::OK
        }
        RunOutcome::Pending { counts } => {
            // Held: a bulk change the app offers to undo, sent when the person is done.
            let held = engine.with_store(|s| s.held(account.id, SystemClock.now()))?;
            let held_words = if held > 0 {
                format!("{held} held for Undo in the app, ")
            } else {
                String::new()
            };
            println!(
                "{} on {server}: {held_words}{} retrying, {} {} attention (see `playmark status`).",
                crate::words::count(counts.total(), "change not yet", "changes not yet"),
                (counts.failed + counts.pending).saturating_sub(held),
                counts.needs_attention,
                crate::words::agree(counts.needs_attention, "needs", "need")
            );
            exit::PENDING
        }
        RunOutcome::Offline { counts } => {
            let e = SyncError::new(ErrorKind::Offline, "unreachable");
            println!("{}", e.message(server, counts.total()).title);
            exit::UNREACHABLE
        }
        RunOutcome::SignInNeeded { counts } => {
            let e = SyncError::new(ErrorKind::Auth, "401");
            println!(
                "{} ({} kept)",
                e.message(server, counts.total()).title,
                crate::words::count(counts.total(), "change", "changes")
            );
            exit::SIGN_IN
        }
        RunOutcome::ServerChanged { counts } => {
            println!(
                "{}",
                crate::cli::accounts::server_changed_message(&account, None, counts.total())
            );
            exit::SERVER_CHANGED
        }
    })
}

pub(super) async fn status(data_dir: &Path, json: bool) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let Some(account) = crate::cli::accounts::chosen_account(&store)? else {
        if json {
            println!(
                "{}",
                json!({"signed_in": false, "online": null, "counts": store::Counts::default(), "items": []})
            );
        } else {
            println!("Not signed in.");
        }
        return Ok(exit::OK);
    };
    let counts = store.counts(account.id)?;
    let rows = store.outbox(account.id)?;
    let probe_options = ClientOptions {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        trusted_certificate_pem: trusted_certificate(data_dir, &account)?,
        ..ClientOptions::default()
    };
    let answer = probe_account(&account, probe_options).await.ok();
    let signed_in = crate::account::session::account_token(data_dir, &account)
        .await
        .map_err(|e| tokens::read_failure(&e))?
        .is_some();
    // online | offline | sign_in_needed | server_changed: what answers at the address now,
    // else what was last seen (another server stays "changed" while nothing answers).
    let changed = answer
        .as_ref()
        .is_some_and(|info| !crate::cli::accounts::same_server(&account, info));
    let online = answer.is_some() && !changed;
    let account_state =
        if changed || (answer.is_none() && account.state == AccountStatus::ServerChanged) {
            AccountStatus::ServerChanged
        } else if !signed_in || account.state == AccountStatus::SignInNeeded {
            AccountStatus::SignInNeeded
        } else if online {
            AccountStatus::Online
        } else {
            AccountStatus::Offline
        };
    if changed || (online && account.state == AccountStatus::ServerChanged) {
        store.set_account_state(account.id, account_state)?;
    }
    let pending = counts.total();
    let now = SystemClock.now();
    let overridden = store.overridden(account.id, now)?;
    // Rows held back while the app offers Undo for a bulk change (`store::hold`).
    let held = store.held(account.id, now)?;
    let items: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let message = r.error_kind.map(|k| {
                SyncError::new(k, r.error_detail.clone().unwrap_or_default())
                    .message(&account.server_name, pending)
                    .title
            });
            json!({
                "item_id": r.item_id,
                "state": r.state,
                "attempts": r.attempts,
                "next_attempt_at": r.next_attempt_at,
                "error_kind": r.error_kind,
                "error_message": message,
                "error_detail": r.error_detail,
                "desired": {"position_ms": r.desired.position_ms, "played": r.desired.played},
                "hold_until": r.hold_until.filter(|_| r.held_at(now)),
            })
        })
        .collect();
    if json {
        let doc = json!({
            "signed_in": signed_in,
            "account": account.id,
            "server": account.server_name,
            "online": online,
            "account_state": crate::cli::accounts::state_name(account_state),
            "counts": counts,
            "held": held,
            "items": items,
            "overridden": overridden,
        });
        println!("{doc}");
    } else {
        println!(
            "{} — {}{}",
            account.server_name,
            match answer.as_ref() {
                Some(info) if changed => format!(
                    "another server ({}) answers at {}: nothing is sent to it",
                    info.server_name, account.base_url
                ),
                Some(_) => "reachable".to_string(),
                None => "unreachable".to_string(),
            },
            if signed_in { "" } else { ", signed out" }
        );
        println!(
            "{} pending{}, {} sending, {} retrying, {} {} attention",
            counts.pending,
            if held > 0 {
                format!(" ({held} held for Undo in the app)")
            } else {
                String::new()
            },
            counts.in_flight,
            counts.failed,
            counts.needs_attention,
            crate::words::agree(counts.needs_attention, "needs", "need")
        );
        for (r, v) in rows.iter().zip(&items) {
            let name = store
                .item(account.id, &r.item_id)?
                .map(|i| i.name)
                .unwrap_or_else(|| r.item_id.clone());
            let what = if r.desired.played {
                "watched".to_string()
            } else if r.desired.position_ms > 0 {
                format!("at {}", format_position(r.desired.position_ms))
            } else {
                "not watched".to_string()
            };
            let note = v["error_message"]
                .as_str()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default();
            let held = if r.held_at(now) {
                ", held for Undo"
            } else {
                ""
            };
            println!(
                "  {} {name} → {what} [{}{held}]{note}",
                r.item_id,
                r.state.as_str()
            );
        }
        if !overridden.is_empty() {
            println!("Kept the server's value over a change of yours (`playmark use-mine ID` sends yours):");
        }
        let shown = |p: &store::Progress| {
            if p.played {
                "watched".to_string()
            } else {
                format_position(p.position_ms)
            }
        };
        for o in &overridden {
            let name = store
                .item(account.id, &o.item_id)?
                .map(|i| i.name)
                .unwrap_or_else(|| o.item_id.clone());
            println!(
                "  {} {name}: kept {}, yours {} — {}",
                o.item_id,
                shown(&o.kept),
                shown(&o.yours),
                o.why
            );
        }
    }
    Ok(exit::OK)
}

pub(super) fn retry(data_dir: &Path, ids: Vec<String>, all: bool) -> Result<u8, Failure> {
    if ids.is_empty() && !all {
        return Err(Failure::usage("name the items to retry, or use --all"));
    }
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let n = store.retry(
        account.id,
        if all { None } else { Some(&ids) },
        SystemClock.now(),
    )?;
    if n == 0 {
        println!("Nothing to retry: no change is waiting for a retry.");
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "{count} change will be retried; run `playmark sync` to send it now.",
            "{count} changes will be retried; run `playmark sync` to send them now.",
            n,
            &[],
        )
    );
    Ok(exit::OK)
}

pub(super) fn discard(data_dir: &Path, ids: &[String]) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let n = store.discard(account.id, ids, SystemClock.now())?;
    if n == 0 {
        println!("Nothing to discard: no change of those items is queued.");
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::words::nfill(
            "Discarded {count} change; that item shows the server's state again.",
            "Discarded {count} changes; those items show the server's state again.",
            n,
            &[],
        )
    );
    Ok(exit::OK)
}
