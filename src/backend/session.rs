//! Live playback sessions: where a player reads an item, and the reports a server's own clients
//! send while playing (Jellyfin `POST /Sessions/Playing*`, Plex `/:/timeline` with `state`).
//!
//! These reports are writes **with the server's side effects** (Jellyfin's start adds a play
//! and un-watches a resumable item; progress and stop set the position and apply the server's
//! watched thresholds). They are sent once, live, and never queued or replayed: the durable
//! path for the same state is the outbox (see `crate::player::session`).

use std::fmt;

use async_trait::async_trait;

use super::{MediaServer, SyncError};
use crate::model::UserData;

/// Where a player reads an item: a URL without any secret, and the request headers (the token
/// travels in a header, never in the URL). `Debug` redacts the headers.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaSource {
    /// An `http(s)://` URL or a local file path.
    pub url: String,
    /// Whole header lines, `Name: value`.
    pub headers: Vec<String>,
}

impl MediaSource {
    /// A local file (a download): no headers.
    pub fn file(path: &std::path::Path) -> MediaSource {
        MediaSource {
            url: path.display().to_string(),
            headers: Vec::new(),
        }
    }
}

impl fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSource")
            .field("url", &self.url)
            .field(
                "headers",
                &format_args!("<{} redacted>", self.headers.len()),
            )
            .finish()
    }
}

/// Which report of a play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// The play began (Jellyfin `/Sessions/Playing`; Plex `state=playing`).
    Start,
    /// Still playing or paused (Jellyfin `/Sessions/Playing/Progress`; Plex `playing|paused`).
    Progress,
    /// The play ended (Jellyfin `/Sessions/Playing/Stopped`; Plex `state=stopped`).
    Stopped,
}

/// One live report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    pub kind: ReportKind,
    pub item_id: String,
    /// Always sent (Jellyfin marks an item watched on a stop without a position).
    pub position_ms: i64,
    pub duration_ms: Option<i64>,
    pub paused: bool,
    /// One id per play (Jellyfin `PlaySessionId`, Plex `X-Plex-Session-Identifier`).
    pub play_session_id: String,
}

/// What a player needs from a server beyond sync.
#[async_trait]
pub trait PlaybackServer: Send + Sync {
    /// Where to stream `item_id` from. `client_id` is the install's stable device id (Plex
    /// wants it on every request).
    async fn media_source(&self, item_id: &str, client_id: &str) -> Result<MediaSource, SyncError>;

    /// Send one live report. Never retried by the caller.
    async fn report(&self, report: &SessionReport) -> Result<(), SyncError>;

    /// What the server holds for `item_id` now (read back after a report whose effects the
    /// client cannot compute, e.g. the server's own last-played date).
    async fn user_data(&self, item_id: &str) -> Result<Option<UserData>, SyncError>;
}

/// [`PlaybackServer::user_data`] through [`MediaServer::fetch_by_ids`].
pub(crate) async fn user_data_by_id(
    server: &dyn MediaServer,
    item_id: &str,
) -> Result<Option<UserData>, SyncError> {
    let found = server.fetch_by_ids(&[item_id.to_string()]).await?;
    Ok(found
        .into_iter()
        .find(|i| i.id == item_id)
        .map(|i| i.user_data))
}
