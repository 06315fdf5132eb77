//! States a person could not get out of, and words that were not true (issue 20, items 1, 3
//! and 4), under a real display (`xvfb-run -a cargo test --test gui ui_dead_ends::`): the app with
//! its real worker, a real SQLite file and demo servers over loopback, driven by real clicks
//! and key presses (`xdotool`).
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use crate::common;

use common::gtk::{demo_server, descendants, episode_ids, launch, named, pump, wait_for};
use common::xdo::{click, type_text};
use playmark::demo::{DemoConfig, DemoLibrary, DemoServer};
use playmark::sync::ItemSyncState;
use playmark::ui::app::App;
use playmark::ui::worker::{LibrarySource, SyncQueueInit, SyncQueueInput};
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

fn seeded() -> DemoConfig {
    DemoConfig {
        library: DemoLibrary::seeded().without_progress(),
        ..DemoConfig::default()
    }
}

fn window(app: &relm4::Controller<App>) -> gtk::Widget {
    app.widget().clone().upcast()
}

/// The visible button labelled `label` below `root`.
fn button(root: &gtk::Widget, label: &str) -> Option<gtk::Button> {
    descendants(root)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.label().as_deref() == Some(label) && b.is_mapped())
}

/// What the header's sync button says.
fn status_label(app: &relm4::Controller<App>) -> String {
    let status = app.model().status.widget().clone().upcast::<gtk::Widget>();
    let label: gtk::Label = named(&status, "label").pop().unwrap().downcast().unwrap();
    label.label().to_string()
}

fn state(app: &relm4::Controller<App>, id: &str) -> Option<ItemSyncState> {
    app.model()
        .library
        .model()
        .rows
        .get(id)
        .and_then(|r| r.state)
}

/// Click the Watched check of `id`'s row.
fn click_watched(app: &relm4::Controller<App>, id: &str) {
    let library = app.model().library.widget().clone().upcast::<gtk::Widget>();
    let row = || named(&library, id).into_iter().find(|w| w.is_mapped());
    wait_for("the row on screen", || row().is_some());
    let check = descendants(&row().unwrap())
        .into_iter()
        .find_map(|w| w.downcast::<gtk::CheckButton>().ok())
        .unwrap();
    let before = check.is_active();
    click(&check);
    wait_for("the check toggled", || check.is_active() != before);
}

/// Fill the sign-in dialog's empty fields by clicking them and typing, then click Sign in.
fn sign_in_through_dialog(app: &relm4::Controller<App>, url: Option<&str>) {
    let dialog = app.model().sign_in.widget().clone();
    wait_for("the sign-in dialog", || dialog.is_visible());
    let root = dialog.clone().upcast::<gtk::Widget>();
    let field = |name: &str| named(&root, name).pop().unwrap();
    if let Some(url) = url {
        click(&field("url"));
        type_text(&dialog, url);
        click(&field("user"));
        type_text(&dialog, "demo");
    }
    click(&field("password"));
    type_text(&dialog, "demo");
    click(&button(&root, "Sign in").unwrap());
    wait_for("the dialog closed", || !dialog.is_visible());
}

