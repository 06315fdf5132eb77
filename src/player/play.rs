//! One play of an episode or movie, the same for `playmark play` and the app's ▶: the account's
//! server twice (for sync and for playback, [`playback_clients`]), where to start
//! ([`start_position`]) and the play itself ([`play_with`]). Failures are a typed [`PlayError`];
//! each front end says them in its own words (the CLI's sentences and exit codes in
//! `cli/play.rs`, the app's translated sentences in the worker).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::session::{self, Recorded, SessionConfig, Target};
use super::thresholds::Thresholds;
use super::{EndReason, MediaSource, PlaybackControl, Player, PlayerError};
use crate::backend::jellyfin::ClientOptions;
use crate::backend::ErrorKind;
use crate::clock::{Clock, SystemClock};
use crate::store::tokens::SecretError;
use crate::store::{Account, ItemView, Store};
use crate::sync::Engine;

/// Why a play did not happen. The detail strings are the server's or the player's words, for a
/// log or a `-v` line, never the whole sentence.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    /// No token is stored for the account: the person signed out (the queue is kept).
    #[error("signed out")]
    SignedOut,
    /// The stored sign-in (token or trusted certificate) could not be read.
    #[error("cannot read the stored sign-in: {0}")]
    Secret(SecretError),
    /// The stored address or certificate does not make a client.
    #[error("the account's address is not usable: {0}")]
    BadAccount(String),
    /// The server refused the token.
    #[error("the server refused the sign-in")]
    SignInRefused,
    /// The server answered, but not as a media server would.
    #[error("the server did not answer as expected: {0}")]
    BadAnswer(String),
    /// The server cannot be reached and the item is not downloaded: nothing to play.
    #[error("the server cannot be reached and the item is not downloaded")]
    Unreachable,
    /// The server no longer has the item.
    #[error("the item is no longer on the server: {0}")]
    NotOnServer(String),
    /// The server did not offer the item for playing.
    #[error("the server did not offer the item for playing: {0}")]
    NotOffered(String),
    /// The player program is not installed.
    #[error("{0}")]
    PlayerMissing(PlayerError),
    /// The player could not be started.
    #[error("{0}")]
    PlayerFailed(String),
    /// The player ran but played nothing (its words).
    #[error("the player could not play it: {0}")]
    NothingPlayed(String),
    /// `--start` is not a position.
    #[error("{0}")]
    BadPosition(String),
    /// `--start` is past the end of the item.
    #[error("the start is past the end")]
    PastEnd { start_ms: i64, runtime_ms: i64 },
}

impl From<PlayerError> for PlayError {
    fn from(e: PlayerError) -> PlayError {
        match e {
            PlayerError::Missing => PlayError::PlayerMissing(e),
            PlayerError::Failed(m) => PlayError::PlayerFailed(m),
        }
    }
}

/// What `play` was asked.
#[derive(Debug, Clone)]
pub struct PlayArgs {
    pub id: String,
    pub from_start: bool,
    pub start: Option<String>,
    pub mpv_args: Vec<String>,
}

pub use crate::account::session::Clients;

/// The account's server twice: for sync and for playback (one HTTP client). Its timeouts are
/// short (3 s to connect, 10 s a request): a play must not wait long on a server that is away.
pub async fn playback_clients(data_dir: &Path, account: &Account) -> Result<Clients, PlayError> {
    let options = ClientOptions {
        connect_timeout: Duration::from_secs(3),
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    crate::account::session::account_playback_client(data_dir, account, options)
        .await
        .map_err(|e| match e {
            crate::account::SessionError::SignedOut => PlayError::SignedOut,
            crate::account::SessionError::Secret(e) => PlayError::Secret(e),
            crate::account::SessionError::Client(e) => {
                PlayError::BadAccount(format!("{}: {}", account.base_url, e.detail))
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
pub fn start_position(args: &PlayArgs, item: &ItemView) -> Result<i64, PlayError> {
    if args.from_start {
        return Ok(0);
    }
    if let Some(pos) = &args.start {
        let ms = super::position::parse(pos).map_err(PlayError::BadPosition)?;
        if let Some(r) = item.runtime_ms.filter(|r| *r > 0 && ms > *r) {
            return Err(PlayError::PastEnd {
                start_ms: ms,
                runtime_ms: r,
            });
        }
        return Ok(ms);
    }
    Ok(if item.played { 0 } else { item.position_ms })
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
    on_started: impl FnOnce(Started, Arc<dyn PlaybackControl>) + Send,
    mut on_recorded: impl FnMut(&Recorded, &Thresholds) + Send,
) -> Result<session::Summary, PlayError> {
    let (server, playback_server) = clients;
    let local = engine.with_store(|s| downloaded_file(s, account, &item.item_id));
    let online = match server.probe().await {
        Ok(_) => true,
        Err(e) if matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) => false,
        Err(e) if e.kind == ErrorKind::Auth => return Err(PlayError::SignInRefused),
        Err(e) => return Err(PlayError::BadAnswer(e.detail)),
    };
    let media = match (&local, online) {
        (Some(path), _) => MediaSource::file(path),
        (None, true) => playback_server
            .media_source(&item.item_id, &account.device_id)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::Offline => PlayError::Unreachable,
                ErrorKind::Auth => PlayError::SignInRefused,
                ErrorKind::NotFound => PlayError::NotOnServer(e.detail),
                _ => PlayError::NotOffered(e.detail),
            })?,
        (None, false) => return Err(PlayError::Unreachable),
    };
    let config = session_config(engine);
    let playback = player.play(&media, start_ms).await?;
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
            return Err(PlayError::NothingPlayed(e.clone()));
        }
    }
    Ok(summary)
}
