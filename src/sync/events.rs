//! What the engine tells its observers (the UI's SyncQueue worker, the CLI).

use serde::Serialize;

use crate::backend::SyncError;
use crate::model::Millis;
use crate::store::Counts;

/// Where one item's change stands, as a badge would show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemSyncState {
    /// Recorded, waiting to be sent.
    Queued,
    /// Recorded; the server is unreachable, it will be sent when it is back.
    WaitingForConnection,
    /// Recorded; the account needs a new sign-in before it can be sent.
    WaitingForSignIn,
    /// A request is under way.
    Syncing,
    /// The server holds it.
    Synced,
    /// The last attempt failed; retried automatically.
    Retrying {
        attempt: i64,
        next_attempt_at: Millis,
    },
    /// The server refused it; the user decides (Retry / Discard).
    NeedsAttention { error: String },
    /// The change was dropped locally (discarded, or back to the server's value).
    Discarded,
}

/// The account as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Online,
    Offline,
    SignInNeeded,
}

/// An engine event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// One item's sync state changed.
    ItemState {
        item_id: String,
        state: ItemSyncState,
    },
    /// The account went online / offline / needs sign-in.
    Account { state: AccountState },
    /// Queue counts after a change.
    Counts { counts: Counts },
    /// A failure worth telling the user about (classified; word it with `SyncError::message`).
    Failure {
        error: SyncError,
        items: Vec<String>,
    },
}
