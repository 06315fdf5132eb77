//! Playback: a [`Player`] trait, mpv driven over JSON IPC ([`mpv`]), the watched thresholds
//! ([`thresholds`]) and the play session that turns player events into checkpoints and live
//! reports ([`session`]). No GTK here.
//!
//! Another player (GStreamer in the window, VLC) is one more [`Player`]: the session, the
//! engine and the servers do not change.

pub mod mpv;
pub mod play;
pub mod position;
pub mod session;
pub mod thresholds;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use crate::backend::session::MediaSource;
pub use thresholds::{Thresholds, Verdict};

/// Why playback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The end of the file was reached.
    Eof,
    /// Stopped (another file, or a `stop` command).
    Stop,
    /// The person quit the player.
    Quit,
    /// The file could not be played (the player's words).
    Error(String),
    /// The player went away without saying why (killed, crashed).
    Gone(String),
}

/// What a player reports. Positions and durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The playback position changed.
    Position(i64),
    /// Paused (`true`) or playing again (`false`).
    Paused(bool),
    /// A seek began (the person jumped).
    SeekStarted,
    /// Playback (re)started after loading or a seek, at this position (when the player could
    /// say).
    Restarted(Option<i64>),
    /// The media's length became known.
    Duration(i64),
    /// Playback ended; no event follows.
    Ended(EndReason),
}

/// Failures starting a player.
#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    /// The player program is not installed.
    #[error("mpv is not installed: install it with your package manager (Debian/Ubuntu: `sudo apt install mpv`, Fedora: `sudo dnf install mpv`, Arch: `sudo pacman -S mpv`)")]
    Missing,
    /// It could not be started or driven.
    #[error("could not run the player: {0}")]
    Failed(String),
}

/// A running playback: its events, and a way to stop it.
pub struct Playback {
    /// Events until (and including) [`PlayerEvent::Ended`].
    pub events: mpsc::UnboundedReceiver<PlayerEvent>,
    /// Stops the player.
    pub control: std::sync::Arc<dyn PlaybackControl>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("pid", &self.control.pid())
            .finish_non_exhaustive()
    }
}

/// Control over a running playback.
pub trait PlaybackControl: Send + Sync {
    /// Ask the player to stop; [`PlayerEvent::Ended`] follows.
    fn stop(&self);
    /// Pause or play on.
    fn set_paused(&self, paused: bool);
    /// Jump to `position_ms`.
    fn seek(&self, position_ms: i64);
    /// The player's process id, when it is a process.
    fn pid(&self) -> Option<u32>;
}

/// A media player Playmark can drive.
#[async_trait]
pub trait Player: Send + Sync {
    /// Start playing `media` from `start_ms`.
    async fn play(&self, media: &MediaSource, start_ms: i64) -> Result<Playback, PlayerError>;
}
