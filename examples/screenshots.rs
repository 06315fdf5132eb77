//! Renders the main window in several states to PNG files: `scripts/screenshots.sh` runs it
//! under Xvfb (with a compositor) and it captures the screen with ImageMagick's `import`, so the
//! popover (a separate surface) is captured too.
//!
//! Usage: `screenshots OUTPUT_DIR` (needs a display, `import` and the demo server).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use playmark::demo::{DemoConfig, DemoLibrary, DemoServer, Fault, RequestMatch};
use playmark::model::LocalChange;
use playmark::store::DownloadState;
use playmark::sync::ItemSyncState;
use playmark::ui::app::{App, AppInit};
use playmark::ui::downloads::DownloadAction;
use playmark::ui::library::LibraryInput;
use playmark::ui::worker::{SyncQueueInit, SyncQueueInput};
use relm4::adw;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

fn pump_for(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        while glib::MainContext::default().iteration(false) {}
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "timed out: {what}"
        );
        pump_for(20);
    }
}

fn descendants(root: &gtk::Widget) -> Vec<gtk::Widget> {
    let mut out = Vec::new();
    let mut child = root.first_child();
    while let Some(c) = child {
        out.push(c.clone());
        out.extend(descendants(&c));
        child = c.next_sibling();
    }
    out
}