/// Issue 20, item 1: the server forgets the sign-in while a change waits. The popover offers
/// Sign in (the dialog filled in for the account); once signed in the button follows the
/// engine ("Up to date"), and after Sign out the demo library shows no badge of the account.
#[gtk::test]
fn sign_in_needed_offers_sign_in_and_ends_when_signed_in_again() {
    // Windows and popovers left by the tests before this one would catch its clicks.
    common::gtk::close_all_windows();
    let (_demo_rt, demo) = demo_server(seeded());
    // The person's server (`playmark demo-server --port N`).
    let (_rt, server): (_, DemoServer) = demo_server(seeded());
    let dir = tempfile::tempdir().unwrap();
    let app = launch(SyncQueueInit::Demo {
        data_dir: dir.path().to_path_buf(),
        server: Some(demo.clone()),
    });
    app.widget().set_default_size(1000, 760);
    wait_for("the demo library", || {
        matches!(app.model().source, Some(LibrarySource::Demo { .. }))
    });
    click(&button(&window(&app), "Sign in…").unwrap());
    sign_in_through_dialog(&app, Some(&server.url()));
    wait_for("signed in", || {
        matches!(app.model().source, Some(LibrarySource::Account { .. }))
    });
    wait_for("the server's library", || episode_ids(&app).len() >= 3);
    let ids = episode_ids(&app);

    // The server stops; a change waits for it; it comes back having forgotten the sign-in.
    server.set_offline(true);
    click_watched(&app, &ids[0]);
    wait_for("offline", || status_label(&app) == "Offline");
    server.revoke_tokens();
    server.set_offline(false);
    // (The network monitor's hint: the engine probes at once instead of after its backoff.)
    app.model()
        .queue
        .emit(SyncQueueInput::ConnectivityChanged { online: true });
    wait_for("sign in needed", || status_label(&app) == "Sign in needed");
    assert_eq!(state(&app, &ids[0]), Some(ItemSyncState::WaitingForSignIn));

    // The popover says "sign in again" and has the button for it.
    let status = app.model().status.widget().clone();
    click(&status);
    let popover = status.popover().unwrap();
    wait_for("the popover", || popover.is_mapped());
    let sign_in = named(&popover.clone().upcast(), "sign_in")
        .pop()
        .expect("a Sign in button in the popover");
    wait_for("the Sign in button shown", || sign_in.is_mapped());
    click(&sign_in);
    let dialog = app.model().sign_in.widget().clone().upcast::<gtk::Widget>();
    wait_for("the sign-in dialog", || dialog.is_visible());
    assert!(!popover.is_visible(), "the popover closed");
    let text = |name: &str| -> String {
        named(&dialog, name)
            .pop()
            .unwrap()
            .downcast::<gtk::Entry>()
            .unwrap()
            .text()
            .to_string()
    };
    assert_eq!(text("url"), server.url(), "filled in for the account");
    assert_eq!(text("user"), "demo");
    sign_in_through_dialog(&app, None);

    // The change is delivered, and the button says what is true.
    wait_for("the change delivered", || {
        server.user_data(&ids[0]).unwrap().played
    });
    wait_for("up to date", || status_label(&app) == "Up to date");

    // Once more the server forgets the sign-in, a change waits, and the person signs out:
    // the demo library shows none of the account's badges.
    server.revoke_tokens();
    click_watched(&app, &ids[1]);
    wait_for("sign in needed again", || {
        state(&app, &ids[1]) == Some(ItemSyncState::WaitingForSignIn)
    });
    click(&button(&window(&app), "Sign out").unwrap());
    wait_for("the demo library again", || {
        matches!(app.model().source, Some(LibrarySource::Demo { .. }))
    });
    wait_for("the demo's episodes", || episode_ids(&app).len() >= 3);
    pump();
    let keys: Vec<String> = app
        .model()
        .library
        .model()
        .rows
        .states()
        .into_iter()
        .filter(|(_, s)| *s == ItemSyncState::WaitingForSignIn)
        .map(|(id, _)| id)
        .collect();
    assert!(keys.is_empty(), "the old account's badges: {keys:?}");
    assert_eq!(status_label(&app), "Up to date");
    assert!(button(&window(&app), "Sign in…").is_some());
}

/// The failure page's button (`None`: not shown).
fn recover_button(app: &relm4::Controller<App>) -> Option<gtk::Button> {
    named(&window(app), "recover")
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.is_mapped())
}

