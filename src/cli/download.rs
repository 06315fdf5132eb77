//! `playmark download` and `playmark downloads`: the command bodies (the clap variants and the
//! dispatch live in `src/cli.rs`).

// A closed stdout (`playmark downloads | head -1`) ends the output quietly.
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::cli::accounts::line(format_args!($($arg)*))
    };
}

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::download::{human_bytes, DownloadEvent, Downloader};
use crate::store::{DownloadRow, DownloadState};

use super::exit::{FAILED, OK, USAGE};

/// What `playmark download` does with its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Queue and download, blocking until done.
    Download,
    /// Pause.
    Pause,
    /// Queue again.
    Resume,
    /// Forget and delete the files.
    Remove,
}

/// One line of `downloads --json`.
#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    item_id: &'a str,
    name: &'a str,
    state: &'static str,
    bytes: u64,
    total_bytes: Option<u64>,
    path: &'a str,
    error: Option<&'a str>,
}

/// `playmark download [--pause|--resume|--remove] ID...`. Returns the exit code and prints
/// what happened; errors are `(code, message)`.
pub async fn download(
    downloader: Arc<Downloader>,
    ids: &[String],
    action: Action,
) -> Result<u8, (u8, String)> {
    let store_err = |e: crate::store::StoreError| (USAGE, e.to_string());
    match action {
        Action::Pause => {
            let n = downloader.pause(ids).map_err(store_err)?;
            println!(
                "{} paused.",
                crate::words::count(n, "download", "downloads")
            );
            return Ok(OK);
        }
        Action::Remove => {
            let n = downloader.remove(ids).map_err(store_err)?;
            println!(
                "{} removed (files deleted).",
                crate::words::count(n, "download", "downloads")
            );
            return Ok(OK);
        }
        Action::Resume => {
            let n = downloader.resume(ids).map_err(store_err)?;
            println!(
                "{} queued again.",
                crate::words::count(n, "download", "downloads")
            );
            return Ok(OK);
        }
        Action::Download => {}
    }
    let targets = downloader.enqueue(ids).map_err(store_err)?;
    // Paused or failed ones asked for again are queued again.
    let wanted: Vec<String> = targets.iter().map(|t| t.item_id.clone()).collect();
    downloader.resume(&wanted).map_err(store_err)?;
    let names: HashMap<String, String> = targets
        .iter()
        .map(|t| (t.item_id.clone(), t.name.clone()))
        .collect();

    let bars = MultiProgress::with_draw_target(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut shown: HashMap<String, ProgressBar> = HashMap::new();
    let mut events = downloader.subscribe();
    let watcher = {
        let bars = bars.clone();
        let names = names.clone();
        async move {
            while let Ok(e) = events.recv().await {
                if !names.contains_key(e.item_id()) {
                    continue;
                }
                let bar = shown.entry(e.item_id().to_string()).or_insert_with(|| {
                    let b = bars.add(ProgressBar::new(0));
                    b.set_style(style.clone());
                    b.set_prefix(names.get(e.item_id()).cloned().unwrap_or_default());
                    b
                });
                match &e {
                    DownloadEvent::Started { bytes, total, .. }
                    | DownloadEvent::Progress { bytes, total, .. } => {
                        if let Some(t) = total {
                            bar.set_length(*t);
                        }
                        bar.set_position(*bytes);
                        bar.set_message("");
                    }
                    DownloadEvent::Done { .. } => bar.finish_with_message("done"),
                    DownloadEvent::Retrying { message, .. } => bar.set_message(message.clone()),
                    DownloadEvent::Failed { .. } => bar.abandon_with_message("failed"),
                    DownloadEvent::Stopped { .. } => bar.abandon_with_message("paused"),
                }
            }
        }
    };
    let watcher = tokio::spawn(watcher);

    let wanted_for_run = wanted.clone();
    let done = move |rows: &[DownloadRow]| {
        let mine: Vec<&DownloadRow> = rows
            .iter()
            .filter(|r| wanted_for_run.contains(&r.item_id))
            .collect();
        mine.iter().any(|r| r.state == DownloadState::Failed)
            || mine
                .iter()
                .all(|r| !matches!(r.state, DownloadState::Queued | DownloadState::Downloading))
    };
    let run = downloader.run(Some(&done));
    let interrupted = tokio::select! {
        r = run => { r.map_err(store_err)?; false }
        _ = tokio::signal::ctrl_c() => true,
    };
    watcher.abort();
    let _ = bars.clear();
    if interrupted {
        // The running downloads go back to the queue (their `.part` files are kept).
        downloader
            .with_store(|s| s.release_own_downloads())
            .map_err(store_err)?;
        println!("Interrupted: the downloads stay queued; run `playmark download` again to go on.");
        return Ok(FAILED);
    }
    let rows = downloader.list().map_err(store_err)?;
    let mut failed = false;
    for r in rows.iter().filter(|r| wanted.contains(&r.item_id)) {
        match r.state {
            DownloadState::Done => println!("✓ {} → {}", r.display_title(), r.path),
            DownloadState::Failed => {
                failed = true;
                println!(
                    "✗ {}: {}",
                    r.display_title(),
                    r.error.as_deref().unwrap_or("the download failed")
                );
            }
            DownloadState::Paused => println!("‖ {}: paused", r.display_title()),
            DownloadState::Queued | DownloadState::Downloading => {
                println!(
                    "… {}: still queued ({} of {})",
                    r.display_title(),
                    human_bytes(r.bytes),
                    r.total_bytes.map(human_bytes).unwrap_or_else(|| "?".into())
                )
            }
        }
    }
    Ok(if failed { FAILED } else { OK })
}

/// `playmark downloads [--json]`.
pub fn list(downloader: &Downloader, json: bool) -> Result<u8, (u8, String)> {
    let rows = downloader
        .with_store(|s| {
            s.recover_download_leases(chrono::Utc::now().timestamp_millis())?;
            Ok::<_, crate::store::StoreError>(())
        })
        .and_then(|()| downloader.list())
        .map_err(|e| (USAGE, e.to_string()))?;
    if json {
        let out: Vec<JsonRow<'_>> = rows
            .iter()
            .map(|r| JsonRow {
                item_id: &r.item_id,
                name: &r.name,
                state: r.state.as_str(),
                bytes: r.bytes,
                total_bytes: r.total_bytes,
                path: &r.path,
                error: r.error.as_deref(),
            })
            .collect();
        let text = serde_json::to_string_pretty(&out).map_err(|e| (USAGE, e.to_string()))?;
        println!("{text}");
        return Ok(OK);
    }
    if rows.is_empty() {
        println!("No downloads. Add one with `playmark download ID`.");
        return Ok(OK);
    }
    let mut used = 0u64;
    for r in &rows {
        used += r.bytes;
        let size = match r.total_bytes {
            Some(t) if r.state != DownloadState::Done => {
                format!("{} of {}", human_bytes(r.bytes), human_bytes(t))
            }
            _ => human_bytes(r.bytes),
        };
        let state = match (&r.state, &r.error) {
            (DownloadState::Queued, Some(e)) => format!("retrying: {e}"),
            (DownloadState::Failed, Some(e)) => format!("failed: {e}"),
            (s, _) => s.as_str().to_string(),
        };
        println!(
            "{}  {}  {}  {}  {}",
            r.item_id,
            r.display_title(),
            state,
            size,
            r.path
        );
    }
    println!("Space used: {}", human_bytes(used));
    Ok(OK)
}
