//! The Preferences window under a real display (`xvfb-run -a cargo test --test gui ui_prefs::`):
//! opened through its window action (the primary menu's entry, Ctrl+,), its rows changed as a
//! person would, and the result read back from the database and from `playmark settings` — the
//! real worker saves it, with the CLI's validation.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use crate::common;

use common::gtk::{demo_server, launch, pump, wait_for};
use playmark::demo::DemoConfig;
use playmark::store::{database_path, SettingKey, Store};
use playmark::sync::Policy;
use playmark::ui::worker::SyncQueueInit;
use relm4::adw::prelude::ComboRowExt;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

fn settings_cli(data: &Path, key: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(data)
        .args(["settings", key])
        .env_remove("PLAYMARK_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[gtk::test]
fn preferences_save_at_once_and_refuse_an_invalid_value() {
    let (_rt, server) = demo_server(DemoConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let app = launch(SyncQueueInit::Demo {
        data_dir: data.clone(),
        server: Some(server.clone()),
    });
    wait_for("the library", || app.model().source.is_some());

    // The primary menu's entry.
    gtk::prelude::ActionGroupExt::activate_action(app.widget(), "preferences", None);
    let prefs = || app.model().preferences.model().window.clone();
    wait_for("the preferences", || {
        app.model().preferences.model().state().is_some() && prefs().is_visible()
    });
    let store = || Store::open(&database_path(&data)).unwrap();

    // The pull interval (minutes in the window, seconds in the store): saved at once.
    let pull = app.model().preferences.model().pull_interval.clone();
    assert_eq!(pull.value(), 5.0, "the default, 5 minutes");
    pull.set_value(10.0);
    wait_for("the pull interval saved", || {
        store().settings().unwrap().pull_interval == Duration::from_secs(600)
    });
    assert_eq!(settings_cli(&data, "pull_interval_s"), "600");

    // The running account's conflict policy.
    let account = store().account().unwrap().unwrap().id;
    assert_eq!(store().policy(account).unwrap(), Policy::DEFAULT);
    let index = Policy::ALL
        .iter()
        .position(|p| *p == Policy::PreferServer)
        .unwrap();
    let policy = app.model().preferences.model().policy.clone();
    policy.set_selected(index as u32);
    wait_for("the policy saved", || {
        store().policy(account).unwrap() == Policy::PreferServer
    });

    // An invalid value (no resume point before 95 % but watched after 90 %) is shown, not
    // saved; a valid one then is saved and clears the error.
    let min = app.model().preferences.model().min_resume_pct.clone();
    min.set_value(95.0);
    wait_for("the refusal shown", || {
        app.model()
            .preferences
            .model()
            .error(SettingKey::MinResumePct)
            .is_some()
    });
    assert_eq!(min.value(), 95.0, "the value stays on screen");
    assert_eq!(store().settings().unwrap().thresholds.min_resume_pct, 5);
    assert_eq!(settings_cli(&data, "min_resume_pct"), "5");
    min.set_value(10.0);
    wait_for("the threshold saved", || {
        store().settings().unwrap().thresholds.min_resume_pct == 10
    });
    wait_for("the error cleared", || {
        app.model()
            .preferences
            .model()
            .error(SettingKey::MinResumePct)
            .is_none()
    });

    // A relative download folder is refused; the entry keeps what was typed.
    let folder = app.model().preferences.model().download_folder.clone();
    folder.set_text("not/absolute");
    folder.emit_by_name::<()>("apply", &[]);
    wait_for("the folder refused", || {
        app.model()
            .preferences
            .model()
            .error(SettingKey::DownloadFolder)
            .is_some()
    });
    assert_eq!(store().settings().unwrap().download_folder, None);
    assert_eq!(folder.text().as_str(), "not/absolute");
    prefs().close();
    pump();
}

/// A new user's start (no account: the demo library, on its own database in `<data>/demo`,
/// reset at every start). The person's settings apply to it all the same: those saved before
/// the start (here with `playmark settings`) are copied in, and a change in Preferences
/// reaches it at once — the watched thresholds a play reads, the pull interval.
#[gtk::test]
fn the_demo_library_uses_the_persons_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let set = std::process::Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(&data)
        .args(["settings", "max_resume_pct", "80"])
        .env_remove("PLAYMARK_LOG")
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");
    let app = launch(SyncQueueInit::DataDir {
        data_dir: data.clone(),
    });
    wait_for("the demo library", || app.model().source.is_some());
    let demo = || Store::open(&database_path(&data.join("demo"))).unwrap();
    assert_eq!(demo().settings().unwrap().thresholds.max_resume_pct, 80);

    gtk::prelude::ActionGroupExt::activate_action(app.widget(), "preferences", None);
    let prefs = || app.model().preferences.model().window.clone();
    wait_for("the preferences", || {
        app.model().preferences.model().state().is_some() && prefs().is_visible()
    });
    let max = app.model().preferences.model().max_resume_pct.clone();
    assert_eq!(max.value(), 80.0, "the person's setting, not the default");
    max.set_value(85.0);
    wait_for("the threshold in the demo library's database", || {
        demo().settings().unwrap().thresholds.max_resume_pct == 85
    });
    let pull = app.model().preferences.model().pull_interval.clone();
    pull.set_value(2.0);
    wait_for("the pull interval in the demo library's database", || {
        demo().settings().unwrap().pull_interval == Duration::from_secs(120)
    });
    assert_eq!(settings_cli(&data, "max_resume_pct"), "85");
    prefs().close();
    pump();
}
