//! `playmark refresh` and `items`: the library as the server lists it.

use super::*;

/// A failed library fetch. `refresh` is one attempt, so "retrying automatically" would be
/// wrong; unreachable (4) and signed out (2) keep their usual wording and codes.
pub(super) fn refresh_failure(e: &SyncError, server: &str) -> Failure {
    match e.kind {
        ErrorKind::Offline | ErrorKind::Auth => server_failure(e, server),
        _ => {
            // What went wrong in a few words; the raw detail (a body, an error chain) only
            // with -v.
            let why = if let Some(status) = e.status {
                let reason = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default();
                format!("it answered HTTP {status}{reason}")
            } else if let Some(rest) = e.detail.strip_prefix("unexpected response from server: ") {
                match rest.split(" (").next() {
                    // The engine's own words about the listing ("… ignored paging").
                    Some(words) if words.starts_with("the library listing") => words.to_string(),
                    _ => "its answer was not a library listing".to_string(),
                }
            } else {
                // Playmark's own words ("the server ignored paging …", "request timed out"),
                // without the address and error chain after them.
                e.detail
                    .split(" (")
                    .next()
                    .unwrap_or(&e.detail)
                    .trim_end_matches('.')
                    .to_string()
            };
            Failure::usage(with_detail(
                format!(
                    "Could not fetch the library from {server}: {why}.\nNothing was lost: \
                     queued changes are kept. Try `playmark refresh` again later."
                ),
                &e.detail,
            ))
        }
    }
}

/// The first line of `refresh`: what really changed here, not how many items were looked at.
pub(super) fn refresh_summary(stats: &crate::store::RefreshStats, server: &str) -> String {
    let mut parts = Vec::new();
    if stats.new_local > 0 {
        parts.push(format!("{} new", stats.new_local));
    }
    if stats.changed_local > 0 {
        parts.push(format!("{} updated", stats.changed_local));
    }
    if stats.already_on_server > 0 {
        parts.push(format!(
            "{} already there",
            crate::words::count(stats.already_on_server, "change", "changes")
        ));
    }
    if stats.kept_local > 0 {
        parts.push(format!(
            "{} with your queued changes kept",
            crate::words::count(stats.kept_local, "item", "items")
        ));
    }
    let what = if parts.is_empty() {
        "nothing changed".to_string()
    } else {
        parts.join(", ")
    };
    format!(
        "Fetched {} from {server}: {what}.",
        crate::words::count(stats.seen, "item", "items")
    )
}

pub(super) async fn refresh(data_dir: &Path) -> Result<u8, Failure> {
    let (engine, account) = engine_for(data_dir).await?;
    let stats = engine
        .refresh(DEFAULT_PAGE_SIZE)
        .await
        .map_err(|e| match e {
            EngineError::Server(e) => refresh_failure(&e, &account.server_name),
            EngineError::Store(e) => Failure::from(e),
            // `refresh` does not check identity itself: `engine_for` probed just before.
            EngineError::ServerChanged { .. } => Failure {
                code: exit::SERVER_CHANGED,
                message: crate::cli::accounts::server_changed_message(&account, None, 0),
            },
        })?;
    println!("{}", refresh_summary(&stats, &account.server_name));
    if stats.adopted + stats.conflicts + stats.removed > 0 {
        let policy = engine.with_store(|s| s.policy(account.id))?;
        let mut parts = Vec::new();
        if stats.adopted > 0 {
            parts.push(format!(
                "{} on another device",
                crate::words::count(stats.adopted, "item changed", "items changed")
            ));
        }
        if stats.conflicts > 0 {
            parts.push(format!(
                "{} decided by {policy}",
                crate::words::count(stats.conflicts, "conflict", "conflicts")
            ));
        }
        if stats.removed > 0 {
            parts.push(format!(
                "{} no longer on the server",
                crate::words::count(stats.removed, "item", "items")
            ));
        }
        println!("{}.", capitalize(&parts.join(", ")));
    }
    Ok(exit::OK)
}

pub(super) fn items(data_dir: &Path, json: bool) -> Result<u8, Failure> {
    let store = open_store(data_dir)?;
    let account = require_account(&store)?;
    let items = store.items(account.id)?;
    if json {
        let doc =
            serde_json::to_string_pretty(&items).map_err(|e| Failure::usage(e.to_string()))?;
        println!("{doc}");
        return Ok(exit::OK);
    }
    if items.is_empty() {
        println!("The library is empty: run `playmark refresh`.");
    }
    for i in &items {
        let label = match (i.kind, i.season_number, i.episode_number) {
            (ItemKind::Episode, Some(s), Some(e)) => {
                format!(
                    "  {} S{s:02}E{e:02} {}",
                    i.series_name.as_deref().unwrap_or(""),
                    i.name
                )
            }
            (ItemKind::Season, _, _) => format!(" {}", i.name),
            _ => i.name.clone(),
        };
        let state = if !i.kind.is_playable() {
            String::new()
        } else if i.played {
            " — watched".to_string()
        } else if i.position_ms > 0 {
            format!(" — resume from {}", format_position(i.position_ms))
        } else {
            String::new()
        };
        let sync = i
            .sync_state
            .map(|s| format!(" [{}]", s.as_str()))
            .unwrap_or_default();
        println!("{}  {label}{state}{sync}", i.item_id);
    }
    Ok(exit::OK)
}
