//! The SQLite store: library, play state, server base and the durable outbox.
//!
//! One [`Store`] owns one connection. The engine owns the store that writes; readers (e.g. the
//! CLI's `status`) may open their own. No GTK, no HTTP here.

pub mod lease;
mod library;
mod outbox;
mod playback;
mod schema;
pub mod secrets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::model::{AccountId, Millis, ServerKind};

pub use library::{ItemMerge, ItemView, MergeReport, RefreshStats, REMOVED_DETAIL};
pub use outbox::{
    BulkOutcome, Claim, ClaimedRow, CompleteOutcome, Counts, OutboxRow, RecordOutcome, RowState,
};
pub use playback::ReportDelivery;
pub use schema::MIGRATIONS;

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

/// A connection to the Playmark database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Written into the leases this connection takes (see [`lease`]).
    lease_owner: String,
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
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            lease_owner: lease::current_owner(),
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
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            // Another process may have migrated while this one waited for the write lock.
            let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if current > index as i64 {
                continue;
            }
            tx.execute_batch(sql)?;
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

    /// Add or update an account (same kind, URL and user → same row).
    pub fn upsert_account(&mut self, a: &NewAccount<'_>, now: Millis) -> Result<AccountId> {
        self.conn.execute(
            "INSERT INTO accounts (kind, base_url, server_id, server_name, user_id, user_name, device_id, display_name, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4, ?8)
             ON CONFLICT (kind, base_url, user_id) DO UPDATE SET
               server_id = excluded.server_id, server_name = excluded.server_name,
               user_name = excluded.user_name, device_id = excluded.device_id,
               display_name = excluded.display_name",
            rusqlite::params![a.kind.as_str(), a.base_url, a.server_id, a.server_name, a.user_id, a.user_name, a.device_id, now],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM accounts WHERE kind = ?1 AND base_url = ?2 AND user_id = ?3",
            rusqlite::params![a.kind.as_str(), a.base_url, a.user_id],
            |r| r.get(0),
        )?)
    }

    /// The signed-in account (Playmark has one at a time; the newest wins).
    pub fn account(&self) -> Result<Option<Account>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, kind, base_url, server_id, server_name, user_id, user_name, device_id, display_name
                 FROM accounts ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let kind: String = r.get(1)?;
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
                    })
                },
            )
            .optional()?)
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