/// While there is no database the window shows no sync state and no Sign in.
fn assert_no_sync_state(app: &relm4::Controller<App>, what: &str) {
    assert!(
        !app.model().status.widget().is_visible(),
        "{what}: the sync button says {:?}",
        status_label(app)
    );
    assert!(
        button(&window(app), "Sign in…").is_none(),
        "{what}: Sign in offered"
    );
    assert!(app.model().source.is_none(), "{what}: no library");
}

/// Issue 20, item 3: a damaged database is a way out, not a dead end. The app offers what
/// `playmark reset-database` does: the file is set aside (renamed, never deleted) and the app
/// starts empty, on the demo library.
#[gtk::test]
fn a_damaged_database_is_set_aside_and_the_app_starts_empty() {
    // Windows and popovers left by the tests before this one would catch its clicks.
    common::gtk::close_all_windows();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let db = playmark::store::database_path(&data);
    let damaged = vec![0x5a_u8; 8192];
    std::fs::write(&db, &damaged).unwrap();
    let app = launch(SyncQueueInit::DataDir {
        data_dir: data.clone(),
    });
    app.widget().set_default_size(1000, 760);
    wait_for("the failure page", || recover_button(&app).is_some());
    let said = app.model().failure.clone().unwrap();
    assert!(said.contains("the file is damaged"), "{said}");
    assert!(
        said.contains(&db.display().to_string()),
        "names the file: {said}"
    );
    assert_eq!(
        recover_button(&app).unwrap().label().as_deref(),
        Some("Set Aside and Start Empty")
    );
    assert_no_sync_state(&app, "damaged");

    click(&recover_button(&app).unwrap());
    wait_for("the demo library", || {
        matches!(app.model().source, Some(LibrarySource::Demo { .. }))
    });
    assert!(app.model().failure.is_none());
    assert!(app.model().status.widget().is_visible());
    wait_for("the demo's episodes", || episode_ids(&app).len() >= 3);
    // The damaged file is still there, renamed, byte for byte; a fresh database took its place.
    let aside: Vec<std::path::PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("playmark.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), damaged);
    let fresh = playmark::store::Store::open(&db).unwrap();
    assert_eq!(fresh.integrity_check().unwrap(), "ok");
    app.widget().close();
    pump();
}

/// Makes `dir` refuse writes, for root too: `chattr +i` (an immutable directory: no file can
/// be created in it, whoever asks; needs CAP_LINUX_IMMUTABLE and a file system with the
/// flag), else mode 0500 when not root. Undone on drop.
struct Immutable(std::path::PathBuf, &'static str);

impl Immutable {
    fn make(dir: &std::path::Path) -> Option<Immutable> {
        use std::os::unix::fs::PermissionsExt;
        let chattr = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        let how = if chattr {
            "chattr +i"
        } else {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
            "mode 0500"
        };
        let guard = Immutable(dir.to_path_buf(), how);
        // Check that writes really fail (root ignores permission bits).
        std::fs::write(dir.join("probe"), b"x")
            .is_err()
            .then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
        let _ = std::fs::remove_file(self.0.join("probe"));
    }
}

/// Issue 20, item 3: a data folder Playmark cannot write to is said plainly (which folder, and
/// that Playmark needs to write there), with Try Again; no sync state meanwhile.
///
/// Two folders that refuse writes even to root: one whose parent is a regular file (it cannot
/// be created: ENOTDIR, on every machine), and an existing database's folder made immutable
/// with `chattr +i` (where the machine allows it; mode 0500 for other users).
#[gtk::test]
fn a_data_folder_that_cannot_be_written_is_said_with_try_again() {
    // Windows and popovers left by the tests before this one would catch its clicks.
    common::gtk::close_all_windows();
    let dir = tempfile::tempdir().unwrap();
    // A folder under a regular file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a folder").unwrap();
    let data = file.join("playmark");
    let app = launch(SyncQueueInit::DataDir {
        data_dir: data.clone(),
    });
    app.widget().set_default_size(1000, 760);
    wait_for("the failure page", || recover_button(&app).is_some());
    let said = app.model().failure.clone().unwrap();
    assert_eq!(
        said,
        format!(
            "Playmark can't write to its data folder, {}. It keeps your library and the changes waiting to be sent there, so it needs to write to that folder: make it writable (or free space on its disk), then try again.",
            data.display()
        )
    );
    assert_eq!(
        recover_button(&app).unwrap().label().as_deref(),
        Some("Try Again")
    );
    assert_no_sync_state(&app, "folder under a file");
    // The person fixes it and tries again.
    std::fs::remove_file(&file).unwrap();
    click(&recover_button(&app).unwrap());
    wait_for("the demo library", || {
        matches!(app.model().source, Some(LibrarySource::Demo { .. }))
    });
    assert!(app.model().status.widget().is_visible());
    app.widget().close();
    pump();

    // The case: a database in a folder that became read-only.
    let ro = dir.path().join("ro");
    playmark::store::Store::open(&playmark::store::database_path(&ro)).unwrap();
    let Some(guard) = Immutable::make(&ro) else {
        eprintln!("SKIPPED the immutable folder: this machine cannot make one");
        return;
    };
    let app = launch(SyncQueueInit::DataDir {
        data_dir: ro.clone(),
    });
    wait_for("the failure page", || recover_button(&app).is_some());
    let said = app.model().failure.clone().unwrap();
    assert!(
        said.starts_with(&format!(
            "Playmark can't write to its data folder, {}.",
            ro.display()
        )),
        "{}: {said}",
        guard.1
    );
    assert_no_sync_state(&app, guard.1);
    app.widget().close();
    pump();
}

/// Issue 20, item 4: the header never says "Up to date" while the server is down, even with
/// nothing queued: "Sync now" (its pull fails) and a play that fails find out, and the button
/// says "Offline" until the server answers again.
#[gtk::test]
fn the_header_says_offline_when_sync_now_or_a_play_finds_the_server_down() {
    // Windows and popovers left by the tests before this one would catch its clicks.
    common::gtk::close_all_windows();
    std::env::set_var(playmark::ui::worker::MPV_ARGS_ENV, "--vo=null --ao=null");
    let (_rt, server) = demo_server(seeded());
    let dir = tempfile::tempdir().unwrap();
    let app = launch(SyncQueueInit::Demo {
        data_dir: dir.path().to_path_buf(),
        server: Some(server.clone()),
    });
    app.widget().set_default_size(1000, 760);
    wait_for("the library", || episode_ids(&app).len() >= 3);
    wait_for("up to date", || status_label(&app) == "Up to date");

    // Nothing queued, the server down, Sync now.
    server.set_offline(true);
    let status = app.model().status.widget().clone();
    click(&status);
    let popover = status.popover().unwrap();
    wait_for("the popover", || popover.is_mapped());
    click(&named(&popover.clone().upcast(), "sync_now").pop().unwrap());
    wait_for("offline after Sync now", || status_label(&app) == "Offline");
    status.popdown();
    // Back: the probe finds it.
    server.set_offline(false);
    wait_for("up to date again", || status_label(&app) == "Up to date");

    // A play that fails because the server is down.
    if playmark::player::mpv::find_mpv().is_none() {
        panic!("mpv is not installed (scripts/install-deps.sh installs it)");
    }
    server.set_offline(true);
    let id = episode_ids(&app)[0].clone();
    let library = app.model().library.widget().clone().upcast::<gtk::Widget>();
    let play = || {
        named(&library, &id)
            .into_iter()
            .find(|w| w.is_mapped())
            .and_then(|row| named(&row, "play").pop())
    };
    wait_for("the play button", || {
        play().is_some_and(|p| p.is_sensitive())
    });
    click(&play().unwrap());
    wait_for("the play failed", || app.model().last_message.is_some());
    wait_for("offline after the failed play", || {
        status_label(&app) == "Offline"
    });
}
