//! One classification of every failure, and the one place that turns it into words.

use std::time::Duration;

/// The class of a failure decides what the engine does with the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// DNS failure, connection refused, no route: pause the account, count no attempt, resume on
    /// connectivity.
    Offline,
    /// Timeout, reset, 5xx, 429, truncated or malformed body: retry with backoff.
    Transient,
    /// 401 / revoked token: pause the account, keep the queue, ask to sign in again.
    Auth,
    /// 404: the item is gone from the server. Needs the user: Retry or Discard.
    NotFound,
    /// 400 / 422 / other 4xx: the server refused this change. Needs the user.
    Rejected,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Offline => "offline",
            ErrorKind::Transient => "transient",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        match s {
            "offline" => Some(ErrorKind::Offline),
            "transient" => Some(ErrorKind::Transient),
            "auth" => Some(ErrorKind::Auth),
            "not_found" => Some(ErrorKind::NotFound),
            "rejected" => Some(ErrorKind::Rejected),
            _ => None,
        }
    }

    /// Permanent for this change: the user must decide (Retry / Discard).
    pub fn needs_attention(self) -> bool {
        matches!(self, ErrorKind::NotFound | ErrorKind::Rejected)
    }
}

/// A classified failure. `detail` is the raw, technical text (never containing a token) that a
/// user can copy; the human wording comes from [`SyncError::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct SyncError {
    pub kind: ErrorKind,
    pub detail: String,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// `Retry-After` from the server: no retry before it expires.
    pub retry_after: Option<Duration>,
}

impl SyncError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> SyncError {
        SyncError {
            kind,
            detail: detail.into(),
            status: None,
            retry_after: None,
        }
    }
}
