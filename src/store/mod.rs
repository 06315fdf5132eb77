//! The SQLite store: library, play state, server base and the durable outbox.
//!
//! One [`Store`] owns one connection. The engine owns the store that writes; readers (e.g. the
//! CLI's `status`) may open their own. No GTK, no HTTP here.

mod downloads;
mod hold;
pub mod lease;
mod library;
mod mirror;
mod outbox;
mod playback;
mod schema;
pub mod secrets;
mod send;
mod sent;
mod settings;
mod state;
pub mod tokens;
mod views;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::model::{AccountId, Millis, ServerKind};

pub use downloads::{DownloadRow, DownloadState, DownloadTarget};
pub use hold::{HeldAction, HeldBatch, HeldItem, UndoOutcome, UNDO_HOLD_MS};
pub use library::{ItemMerge, ItemView, MergeReport, ReadMark, RefreshStats, REMOVED_DETAIL};
pub use mirror::{MirrorGroupRow, MirrorPassRecord, MirrorTitleRecord, MirrorTitleRow};
pub use outbox::{
    BulkOutcome, Claim, ClaimedRow, CompleteOutcome, Counts, OutboxRow, RecordOutcome, RowState,
    Verified,
};
pub use playback::ReportDelivery;
pub use schema::MIGRATIONS;
pub use send::{PlannedWrite, SendPlan};
pub use sent::{classify, Landed, Overridden, Progress, OVERRIDDEN_KEEP_MS};
pub use settings::{
    default_download_folder, SettingKey, Settings, WatchedThresholds, MAX_PULL_INTERVAL_S,
    MIN_PULL_INTERVAL_S,
};
pub use views::{fts_query, VIEW_LIMIT};

/// Everything that can go wrong in the store, worded for a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is damaged or not a Playmark database ({detail}); it was left untouched")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the database {path} was written by a newer Playmark (schema {found}, this version knows {known}); please update Playmark")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("unknown item {0}: run `playmark refresh` first")]
    UnknownItem(String),
    #[error("{0} is a folder with no episodes known locally")]
    NoChildren(String),
    #[error("{0}")]
    InvalidSetting(String),
    #[error("no account: sign in first")]
    NoAccount,
    #[error("could not use the data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A signed-in server account (the token lives in [`secrets`], never here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub kind: ServerKind,
    pub base_url: String,
    pub server_id: String,
    pub server_name: String,
    pub user_id: String,
    pub user_name: String,
    pub device_id: String,
    pub display_name: String,
    /// The state last persisted ([`Store::set_account_state`]).
    pub state: AccountStatus,
}

/// The persisted state of an account (the engine's `AccountState`, as last seen by any
/// process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Online,
    Offline,
    SignInNeeded,
    /// A different server answers at the account's address: nothing is sent to it.
    ServerChanged,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Online => "online",
            AccountStatus::Offline => "offline",
            AccountStatus::SignInNeeded => "sign_in_needed",
            AccountStatus::ServerChanged => "server_changed",
        }
    }

    pub fn parse(s: &str) -> Option<AccountStatus> {
        Some(match s {
            "online" => AccountStatus::Online,
            "offline" => AccountStatus::Offline,
            "sign_in_needed" => AccountStatus::SignInNeeded,
            "server_changed" => AccountStatus::ServerChanged,
            _ => return None,
        })
    }
}

const ACCOUNT_COLUMNS: &str = "SELECT id, kind, base_url, server_id, server_name, user_id, \
     user_name, device_id, display_name, state FROM accounts";

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let kind: String = r.get(1)?;
    let state: String = r.get(9)?;
    Ok(Account {
        id: r.get(0)?,
        kind: ServerKind::parse(&kind).unwrap_or(ServerKind::Jellyfin),
        base_url: r.get(2)?,
        server_id: r.get(3)?,
        server_name: r.get(4)?,
        user_id: r.get(5)?,
        user_name: r.get(6)?,
        device_id: r.get(7)?,
        display_name: r.get(8)?,
        state: AccountStatus::parse(&state).unwrap_or(AccountStatus::Online),
    })
}

