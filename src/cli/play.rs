//! `playmark play ID [--from-start | --start POS] [-- MPV_ARGS...]`.
//!
//! Plays an episode or movie in mpv from its resume position (or from the start, or from
//! `POS`), records checkpoints while it plays, reports the live session to the server, and
//! exits when mpv does, after the last checkpoint is recorded. Exit codes: 0 played (the
//! changes are on the server, or queued when it is unreachable); 1 mpv missing or bad usage;
//! 2 not signed in; 3 the media could not be played; 4 the server is unreachable and the item
//! is not downloaded. The play itself is [`crate::player::play`], shared with the app's ▶;
//! this file words it for a terminal.

use std::path::Path;
use std::sync::Arc;

use super::{exit, open_store, with_detail, Failure};
use crate::clock::{Clock, SystemClock};
use crate::player::mpv::MpvPlayer;
use crate::player::play::{play_with, playback_clients, start_position, PlayArgs, PlayError};
use crate::player::position::format as format_position;
use crate::player::session::Recorded;
use crate::player::thresholds::Verdict;
use crate::store::ItemView;
use crate::sync::checkpoint::PlaybackEvent;
use crate::sync::{EngineConfig, RunMode, RunOutcome};

fn usage(m: impl Into<String>) -> Failure {
    Failure::usage(m)
}

/// A failed play in the CLI's words, with its exit code.
fn play_failure(e: PlayError, server: &str, item: &ItemView) -> Failure {
    let title = &item.name;
    let (code, message) = match e {
        PlayError::SignedOut => (
            exit::SIGN_IN,
            format!(
                "Signed out of {server}: run `playmark login` again (your queued changes are kept)."
            ),
        ),
        PlayError::Secret(e) => return super::token_read_failure(&e),
        PlayError::BadAccount(detail) => (exit::USAGE, detail),
        PlayError::SignInRefused => (
            exit::SIGN_IN,
            format!("{server} refused the sign-in: run `playmark login` again."),
        ),
        PlayError::BadAnswer(detail) => (
            exit::USAGE,
            with_detail(
                format!("{server} did not answer as expected: “{title}” was not played."),
                &detail,
            ),
        ),
        PlayError::Unreachable => (
            exit::UNREACHABLE,
            format!(
                "{server} can't be reached and “{title}” is not downloaded: nothing to play. \
                 Download it while online (`playmark download {}`) to watch it offline.",
                item.item_id
            ),
        ),
        PlayError::NotOnServer(detail) => (
            exit::FAILED,
            with_detail(
                format!("Cannot play “{title}”: it is no longer on {server}."),
                &detail,
            ),
        ),
        PlayError::NotOffered(detail) => (
            exit::FAILED,
            with_detail(
                format!("Cannot play “{title}”: {server} did not offer it for playing."),
                &detail,
            ),
        ),
        PlayError::PlayerMissing(e) => (exit::USAGE, format!("Cannot play: {e}.")),
        PlayError::PlayerFailed(m) => (exit::USAGE, m),
        PlayError::NothingPlayed(e) => (exit::FAILED, format!("mpv could not play “{title}”: {e}")),
        PlayError::BadPosition(m) => (exit::USAGE, m),
        PlayError::PastEnd {
            start_ms,
            runtime_ms,
        } => (
            exit::USAGE,
            format!(
                "{} is past the end of “{title}” ({})",
                format_position(start_ms),
                format_position(runtime_ms)
            ),
        ),
    };
    Failure { code, message }
}

fn describe(r: &Recorded, min_resume_pct: f64) -> String {
    let c = &r.checkpoint;
    let what = match c.verdict {
        Verdict::Watched => "watched".to_string(),
        Verdict::NoResume => format!(
            "no resume point ({} is under {min_resume_pct} %)",
            format_position(c.position_ms)
        ),
        Verdict::Resume(p) => format!("resume at {}", format_position(p)),
    };
    if let Some(gap) = c.restarted_after_ms {
        // The server may have ended the silent session (`session::SESSION_RESTART_AFTER_MS`).
        return format!(
            "Recorded {what} (started again at {}: no report for {} min, the server may have \
             ended the session).",
            format_position(c.position_ms),
            gap / 60_000
        );
    }
    let why = match c.event {
        PlaybackEvent::Tick
            if r.checkpoint.reports.len() > 1
                || r.checkpoint.reports.first()
                    == Some(&crate::backend::session::ReportKind::Start) =>
        {
            "started"
        }
        PlaybackEvent::Tick => "playing",
        PlaybackEvent::Pause => "paused",
        PlaybackEvent::Seek => "jumped",
        PlaybackEvent::Stop => "stopped",
    };
    format!(
        "Recorded {what} ({why} at {}).",
        format_position(c.position_ms)
    )
}

