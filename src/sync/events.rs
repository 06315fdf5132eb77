//! What the engine tells its observers (the UI's SyncQueue worker, the CLI).

use serde::Serialize;

use crate::backend::{ErrorKind, SyncError};
use crate::merge::Outcome;
use crate::model::Millis;
use crate::store::{Counts, OutboxRow, Overridden, RowState};

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
    /// The server refused it; the user decides (Retry / Discard). `kind` says what kind of
    /// trouble it is ([`ErrorKind::NotFound`] or [`ErrorKind::Rejected`]): the UI words its
    /// sentence from it. `detail` is the raw, technical text (for "Copy details"; never shown
    /// as the reason).
    NeedsAttention { kind: ErrorKind, detail: String },
    /// The change was dropped locally (discarded, or back to the server's value).
    Discarded,
    /// A pull brought another device's change: applied (`conflict: false`), or it conflicted
    /// with ours and `kept_server` says who won. Position and flag are the result.
    Merged {
        conflict: bool,
        kept_server: bool,
        position_ms: i64,
        played: bool,
    },
}

impl ItemSyncState {
    /// THE badge of an item whose change has the outbox row `row` while the account is
    /// `account`: the engine (a change just recorded or released: [`ItemSyncState::waiting`]),
    /// the app's worker (after a retry, a bulk change, missed events) and everything else that
    /// shows a row's state derive it here.
    pub fn for_row(row: &OutboxRow, account: AccountState) -> ItemSyncState {
        match (row.state, account) {
            (RowState::NeedsAttention, _) => ItemSyncState::needs_attention(
                row.error_kind,
                row.error_detail.clone().unwrap_or_default(),
            ),
            (RowState::InFlight, _) => ItemSyncState::Syncing,
            (RowState::Failed, AccountState::Online) => ItemSyncState::Retrying {
                attempt: row.attempts,
                next_attempt_at: row.next_attempt_at,
            },
            (RowState::Pending | RowState::Failed, _) => ItemSyncState::waiting(account),
        }
    }

    /// Is a change still under way (its badge waits for something: sent, a connection, a
    /// sign-in, a retry, the person)?
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            ItemSyncState::Queued
                | ItemSyncState::WaitingForConnection
                | ItemSyncState::WaitingForSignIn
                | ItemSyncState::Syncing
                | ItemSyncState::Retrying { .. }
                | ItemSyncState::NeedsAttention { .. }
        )
    }

    /// The badge of a change the user must decide on, from the kind and detail its outbox row
    /// stores. A kind that does not need the user (none stored, or one from before) counts
    /// as refused, unless the detail says a scan found the item removed.
    pub fn needs_attention(kind: Option<ErrorKind>, detail: String) -> ItemSyncState {
        let kind = match kind {
            Some(kind) if kind.needs_attention() => kind,
            _ if detail == crate::store::REMOVED_DETAIL => ErrorKind::NotFound,
            _ => ErrorKind::Rejected,
        };
        ItemSyncState::NeedsAttention { kind, detail }
    }

    /// The badge of a change waiting to be sent (a pending row of [`ItemSyncState::for_row`])
    /// while the account is `account`.
    pub fn waiting(account: AccountState) -> ItemSyncState {
        match account {
            AccountState::Online => ItemSyncState::Queued,
            AccountState::Offline => ItemSyncState::WaitingForConnection,
            AccountState::SignInNeeded | AccountState::ServerChanged => {
                ItemSyncState::WaitingForSignIn
            }
        }
    }
}

/// The account as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Online,
    Offline,
    SignInNeeded,
    /// The server at the account's address is not the account's server (its id differs:
    /// reinstalled, or another server answers there). Nothing is sent until the person signs
    /// in again (a new account) or discards; the queue is kept.
    ServerChanged,
}

/// What an observer shows of an engine, read at one moment
/// ([`Engine::subscribe_with_snapshot`](super::Engine::subscribe_with_snapshot)): with the
/// events that follow it, the one source of what the screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSnapshot {
    /// The account as a whole.
    pub account: AccountState,
    /// The queue's counts.
    pub counts: Counts,
    /// Every queued change (every outbox row) and its state ([`ItemSyncState::for_row`]); an
    /// item not listed has no change under way.
    pub items: Vec<(String, ItemSyncState)>,
    /// The rows that need the person (Retry / Discard), for the needs-attention list.
    pub attention: Vec<OutboxRow>,
    /// The merges of the last 7 days that kept the server's value over a change of the
    /// person's, newest first.
    pub overridden: Vec<Overridden>,
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
    /// A pull (scan or live update) changed an item's local state or decided a conflict: the
    /// UI shows "merged from the server" / "your change replaced the server's" from it.
    Merged { item_id: String, outcome: Outcome },
    /// The live connection to the server (WebSocket) came up or went down. While it is down,
    /// periodic scans are the only way remote changes arrive.
    Live { connected: bool },
    /// A failure worth telling the user about (classified; word it with `SyncError::message`).
    Failure {
        error: SyncError,
        items: Vec<String>,
    },
    /// The local database refused a read or write (locked past the timeout, disk full, …). The
    /// engine keeps running, backs off and retries; nothing recorded is lost. `message` is a
    /// human sentence (English, no gettext here; the UI may word its own from it), e.g. "Can't
    /// write to Playmark's database: disk full — changes saved before are kept". Sent once per
    /// episode.
    StoreTrouble { message: String },
    /// The database works again after [`SyncEvent::StoreTrouble`].
    StoreRecovered,
}