/// Fields of a new account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub kind: ServerKind,
    pub base_url: &'a str,
    pub server_id: &'a str,
    pub server_name: &'a str,
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub device_id: &'a str,
}

/// How long a connection waits for another process's write lock before giving up (`SQLITE_BUSY`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("playmark.db")
}

impl Store {
    /// How long this connection waits for another connection's write lock before a statement
    /// fails as locked (default [`BUSY_TIMEOUT`]).
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.conn.busy_timeout(timeout)?;
        Ok(())
    }
}

impl StoreError {
    /// True when SQLite found the file damaged: at open ([`StoreError::Corrupt`]) or later, when
    /// a page it needed turned out malformed (a truncated file opens fine and fails on first
    /// use).
    pub fn is_corrupt(&self) -> bool {
        use rusqlite::ffi::ErrorCode;
        match self {
            StoreError::Corrupt { .. } => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase)
            ),
            _ => false,
        }
    }
}

/// Move a database that Playmark cannot use (damaged, or from a newer version) aside, with its
/// `-wal` and `-shm` files, to `<name>.corrupt-<UTC timestamp>[-N]` in the same directory, and
/// return the new path of the main file. Nothing is ever deleted: the caller then opens a fresh
/// database at `path`, and the old file stays available for inspection or recovery.
pub fn set_aside(path: &Path, now: Millis) -> Result<PathBuf> {
    let io = |source: std::io::Error| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stamp = chrono::DateTime::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "playmark.db".to_string());
    let mut target = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = path.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
    }
    // The side files first: should a rename fail half-way, the main file still has its WAL.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display())).map_err(io)?;
        }
    }
    std::fs::rename(path, &target).map_err(io)?;
    Ok(target)
}

/// What [`reset_database`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetOutcome {
    /// There is no database at the path: nothing to do.
    Missing,
    /// The database opens and passes its integrity check: left as it is.
    Healthy,
    /// It could not be used (`reason`, in English, for the log and the CLI) and was moved to
    /// `moved` with [`set_aside`] (kept, not deleted).
    SetAside { reason: String, moved: PathBuf },
}

/// Set the database at `path` aside when Playmark cannot use it (damaged, or written by a
/// newer Playmark): `playmark reset-database` and the app's "Set Aside and Start Empty". A
/// healthy database is left as it is, and so is one that fails for another reason (a locked
/// file, a folder that cannot be written): that error is returned. The caller then opens a
/// fresh database at `path`.
pub fn reset_database(path: &Path, now: Millis) -> Result<ResetOutcome> {
    if !path.exists() {
        return Ok(ResetOutcome::Missing);
    }
    let reason = match Store::open(path) {
        Ok(store) => match store.integrity_check() {
            Ok(result) if result == "ok" => return Ok(ResetOutcome::Healthy),
            Ok(result) => format!("integrity check: {result}"),
            Err(e) if e.is_corrupt() => e.to_string(),
            Err(e) => return Err(e),
        },
        Err(StoreError::Corrupt { detail, .. }) => format!("damaged: {detail}"),
        Err(StoreError::TooNew { found, known, .. }) => {
            format!("written by a newer Playmark: schema {found}, this version knows {known}")
        }
        Err(e) if e.is_corrupt() => e.to_string(),
        Err(e) => return Err(e),
    };
    let moved = set_aside(path, now)?;
    Ok(ResetOutcome::SetAside { reason, moved })
}

