//! Offline copies: the persisted, resumable download queue. No GTK here.
//!
//! The queue lives in SQLite (`store::downloads`: one row per item, leases and backoff like the
//! outbox, so it survives a restart and SIGKILL). A [`Downloader`] claims due rows, two at a
//! time, and for each:
//! 1. asks the server where the file is and how large it is ([`DownloadSource`]: Jellyfin
//!    `/Items/{id}/Download`, Plex the part key with `download=1`; never the streaming
//!    endpoint, so a server that forbids downloads is respected);
//! 2. checks the free space for what is still missing before sending anything;
//! 3. resumes the `<file>.part` with `Range: bytes=N-`: 206 appends; 200 (the range was
//!    ignored) starts over; 416 compares the size the server reports with the part: equal means
//!    complete, otherwise it starts over;
//! 4. writes, reports progress (and notices a pause or removal) every few hundred kilobytes;
//!    a cut connection keeps what arrived and retries with backoff;
//! 5. when every byte is there: `fsync`, atomic rename to the final name, `fsync` of the
//!    directory. A file under its final name is always complete.
//!
//! A full disk (before starting, or `ENOSPC` while writing) fails the download with a clear
//! message; the `.part` keeps only bytes that were written completely.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;

use crate::backend::download::DownloadSource;
use crate::backend::error::classify_transport;
use crate::backend::{ErrorKind, MediaServer};
use crate::clock::Clock;
use crate::model::{AccountId, Millis, ServerKind};
use crate::store::{DownloadRow, DownloadState, DownloadTarget, Store, StoreError};
use crate::sync::backoff::Backoff;

/// Stable error classes stored with a failed download (`error_kind`).
pub mod error_kind {
    /// The server does not allow this user to download.
    pub const FORBIDDEN: &str = "forbidden";
    /// Not enough space on the disk.
    pub const DISK_FULL: &str = "disk_full";
    /// The token was refused: sign in again.
    pub const AUTH: &str = "auth";
    /// The item (or its file) is gone from the server.
    pub const NOT_FOUND: &str = "not_found";
    /// The server is unreachable (retrying).
    pub const OFFLINE: &str = "offline";
    /// A temporary failure (retrying).
    pub const TRANSIENT: &str = "transient";
    /// Something the server or the disk refused for good.
    pub const REJECTED: &str = "rejected";
    /// Writing the file failed.
    pub const IO: &str = "io";
}

/// A fault injected at the write layer (tests): writing fails with `ENOSPC` once this many
/// bytes of a file have been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteFault {
    /// Bytes of a file that can be written before the disk is "full".
    pub disk_full_after: u64,
}

/// How a [`Downloader`] works.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// Where finished files go (created if missing).
    pub dir: PathBuf,
    /// Downloads at a time (default 2).
    pub concurrency: usize,
    /// How long a claimed download stays leased without a progress update (default 60 s).
    pub lease_ms: i64,
    /// No byte for this long: the connection counts as cut (default 30 s).
    pub stall_timeout: Duration,
    /// Transient failures in a row before the download fails (default 8).
    pub max_attempts: i64,
    /// Retry delays.
    pub backoff: Backoff,
    /// Progress is recorded (and a pause noticed) every this many bytes (default 256 KiB).
    pub progress_every: u64,
    /// The signed-in user's name, for "who can allow downloads".
    pub user_name: String,
    /// Tests: fail writes with `ENOSPC` (see [`WriteFault`]).
    pub write_fault: Option<WriteFault>,
    /// Tests: the free space to assume instead of asking the file system.
    pub free_space_override: Option<u64>,
}

impl DownloadConfig {
    /// Defaults, downloading into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DownloadConfig {
        DownloadConfig {
            dir: dir.into(),
            concurrency: 2,
            lease_ms: 60_000,
            stall_timeout: Duration::from_secs(30),
            max_attempts: 8,
            backoff: Backoff::default(),
            progress_every: 256 * 1024,
            user_name: String::new(),
            write_fault: None,
            free_space_override: None,
        }
    }
}

/// The default download folder: `<data dir>/downloads`.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("downloads")
}

