//! Global settings: pull interval, watched thresholds, download folder, whether downloads go on
//! after the window is closed.
//!
//! Stored as text in the `settings` table (one row per key that differs from its default; a
//! missing row is the default). Per-account settings live with the account (the conflict policy:
//! [`Store::policy`]). Read them typed with [`Store::settings`]; the CLI (`playmark settings`)
//! and the Preferences window change them by key with [`Store::set_setting`], which validates.
//! A value that does not parse (a hand-edited database) reads as the default, never a panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, OptionalExtension};

use super::{Result, Store, StoreError};

/// Jellyfin's watched thresholds (`ServerConfiguration`: `MinResumePct`, `MaxResumePct`,
/// `MinResumeDurationSeconds`). The player applies them; these are only the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedThresholds {
    /// Stopping before this percentage records no resume point (default 5).
    pub min_resume_pct: u8,
    /// Stopping (or a checkpoint) past this percentage records watched (default 90).
    pub max_resume_pct: u8,
    /// Items shorter than this many seconds are watched once started (default 300).
    pub min_resume_duration_s: u32,
    /// Plex's one rule, for Plex accounts: playing past this percentage counts a view (the
    /// server's "video played threshold", an admin setting; default 90). The three above are
    /// Jellyfin's and apply to Jellyfin accounts.
    pub plex_played_pct: u8,
}

impl Default for WatchedThresholds {
    fn default() -> WatchedThresholds {
        WatchedThresholds {
            min_resume_pct: 5,
            max_resume_pct: 90,
            min_resume_duration_s: 300,
            plex_played_pct: 90,
        }
    }
}

/// Every global setting, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How often the app pulls the library from the server (default 5 minutes; the engine's
    /// `PullSchedule::interval_ms`).
    pub pull_interval: Duration,
    /// When a position counts as watched or as no resume point.
    pub thresholds: WatchedThresholds,
    /// Where downloads go; `None` = the default, [`default_download_folder`].
    pub download_folder: Option<PathBuf>,
    /// The app keeps running (without a window) until the download queue is done when its
    /// window is closed (default `false`: downloads stop and resume at the next start).
    pub keep_downloading_when_closed: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            pull_interval: Duration::from_secs(DEFAULT_PULL_INTERVAL_S),
            thresholds: WatchedThresholds::default(),
            download_folder: None,
            keep_downloading_when_closed: false,
        }
    }
}

impl Settings {
    /// The download folder to use: the chosen one, else [`default_download_folder`].
    pub fn download_folder_in(&self, data_dir: &Path) -> PathBuf {
        self.download_folder
            .clone()
            .unwrap_or_else(|| default_download_folder(data_dir))
    }
}

/// Downloads go to `downloads/` in the data directory unless the person chose a folder.
pub fn default_download_folder(data_dir: &Path) -> PathBuf {
    data_dir.join("downloads")
}

const DEFAULT_PULL_INTERVAL_S: u64 = 5 * 60;
/// The shortest pull interval accepted (a scan reads the whole library).
pub const MIN_PULL_INTERVAL_S: u64 = 60;
/// The longest pull interval accepted (one day).
pub const MAX_PULL_INTERVAL_S: u64 = 24 * 60 * 60;

/// The name of a global setting, as `playmark settings` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKey {
    PullIntervalS,
    MinResumePct,
    MaxResumePct,
    MinResumeDurationS,
    PlexPlayedPct,
    DownloadFolder,
    KeepDownloadingWhenClosed,
}

