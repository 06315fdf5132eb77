//! The persisted download queue: one row per (account, item), the same lease rules as the
//! outbox. A row being downloaded is `downloading` with a lease (time + owner); after a crash
//! (even SIGKILL) its lease expires or its owner is gone and it returns to `queued`, and the
//! download resumes from the `.part` file. Transient failures go back to `queued` with a later
//! `next_attempt_at` (backoff); permanent ones are `failed` with the error for the person.

use rusqlite::{params, OptionalExtension, Row};

use super::{lease, Result, Store, StoreError};
use crate::model::{AccountId, Millis};

/// Where a download stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadState {
    /// Waiting for its turn (or for its backoff to end, see `next_attempt_at`).
    Queued,
    /// Being downloaded now (leased).
    Downloading,
    /// Stopped by the person; kept with its partial file.
    Paused,
    /// Complete: the file is at `path`.
    Done,
    /// Stopped by an error the person must act on (`error` says what).
    Failed,
}

impl DownloadState {
    /// The stable name (`downloads --json`, the database).
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadState::Queued => "queued",
            DownloadState::Downloading => "downloading",
            DownloadState::Paused => "paused",
            DownloadState::Done => "done",
            DownloadState::Failed => "failed",
        }
    }

    /// Inverse of [`DownloadState::as_str`].
    pub fn parse(s: &str) -> Option<DownloadState> {
        Some(match s {
            "queued" => DownloadState::Queued,
            "downloading" => DownloadState::Downloading,
            "paused" => DownloadState::Paused,
            "done" => DownloadState::Done,
            "failed" => DownloadState::Failed,
            _ => return None,
        })
    }
}

/// One row of the download queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadRow {
    pub item_id: String,
    pub name: String,
    pub state: DownloadState,
    /// Bytes on disk (in the `.part` file until done).
    pub bytes: u64,
    /// The size the server announced, when it did.
    pub total_bytes: Option<u64>,
    /// Absolute path of the finished file.
    pub path: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    /// The error the person is told (failed, or the last one of a retrying download).
    pub error: Option<String>,
    /// Stable error class (`forbidden`, `disk_full`, `offline`, …).
    pub error_kind: Option<String>,
    pub updated_at: Millis,
    /// The episode's series, season and number (none for a movie), for its title.
    pub series_name: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
}

impl DownloadRow {
    /// What a person recognises the download by: "Series · S01E02 · Title" for an episode
    /// (the parts the server gave), the title alone for a movie.
    pub fn display_title(&self) -> String {
        let code = match (self.season_number, self.episode_number) {
            (Some(s), Some(e)) => Some(format!("S{s:02}E{e:02}")),
            (None, Some(e)) => Some(format!("E{e:02}")),
            _ => None,
        };
        let parts: Vec<&str> = [self.series_name.as_deref(), code.as_deref()]
            .into_iter()
            .flatten()
            .chain([self.name.as_str()])
            .collect();
        parts.join(" · ")
    }
}

const COLUMNS: &str = "d.item_id, COALESCE(i.name, d.item_id), d.state, d.bytes, d.total_bytes, \
                       d.path, d.attempts, d.next_attempt_at, d.error, d.error_kind, d.updated_at, \
                       i.series_name, i.season_number, i.episode_number";

/// Downloads in the order a person expects them: as queued, and within one queueing (a season,
/// a series) by series, season and episode, not by id.
const ORDER: &str = "d.created_at, i.series_name, i.season_number, i.episode_number, \
                     COALESCE(i.name, d.item_id), d.item_id";

fn read_row(r: &Row<'_>) -> rusqlite::Result<DownloadRow> {
    let state: String = r.get(2)?;
    Ok(DownloadRow {
        item_id: r.get(0)?,
        name: r.get(1)?,
        state: DownloadState::parse(&state).unwrap_or(DownloadState::Failed),
        bytes: r.get::<_, i64>(3)?.max(0) as u64,
        total_bytes: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u64),
        path: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        error: r.get(8)?,
        error_kind: r.get(9)?,
        updated_at: r.get(10)?,
        series_name: r.get(11)?,
        season_number: r.get(12)?,
        episode_number: r.get(13)?,
    })
}

/// A playable item to download: id, display name and the parts of a file name.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadTarget {
    pub item_id: String,
    pub name: String,
    pub series_name: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
}