/// What a [`Downloader`] reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadEvent {
    /// A download started or resumed at `bytes`.
    Started {
        item_id: String,
        bytes: u64,
        total: Option<u64>,
    },
    /// More bytes arrived.
    Progress {
        item_id: String,
        bytes: u64,
        total: Option<u64>,
    },
    /// The file is complete at `path`.
    Done { item_id: String, path: PathBuf },
    /// A transient failure: the download is queued again for `retry_at`.
    Retrying {
        item_id: String,
        message: String,
        retry_at: Millis,
    },
    /// The download failed; `message` says what to do.
    Failed {
        item_id: String,
        kind: String,
        message: String,
    },
    /// The person paused or removed it while it ran.
    Stopped { item_id: String },
}

impl DownloadEvent {
    /// The item the event is about.
    pub fn item_id(&self) -> &str {
        match self {
            DownloadEvent::Started { item_id, .. }
            | DownloadEvent::Progress { item_id, .. }
            | DownloadEvent::Done { item_id, .. }
            | DownloadEvent::Retrying { item_id, .. }
            | DownloadEvent::Failed { item_id, .. }
            | DownloadEvent::Stopped { item_id } => item_id,
        }
    }
}

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    Done(u64, PathBuf),
    Stopped,
    Retry {
        kind: &'static str,
        message: String,
        bytes: u64,
        retry_after_ms: Option<i64>,
    },
    Fail {
        kind: &'static str,
        message: String,
        bytes: u64,
    },
}

/// When [`Downloader::run`] may stop, given every row.
pub type DoneWhen = dyn Fn(&[DownloadRow]) -> bool + Sync;

/// Runs the download queue of one account.
pub struct Downloader {
    store: Arc<Mutex<Store>>,
    account: AccountId,
    /// `None`: list, pause and remove only (nothing is downloaded).
    server: Option<Arc<dyn MediaServer>>,
    clock: Arc<dyn Clock>,
    config: DownloadConfig,
    events: broadcast::Sender<DownloadEvent>,
    wake: Arc<tokio::sync::Notify>,
}

fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file-name-safe version of a title (no path separators or control characters).
pub fn safe_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut out: String = trimmed.chars().take(120).collect();
    if out.is_empty() {
        out.push_str("item");
    }
    out
}

/// The final file name (without extension) of a download.
pub fn file_stem(t: &DownloadTarget) -> String {
    let title = match (&t.series_name, t.season_number, t.episode_number) {
        (Some(series), Some(s), Some(e)) => format!("{series} - S{s:02}E{e:02} - {}", t.name),
        (Some(series), _, _) => format!("{series} - {}", t.name),
        _ => t.name.clone(),
    };
    format!("{} [{}]", safe_name(&title), safe_name(&t.item_id))
}

/// The `.part` file next to a final path.
pub fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".part");
    PathBuf::from(s)
}