fn shoot(dir: &Path, name: &str) {
    pump_for(400);
    let path = dir.join(format!("{name}.png"));
    let status = std::process::Command::new("import")
        .args(["-window", "root", "-crop", "1040x720+0+0", "+repage"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "import failed for {name}");
    println!("wrote {}", path.display());
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/screenshots".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    gtk::init().unwrap();
    adw::init().unwrap();
    playmark::ui::i18n::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(DemoServer::start(DemoConfig::default()))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let app = App::builder()
        .launch(AppInit {
            queue: SyncQueueInit::Demo {
                data_dir: data.path().to_path_buf(),
                server: Some(server.clone()),
            },
            window_state: None,
        })
        .detach();
    app.widget().set_default_size(1000, 680);
    app.widget().present();
    // Shows → the first series → its first season.
    let ids = || -> Vec<String> {
        // No model borrow is held across a pump (the components update in it).
        let lists = || app.model().library.model().lists.clone();
        if lists().episodes.is_empty() {
            if let Some(id) = lists().series.first().cloned() {
                app.model().library.emit(LibraryInput::OpenSeries { id });
                pump_for(50);
            }
            if let Some(id) = lists().seasons.first().cloned() {
                app.model().library.emit(LibraryInput::OpenSeason { id });
                pump_for(50);
            }
        }
        lists().episodes
    };
    let state = |id: &str| {
        app.model()
            .library
            .model()
            .rows
            .get(id)
            .and_then(|r| r.state)
    };
    let toggle = |id: &str| {
        let root = app.model().library.widget().clone().upcast::<gtk::Widget>();
        let row = descendants(&root)
            .into_iter()
            .find(|w| w.widget_name() == id)
            .unwrap();
        let check = descendants(&row)
            .into_iter()
            .find_map(|w| w.downcast::<gtk::CheckButton>().ok())
            .unwrap();
        check.set_active(!check.is_active());
    };
    wait_for("library", || ids().len() >= 6);
    let ids = ids();

    // 1. Synced: two changes just reached the server (the checks fade after 3 s).
    toggle(&ids[0]);
    toggle(&ids[1]);
    wait_for("synced", || state(&ids[1]) == Some(ItemSyncState::Synced));
    shoot(&dir, "synced");

    // 2. Offline with pending changes.
    server.set_offline(true);
    for id in &ids[2..5] {
        toggle(id);
    }
    wait_for("waiting", || {
        state(&ids[4]) == Some(ItemSyncState::WaitingForConnection)
    });
    shoot(&dir, "offline-pending");
    server.clear_requests();
    server.set_offline(false);
    // As the network monitor says when the connection is back: probe now, not at the next
    // (jittered, growing) probe.
    app.model()
        .queue
        .emit(SyncQueueInput::ConnectivityChanged { online: true });
    wait_for("back", || state(&ids[4]) == Some(ItemSyncState::Synced));
    // Back online the app pulls, and the live socket reconnects and catches up: two library
    // listings, waited for so the faults below reach the sends.
    wait_for("the pull and the socket", || {
        let listings = server
            .requests()
            .iter()
            .filter(|r| r.path == "/Items" && r.query_value("startIndex").is_some())
            .count();
        server.live_connections() == 1 && listings >= 2
    });

    // 3. Needs attention (the server refuses two changes) and a retrying one. The faults meet
    // the writes only: a library listing, a poster or the socket passing by takes none of them
    // (with `fail_next` one of those did, and the step timed out waiting for the second
    // refusal).
    server.clear_faults();
    for _ in 0..2 {
        server.fail_matching(
            RequestMatch::user_data_writes(),
            Fault::Status {
                code: 404,
                retry_after: None,
            },
        );
    }
    toggle(&ids[0]);
    toggle(&ids[1]);
    wait_for("attention", || {
        ids[0..2]
            .iter()
            .all(|id| matches!(state(id), Some(ItemSyncState::NeedsAttention { .. })))
    });
    server.clear_faults();
    for _ in 0..3 {
        server.fail_matching(
            RequestMatch::user_data_writes(),
            Fault::Status {
                code: 503,
                retry_after: Some(40),
            },
        );
    }
    // A player saved a position 1 minute into the last episode.
    app.model().queue.emit(SyncQueueInput::Enqueue {
        item: ids[5].clone(),
        change: LocalChange::Position {
            position_ms: 60_000,
        },
    });
    wait_for("retrying", || {
        matches!(state(&ids[5]), Some(ItemSyncState::Retrying { .. }))
    });
    shoot(&dir, "needs-attention");

    // 4. The status popover open.
    app.model().status.widget().popup();
    shoot(&dir, "popover");
    app.model().status.widget().popdown();

    // 5. Dark mode.
    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::ForceDark);
    shoot(&dir, "dark");

    adw::StyleManager::default().set_color_scheme(adw::ColorScheme::Default);

    // 6. Home (Continue watching: the episode at 1:00; Next up), Movies, and a search.
    for (view, name) in [("home", "home"), ("movies", "movies")] {
        app.model()
            .library
            .emit(LibraryInput::ShowView { name: view.into() });
        pump_for(500);
        shoot(&dir, name);
    }
    // 7. Shows: the series with how many episodes are left unwatched (issue 20).
    app.model().library.emit(LibraryInput::ShowView {
        name: "shows".into(),
    });
    // Back from the season and the series to the list of series.
    for _ in 0..2 {
        app.model().library.emit(LibraryInput::Back);
        pump_for(300);
    }
    pump_for(300);
    shoot(&dir, "series-unwatched");
    // 8. A bulk change and its Undo toast (the change is held, not sent, while it is up).
    let series = app.model().library.model().lists.series[0].clone();
    app.model()
        .library
        .emit(LibraryInput::OpenSeries { id: series });
    pump_for(200);
    let season = app.model().library.model().lists.seasons[0].clone();
    app.model()
        .library
        .emit(LibraryInput::OpenSeason { id: season });
    pump_for(300);
    app.model()
        .library
        .widgets()
        .mark_season_watched
        .emit_clicked();
    wait_for("the Undo toast", || app.model().undo_toast.is_some());
    shoot(&dir, "undo-toast");
    // The same toast in the narrowest window: its words wrap, nothing is cut off.
    app.widget().set_default_size(300, 680);
    pump_for(600);
    shoot(&dir, "toast-narrow");
    app.widget().set_default_size(1000, 680);
    let batch = app.model().undo_toast.as_ref().map(|(b, _)| *b);
    if let Some(batch) = batch {
        app.emit(playmark::ui::app::AppInput::Undo { batch });
    }
    pump_for(300);
    app.model().library.emit(LibraryInput::ToggleSearch);
    pump_for(200);
    let root = app.widget().clone().upcast::<gtk::Widget>();
    let entry = descendants(&root)
        .into_iter()
        .find_map(|w| w.downcast::<gtk::SearchEntry>().ok())
        .expect("the search entry");
    entry.set_text("th");
    wait_for("search results", || {
        !app.model().library.model().lists.results.is_empty()
    });
    pump_for(500);
    shoot(&dir, "search");
    entry.set_text("");
    app.model().library.emit(LibraryInput::ToggleSearch);
    pump_for(200);

    // 7. The Downloads view: one downloaded, one under way, one paused.
    server.clear_faults();
    let download = |id: &str| {
        app.model().queue.emit(SyncQueueInput::Download {
            item: id.to_string(),
        })
    };
    let downloads = || app.model().library.model().downloads.model().rows.clone();
    let count = |state: DownloadState| downloads().iter().filter(|r| r.state == state).count();
    download(&ids[0]);
    wait_for("one downloaded", || count(DownloadState::Done) == 1);
    let size = server
        .media_bytes(&ids[1])
        .map_or(1_000_000, |b| b.len() as u64);
    server.set_media_rate(Some(size / 30));
    download(&ids[1]);
    download(&ids[2]);
    wait_for("two under way", || {
        downloads()
            .iter()
            .filter(|r| r.state == DownloadState::Downloading && r.bytes > 0)
            .count()
            == 2
    });
    app.model().queue.emit(SyncQueueInput::DownloadControl {
        item: ids[2].clone(),
        action: DownloadAction::Pause,
    });
    wait_for("one paused", || count(DownloadState::Paused) == 1);
    app.model().library.emit(LibraryInput::ShowView {
        name: "downloads".into(),
    });
    pump_for(500);
    shoot(&dir, "downloads");

    // 8. The server forgot the sign-in while a change waits: the popover says so and offers
    // Sign in.
    server.set_media_rate(None);
    for id in &ids[1..3] {
        app.model().queue.emit(SyncQueueInput::DownloadControl {
            item: id.clone(),
            action: DownloadAction::Remove,
        });
    }
    app.model().library.emit(LibraryInput::ShowView {
        name: "shows".into(),
    });
    pump_for(300);
    server.revoke_tokens();
    toggle(&ids[3]);
    wait_for("sign in needed", || {
        state(&ids[3]) == Some(ItemSyncState::WaitingForSignIn)
    });
    app.model().status.widget().popup();
    shoot(&dir, "sign-in-needed");
    app.model().status.widget().popdown();
    // 10. The sign-in dialog (it fits the screen; Escape closes it, Enter signs in).
    app.emit(playmark::ui::app::AppInput::ShowSignIn);
    pump_for(500);
    shoot(&dir, "sign-in-dialog");
    let dialogs: Vec<gtk::Window> = gtk::Window::list_toplevels()
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Window>().ok())
        .filter(|w| w != app.widget().upcast_ref::<gtk::Window>() && w.is_visible())
        .collect();
    for w in dialogs {
        w.close();
    }
    pump_for(200);
    // 11. The main menu: Preferences, Keyboard Shortcuts, About.
    let root = app.widget().clone().upcast::<gtk::Widget>();
    if let Some(menu) = descendants(&root)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::MenuButton>().ok())
        .find(|m| m.icon_name().as_deref() == Some("open-menu-symbolic"))
    {
        menu.popup();
        shoot(&dir, "main-menu");
        menu.popdown();
    }
    app.widget().close();
    pump_for(100);
    drop(app);

    // 12. Home on a library with nothing watched yet: each section says what will appear.
    let fresh = rt
        .block_on(DemoServer::start(DemoConfig {
            library: DemoLibrary::seeded().without_progress(),
            ..DemoConfig::default()
        }))
        .unwrap();
    let fresh_data = tempfile::tempdir().unwrap();
    let app = App::builder()
        .launch(AppInit {
            queue: SyncQueueInit::Demo {
                data_dir: fresh_data.path().to_path_buf(),
                server: Some(fresh.clone()),
            },
            window_state: None,
        })
        .detach();
    app.widget().set_default_size(1000, 680);
    app.widget().present();
    wait_for("the fresh library", || {
        !app.model().library.model().lists.series.is_empty()
    });
    app.model().library.emit(LibraryInput::ShowView {
        name: "home".into(),
    });
    pump_for(500);
    shoot(&dir, "home-empty");
    app.widget().close();
    pump_for(100);
    drop(app);

    // 9. No database to work with: a damaged file (Set Aside and Start Empty) and a data folder
    // that cannot be written (Try Again).
    let damaged = tempfile::tempdir().unwrap();
    std::fs::write(
        playmark::store::database_path(damaged.path()),
        vec![0x5a_u8; 8192],
    )
    .unwrap();
    let unwritable = tempfile::tempdir().unwrap();
    std::fs::write(unwritable.path().join("file"), b"not a folder").unwrap();
    for (data_dir, name) in [
        (damaged.path().to_path_buf(), "damaged-database"),
        (
            unwritable.path().join("file").join("playmark"),
            "folder-not-writable",
        ),
    ] {
        let app = App::builder()
            .launch(AppInit {
                queue: SyncQueueInit::DataDir { data_dir },
                window_state: None,
            })
            .detach();
        app.widget().set_default_size(1000, 680);
        app.widget().present();
        wait_for(name, || app.model().failure.is_some());
        shoot(&dir, name);
        app.widget().close();
        pump_for(100);
    }
    drop(rt);
}
