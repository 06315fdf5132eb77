//! Media-server clients. No GTK here.
//!
//! [`MediaServer`] is what the sync engine talks to; [`error`] classifies every failure once.

pub mod download;
pub mod error;
pub mod jellyfin;
pub mod plex;
pub mod session;
pub mod transport;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use error::{ErrorKind, SyncError};

use crate::model::{DesiredState, ItemsPage, RemoteItem, ServerKind, UserData};

/// What a reachability probe learns about a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
}

/// What one batched read ([`MediaServer::read_user_data`]) found on the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerRead {
    /// The server id the answer names (Jellyfin `ServerId`, Plex `machineIdentifier`), when
    /// it names one. The engine compares it with the account's.
    pub server_id: Option<String>,
    /// The user data of the asked-for items the server still has. An id that is missing here is
    /// not on the server (or not visible to this user).
    pub items: Vec<(String, UserData)>,
    /// The server's clock when it answered (its `Date` header; the earliest, over several
    /// requests), when it said: the decision table of an unknown outcome compares the server's
    /// own dates with it (`store::sent`).
    pub date: Option<crate::model::Millis>,
}

/// Most ids one batched read asks for (one request; URLs stay short).
pub const MAX_READ_IDS: usize = 50;

/// The operations the sync engine needs from a server. Every write is absolute and idempotent:
/// sending the same call twice (after a crash between the response and the outbox delete) leaves
/// the server in the same state.
#[async_trait]
pub trait MediaServer: Send + Sync {
    fn kind(&self) -> ServerKind;

    /// Cheap reachability check that needs no sign-in (`GET /System/Info/Public`, Plex
    /// `GET /identity`).
    async fn probe(&self) -> Result<ServerInfo, SyncError>;

    /// Write one item's desired state. Returns the server's user data after the write when the
    /// server reports it.
    async fn push_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
    ) -> Result<Option<UserData>, SyncError>;

    /// Mark every child of a parent (season or series) watched or not watched in one call.
    async fn push_group(&self, parent_id: &str, played: bool) -> Result<(), SyncError>;

    /// What the server holds now for `ids` (at most [`MAX_READ_IDS`]): one request (Jellyfin
    /// `GET /Items?ids=…` with user data, Plex `GET /library/metadata/{ids}`). The engine reads
    /// before every write and merges (DESIGN.md invariant 6). The default asks
    /// [`MediaServer::fetch_by_ids`] and names no server id.
    async fn read_user_data(&self, ids: &[String]) -> Result<ServerRead, SyncError> {
        let items = self.fetch_by_ids(ids).await?;
        Ok(ServerRead {
            server_id: None,
            items: items.into_iter().map(|i| (i.id, i.user_data)).collect(),
            date: None,
        })
    }

    /// The playable children of a season or series (every episode of every season) as the
    /// server lists them now, with user data: one request (Jellyfin `GET /Items?parentId=…&
    /// recursive=true&includeItemTypes=Episode`, Plex `GET /library/metadata/{id}/allLeaves`).
    /// The engine reads them in the claim of a group, so a call on the parent is sent only over
    /// children it has just read (DESIGN.md invariant 9); their user data serves as the read of
    /// the members. `Ok(None)`: this server cannot list them, and the group goes item by item.
    async fn read_children(&self, parent_id: &str) -> Result<Option<ServerRead>, SyncError> {
        let _ = parent_id;
        Ok(None)
    }

    /// Write one item's desired state when the engine has just read `current` from the server
    /// (a client that must plan its calls from the server's state, Plex, uses it instead of a
    /// read of its own). `runtime_ms` is the item's length as the library listed it (Plex
    /// ignores a position write without its `duration`). The default is
    /// [`MediaServer::push_item`].
    async fn write_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
        current: &UserData,
        runtime_ms: Option<i64>,
    ) -> Result<Option<UserData>, SyncError> {
        let _ = (current, runtime_ms);
        self.push_item(item_id, desired).await
    }

    /// Mark a parent's children watched / not watched in one call, when the engine has just
    /// read the children (`current`) and knows at least one needs the change. The default is
    /// [`MediaServer::push_group`].
    async fn write_group(
        &self,
        parent_id: &str,
        played: bool,
        current: &[(String, UserData)],
    ) -> Result<(), SyncError> {
        let _ = current;
        self.push_group(parent_id, played).await
    }

    /// One page of the library (series, seasons, episodes, movies) with user data.
    async fn fetch_items(&self, start: u64, limit: u64) -> Result<ItemsPage, SyncError>;

    /// The items among `ids` that the server still has, with user data. A scan that no longer
    /// lists an item asks this before marking it removed (paging under a changing sort order
    /// can skip an item). The default trusts the scan: none is confirmed.
    async fn fetch_by_ids(&self, ids: &[String]) -> Result<Vec<RemoteItem>, SyncError> {
        let _ = ids;
        Ok(Vec::new())
    }

    /// Open the server's live channel of user-data changes (Jellyfin's WebSocket
    /// `UserDataChanged`). `Ok(None)`: the server has none, scans are the only pull. The stream
    /// ends, or yields an error, when the connection drops.
    async fn live_updates(&self) -> Result<Option<LiveUpdates>, SyncError> {
        Ok(None)
    }

    /// `item_id`'s poster, about `height` pixels high (PNG, JPEG or WebP bytes): Jellyfin
    /// `GET /Items/{id}/Images/Primary?fillHeight=…`, Plex's photo transcoder on the item's
    /// thumb. The default: no images.
    async fn poster(&self, item_id: &str, height: u32) -> Result<Vec<u8>, SyncError> {
        let _ = height;
        Err(SyncError::rejected(format!(
            "this server offers no poster of {item_id}"
        )))
    }

    /// Where `item_id`'s media file can be downloaded (the download endpoint, never the
    /// streaming one), with the size the server announces. The default: no downloads.
    async fn download_source(&self, item_id: &str) -> Result<download::DownloadSource, SyncError> {
        Err(SyncError::rejected(format!(
            "this server offers no download of {item_id}"
        )))
    }
}

/// Batches of (item id, user data) changed on the server, as they arrive.
pub type LiveUpdates = BoxStream<'static, Result<Vec<(String, UserData)>, SyncError>>;

/// Check that `bytes` are an image a poster can be (PNG, JPEG, WebP or GIF): an HTML page or a
/// JSON error answered with 200 is not taken for one.
pub fn check_image(bytes: Vec<u8>) -> Result<Vec<u8>, SyncError> {
    let is_image = bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || (bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP")
        || bytes.starts_with(b"GIF8");
    if is_image {
        Ok(bytes)
    } else {
        Err(SyncError::unexpected_response(
            "an answer that is not an image",
        ))
    }
}
