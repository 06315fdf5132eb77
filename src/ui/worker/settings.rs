//! The worker's side of the Preferences window: settings are read and saved here (the window
//! never opens the database), with the same validation as `playmark settings`.
//!
//! Global settings live in the database of the data directory (as the CLI's); the conflict
//! policy is the running account's, saved through the engine's store.

use super::*;
use crate::store::SettingKey;
use crate::sync::Policy;
use crate::ui::preferences::PreferencesState;

impl SyncQueue {
    /// The settings database: the data directory's (the CLI's), whatever account runs.
    fn settings_store(&self) -> Result<Store, String> {
        Store::open(&database_path(&self.base_dir())).map_err(store_failed)
    }

    /// Send the saved settings and the running account's policy.
    pub(super) fn send_settings(&self, out: &relm4::Sender<SyncQueueOutput>) {
        let settings = match self
            .settings_store()
            .and_then(|s| s.settings().map_err(store_failed))
        {
            Ok(settings) => settings,
            Err(text) => {
                let _ = out.send(SyncQueueOutput::Message { text });
                return;
            }
        };
        let policy = self.engine.as_ref().and_then(|engine| {
            let account = engine.account();
            let read = engine.with_store(|s| {
                Ok::<_, crate::store::StoreError>((s.policy(account)?, s.account_by_id(account)?))
            });
            match read {
                Ok((policy, Some(a))) => {
                    Some((policy, format!("{} ({})", a.server_name, a.user_name)))
                }
                Ok((_, None)) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "policy not read");
                    None
                }
            }
        });
        let _ = out.send(SyncQueueOutput::Settings {
            state: PreferencesState { settings, policy },
        });
    }

    /// Save one setting; a value the store refuses is answered with `SettingRefused`.
    pub(super) fn set_setting(
        &self,
        key: SettingKey,
        value: &str,
        out: &relm4::Sender<SyncQueueOutput>,
    ) {
        let saved = self.settings_store().map(|mut s| s.set_setting(key, value));
        match saved {
            Ok(Ok(settings)) => {
                self.mirror_settings(&settings);
                self.apply_setting(key, &settings);
                self.send_settings(out);
            }
            Ok(Err(crate::store::StoreError::InvalidSetting(message))) => {
                let _ = out.send(SyncQueueOutput::SettingRefused { key, message });
            }
            Ok(Err(e)) => {
                let _ = out.send(SyncQueueOutput::Message {
                    text: store_failed(e),
                });
            }
            Err(text) => {
                let _ = out.send(SyncQueueOutput::Message { text });
            }
        }
    }

    /// The demo library's engine keeps its own database (reset at every start): it gets the
    /// person's settings too, so Preferences apply to it (thresholds at the next play).
    fn mirror_settings(&self, settings: &crate::store::Settings) {
        let (Some(engine), Some(dir)) = (&self.engine, &self.data_dir) else {
            return;
        };
        if *dir == self.base_dir() {
            return;
        }
        if let Err(e) = engine.with_store(|s| s.replace_settings(settings)) {
            tracing::warn!(error = %e, "settings not copied to the demo library's database");
        }
    }

    /// Copy the person's settings into the database in `dir` (the demo library's), when that
    /// is not the settings database itself.
    pub(super) fn copy_settings_to(&self, dir: &Path) -> Result<(), String> {
        if dir == self.base_dir() {
            return Ok(());
        }
        let settings = self
            .settings_store()
            .and_then(|s| s.settings().map_err(store_failed))?;
        Store::open(&database_path(dir))
            .and_then(|mut s| s.replace_settings(&settings))
            .map_err(store_failed)
    }

    /// A saved setting that the running engine uses: applied at once. (The watched thresholds
    /// are read at each play; the download folder is used from the next start, while the
    /// downloads in progress finish where they are.)
    fn apply_setting(&self, key: SettingKey, settings: &crate::store::Settings) {
        if let (SettingKey::PullIntervalS, Some(engine)) = (key, &self.engine) {
            engine.set_pull_interval(
                i64::try_from(settings.pull_interval.as_millis()).unwrap_or(i64::MAX),
            );
        }
    }

    /// Set the running account's conflict policy (used from its next pull on).
    pub(super) fn set_policy(&self, policy: Policy, out: &relm4::Sender<SyncQueueOutput>) {
        let Some(engine) = &self.engine else {
            tracing::warn!("no account runs: policy not set");
            return;
        };
        let account = engine.account();
        match engine.with_store(|s| s.set_policy(account, policy)) {
            Ok(()) => self.send_settings(out),
            Err(e) => {
                let _ = out.send(SyncQueueOutput::Message {
                    text: store_failed(e),
                });
            }
        }
    }
}
