//! Media-server clients. No GTK here.
//!
//! [`MediaServer`] is what the sync engine talks to; [`error`] classifies every failure once.

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
}

/// Batches of (item id, user data) changed on the server, as they arrive.
pub type LiveUpdates = BoxStream<'static, Result<Vec<(String, UserData)>, SyncError>>;