/// Can a file be created in `dir`? Root ignores permission bits, so asking the file system is
/// the only reliable check (the probe file is removed again).
pub fn writable_probe(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".playmark-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// A connection to the Playmark database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Written into the leases this connection takes (see [`lease`]): `lease_registration`'s id.
    lease_owner: String,
    /// Keeps this connection's lease owner alive until the store is dropped.
    _lease_registration: lease::LeaseOwner,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (creating if needed, mode 0600) the database at `path`, enable WAL, foreign keys and
    /// a busy timeout, and run pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            secrets::ensure_private_dir(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        secrets::ensure_private_file(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let registration = lease::LeaseOwner::register();
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            lease_owner: registration.id().to_string(),
            _lease_registration: registration,
        };
        store.configure().map_err(|e| store.corrupt_or(e))?;
        store.migrate()?;
        Ok(store)
    }

    fn corrupt_or(&self, e: rusqlite::Error) -> StoreError {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: e.to_string(),
                }
            }
            _ => StoreError::Sqlite(e),
        }
    }

    fn configure(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // Write transactions take the write lock up front: a deferred transaction that reads and
        // then writes fails at once with SQLITE_BUSY (no busy wait) when another process wrote
        // in between, which would make a second `playmark` process lose a change.
        self.conn
            .set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // journal_mode returns a row; query it so a non-database file fails here.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        Ok(())
    }

    /// Apply every migration newer than the file's `user_version`, each in its own transaction.
    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.corrupt_or(e))?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        if found == known {
            return Ok(());
        }
        // Foreign keys are off while migrating (SQLite's way to rebuild a table: dropping the
        // old one must not cascade into its children; the pragma is a no-op inside a
        // transaction, so it is set around them) and checked before each commit.
        self.conn.pragma_update(None, "foreign_keys", false)?;
        let result = self.run_migrations(found);
        self.conn.pragma_update(None, "foreign_keys", true)?;
        result
    }

    fn run_migrations(&mut self, found: i64) -> Result<()> {
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            // Another process may have migrated while this one waited for the write lock.
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if current > index as i64 {
                continue;
            }
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!("migration {name} left a dangling reference in {table}"),
                });
            }
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
            tracing::info!(migration = name, "database migrated");
        }
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stable per-install device id, created on first use.
    pub fn device_id(&mut self) -> Result<String> {
        let existing: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('device_id', ?1)",
            [&id],
        )?;
        Ok(id)
    }

    /// Sign in to the account of `a.user_id` on server `a.server_id` (of kind `a.kind`): the
    /// existing one if this user on this server has signed in before — whatever address it was
    /// reached under (its base URL, names and device are updated) — or a new one; either way it
    /// becomes the current account ([`Store::account`]) and its state `online`.
    pub fn upsert_account(&mut self, a: &NewAccount<'_>, now: Millis) -> Result<AccountId> {
        let tx = self.conn.transaction()?;
        // Strictly after every earlier sign-in, even with a clock that went backwards or two
        // sign-ins in the same millisecond.
        let latest: Option<Millis> =
            tx.query_row("SELECT MAX(signed_in_at) FROM accounts", [], |r| r.get(0))?;
        let signed_in_at = now.max(latest.map_or(Millis::MIN, |l| l + 1));
        tx.execute(
            "INSERT INTO accounts (kind, base_url, server_id, server_name, user_id, user_name, device_id, display_name, created_at, state, signed_in_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4, ?8, 'online', ?9)
             ON CONFLICT (kind, server_id, user_id) DO UPDATE SET
               base_url = excluded.base_url, server_name = excluded.server_name,
               user_name = excluded.user_name, device_id = excluded.device_id,
               display_name = excluded.display_name, state = 'online',
               signed_in_at = excluded.signed_in_at",
            rusqlite::params![a.kind.as_str(), a.base_url, a.server_id, a.server_name, a.user_id, a.user_name, a.device_id, now, signed_in_at],
        )?;
        let id = tx.query_row(
            "SELECT id FROM accounts WHERE kind = ?1 AND server_id = ?2 AND user_id = ?3",
            rusqlite::params![a.kind.as_str(), a.server_id, a.user_id],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The current account: the one signed in last (`None` before any sign-in).
    pub fn account(&self) -> Result<Option<Account>> {
        Ok(self
            .conn
            .query_row(
                &format!("{ACCOUNT_COLUMNS} ORDER BY signed_in_at DESC, id DESC LIMIT 1"),
                [],
                account_from_row,
            )
            .optional()?)
    }

    /// The account with id `id`, if there is one.
    pub fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self
            .conn
            .query_row(
                &format!("{ACCOUNT_COLUMNS} WHERE id = ?1"),
                [id],
                account_from_row,
            )
            .optional()?)
    }

    /// Every account, in id order.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{ACCOUNT_COLUMNS} ORDER BY id"))?;
        let rows = stmt.query_map([], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The accounts of users on server `server_id` of kind `kind`, the last signed in first.
    pub fn accounts_on_server(&self, kind: ServerKind, server_id: &str) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare(&format!(
            "{ACCOUNT_COLUMNS} WHERE kind = ?1 AND server_id = ?2 ORDER BY signed_in_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(
            rusqlite::params![kind.as_str(), server_id],
            account_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Give account `id` the user `user_id` (a Plex account whose user was not established
    /// before). Fails with a constraint error when that user already has an account there.
    pub fn set_account_user(
        &mut self,
        id: AccountId,
        user_id: &str,
        user_name: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET user_id = ?2, user_name = ?3 WHERE id = ?1",
            rusqlite::params![id, user_id, user_name],
        )?;
        Ok(())
    }

    /// Persist the account's state so that other processes (`playmark status`) know it.
    pub fn set_account_state(&mut self, id: AccountId, state: AccountStatus) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET state = ?2 WHERE id = ?1",
            rusqlite::params![id, state.as_str()],
        )?;
        Ok(())
    }

    /// Forget an account with its library and queue.
    pub fn remove_account(&mut self, id: AccountId) -> Result<()> {
        self.conn
            .execute("DELETE FROM accounts WHERE id = ?1", [id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_from_empty_and_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn database_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(&dir.path().join("data"));
        Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(dir.path().join("data"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let store = Store::open(&path).unwrap();
        store.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {other:?}"),
        }
    }

    #[test]
    fn garbage_file_is_reported_corrupt_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        match Store::open(&path) {
            Err(StoreError::Corrupt { .. }) => {}
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 4096]);
    }

    #[test]
    fn reset_sets_aside_only_a_database_that_cannot_be_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let now = 1_700_000_000_000;
        assert_eq!(reset_database(&path, now).unwrap(), ResetOutcome::Missing);
        drop(Store::open(&path).unwrap());
        assert_eq!(reset_database(&path, now).unwrap(), ResetOutcome::Healthy);
        assert!(path.exists(), "a healthy database is left alone");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
        match reset_database(&path, now).unwrap() {
            ResetOutcome::SetAside { moved, .. } => {
                assert_eq!(std::fs::read(&moved).unwrap(), vec![0x5a_u8; 8192]);
                assert!(!path.exists());
            }
            other => panic!("expected SetAside, got {other:?}"),
        }
        // A folder that cannot be written is found by writing to it, for root too.
        assert!(writable_probe(dir.path()).is_ok());
        assert!(writable_probe(&dir.path().join("playmark.db.missing")).is_err());
    }

    #[test]
    fn set_aside_moves_the_files_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let now = 1_700_000_000_000;
        for round in 0..2u8 {
            std::fs::write(&path, [b'x', round]).unwrap();
            std::fs::write(dir.path().join("playmark.db-wal"), [b'w', round]).unwrap();
            let moved = set_aside(&path, now).unwrap();
            assert!(!path.exists());
            assert_eq!(std::fs::read(&moved).unwrap(), [b'x', round]);
            let wal = PathBuf::from(format!("{}-wal", moved.display()));
            assert_eq!(std::fs::read(wal).unwrap(), [b'w', round]);
            let expected = if round == 0 {
                "playmark.db.corrupt-20231114T221320Z"
            } else {
                "playmark.db.corrupt-20231114T221320Z-2"
            };
            assert_eq!(moved.file_name().unwrap().to_str().unwrap(), expected);
        }
    }

    /// A full disk without root: the database may not grow past its current size
    /// (`PRAGMA max_page_count`), so some change eventually needs a page it cannot have. That
    /// change fails with SQLITE_FULL and leaves nothing behind (play state and outbox row share
    /// one transaction); every earlier change is intact.
    #[test]
    fn full_database_rolls_back_the_change_that_does_not_fit() {
        use crate::model::{ItemKind, LocalChange, RemoteItem, ServerKind, UserData};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&database_path(dir.path())).unwrap();
        let account = store
            .upsert_account(
                &NewAccount {
                    kind: ServerKind::Jellyfin,
                    base_url: "http://127.0.0.1:1",
                    server_id: "s",
                    server_name: "Test",
                    user_id: "u",
                    user_name: "demo",
                    device_id: "d",
                },
                0,
            )
            .unwrap();
        let items: Vec<RemoteItem> = (0..2000)
            .map(|n| RemoteItem {
                provider_ids: Vec::new(),
                id: format!("movie-{n:05}"),
                kind: ItemKind::Movie,
                name: format!("Movie {n}"),
                parent_id: None,
                series_id: None,
                season_id: None,
                series_name: None,
                season_number: None,
                episode_number: None,
                runtime_ms: Some(7_200_000),
                user_data: UserData::default(),
            })
            .collect();
        store.apply_remote_items(account, &items, 1).unwrap();
        let pages: i64 = store
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let mut recorded = Vec::new();
        let mut failure = None;
        for item in &items {
            let change = LocalChange::Position {
                position_ms: 60_000,
            };
            match store.record_change(account, &item.id, change, 2, 0) {
                Ok(_) => recorded.push(item.id.clone()),
                Err(e) => {
                    failure = Some((item.id.clone(), e));
                    break;
                }
            }
        }
        let (failed_id, e) = failure.expect("the database filled up");
        match &e {
            StoreError::Sqlite(inner) => assert_eq!(
                inner.sqlite_error_code(),
                Some(rusqlite::ffi::ErrorCode::DiskFull),
                "{e}"
            ),
            other => panic!("expected SQLITE_FULL, got {other:?}"),
        }
        assert!(!recorded.is_empty());
        let queued: Vec<String> = store
            .outbox(account)
            .unwrap()
            .into_iter()
            .map(|r| r.item_id)
            .collect();
        assert_eq!(queued, recorded);
        let failed = store.item(account, &failed_id).unwrap().unwrap();
        assert_eq!(failed.position_ms, 0, "the failed change left a trace");
        assert_eq!(failed.sync_state, None);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    fn new_account<'a>(
        kind: ServerKind,
        url: &'a str,
        server: &'a str,
        user: &'a str,
    ) -> NewAccount<'a> {
        NewAccount {
            kind,
            base_url: url,
            server_id: server,
            server_name: "Server",
            user_id: user,
            user_name: user,
            device_id: "d",
        }
    }

    /// Sign in as A, then B, then A again: the third sign-in is A's account (A's queue and
    /// library), not the newest row.
    #[test]
    fn signing_in_again_selects_that_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&database_path(dir.path())).unwrap();
        let url = "http://127.0.0.1:1";
        let a = store
            .upsert_account(&new_account(ServerKind::Jellyfin, url, "srv", "user-a"), 10)
            .unwrap();
        assert_eq!(store.account().unwrap().unwrap().id, a);
        let b = store
            .upsert_account(&new_account(ServerKind::Jellyfin, url, "srv", "user-b"), 20)
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(store.account().unwrap().unwrap().id, b);
        // Same clock value (or one that went backwards): the last sign-in still wins.
        let again = store
            .upsert_account(&new_account(ServerKind::Jellyfin, url, "srv", "user-a"), 5)
            .unwrap();
        assert_eq!(again, a);
        assert_eq!(store.account().unwrap().unwrap().id, a);
        assert_eq!(store.accounts().unwrap().len(), 2);
    }

    /// One server reached under two addresses is one account (the address follows the last
    /// sign-in); another server at the same address is another account.
    #[test]
    fn accounts_are_keyed_by_server_and_user_not_by_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&database_path(dir.path())).unwrap();
        let lan = store
            .upsert_account(
                &new_account(ServerKind::Jellyfin, "http://10.0.0.2:8096", "srv", "u"),
                1,
            )
            .unwrap();
        let vpn = store
            .upsert_account(
                &new_account(ServerKind::Jellyfin, "https://media.example", "srv", "u"),
                2,
            )
            .unwrap();
        assert_eq!(lan, vpn);
        let account = store.account_by_id(lan).unwrap().unwrap();
        assert_eq!(account.base_url, "https://media.example");
        let other = store
            .upsert_account(
                &new_account(
                    ServerKind::Jellyfin,
                    "https://media.example",
                    "other-srv",
                    "u",
                ),
                3,
            )
            .unwrap();
        assert_ne!(other, lan);
        store
            .set_account_state(lan, AccountStatus::ServerChanged)
            .unwrap();
        assert_eq!(
            store.account_by_id(lan).unwrap().unwrap().state,
            AccountStatus::ServerChanged
        );
        // Signing in there again makes it online.
        store
            .upsert_account(
                &new_account(ServerKind::Jellyfin, "https://media.example", "srv", "u"),
                4,
            )
            .unwrap();
        assert_eq!(
            store.account_by_id(lan).unwrap().unwrap().state,
            AccountStatus::Online
        );
    }

    /// A database from before accounts were keyed by identity keeps every row, its id, its
    /// library and queue; Plex rows keyed by the literal "token" become unverified users, and
    /// a second address of the same user keeps its queue under its own key.
    #[test]
    fn identity_migration_keeps_existing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
            let tx = conn.transaction().unwrap();
            for (_, sql) in &MIGRATIONS[..5] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 5).unwrap();
            tx.execute_batch(
                "INSERT INTO accounts (id, kind, base_url, server_id, user_id, device_id, created_at, policy)
                   VALUES (1, 'jellyfin', 'http://a', 'srv', 'u1', 'd', 1, 'prefer-local'),
                          (2, 'plex', 'http://p', 'plexsrv', 'token', 'd', 2, 'furthest-progress'),
                          (3, 'jellyfin', 'http://b', 'srv', 'u1', 'd', 3, 'furthest-progress');
                 INSERT INTO items (account_id, item_id, kind, name) VALUES (1, 'i1', 'movie', 'M'), (3, 'i3', 'movie', 'N');
                 INSERT INTO sync_outbox (account_id, item_id, position_ms, played, play_count, change_seq, state, next_attempt_at, created_at, updated_at)
                   VALUES (1, 'i1', 5, 0, 0, 1, 'pending', 0, 0, 0);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let accounts = store.accounts().unwrap();
        let keys: Vec<(i64, &str, &str)> = accounts
            .iter()
            .map(|a| (a.id, a.server_id.as_str(), a.user_id.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                (1, "srv", "u1"),
                (2, "plexsrv", "unverified-2"),
                (3, "srv", "u1#3")
            ]
        );
        assert_eq!(store.policy(1).unwrap(), crate::sync::Policy::PreferLocal);
        assert_eq!(store.outbox(1).unwrap().len(), 1);
        assert_eq!(store.items(3).unwrap().len(), 1);
        // The newest row stays the current account, as before.
        assert_eq!(store.account().unwrap().unwrap().id, 3);
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let fk_on: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk_on, 1);
    }

    #[test]
    fn device_id_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let first = Store::open(&path).unwrap().device_id().unwrap();
        let second = Store::open(&path).unwrap().device_id().unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 32);
    }
}
