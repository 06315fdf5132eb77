//! `playmark play ID [--from-start | --start POS] [-- MPV_ARGS...]`.
//!
//! Plays an episode or movie in mpv from its resume position (or from the start, or from
//! `POS`), records checkpoints while it plays, reports the live session to the server, and
//! exits when mpv does, after the last checkpoint is recorded. Exit codes: 0 played (the
//! changes are on the server, or queued when it is unreachable); 1 mpv missing or bad usage;
//! 2 not signed in; 3 the media could not be played; 4 the server is unreachable and the item
//! is not downloaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::mpv::MpvPlayer;
use super::session::{self, Recorded, SessionConfig, Target};
use super::thresholds::{Thresholds, Verdict};
use super::{EndReason, MediaSource, Player, PlayerError};
use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::plex::PlexClient;
use crate::backend::session::PlaybackServer;
use crate::backend::{ErrorKind, MediaServer, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::model::ServerKind;
use crate::store::{secrets, Account, ItemView, Store};
use crate::sync::checkpoint::PlaybackEvent;
use crate::sync::{Engine, EngineConfig, RunMode, RunOutcome};

/// Exit codes (the CLI's).
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 1;
    pub const SIGN_IN: u8 = 2;
    pub const FAILED: u8 = 3;
    pub const UNREACHABLE: u8 = 4;
}

/// What `play` was asked.
#[derive(Debug, Clone)]
pub struct PlayArgs {
    pub id: String,
    pub from_start: bool,
    pub start: Option<String>,
    pub mpv_args: Vec<String>,
}

/// A failed `play`: exit code and message.
pub type Failure = (u8, String);

fn usage(m: impl Into<String>) -> Failure {
    (exit::USAGE, m.into())
}

/// `m:ss` or `h:mm:ss`.
pub fn format_position(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// One server client seen as both: for sync and for playback (one HTTP client).
pub type Clients = (Arc<dyn MediaServer>, Arc<dyn PlaybackServer>);

/// The account's server twice: for sync and for playback (one HTTP client). Its timeouts are
/// short (3 s to connect, 10 s a request): a play must not wait long on a server that is away.
pub async fn playback_clients(data_dir: &Path, account: &Account) -> Result<Clients, Failure> {
    let token = crate::sign_in::account_token(data_dir, account)
        .await
        .map_err(|e| {
            let f = crate::cli::token_read_failure(&e);
            (f.code, f.message)
        })?
        .ok_or((
            exit::SIGN_IN,
            format!(
                "Signed out of {}: run `playmark login` again (your queued changes are kept).",
                account.server_name
            ),
        ))?;
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(3),
        timeout: Duration::from_secs(10),
        trusted_certificate_pem: secrets::load_certificate(data_dir, account.id)
            .map_err(|e| usage(format!("cannot read the trusted certificate: {e}")))?,
        ..ClientOptions::default()
    };
    let bad = |e: SyncError| usage(format!("{}: {}", account.base_url, e.detail));
    Ok(match account.kind {
        ServerKind::Plex => {
            let c = Arc::new(
                PlexClient::new(
                    &account.base_url,
                    PlexClient::device(account.device_id.clone()),
                    options,
                )
                .map_err(bad)?
                .with_token(token),
            );
            (c.clone(), c)
        }
        ServerKind::Jellyfin | ServerKind::Demo => {
            let c = Arc::new(
                JellyfinClient::new(
                    &account.base_url,
                    DeviceInfo::playmark(account.device_id.clone()),
                    options,
                )
                .map_err(bad)?
                .with_session(token, account.user_id.clone()),
            );
            (c.clone(), c)
        }
    })
}

/// The local file of a downloaded item, if its download is complete and the file is there.
/// A database error reads as "not downloaded" (the stream is tried), never as a failure.
pub fn downloaded_file(store: &Store, account: &Account, item: &str) -> Option<PathBuf> {
    match store.downloaded_file(account.id, item) {
        Ok(path) => path,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up the download");
            None
        }
    }
}

/// Where to start: `--from-start`, `--start POS`, else the item's resume point (a watched
/// item starts from the beginning).
pub fn start_position(args: &PlayArgs, item: &ItemView) -> Result<i64, Failure> {
    if args.from_start {
        return Ok(0);
    }
    if let Some(pos) = &args.start {
        let ms = crate::cli::parse_position(pos).map_err(usage)?;
        if let Some(r) = item.runtime_ms.filter(|r| *r > 0 && ms > *r) {
            return Err(usage(format!(
                "{} is past the end of “{}” ({})",
                format_position(ms),
                item.name,
                format_position(r)
            )));
        }
        return Ok(ms);
    }
    Ok(if item.played { 0 } else { item.position_ms })
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
        // Docs: SESSION_RESTART_AFTER_MS (the server may have ended the silent session).
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

/// How a play began: from a downloaded copy (`local`), with the server reachable (`online`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub local: bool,
    pub online: bool,
}

