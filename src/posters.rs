//! Posters on disk: fetched from the server once, kept in a cache directory with a size cap.
//!
//! One file per (account, item, height), named from the item id in hex (server ids never become
//! paths), written to a temporary file and renamed (a crash leaves no half image). Reading a
//! poster refreshes its modification time; when the files pass the cap, the least recently
//! used go first. The size is counted once, from the directory, and then kept up to date, so a
//! new poster costs no directory listing until the cap is reached.
//!
//! Nothing here knows GTK: the app decodes the bytes off its main thread.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::backend::{MediaServer, SyncError};
use crate::model::AccountId;

/// Default cap of the cache: 200 MiB (about 20,000 list-sized posters).
pub const DEFAULT_CAP_BYTES: u64 = 200 * 1024 * 1024;

/// The height asked for list rows (twice the 48 px shown, for HiDPI).
pub const ROW_HEIGHT: u32 = 96;

/// A poster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    #[error("the server did not give the poster: {0}")]
    Server(#[from] SyncError),
    #[error("the poster cache failed: {0}")]
    Disk(#[from] io::Error),
}

/// The cache directory and its cap.
#[derive(Debug, Clone)]
pub struct PosterCache {
    dir: PathBuf,
    cap_bytes: u64,
    /// Bytes in the directory, once counted.
    used: Arc<Mutex<Option<u64>>>,
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

impl PosterCache {
    /// A cache in `dir` (created when needed) holding at most `cap_bytes`.
    pub fn new(dir: impl Into<PathBuf>, cap_bytes: u64) -> PosterCache {
        PosterCache {
            dir: dir.into(),
            cap_bytes,
            used: Arc::new(Mutex::new(None)),
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of one poster.
    pub fn path(&self, account: AccountId, item: &str, height: u32) -> PathBuf {
        self.dir
            .join(format!("{account}-{}-{height}.img", hex(item)))
    }

    /// The cached poster, if any (and mark it used).
    pub fn get(&self, account: AccountId, item: &str, height: u32) -> Option<Vec<u8>> {
        let path = self.path(account, item, height);
        let bytes = std::fs::read(&path).ok()?;
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            // Best effort: a cache whose times cannot be set evicts by write time instead.
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keep a poster; then trim the cache to its cap.
    pub fn put(&self, account: AccountId, item: &str, height: u32, bytes: &[u8]) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(account, item, height);
        let old = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        let total = {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            let now = match *used {
                Some(n) => n.saturating_sub(old) + bytes.len() as u64,
                None => self.count()?,
            };
            *used = Some(now);
            now
        };
        if total > self.cap_bytes {
            self.trim()?;
        }
        Ok(())
    }

    /// Bytes in the cache directory now.
    fn count(&self) -> io::Result<u64> {
        Ok(self.files()?.iter().map(|(_, len, _)| len).sum())
    }

    fn files(&self) -> io::Result<Vec<(PathBuf, u64, SystemTime)>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                let at = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((entry.path(), meta.len(), at));
            }
        }
        Ok(out)
    }

    /// Remove the least recently used posters until the cache is within its cap. Returns the
    /// bytes now used.
    pub fn trim(&self) -> io::Result<u64> {
        let mut files = self.files()?;
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort_by_key(|(_, _, at)| *at);
        for (path, len, _) in files {
            if total <= self.cap_bytes {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => total = total.saturating_sub(len),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        *self.used.lock().unwrap_or_else(|e| e.into_inner()) = Some(total);
        Ok(total)
    }

    /// The poster of `item`: from the cache, else from the server (then cached).
    pub async fn fetch(
        &self,
        server: &dyn MediaServer,
        account: AccountId,
        item: &str,
        height: u32,
    ) -> Result<Vec<u8>, PosterError> {
        if let Some(bytes) = self.get(account, item, height) {
            return Ok(bytes);
        }
        let bytes = server.poster(item, height).await?;
        self.put(account, item, height, &bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_most_recently_used_within_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PosterCache::new(dir.path().join("posters"), 250);
        let one = [1u8; 100];
        cache.put(1, "a", 96, &one).unwrap();
        cache.put(1, "b", 96, &one).unwrap();
        // "a" is used again: "b" is now the least recently used.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(cache.get(1, "a", 96).as_deref(), Some(&one[..]));
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache.put(1, "c", 96, &one).unwrap();
        assert!(cache.get(1, "a", 96).is_some());
        assert!(
            cache.get(1, "b", 96).is_none(),
            "the least recently used went"
        );
        assert!(cache.get(1, "c", 96).is_some());
        assert_eq!(cache.count().unwrap(), 200);
        // A path never comes from the server's id as such.
        let odd = cache.path(1, "../../etc/passwd", 96);
        assert_eq!(odd.parent(), Some(cache.dir()));
    }

    #[test]
    fn a_cache_opened_again_counts_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let first = PosterCache::new(dir.path(), 1_000);
        first.put(1, "a", 96, &[0u8; 400]).unwrap();
        first.put(1, "b", 96, &[0u8; 400]).unwrap();
        let again = PosterCache::new(dir.path(), 1_000);
        again.put(1, "c", 96, &[0u8; 400]).unwrap();
        assert!(again.count().unwrap() <= 1_000);
        assert!(again.get(1, "c", 96).is_some());
    }
}