/// Bytes in words: "1.5 MB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Free bytes for an unprivileged user on the file system holding `dir`.
pub fn free_space(dir: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Who can allow downloads, in words.
pub fn forbidden_message(kind: ServerKind, user: &str) -> String {
    let user = if user.is_empty() { "this user" } else { user };
    match kind {
        ServerKind::Plex => format!(
            "The owner of this Plex server does not allow downloads for {user}. Only the server \
             owner can change it (Plex: Settings → Users & Sharing → {user} → Allow Downloads)."
        ),
        ServerKind::Jellyfin | ServerKind::Demo => format!(
            "This Jellyfin server does not allow {user} to download media. A server \
             administrator can change it (Dashboard → Users → {user} → “Allow media \
             downloading”)."
        ),
    }
}

impl Downloader {
    /// A downloader over `store` (its own connection is best: the engine keeps its own).
    pub fn new(
        store: Store,
        account: AccountId,
        server: Option<Arc<dyn MediaServer>>,
        clock: Arc<dyn Clock>,
        config: DownloadConfig,
    ) -> Downloader {
        Downloader {
            store: Arc::new(Mutex::new(store)),
            account,
            server,
            clock,
            config,
            events: broadcast::channel(1024).0,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DownloadEvent> {
        self.events.subscribe()
    }

    /// The configuration.
    pub fn config(&self) -> &DownloadConfig {
        &self.config
    }

    /// Run a closure on the store (short: the downloads share it).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut lock(&self.store))
    }

    /// Wake the run loop (new rows queued, resumed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Queue `ids` (episodes, movies, or seasons and series for all their episodes). Returns
    /// the playable items queued, in order.
    pub fn enqueue(&self, ids: &[String]) -> Result<Vec<DownloadTarget>, StoreError> {
        let now = self.clock.now();
        let mut store = lock(&self.store);
        let mut all = Vec::new();
        for id in ids {
            for t in store.download_targets(self.account, id)? {
                if all.iter().any(|a: &DownloadTarget| a.item_id == t.item_id) {
                    continue;
                }
                let path = self.config.dir.join(file_stem(&t));
                store.enqueue_download(self.account, &t.item_id, &path.to_string_lossy(), now)?;
                all.push(t);
            }
        }
        drop(store);
        self.wake();
        Ok(all)
    }

    /// Pause, resume or remove downloads. Removing deletes the file and the `.part`.
    pub fn pause(&self, ids: &[String]) -> Result<usize, StoreError> {
        let now = self.clock.now();
        lock(&self.store).pause_downloads(self.account, ids, now)
    }

    /// Queue paused or failed downloads again.
    pub fn resume(&self, ids: &[String]) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let n = lock(&self.store).resume_downloads(self.account, ids, now)?;
        self.wake();
        Ok(n)
    }

    /// Forget downloads and delete their files. Returns how many there were.
    pub fn remove(&self, ids: &[String]) -> Result<usize, StoreError> {
        let rows = lock(&self.store).remove_downloads(self.account, ids)?;
        for r in &rows {
            let path = PathBuf::from(&r.path);
            let _ = std::fs::remove_file(part_path(&path));
            let _ = std::fs::remove_file(&path);
        }
        Ok(rows.len())
    }

    /// Every download of the account.
    pub fn list(&self) -> Result<Vec<DownloadRow>, StoreError> {
        lock(&self.store).downloads(self.account)
    }

    /// Work the queue until `done` says so (checked after every finished attempt and whenever
    /// nothing is running), or until nothing is left to do when `done` is `None`. Store errors
    /// end the run.
    pub async fn run(self: &Arc<Self>, done: Option<&DoneWhen>) -> Result<(), StoreError> {
        let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut active: Vec<String> = Vec::new();
        let (finished_tx, mut finished_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        loop {
            let now = self.clock.now();
            // "Done?" before claiming: a retry due at once must not run past the caller's goal.
            let rows = lock(&self.store).downloads(self.account)?;
            let finished = match done {
                Some(f) => f(&rows),
                None => {
                    active.is_empty()
                        && !rows.iter().any(|r| {
                            matches!(r.state, DownloadState::Queued | DownloadState::Downloading)
                        })
                }
            };
            if finished && active.is_empty() {
                return Ok(());
            }
            let free = self.config.concurrency.saturating_sub(active.len());
            if free > 0 && !finished {
                let claimed = lock(&self.store).claim_downloads(
                    self.account,
                    now,
                    self.config.lease_ms,
                    free,
                )?;
                for row in claimed {
                    active.push(row.item_id.clone());
                    let me = self.clone();
                    let tx = finished_tx.clone();
                    running.spawn(async move {
                        let id = row.item_id.clone();
                        me.attempt(row).await;
                        let _ = tx.send(id);
                    });
                }
            }
            let next = lock(&self.store).next_download_at(self.account)?;
            let sleep = match next {
                Some(at) if active.len() < self.config.concurrency => {
                    self.clock.sleep_until(at.max(now))
                }
                _ => Box::pin(futures::future::pending()),
            };
            tokio::select! {
                Some(id) = finished_rx.recv() => {
                    active.retain(|a| *a != id);
                }
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = sleep => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// One attempt at one claimed download; the row is updated and an event sent.
    async fn attempt(&self, row: DownloadRow) {
        let id = row.item_id.clone();
        let outcome = self.fetch(&row).await;
        let now = self.clock.now();
        let event = {
            let mut store = lock(&self.store);
            let result = match &outcome {
                Outcome::Done(bytes, path) => store
                    .finish_download(
                        self.account,
                        &id,
                        DownloadState::Done,
                        *bytes,
                        None,
                        None,
                        now,
                    )
                    .map(|_| DownloadEvent::Done {
                        item_id: id.clone(),
                        path: path.clone(),
                    }),
                Outcome::Stopped => Ok(DownloadEvent::Stopped {
                    item_id: id.clone(),
                }),
                Outcome::Retry {
                    kind,
                    message,
                    bytes,
                    retry_after_ms,
                } if row.attempts + 1 < self.config.max_attempts => {
                    let mut rng = SmallRng::from_entropy();
                    let attempt = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
                    let retry_at = now
                        + self
                            .config
                            .backoff
                            .next_delay(attempt, &mut rng, *retry_after_ms);
                    store
                        .finish_download(
                            self.account,
                            &id,
                            DownloadState::Queued,
                            *bytes,
                            Some((kind, message)),
                            Some(retry_at),
                            now,
                        )
                        .map(|_| DownloadEvent::Retrying {
                            item_id: id.clone(),
                            message: message.clone(),
                            retry_at,
                        })
                }
                Outcome::Retry {
                    kind,
                    message,
                    bytes,
                    ..
                }
                | Outcome::Fail {
                    kind,
                    message,
                    bytes,
                } => store
                    .finish_download(
                        self.account,
                        &id,
                        DownloadState::Failed,
                        *bytes,
                        Some((kind, message)),
                        None,
                        now,
                    )
                    .map(|_| DownloadEvent::Failed {
                        item_id: id.clone(),
                        kind: (*kind).to_string(),
                        message: message.clone(),
                    }),
            };
            match result {
                Ok(e) => e,
                Err(e) => DownloadEvent::Failed {
                    item_id: id.clone(),
                    kind: error_kind::IO.to_string(),
                    message: format!("The download queue could not be updated: {e}"),
                },
            }
        };
        tracing::debug!(item = %id, ?event, "download attempt ended");
        let _ = self.events.send(event);
    }

    /// Record progress; `false` when the download must stop (paused or removed meanwhile).
    fn progress(&self, id: &str, bytes: u64, total: Option<u64>, path: Option<&str>) -> bool {
        let now = self.clock.now();
        let state = lock(&self.store).download_progress(
            self.account,
            id,
            bytes,
            total,
            path,
            now,
            self.config.lease_ms,
        );
        match state {
            Ok(Some(DownloadState::Downloading)) => {
                let _ = self.events.send(DownloadEvent::Progress {
                    item_id: id.to_string(),
                    bytes,
                    total,
                });
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record download progress");
                true
            }
        }
    }

    async fn fetch(&self, row: &DownloadRow) -> Outcome {
        let id = row.item_id.as_str();
        let Some(server) = &self.server else {
            return Outcome::Retry {
                kind: error_kind::OFFLINE,
                message: "No server connection.".to_string(),
                bytes: row.bytes,
                retry_after_ms: None,
            };
        };
        let source = match server.download_source(id).await {
            Ok(s) => s,
            Err(e) => return self.server_error(&e, row.bytes),
        };
        if let Err(e) = tokio::fs::create_dir_all(&self.config.dir).await {
            return Outcome::Fail {
                kind: error_kind::IO,
                message: format!(
                    "The download folder {} cannot be created: {e}",
                    self.config.dir.display()
                ),
                bytes: row.bytes,
            };
        }
        // The extension comes from the container the server announced, decided before the
        // first byte (a started `.part` keeps its name).
        let mut path = PathBuf::from(&row.path);
        if let Some(ext) = &source.container {
            if !row.path.ends_with(&format!(".{ext}")) && !part_path(&path).exists() {
                path = PathBuf::from(format!("{}.{ext}", row.path));
            }
        }
        let part = part_path(&path);
        let mut offset = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if source.expected_size.is_some_and(|e| offset > e) {
            offset = 0;
        }
        if !self.progress(
            id,
            offset,
            source.expected_size,
            Some(&path.to_string_lossy()),
        ) {
            return Outcome::Stopped;
        }
        let _ = self.events.send(DownloadEvent::Started {
            item_id: id.to_string(),
            bytes: offset,
            total: source.expected_size,
        });
        if let Some(expected) = source.expected_size {
            let need = expected.saturating_sub(offset);
            let free = match self.config.free_space_override {
                Some(f) => Ok(f),
                None => free_space(&self.config.dir),
            };
            if let Ok(free) = free {
                if need > free {
                    return Outcome::Fail {
                        kind: error_kind::DISK_FULL,
                        message: format!(
                            "Not enough free space in {}: {} more are needed, {} are free. \
                             Free some space, then resume the download.",
                            self.config.dir.display(),
                            human_bytes(need),
                            human_bytes(free)
                        ),
                        bytes: offset,
                    };
                }
            }
        }
        // At most two fresh starts per attempt (200 for a range, a mismatched 206 or 416).
        for _ in 0..3 {
            match self.transfer(id, &source, &part, &path, offset).await {
                Ok(Transfer::Outcome(o)) => return o,
                Ok(Transfer::StartOver) => offset = 0,
                Err(o) => return o,
            }
        }
        Outcome::Retry {
            kind: error_kind::TRANSIENT,
            message: "The server keeps answering with a different file size.".to_string(),
            bytes: 0,
            retry_after_ms: None,
        }
    }

    fn server_error(&self, e: &crate::backend::SyncError, bytes: u64) -> Outcome {
        match e.kind {
            ErrorKind::Offline => Outcome::Retry {
                kind: error_kind::OFFLINE,
                message: "The server can't be reached; the download will continue when it's back."
                    .to_string(),
                bytes,
                retry_after_ms: None,
            },
            ErrorKind::Transient => Outcome::Retry {
                kind: error_kind::TRANSIENT,
                message: format!("The server had a temporary problem ({}).", e.detail),
                bytes,
                retry_after_ms: e.retry_after.map(|d| d.as_millis() as i64),
            },
            ErrorKind::Auth => Outcome::Fail {
                kind: error_kind::AUTH,
                message: "The server no longer accepts this sign-in: sign in again, then resume \
                          the download."
                    .to_string(),
                bytes,
            },
            ErrorKind::NotFound => Outcome::Fail {
                kind: error_kind::NOT_FOUND,
                message: "This item is no longer on the server.".to_string(),
                bytes,
            },
            ErrorKind::Rejected if e.status == Some(403) => Outcome::Fail {
                kind: error_kind::FORBIDDEN,
                message: forbidden_message(
                    self.server
                        .as_ref()
                        .map_or(ServerKind::Jellyfin, |s| s.kind()),
                    &self.config.user_name,
                ),
                bytes,
            },
            ErrorKind::Rejected => Outcome::Fail {
                kind: error_kind::REJECTED,
                message: format!("The server refused the download ({}).", e.detail),
                bytes,
            },
        }
    }

    /// One request: resume at `offset`, write to `part`, rename to `path` when complete.
    async fn transfer(
        &self,
        id: &str,
        source: &DownloadSource,
        part: &Path,
        path: &Path,
        offset: u64,
    ) -> Result<Transfer, Outcome> {
        let mut request = source
            .http
            .get(source.url.clone())
            .headers(source.headers.clone())
            // The client's whole-request timeout is for API calls; a download's limit is the
            // stall timeout between chunks.
            .timeout(Duration::from_secs(7 * 24 * 3600));
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let sent = tokio::time::timeout(self.config.stall_timeout, request.send()).await;
        let mut response = match sent {
            Err(_) => {
                return Err(Outcome::Retry {
                    kind: error_kind::TRANSIENT,
                    message: "The server did not answer in time.".to_string(),
                    bytes: offset,
                    retry_after_ms: None,
                })
            }
            Ok(Err(e)) => return Err(self.server_error(&classify_transport(&e), offset)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_range = header(CONTENT_RANGE);
        let content_type = header(CONTENT_TYPE).unwrap_or_default();
        let (start, total) = match status {
            200 => {
                if offset > 0 {
                    tracing::info!(item = id, "server ignored the range: starting over");
                }
                (0, response.content_length())
            }
            206 => match content_range.as_deref().and_then(parse_content_range) {
                Some((a, total)) if a == offset => (a, total),
                _ => {
                    truncate(part, 0)
                        .await
                        .map_err(|e| self.io_failure(&e, 0))?;
                    return Ok(Transfer::StartOver);
                }
            },
            416 => {
                let len = content_range.as_deref().and_then(unsatisfied_length);
                let complete = match (len, source.expected_size) {
                    (Some(l), _) => l == offset,
                    (None, Some(e)) => e == offset,
                    (None, None) => false,
                };
                if complete && offset > 0 {
                    return self
                        .complete(id, part, path, offset, len.or(source.expected_size))
                        .await
                        .map(Transfer::Outcome);
                }
                truncate(part, 0)
                    .await
                    .map_err(|e| self.io_failure(&e, 0))?;
                return Ok(Transfer::StartOver);
            }
            _ => {
                let retry_after = header(reqwest::header::RETRY_AFTER);
                let body = response.text().await.unwrap_or_default();
                let e =
                    crate::backend::error::classify_status(status, retry_after.as_deref(), &body);
                return Err(self.server_error(&e, offset));
            }
        };
        if content_type.starts_with("text/html") || content_type.starts_with("application/json") {
            return Err(Outcome::Retry {
                kind: error_kind::TRANSIENT,
                message: "The server answered with a web page instead of the file (a proxy or \
                          captive portal?)."
                    .to_string(),
                bytes: offset,
                retry_after_ms: None,
            });
        }
        let total = total.or(source.expected_size);
        let mut file = open_part(part, start)
            .await
            .map_err(|e| self.io_failure(&e, offset))?;
        let mut written = start;
        let mut reported = written;
        let _ = self.progress(id, written, total, None);
        loop {
            let chunk = tokio::time::timeout(self.config.stall_timeout, response.chunk()).await;
            let bytes = match chunk {
                Err(_) => {
                    return Err(self
                        .cut(&mut file, written, "no data arrived for a while")
                        .await)
                }
                Ok(Err(_)) => {
                    return Err(self.cut(&mut file, written, "the connection was cut").await)
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(b))) => b,
            };
            if let Err(e) = self.write(&mut file, &bytes, written).await {
                let kept = file_len(&mut file).await.unwrap_or(written);
                return Err(self.io_failure(&e, kept));
            }
            written += bytes.len() as u64;
            if written - reported >= self.config.progress_every {
                reported = written;
                if !self.progress(id, written, total, None) {
                    let _ = file.flush().await;
                    if lock(&self.store)
                        .download(self.account, id)
                        .ok()
                        .flatten()
                        .is_none()
                    {
                        let _ = tokio::fs::remove_file(part).await;
                    }
                    return Err(Outcome::Stopped);
                }
            }
        }
        if total.is_some_and(|t| written < t) {
            return Err(self.cut(&mut file, written, "the body ended early").await);
        }
        if let Err(e) = file.sync_all().await {
            return Err(self.io_failure(&e, written));
        }
        drop(file);
        self.complete(id, part, path, written, total)
            .await
            .map(Transfer::Outcome)
    }

    async fn cut(&self, file: &mut tokio::fs::File, written: u64, what: &str) -> Outcome {
        let _ = file.flush().await;
        Outcome::Retry {
            kind: error_kind::TRANSIENT,
            message: format!(
                "The download stopped at {} ({what}); it will resume from there.",
                human_bytes(written)
            ),
            bytes: written,
            retry_after_ms: None,
        }
    }

    /// The write layer: append, with the test fault.
    async fn write(
        &self,
        file: &mut tokio::fs::File,
        bytes: &[u8],
        at: u64,
    ) -> std::io::Result<()> {
        if let Some(f) = self.config.write_fault {
            let room = f.disk_full_after.saturating_sub(at);
            if (bytes.len() as u64) > room {
                file.write_all(&bytes[..room as usize]).await?;
                file.flush().await?;
                return Err(std::io::Error::from_raw_os_error(28));
            }
        }
        file.write_all(bytes).await
    }

    fn io_failure(&self, e: &std::io::Error, bytes: u64) -> Outcome {
        if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
            Outcome::Fail {
                kind: error_kind::DISK_FULL,
                message: format!(
                    "The disk holding {} is full. Free some space, then resume the download \
                     (the {} already downloaded are kept).",
                    self.config.dir.display(),
                    human_bytes(bytes)
                ),
                bytes,
            }
        } else {
            Outcome::Fail {
                kind: error_kind::IO,
                message: format!(
                    "The download could not be written to {}: {e}",
                    self.config.dir.display()
                ),
                bytes,
            }
        }
    }

    /// Every byte is in the `.part`: check its size, rename it into place, sync the folder.
    async fn complete(
        &self,
        id: &str,
        part: &Path,
        path: &Path,
        bytes: u64,
        total: Option<u64>,
    ) -> Result<Outcome, Outcome> {
        let on_disk = tokio::fs::metadata(part)
            .await
            .map(|m| m.len())
            .map_err(|e| self.io_failure(&e, bytes))?;
        if total.is_some_and(|t| t != on_disk) {
            truncate(part, 0)
                .await
                .map_err(|e| self.io_failure(&e, 0))?;
            return Err(Outcome::Retry {
                kind: error_kind::TRANSIENT,
                message: "The downloaded file had the wrong size; starting over.".to_string(),
                bytes: 0,
                retry_after_ms: None,
            });
        }
        tokio::fs::rename(part, path)
            .await
            .map_err(|e| self.io_failure(&e, bytes))?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
        }
        let _ = self.progress(id, on_disk, Some(on_disk), None);
        Ok(Outcome::Done(on_disk, path.to_path_buf()))
    }
}

enum Transfer {
    Outcome(Outcome),
    StartOver,
}

/// `bytes A-B/LEN` → (A, Some(LEN)) (LEN `*` → None).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, len) = rest.split_once('/')?;
    let (a, _) = range.split_once('-')?;
    let len = if len.trim() == "*" {
        None
    } else {
        Some(len.trim().parse().ok()?)
    };
    Some((a.trim().parse().ok()?, len))
}

/// `bytes */LEN` (a 416's Content-Range) → LEN.
fn unsatisfied_length(v: &str) -> Option<u64> {
    v.trim().strip_prefix("bytes */")?.trim().parse().ok()
}

/// Open the `.part` for writing at `start` (truncated there: bytes past it are not trusted).
async fn open_part(part: &Path, start: u64) -> std::io::Result<tokio::fs::File> {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .await?;
    file.set_len(start).await?;
    let mut file = file;
    use tokio::io::AsyncSeekExt;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    Ok(file)
}

async fn truncate(part: &Path, len: u64) -> std::io::Result<()> {
    match tokio::fs::OpenOptions::new().write(true).open(part).await {
        Ok(f) => f.set_len(len).await,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn file_len(file: &mut tokio::fs::File) -> std::io::Result<u64> {
    Ok(file.metadata().await?.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranges() {
        assert_eq!(safe_name("a/b: c?"), "a_b_ c_");
        assert_eq!(safe_name("..."), "item");
        let t = DownloadTarget {
            item_id: "42".into(),
            name: "Pilot".into(),
            series_name: Some("Show".into()),
            season_number: Some(1),
            episode_number: Some(2),
        };
        assert_eq!(file_stem(&t), "Show - S01E02 - Pilot [42]");
        assert_eq!(part_path(Path::new("/d/x.mkv")), Path::new("/d/x.mkv.part"));
        assert_eq!(parse_content_range("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("bytes x-9/10"), None);
        assert_eq!(unsatisfied_length("bytes */123"), Some(123));
        assert_eq!(unsatisfied_length("bytes 1-2/3"), None);
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