impl Store {
    /// The playable items `item_id` stands for: itself (episode, movie), or every episode of a
    /// season or series, in season/episode order. `UnknownItem` when it is not in the library.
    pub fn download_targets(
        &self,
        account: AccountId,
        item_id: &str,
    ) -> Result<Vec<DownloadTarget>> {
        let known: Option<String> = self
            .conn
            .query_row(
                "SELECT kind FROM items WHERE account_id = ?1 AND item_id = ?2",
                params![account, item_id],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_none() {
            return Err(StoreError::UnknownItem(item_id.to_string()));
        }
        let mut stmt = self.conn.prepare(
            "SELECT item_id, name, series_name, season_number, episode_number FROM items
             WHERE account_id = ?1 AND removed = 0 AND kind IN ('Episode', 'Movie')
               AND (item_id = ?2 OR parent_id = ?2 OR season_id = ?2 OR series_id = ?2)
             ORDER BY season_number, episode_number, name",
        )?;
        let rows = stmt.query_map(params![account, item_id], |r| {
            Ok(DownloadTarget {
                item_id: r.get(0)?,
                name: r.get(1)?,
                series_name: r.get(2)?,
                season_number: r.get(3)?,
                episode_number: r.get(4)?,
            })
        })?;
        let targets = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if targets.is_empty() {
            return Err(StoreError::NoChildren(item_id.to_string()));
        }
        Ok(targets)
    }

    /// Queue a download (a row that exists is left as it is, except a failed or paused one,
    /// which is queued again). Returns `true` when the row is new.
    pub fn enqueue_download(
        &mut self,
        account: AccountId,
        item_id: &str,
        path: &str,
        now: Millis,
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let inserted = tx.execute(
            "INSERT INTO downloads (account_id, item_id, state, bytes, path, attempts,
                                    next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, 'queued', 0, ?3, 0, ?4, ?4, ?4)
             ON CONFLICT (account_id, item_id) DO NOTHING",
            params![account, item_id, path, now],
        )?;
        if inserted == 0 {
            tx.execute(
                "UPDATE downloads SET state = 'queued', next_attempt_at = ?3, attempts = 0,
                        error = NULL, error_kind = NULL, updated_at = ?3
                 WHERE account_id = ?1 AND item_id = ?2 AND state IN ('failed', 'paused')",
                params![account, item_id, now],
            )?;
        }
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Every download of the account, oldest first.
    pub fn downloads(&self, account: AccountId) -> Result<Vec<DownloadRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM downloads d
             LEFT JOIN items i ON i.account_id = d.account_id AND i.item_id = d.item_id
             WHERE d.account_id = ?1 ORDER BY {ORDER}"
        ))?;
        let rows = stmt.query_map([account], read_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// One download row.
    pub fn download(&self, account: AccountId, item_id: &str) -> Result<Option<DownloadRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM downloads d
                     LEFT JOIN items i ON i.account_id = d.account_id AND i.item_id = d.item_id
                     WHERE d.account_id = ?1 AND d.item_id = ?2"
                ),
                params![account, item_id],
                read_row,
            )
            .optional()?)
    }

    /// Claim up to `limit` due queued downloads (oldest first) with a lease until
    /// `now + lease_ms`; leases that expired or whose owner is gone are recovered first.
    pub fn claim_downloads(
        &mut self,
        account: AccountId,
        now: Millis,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<DownloadRow>> {
        self.recover_download_leases(now)?;
        let tx = self.conn.transaction()?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT d.item_id FROM downloads d
                 LEFT JOIN items i ON i.account_id = d.account_id AND i.item_id = d.item_id
                 WHERE d.account_id = ?1 AND d.state = 'queued' AND d.next_attempt_at <= ?2
                 ORDER BY {ORDER} LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![account, now, limit as i64], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        for id in &ids {
            tx.execute(
                "UPDATE downloads SET state = 'downloading', lease_until = ?3, lease_owner = ?4,
                        updated_at = ?5
                 WHERE account_id = ?1 AND item_id = ?2 AND state = 'queued'",
                params![account, id, now + lease_ms, self.lease_owner, now],
            )?;
        }
        tx.commit()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(row) = self.download(account, &id)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// `downloading` rows whose lease expired, or whose owner process is gone, go back to
    /// `queued` (their `.part` file is kept: the download resumes).
    pub fn recover_download_leases(&mut self, now: Millis) -> Result<usize> {
        let mut n = self.conn.execute(
            "UPDATE downloads SET state = 'queued', lease_until = NULL, lease_owner = NULL,
                    updated_at = ?1
             WHERE state = 'downloading' AND lease_until < ?1",
            [now],
        )?;
        let owners: Vec<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT DISTINCT lease_owner FROM downloads
                 WHERE state = 'downloading' AND lease_owner IS NOT NULL AND lease_owner != ?1",
            )?;
            let rows = stmt.query_map([&self.lease_owner], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        for owner in owners.iter().filter(|o| !lease::owner_alive(o)) {
            n += self.conn.execute(
                "UPDATE downloads SET state = 'queued', lease_until = NULL, lease_owner = NULL,
                        updated_at = ?1
                 WHERE state = 'downloading' AND lease_owner = ?2",
                params![now, owner],
            )?;
        }
        Ok(n)
    }

    /// Progress of a running download: bytes, the announced size, the lease extended. Returns
    /// the row's state after the update: anything but `Downloading` means the person paused or
    /// removed it meanwhile (then nothing is written), and the download must stop.
    #[allow(clippy::too_many_arguments)]
    pub fn download_progress(
        &mut self,
        account: AccountId,
        item_id: &str,
        bytes: u64,
        total: Option<u64>,
        path: Option<&str>,
        now: Millis,
        lease_ms: i64,
    ) -> Result<Option<DownloadState>> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE downloads SET bytes = ?3, total_bytes = COALESCE(?4, total_bytes),
                    path = COALESCE(?5, path), lease_until = ?6, updated_at = ?7
             WHERE account_id = ?1 AND item_id = ?2 AND state = 'downloading'",
            params![
                account,
                item_id,
                bytes as i64,
                total.map(|t| t as i64),
                path,
                now + lease_ms,
                now
            ],
        )?;
        let state: Option<String> = tx
            .query_row(
                "SELECT state FROM downloads WHERE account_id = ?1 AND item_id = ?2",
                params![account, item_id],
                |r| r.get(0),
            )
            .optional()?;
        tx.commit()?;
        Ok(state.as_deref().and_then(DownloadState::parse))
    }

    /// A running download ended: `Done` (bytes = total), back to `Queued` after a transient
    /// error (`retry_at`), or `Failed`. Only a row still `downloading` changes.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_download(
        &mut self,
        account: AccountId,
        item_id: &str,
        state: DownloadState,
        bytes: u64,
        error: Option<(&str, &str)>,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool> {
        let attempts_delta = i64::from(error.is_some());
        let n = self.conn.execute(
            "UPDATE downloads SET state = ?3, bytes = ?4, error_kind = ?5, error = ?6,
                    attempts = CASE WHEN ?3 = 'done' THEN 0 ELSE attempts + ?7 END,
                    next_attempt_at = COALESCE(?8, next_attempt_at),
                    total_bytes = CASE WHEN ?3 = 'done' THEN ?4 ELSE total_bytes END,
                    lease_until = NULL, lease_owner = NULL, updated_at = ?9
             WHERE account_id = ?1 AND item_id = ?2 AND state = 'downloading'",
            params![
                account,
                item_id,
                state.as_str(),
                bytes as i64,
                error.map(|e| e.0),
                error.map(|e| e.1),
                attempts_delta,
                retry_at,
                now
            ],
        )?;
        Ok(n == 1)
    }

    /// Pause downloads (queued or downloading ones); a running download notices at its next
    /// progress update. Returns how many changed.
    pub fn pause_downloads(
        &mut self,
        account: AccountId,
        items: &[String],
        now: Millis,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for id in items {
            n += tx.execute(
                "UPDATE downloads SET state = 'paused', lease_until = NULL, lease_owner = NULL,
                        updated_at = ?3
                 WHERE account_id = ?1 AND item_id = ?2 AND state IN ('queued', 'downloading')",
                params![account, id, now],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Queue paused or failed downloads again, due now. Returns how many changed.
    pub fn resume_downloads(
        &mut self,
        account: AccountId,
        items: &[String],
        now: Millis,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for id in items {
            n += tx.execute(
                "UPDATE downloads SET state = 'queued', next_attempt_at = ?3, attempts = 0,
                        error = NULL, error_kind = NULL, updated_at = ?3
                 WHERE account_id = ?1 AND item_id = ?2 AND state IN ('paused', 'failed')",
                params![account, id, now],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Forget downloads; returns the removed rows (the caller deletes their files).
    pub fn remove_downloads(
        &mut self,
        account: AccountId,
        items: &[String],
    ) -> Result<Vec<DownloadRow>> {
        let mut gone = Vec::new();
        for id in items {
            if let Some(row) = self.download(account, id)? {
                self.conn.execute(
                    "DELETE FROM downloads WHERE account_id = ?1 AND item_id = ?2",
                    params![account, id],
                )?;
                gone.push(row);
            }
        }
        Ok(gone)
    }

    /// Downloads this connection holds go back to `queued` (Ctrl+C, window closed).
    pub fn release_own_downloads(&mut self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE downloads SET state = 'queued', lease_until = NULL, lease_owner = NULL
             WHERE state = 'downloading' AND lease_owner = ?1",
            [&self.lease_owner],
        )?)
    }

    /// The earliest `next_attempt_at` of a queued download, if any.
    pub fn next_download_at(&self, account: AccountId) -> Result<Option<Millis>> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_attempt_at) FROM downloads WHERE account_id = ?1 AND state = 'queued'",
            [account],
            |r| r.get(0),
        )?)
    }

    /// The downloaded file of an item, if its download is complete.
    pub fn downloaded_file(
        &self,
        account: AccountId,
        item_id: &str,
    ) -> Result<Option<std::path::PathBuf>> {
        Ok(self
            .download(account, item_id)?
            .filter(|r| r.state == DownloadState::Done)
            .map(|r| std::path::PathBuf::from(r.path))
            .filter(|p| p.is_file()))
    }
}
