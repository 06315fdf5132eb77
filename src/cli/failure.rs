//! What a failed command prints and its exit code, defined once for every command.
//! `Failure` is the one failure type of the CLI; `exit` its one table of exit codes.

use super::*;

/// Exit codes of the CLI.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 1;
    pub const SIGN_IN: u8 = 2;
    /// Changes still pending or failed after `sync`; a download or a play that failed.
    pub const PENDING: u8 = 3;
    /// The same code as [`PENDING`]: what `play` and `download` exit with when they failed.
    pub const FAILED: u8 = 3;
    pub const UNREACHABLE: u8 = 4;
    pub const SERVER_CHANGED: u8 = 5;
}

/// A failure of a command: what to print and which exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = match e {
            StoreError::NoAccount => exit::SIGN_IN,
            _ => exit::USAGE,
        };
        Failure {
            code,
            message: describe_store_error(&e),
        }
    }
}

/// A store error in words, with what to do about it.
///
/// Decision on a damaged database: Playmark refuses to start on it and names the file; it is
/// moved aside only when the person runs `playmark reset-database`. Starting afresh on its own
/// would silently drop the queued changes the file may still hold (a recovery tool, or a
/// `sqlite3 .recover`, can often get them back), so that choice is the person's, and the file
/// is kept either way.
pub(super) fn describe_store_error(e: &StoreError) -> String {
    use rusqlite::ffi::ErrorCode;
    const RESET: &str = "Run `playmark reset-database` to move it aside (it is kept, not \
                         deleted) and start with an empty database; then sign in again.";
    match e {
        StoreError::TooNew { .. } => format!(
            "{}.\nOr, to go on with this version, {}",
            capitalize(&e.to_string()),
            RESET.replacen("Run", "run", 1)
        ),
        StoreError::Sqlite(inner) if e.is_corrupt() => {
            format!("The database is damaged ({inner}). {RESET}")
        }
        StoreError::Corrupt { .. } => format!("{}.\n{RESET}", capitalize(&e.to_string())),
        StoreError::InvalidSetting(reason) => format!("Not changed: {reason}."),
        StoreError::Sqlite(inner) => match inner.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                "The disk holding the Playmark database is full: free some space and try again."
                    .to_string()
            }
            Some(ErrorCode::ReadOnly) => {
                "The Playmark database is read-only (read-only data directory or file system): \
                 make it writable and try again."
                    .to_string()
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => format!(
                "The database is busy: another Playmark process kept it locked for more than \
                 {} s. Try again.",
                store::BUSY_TIMEOUT.as_secs()
            ),
            Some(ErrorCode::SystemIoFailure) => format!(
                "The Playmark database could not be read or written ({inner}): the disk may be \
                 full or failing. Free some space and try again."
            ),
            Some(ErrorCode::CannotOpen) => format!(
                "Cannot open the Playmark database ({inner}): check that the data directory \
                 exists and is writable."
            ),
            _ => e.to_string(),
        },
        _ => capitalize(&e.to_string()),
    }
}

pub(super) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `-v/--verbose`: a failure's raw detail is printed under its sentence.
pub(super) static VERBOSE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// `sentence`, and with `-v` the raw detail (never a token) on a second line. The first line a
/// person reads is always the sentence.
pub(crate) fn with_detail(sentence: String, detail: &str) -> String {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) && !detail.is_empty() {
        format!("{sentence}\n  ({detail})")
    } else {
        sentence
    }
}

pub(super) fn server_failure(e: &SyncError, server: &str) -> Failure {
    let msg = e.message(server, 0);
    let code = match e.kind {
        ErrorKind::Offline => exit::UNREACHABLE,
        ErrorKind::Auth => exit::SIGN_IN,
        _ => exit::USAGE,
    };
    Failure {
        code,
        message: with_detail(msg.title, &msg.detail),
    }
}