impl SettingKey {
    /// Every key, in the order `playmark settings` lists them.
    pub const ALL: [SettingKey; 7] = [
        SettingKey::PullIntervalS,
        SettingKey::MinResumePct,
        SettingKey::MaxResumePct,
        SettingKey::MinResumeDurationS,
        SettingKey::PlexPlayedPct,
        SettingKey::DownloadFolder,
        SettingKey::KeepDownloadingWhenClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::PullIntervalS => "pull_interval_s",
            SettingKey::MinResumePct => "min_resume_pct",
            SettingKey::MaxResumePct => "max_resume_pct",
            SettingKey::MinResumeDurationS => "min_resume_duration_s",
            SettingKey::PlexPlayedPct => "plex_played_pct",
            SettingKey::DownloadFolder => "download_folder",
            SettingKey::KeepDownloadingWhenClosed => "keep_downloading_when_closed",
        }
    }

    /// Parse a key name (as printed by [`SettingKey::as_str`]; `-` may stand for `_`).
    pub fn parse(s: &str) -> Option<SettingKey> {
        let s = s.replace('-', "_");
        SettingKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What the setting means, in one line (for `playmark settings --help`-like listings).
    pub fn describe(self) -> &'static str {
        match self {
            SettingKey::PullIntervalS => "seconds between library pulls while the app runs",
            SettingKey::MinResumePct => "stopping before this % keeps no resume point",
            SettingKey::MaxResumePct => "stopping past this % marks the item watched",
            SettingKey::MinResumeDurationS => {
                "items shorter than this many seconds are watched once started"
            }
            SettingKey::PlexPlayedPct => {
                "Plex accounts: playing past this % marks the item watched (the server's video played threshold)"
            }
            SettingKey::DownloadFolder => {
                "folder for offline copies (default: downloads/ in the data directory)"
            }
            SettingKey::KeepDownloadingWhenClosed => {
                "true: the app keeps downloading after its window is closed, until the queue is done"
            }
        }
    }

    /// The value of this key in `settings`, as text (the download folder's default is empty).
    pub fn value_in(self, settings: &Settings) -> String {
        match self {
            SettingKey::PullIntervalS => settings.pull_interval.as_secs().to_string(),
            SettingKey::MinResumePct => settings.thresholds.min_resume_pct.to_string(),
            SettingKey::MaxResumePct => settings.thresholds.max_resume_pct.to_string(),
            SettingKey::MinResumeDurationS => settings.thresholds.min_resume_duration_s.to_string(),
            SettingKey::PlexPlayedPct => settings.thresholds.plex_played_pct.to_string(),
            SettingKey::DownloadFolder => settings
                .download_folder
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            SettingKey::KeepDownloadingWhenClosed => {
                settings.keep_downloading_when_closed.to_string()
            }
        }
    }

    /// Parse `value` and put it into `settings`; a person-readable reason when it is invalid.
    fn apply(self, settings: &mut Settings, value: &str) -> std::result::Result<(), String> {
        let value = value.trim();
        let int = |lo: u64, hi: u64| -> std::result::Result<u64, String> {
            match value.parse::<u64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{} must be a whole number from {lo} to {hi}, not \"{value}\"",
                    self.as_str()
                )),
            }
        };
        match self {
            SettingKey::PullIntervalS => {
                settings.pull_interval =
                    Duration::from_secs(int(MIN_PULL_INTERVAL_S, MAX_PULL_INTERVAL_S)?);
            }
            SettingKey::MinResumePct => settings.thresholds.min_resume_pct = int(0, 100)? as u8,
            SettingKey::MaxResumePct => settings.thresholds.max_resume_pct = int(0, 100)? as u8,
            SettingKey::MinResumeDurationS => {
                settings.thresholds.min_resume_duration_s = int(0, 24 * 60 * 60)? as u32
            }
            SettingKey::PlexPlayedPct => settings.thresholds.plex_played_pct = int(1, 100)? as u8,
            SettingKey::DownloadFolder => {
                if value.is_empty() {
                    settings.download_folder = None;
                } else {
                    let path = PathBuf::from(value);
                    if !path.is_absolute() {
                        return Err(format!(
                            "download_folder must be an absolute path, not \"{value}\""
                        ));
                    }
                    settings.download_folder = Some(path);
                }
            }
            SettingKey::KeepDownloadingWhenClosed => {
                settings.keep_downloading_when_closed = match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => true,
                    "false" | "no" | "off" | "0" => false,
                    _ => {
                        return Err(format!(
                            "{} must be true or false, not \"{value}\"",
                            self.as_str()
                        ))
                    }
                };
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for SettingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cross-field rule: a resume point must be possible somewhere.
fn check(settings: &Settings) -> std::result::Result<(), String> {
    let t = settings.thresholds;
    if t.min_resume_pct >= t.max_resume_pct {
        return Err(format!(
            "min_resume_pct ({}) must be below max_resume_pct ({})",
            t.min_resume_pct, t.max_resume_pct
        ));
    }
    Ok(())
}

impl Store {
    /// Every global setting (defaults for keys never set or not readable).
    pub fn settings(&self) -> Result<Settings> {
        settings_in(&self.conn)
    }

    /// Whether `key` was set (false = it has its default).
    pub fn setting_is_set(&self, key: SettingKey) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM settings WHERE key = ?1",
                [key.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Change one setting from its text form; refused ([`StoreError::InvalidSetting`]) when the
    /// value does not parse, is out of range, or contradicts another setting. Returns the
    /// settings as they now are.
    pub fn set_setting(&mut self, key: SettingKey, value: &str) -> Result<Settings> {
        let tx = self.conn.transaction()?;
        let mut settings = settings_in(&tx)?;
        key.apply(&mut settings, value)
            .and_then(|()| check(&settings))
            .map_err(StoreError::InvalidSetting)?;
        let text = key.value_in(&settings);
        if key == SettingKey::DownloadFolder && text.is_empty() {
            tx.execute("DELETE FROM settings WHERE key = ?1", [key.as_str()])?;
        } else {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key.as_str(), text],
            )?;
        }
        tx.commit()?;
        Ok(settings)
    }

    /// Make every setting equal to `settings` (one transaction; refused when they contradict
    /// each other). The app's demo library keeps its own database, which takes the person's
    /// settings this way.
    pub fn replace_settings(&mut self, settings: &Settings) -> Result<()> {
        check(settings).map_err(StoreError::InvalidSetting)?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM settings", [])?;
        let defaults = Settings::default();
        for key in SettingKey::ALL {
            let text = key.value_in(settings);
            if text != key.value_in(&defaults) {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                    params![key.as_str(), text],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Put one setting back to its default (refused when that contradicts another setting).
    pub fn reset_setting(&mut self, key: SettingKey) -> Result<Settings> {
        let default = key.value_in(&Settings::default());
        let settings = self.set_setting(key, &default)?;
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", [key.as_str()])?;
        Ok(settings)
    }
}

/// The settings as stored on `conn` (also inside a transaction).
fn settings_in(conn: &rusqlite::Connection) -> Result<Settings> {
    let mut settings = Settings::default();
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (key, value) = row?;
        let Some(k) = SettingKey::parse(&key) else {
            tracing::warn!(key, "unknown setting in the database ignored");
            continue;
        };
        let mut candidate = settings.clone();
        match k.apply(&mut candidate, &value) {
            Ok(()) => settings = candidate,
            Err(reason) => tracing::warn!(%reason, "stored setting ignored"),
        }
    }
    if check(&settings).is_err() {
        tracing::warn!("stored watched thresholds contradict each other; using the defaults");
        settings.thresholds = WatchedThresholds::default();
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::database_path;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&database_path(dir.path())).unwrap();
        (dir, store)
    }

    #[test]
    fn defaults_are_jellyfins() {
        let (_dir, store) = open();
        let s = store.settings().unwrap();
        assert_eq!(s.thresholds.min_resume_pct, 5);
        assert_eq!(s.thresholds.max_resume_pct, 90);
        assert_eq!(s.thresholds.min_resume_duration_s, 300);
        assert_eq!(s.pull_interval, Duration::from_secs(300));
        assert_eq!(s.download_folder, None);
        assert_eq!(
            s.download_folder_in(Path::new("/d")),
            PathBuf::from("/d/downloads")
        );
    }

    #[test]
    fn set_survives_reopen_and_reset_restores_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let mut store = Store::open(&path).unwrap();
        store.set_setting(SettingKey::MaxResumePct, "95").unwrap();
        store
            .set_setting(SettingKey::DownloadFolder, "/media/films")
            .unwrap();
        store.set_setting(SettingKey::PullIntervalS, "600").unwrap();
        drop(store);
        let mut store = Store::open(&path).unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.thresholds.max_resume_pct, 95);
        assert_eq!(s.download_folder, Some(PathBuf::from("/media/films")));
        assert_eq!(s.pull_interval, Duration::from_secs(600));
        assert!(store.setting_is_set(SettingKey::MaxResumePct).unwrap());
        store.reset_setting(SettingKey::MaxResumePct).unwrap();
        assert!(!store.setting_is_set(SettingKey::MaxResumePct).unwrap());
        assert_eq!(store.settings().unwrap().thresholds.max_resume_pct, 90);
        store.set_setting(SettingKey::DownloadFolder, "").unwrap();
        assert_eq!(store.settings().unwrap().download_folder, None);
    }

    #[test]
    fn keep_downloading_when_closed_is_off_until_set() {
        let (_dir, mut store) = open();
        assert!(!store.settings().unwrap().keep_downloading_when_closed);
        let key = SettingKey::parse("keep-downloading-when-closed").unwrap();
        assert!(
            store
                .set_setting(key, "yes")
                .unwrap()
                .keep_downloading_when_closed
        );
        assert_eq!(key.value_in(&store.settings().unwrap()), "true");
        assert!(
            !store
                .set_setting(key, "false")
                .unwrap()
                .keep_downloading_when_closed
        );
    }

    #[test]
    fn invalid_values_are_refused_and_change_nothing() {
        let (_dir, mut store) = open();
        for (key, value) in [
            (SettingKey::MinResumePct, "101"),
            (SettingKey::MinResumePct, "-1"),
            (SettingKey::MinResumePct, "five"),
            (SettingKey::MinResumePct, "90"), // not below max_resume_pct
            (SettingKey::MaxResumePct, "5"),  // not above min_resume_pct
            (SettingKey::PullIntervalS, "10"),
            (SettingKey::PullIntervalS, "1e9"),
            (SettingKey::MinResumeDurationS, "999999999"),
            (SettingKey::DownloadFolder, "relative/path"),
            (SettingKey::KeepDownloadingWhenClosed, "sometimes"),
        ] {
            match store.set_setting(key, value) {
                Err(StoreError::InvalidSetting(reason)) => {
                    assert!(
                        reason.contains(key.as_str()) || reason.contains("resume"),
                        "{reason}"
                    )
                }
                other => panic!("{key} = {value}: expected a refusal, got {other:?}"),
            }
        }
        assert_eq!(store.settings().unwrap(), Settings::default());
    }

    #[test]
    fn garbage_in_the_table_reads_as_default() {
        let (_dir, store) = open();
        store
            .conn
            .execute_batch(
                "INSERT INTO settings VALUES ('min_resume_pct', 'lots');
                 INSERT INTO settings VALUES ('no_such_key', '1');
                 INSERT INTO settings VALUES ('pull_interval_s', '900');",
            )
            .unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.thresholds.min_resume_pct, 5);
        assert_eq!(s.pull_interval, Duration::from_secs(900));
    }

    #[test]
    fn key_names_round_trip() {
        for k in SettingKey::ALL {
            assert_eq!(SettingKey::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            SettingKey::parse("min-resume-pct"),
            Some(SettingKey::MinResumePct)
        );
        assert_eq!(SettingKey::parse("volume"), None);
    }
}