/// The watched thresholds to play with: the person's (`playmark settings`), those of the
/// account's kind of server ([`Thresholds::for_server`]); an unreadable setting falls back to
/// the defaults rather than refusing to play.
pub fn session_config(engine: &Engine) -> SessionConfig {
    let kind = engine.server_kind();
    SessionConfig {
        thresholds: match engine.with_store(|s| s.settings()) {
            Ok(s) => Thresholds::for_server(kind, &s.thresholds),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the settings; default thresholds");
                Thresholds::default()
            }
        },
        ..SessionConfig::default()
    }
}

/// One play of `item` from `start_ms` through `engine` (which must be running, or be run
/// afterwards, to send what the live reports do not deliver): the downloaded copy when there is
/// one, else the server's stream when it answers; the session records each checkpoint and
/// reports it live. `on_started` runs once the player runs (with its control, e.g. to stop it);
/// `on_recorded` after each checkpoint. The one play path of `playmark play` and the app's ▶.
#[allow(clippy::too_many_arguments)]
pub async fn play_with(
    engine: &Engine,
    clients: &Clients,
    account: &Account,
    item: &ItemView,
    start_ms: i64,
    player: &dyn Player,
    on_started: impl FnOnce(Started, Arc<dyn super::PlaybackControl>) + Send,
    mut on_recorded: impl FnMut(&Recorded, &Thresholds) + Send,
) -> Result<session::Summary, Failure> {
    let (server, playback_server) = clients;
    let local = engine.with_store(|s| downloaded_file(s, account, &item.item_id));
    let name = &account.server_name;
    let online = match server.probe().await {
        Ok(_) => true,
        Err(e) if matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) => false,
        Err(e) if e.kind == ErrorKind::Auth => {
            return Err((
                exit::SIGN_IN,
                format!("{name} refused the sign-in: run `playmark login` again."),
            ))
        }
        Err(e) => {
            return Err(usage(crate::cli::with_detail(
                format!(
                    "{name} did not answer as expected: “{}” was not played.",
                    item.name
                ),
                &e.detail,
            )))
        }
    };
    let media = match (&local, online) {
        (Some(path), _) => MediaSource::file(path),
        (None, true) => playback_server
            .media_source(&item.item_id, &account.device_id)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Offline => (
                    exit::UNREACHABLE,
                    format!(
                        "{name} can't be reached and “{}” is not downloaded.",
                        item.name
                    ),
                ),
                ErrorKind::Auth => (
                    exit::SIGN_IN,
                    format!("{name} refused the sign-in: run `playmark login` again."),
                ),
                ErrorKind::NotFound => (
                    exit::FAILED,
                    crate::cli::with_detail(
                        format!("Cannot play “{}”: it is no longer on {name}.", item.name),
                        &e.detail,
                    ),
                ),
                _ => (
                    exit::FAILED,
                    crate::cli::with_detail(
                        format!(
                            "Cannot play “{}”: {name} did not offer it for playing.",
                            item.name
                        ),
                        &e.detail,
                    ),
                ),
            })?,
        (None, false) => {
            return Err((
                exit::UNREACHABLE,
                format!(
                    "{name} can't be reached and “{}” is not downloaded: nothing to play. \
                     Download it while online (`playmark download {}`) to watch it offline.",
                    item.name, item.item_id
                ),
            ))
        }
    };
    let config = session_config(engine);
    let playback = player.play(&media, start_ms).await.map_err(|e| match e {
        PlayerError::Missing => (exit::USAGE, format!("Cannot play: {e}.")),
        PlayerError::Failed(m) => (exit::FAILED, m),
    })?;
    on_started(
        Started {
            local: local.is_some(),
            online,
        },
        playback.control.clone(),
    );
    let target = Target {
        item_id: item.item_id.clone(),
        kind: account.kind,
        runtime_ms: item.runtime_ms,
        start_ms,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let summary = session::run(
        engine,
        clock,
        online.then(|| playback_server.clone()),
        playback,
        &target,
        &config,
        |r| on_recorded(r, &config.thresholds),
    )
    .await;
    if let EndReason::Error(e) = &summary.end {
        if summary.recorded.is_empty() {
            return Err((
                exit::FAILED,
                format!("mpv could not play “{}”: {e}", item.name),
            ));
        }
    }
    Ok(summary)
}

/// `playmark play`.
pub async fn play(data_dir: &Path, args: PlayArgs) -> Result<u8, Failure> {
    // The CLI's words for a data folder that is not writable, a damaged database, a full disk.
    let mut store = crate::cli::open_store(data_dir).map_err(|f| (f.code, f.message))?;
    let account = store.account().map_err(|e| usage(e.to_string()))?.ok_or((
        exit::SIGN_IN,
        "Not signed in: run `playmark login jellyfin --server URL --user NAME` or \
             `playmark login plex --server URL` first."
            .to_string(),
    ))?;
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
    let start_ms = start_position(&args, &item)?;
    let player = MpvPlayer::find(args.mpv_args.clone(), false).map_err(|e| match e {
        PlayerError::Missing => (exit::USAGE, format!("Cannot play: {e}.")),
        PlayerError::Failed(m) => usage(m),
    })?;
    let _ = store.device_id();
    let clients = playback_clients(data_dir, &account).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::new(
        store,
        account.id,
        clients.0.clone(),
        clock.clone(),
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
    let summary = played?;
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