/// `playmark play`.
pub async fn play(data_dir: &Path, args: PlayArgs) -> Result<u8, Failure> {
    // The CLI's words for a data folder that is not writable, a damaged database, a full disk.
    let mut store = open_store(data_dir)?;
    let account = store
        .account()
        .map_err(|e| usage(e.to_string()))?
        .ok_or(Failure {
            code: exit::SIGN_IN,
            message: "Not signed in: run `playmark login jellyfin --server URL --user NAME` or \
             `playmark login plex --server URL` first."
                .to_string(),
        })?;
    let item = store
        .item(account.id, &args.id)
        .map_err(|e| usage(e.to_string()))?
        .ok_or_else(|| {
            usage(format!(
                "unknown item {}: run `playmark refresh` first",
                args.id
            ))
        })?;
    if !item.kind.is_playable() {
        return Err(usage(format!(
            "“{}” is a {}: play an episode or a movie",
            item.name,
            item.kind.as_str()
        )));
    }
    let start_ms =
        start_position(&args, &item).map_err(|e| play_failure(e, &account.server_name, &item))?;
    let player = MpvPlayer::find(args.mpv_args.clone(), false)
        .map_err(|e| play_failure(e.into(), &account.server_name, &item))?;
    let _ = store.device_id();
    let clients = playback_clients(data_dir, &account)
        .await
        .map_err(|e| play_failure(e, &account.server_name, &item))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = crate::account::session::engine_with(
        store,
        &account,
        clients.0.clone(),
        EngineConfig::default(),
    );
    let drain = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run(RunMode::Forever).await })
    };
    let name = &account.server_name;
    let mut ctrl_c = None;
    let played = play_with(
        &engine,
        &clients,
        &account,
        &item,
        start_ms,
        &player,
        |started, control| {
            println!(
                "Playing “{}” from {}{}.",
                item.name,
                format_position(start_ms),
                match (started.local, started.online) {
                    (true, true) => " (downloaded copy)",
                    (true, false) =>
                        " (downloaded copy; the server is unreachable: progress is queued)",
                    _ => "",
                }
            );
            ctrl_c = Some(tokio::spawn(async move {
                // Ctrl+C stops mpv; Playmark records the stop and then exits.
                while tokio::signal::ctrl_c().await.is_ok() {
                    control.stop();
                }
            }));
        },
        |r, thresholds| println!("{}", describe(r, thresholds.min_resume_pct)),
    )
    .await;
    if let Some(task) = ctrl_c {
        task.abort();
    }
    engine.shutdown();
    let _ = drain.await;
    let summary = played.map_err(|e| play_failure(e, name, &item))?;
    // Anything the live reports did not deliver goes now (or waits for the server).
    let _ = engine.sync_now();
    let outcome = engine
        .run(RunMode::UntilIdle {
            deadline: clock.now() + 10_000,
        })
        .await
        .map_err(|e| usage(e.to_string()))?;
    let state = match summary.last() {
        Some(r) if r.state.played => "watched".to_string(),
        Some(r) if r.state.position_ms > 0 => {
            format!("resume at {}", format_position(r.state.position_ms))
        }
        Some(_) => "no resume point".to_string(),
        None => "nothing played".to_string(),
    };
    // What is still queued decides the words, not how the run ended: after `shutdown` above
    // the run can end "stopped" with the change still waiting (an offline play of a download).
    let queued = engine.counts().map(|c| c.total()).unwrap_or(0);
    match outcome {
        RunOutcome::Empty | RunOutcome::Stopped if queued == 0 => {
            println!("“{}”: {state}; on {name}.", item.name)
        }
        RunOutcome::Empty | RunOutcome::Stopped => println!(
            "“{}”: {state}; {}, sent when {name} is reachable (`playmark sync`).",
            item.name,
            crate::words::count(queued, "change queued", "changes queued")
        ),
        RunOutcome::Offline { counts }
        | RunOutcome::Pending { counts }
        | RunOutcome::SignInNeeded { counts }
        | RunOutcome::ServerChanged { counts } => println!(
            "“{}”: {state}; {}, sent when {name} is reachable (`playmark sync`).",
            item.name,
            crate::words::count(counts.total(), "change queued", "changes queued")
        ),
    }
    Ok(exit::OK)
}
