//! The app's widgets under a real display (run with `xvfb-run -a cargo test`): real GTK widgets,
//! the real SyncQueue worker and engine, a real SQLite file and the demo server over loopback.
//! `#[gtk::test]` runs every test on one GTK thread.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use playmark::backend::{ErrorKind, SyncError};
use playmark::demo::{DemoConfig, DemoLibrary, DemoServer, Fault};
use playmark::model::ItemKind;
use playmark::store::ItemView;
use playmark::sync::{AccountState, ItemSyncState};
use playmark::ui::app::{App, AppInit, AppInput};
use playmark::ui::library::{Library, LibraryInput};
use playmark::ui::sync_queue::{SyncQueueInit, SyncQueueOutput};
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

fn pump() {
    while glib::MainContext::default().iteration(false) {}
}

/// Pump the main loop until `cond` holds (the engine runs on real time: debounce, probes).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        pump();
        if cond() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
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

fn named(root: &gtk::Widget, name: &str) -> Vec<gtk::Widget> {
    descendants(root)
        .into_iter()
        .filter(|w| w.widget_name() == name)
        .collect()
}

fn one<T: IsA<gtk::Widget>>(root: &gtk::Widget) -> T {
    descendants(root)
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
        .expect("widget of that type")
}

struct Fixture {
    _rt: tokio::runtime::Runtime,
    server: DemoServer,
    _dir: tempfile::TempDir,
    app: relm4::Controller<App>,
}

impl Fixture {
    fn start() -> Fixture {
        let _ = relm4::adw::init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(DemoServer::start(DemoConfig {
                library: DemoLibrary::seeded().without_progress(),
                ..DemoConfig::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = App::builder()
            .launch(AppInit {
                queue: SyncQueueInit::Demo {
                    data_dir: dir.path().to_path_buf(),
                    server: Some(server.clone()),
                },
                window_state: None,
            })
            .detach();
        app.widget().present();
        let f = Fixture {
            _rt: rt,
            server,
            _dir: dir,
            app,
        };
        wait_for("the library", || f.episode_ids().len() >= 3);
        f
    }

    /// Episode ids of the open season (Shows → first series → first season, opened when no
    /// season is open), in screen order.
    fn episode_ids(&self) -> Vec<String> {
        // No model borrow is held across a pump (the components update in it).
        let lists = || self.app.model().library.model().lists.clone();
        if lists().episodes.is_empty() {
            if let Some(id) = lists().series.first().cloned() {
                self.app
                    .model()
                    .library
                    .emit(LibraryInput::OpenSeries { id });
                pump();
            }
            if let Some(id) = lists().seasons.first().cloned() {
                self.app
                    .model()
                    .library
                    .emit(LibraryInput::OpenSeason { id });
                pump();
            }
        }
        lists().episodes
    }

    fn row_widget(&self, id: &str) -> gtk::Widget {
        let library = self
            .app
            .model()
            .library
            .widget()
            .clone()
            .upcast::<gtk::Widget>();
        wait_for("the row on screen", || !named(&library, id).is_empty());
        named(&library, id).pop().expect("row by item id")
    }

    fn state(&self, id: &str) -> Option<ItemSyncState> {
        self.app
            .model()
            .library
            .model()
            .rows
            .get(id)
            .and_then(|r| r.state)
    }

    fn played(&self, id: &str) -> bool {
        self.app
            .model()
            .library
            .model()
            .rows
            .item(id)
            .unwrap()
            .played
    }

    fn toggle_watched(&self, id: &str) {
        let check: gtk::CheckButton = one(&self.row_widget(id));
        check.set_active(!check.is_active());
    }

    fn server_played(&self, id: &str) -> bool {
        self.server.user_data(id).unwrap().played
    }
}

fn item(id: &str, kind: ItemKind, parent: Option<&str>, n: i64) -> ItemView {
    ItemView {
        item_id: id.into(),
        kind,
        name: format!("Item {id}"),
        parent_id: parent.map(Into::into),
        series_id: None,
        season_id: parent.map(Into::into),
        series_name: Some("Show".into()),
        season_number: Some(1),
        episode_number: Some(n),
        runtime_ms: Some(1_200_000),
        position_ms: 754_000,
        played: false,
        play_count: 0,
        last_played: None,
        sync_state: None,
    }
}

/// A library alone in a window, showing the episodes of `season` (rows are virtualised: only
/// a list on screen has row widgets).
fn library_window(items: Vec<ItemView>, season: &str) -> (relm4::Controller<Library>, gtk::Window) {
    let _ = relm4::adw::init();
    playmark::ui::load_resources();
    let library = Library::builder().launch(()).detach();
    let window = gtk::Window::new();
    window.set_default_size(800, 600);
    window.set_child(Some(library.widget()));
    window.present();
    library.emit(LibraryInput::Load { items });
    library.emit(LibraryInput::OpenSeason { id: season.into() });
    pump();
    (library, window)
}

fn row_in(library: &relm4::Controller<Library>, id: &str) -> gtk::Widget {
    let root = library.widget().clone().upcast::<gtk::Widget>();
    wait_for("the row on screen", || !named(&root, id).is_empty());
    named(&root, id).pop().expect("row found by item id")
}

#[gtk::test]
fn each_badge_state_renders_for_an_item_state_message() {
    let (library, _window) = library_window(
        vec![
            item("season", ItemKind::Season, None, 1),
            item("ep1", ItemKind::Episode, Some("season"), 1),
        ],
        "season",
    );
    let row = row_in(&library, "ep1");
    // The badge container is rebuilt when its accessible label changes: look it up each time.
    let badge = || {
        let all = named(&row, "sync-badge");
        assert_eq!(all.len(), 1, "one badge per row");
        all[0].clone()
    };
    let icon: gtk::Image = one(&badge());
    let spinner: gtk::Spinner = one(&badge());
    assert!(!badge().is_visible(), "no badge before any state");
    let resume = descendants(&row)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Label>().ok())
        .any(|l| l.label() == "Resume from 12:34" && l.is_visible());
    assert!(resume, "resume position shown");

    let cases: Vec<(ItemSyncState, Option<&str>, &str)> = vec![
        (
            ItemSyncState::Queued,
            Some("playmark-sync-symbolic"),
            "queued",
        ),
        (
            ItemSyncState::WaitingForConnection,
            Some("network-offline-symbolic"),
            "waiting for connection",
        ),
        (ItemSyncState::Syncing, None, "syncing"),
        (ItemSyncState::Synced, Some("emblem-ok-symbolic"), "synced"),
        (
            ItemSyncState::Retrying {
                attempt: 5,
                next_attempt_at: chrono::Utc::now().timestamp_millis() + 40_000,
            },
            Some("view-refresh-symbolic"),
            "attempt 5",
        ),
        (
            ItemSyncState::NeedsAttention {
                error: "item <gone> & removed".into(),
            },
            Some("dialog-warning-symbolic"),
            "needs attention",
        ),
    ];
    for (state, icon_name, label_part) in cases {
        library.emit(LibraryInput::ItemState {
            item: "ep1".into(),
            state: state.clone(),
        });
        pump();
        let badge = badge();
        assert!(badge.is_visible(), "{state:?} shows a badge");
        assert!(icon.is_ancestor(&badge) && spinner.is_ancestor(&badge));
        match icon_name {
            Some(name) => {
                assert!(icon.is_visible() && !spinner.is_visible(), "{state:?}");
                assert_eq!(icon.icon_name().as_deref(), Some(name), "{state:?}");
            }
            None => assert!(spinner.is_visible() && spinner.is_spinning() && !icon.is_visible()),
        }
        let model_badge = library.model().rows.get("ep1").unwrap().badge();
        let label = model_badge.unwrap().accessible_label;
        assert!(label.contains(label_part), "{label} ~ {label_part}");
        if let ItemSyncState::NeedsAttention { .. } = state {
            // The reason is the tooltip, as plain text (not markup).
            assert_eq!(
                badge.tooltip_text().as_deref(),
                Some("item <gone> & removed")
            );
            assert!(badge.has_css_class("attention"));
        }
    }
    library.emit(LibraryInput::ItemState {
        item: "ep1".into(),
        state: ItemSyncState::Discarded,
    });
    pump();
    assert!(!badge().is_visible(), "discarded: no badge");

    // The accessible label is set through GtkBuilder (GTK 4.8 has no Rust binding for it);
    // text that looks like markup is escaped, not parsed.
    playmark::ui::a11y::labelled_box("Sync status: needs attention: <b>gone</b> & \"x\"").unwrap();
}

#[gtk::test]
fn synced_check_fades_after_three_seconds() {
    let (library, _window) = library_window(
        vec![
            item("season", ItemKind::Season, None, 1),
            item("ep1", ItemKind::Episode, Some("season"), 1),
        ],
        "season",
    );
    let row = row_in(&library, "ep1");
    library.emit(LibraryInput::ItemState {
        item: "ep1".into(),
        state: ItemSyncState::Synced,
    });
    pump();
    let badge = || named(&row, "sync-badge").pop().unwrap();
    assert!(badge().is_visible());
    let shown = Instant::now();
    wait_for("the check to fade", || !badge().is_visible());
    assert!(shown.elapsed() >= Duration::from_millis(2_500));
}

#[gtk::test]
fn watched_toggle_is_optimistic_and_sends_exactly_one_change() {
    let f = Fixture::start();
    let id = f.episode_ids()[0].clone();
    assert!(!f.played(&id));
    f.server.clear_requests();
    f.toggle_watched(&id);
    pump();
    // At once, before the worker or the server did anything (the engine debounces 500 ms).
    assert!(f.played(&id), "row shows watched at once");
    assert!(!f.server_played(&id));
    wait_for("synced", || f.state(&id) == Some(ItemSyncState::Synced));
    assert!(f.server_played(&id));
    let writes: Vec<_> = f
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].path.contains(&id));
}

#[gtk::test]
fn offline_then_back_three_episodes_wait_then_reach_the_server() {
    let f = Fixture::start();
    let ids: Vec<String> = f.episode_ids().into_iter().take(3).collect();
    f.server.set_offline(true);
    // Let the engine's client see its keep-alive connection close (its runtime runs on the
    // worker thread), so the next request is refused rather than cut off.
    std::thread::sleep(std::time::Duration::from_millis(50));
    for id in &ids {
        f.toggle_watched(id);
    }
    wait_for("waiting badges", || {
        ids.iter()
            .all(|id| f.state(id) == Some(ItemSyncState::WaitingForConnection))
    });
    assert_eq!(f.app.model().account, AccountState::Offline);
    let status_label: gtk::Label = one(&f.app.model().status.widget().clone().upcast());
    assert_eq!(status_label.label(), "Offline");
    for id in &ids {
        assert!(f.played(id) && !f.server_played(id));
    }
    f.server.set_offline(false);
    wait_for("synced badges", || {
        ids.iter()
            .all(|id| f.state(id) == Some(ItemSyncState::Synced))
    });
    for id in &ids {
        assert!(f.server_played(id), "server holds {id}");
    }
    wait_for("online", || f.app.model().account == AccountState::Online);
    // The "can't be reached" toast goes once the server is back (and a late, gathered notice
    // does not bring it back).
    wait_for("the offline toast to go", || {
        !f.app
            .model()
            .toasts
            .contains_key(ErrorKind::Offline.as_str())
    });
    for _ in 0..60 {
        pump();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !f.app
            .model()
            .toasts
            .contains_key(ErrorKind::Offline.as_str()),
        "the \"can't be reached\" toast stays gone"
    );
}

/// The Retry and Discard buttons of the popover's needs-attention rows, by row title.
fn attention_buttons(f: &Fixture) -> Vec<(String, gtk::Button, gtk::Button)> {
    let status = f
        .app
        .model()
        .status
        .widget()
        .clone()
        .upcast::<gtk::Widget>();
    named(&status, "retry")
        .into_iter()
        .filter(|w| w.is_mapped())
        .map(|retry| {
            let row = retry.parent().unwrap();
            let title: gtk::Label = one(&row);
            let discard = named(&row, "discard").pop().unwrap();
            (
                title.label().to_string(),
                retry.downcast().unwrap(),
                discard.downcast().unwrap(),
            )
        })
        .collect()
}

#[gtk::test]
fn popover_retry_and_discard_act_on_their_own_item() {
    let f = Fixture::start();
    let ids: Vec<String> = f.episode_ids().into_iter().take(2).collect();
    f.server.fail_next(
        2,
        Fault::Status {
            code: 404,
            retry_after: None,
        },
    );
    for id in &ids {
        f.toggle_watched(id);
    }
    wait_for("needs attention", || {
        ids.iter()
            .all(|id| matches!(f.state(id), Some(ItemSyncState::NeedsAttention { .. })))
    });
    wait_for("the attention list", || {
        f.app.model().status.model().attention.len() == 2
    });
    f.app.model().status.widget().popup();
    wait_for("popover rows", || attention_buttons(&f).len() == 2);
    let title_of = |id: &str| f.app.model().library.model().rows.item(id).unwrap().name;
    let buttons = attention_buttons(&f);
    let (_, _, discard_first) = buttons
        .iter()
        .find(|(t, _, _)| t.ends_with(&title_of(&ids[0])))
        .unwrap();
    discard_first.emit_clicked();
    let (_, retry_second, _) = buttons
        .iter()
        .find(|(t, _, _)| t.ends_with(&title_of(&ids[1])))
        .unwrap();
    retry_second.emit_clicked();
    wait_for("discarded row back to the server's state", || {
        f.state(&ids[0]) == Some(ItemSyncState::Discarded) && !f.played(&ids[0])
    });
    wait_for("retried row synced", || {
        f.state(&ids[1]) == Some(ItemSyncState::Synced)
    });
    assert!(!f.server_played(&ids[0]));
    assert!(f.server_played(&ids[1]));
    wait_for("empty attention list", || {
        f.app.model().status.model().attention.is_empty()
    });
}

#[gtk::test]
fn retry_all_sends_every_change_needing_attention() {
    let f = Fixture::start();
    let ids: Vec<String> = f.episode_ids().into_iter().take(3).collect();
    f.server.fail_next(
        3,
        Fault::Status {
            code: 400,
            retry_after: None,
        },
    );
    for id in &ids {
        f.toggle_watched(id);
    }
    wait_for("the attention list", || {
        f.app.model().status.model().attention.len() == 3
    });
    f.app.model().status.widget().popup();
    pump();
    let status = f
        .app
        .model()
        .status
        .widget()
        .clone()
        .upcast::<gtk::Widget>();
    let retry_all: gtk::Button = named(&status, "retry_all")
        .pop()
        .unwrap()
        .downcast()
        .unwrap();
    assert!(retry_all.is_sensitive());
    retry_all.emit_clicked();
    wait_for("all synced", || {
        ids.iter()
            .all(|id| f.state(id) == Some(ItemSyncState::Synced))
    });
    assert!(ids.iter().all(|id| f.server_played(id)));
}

#[gtk::test]
fn a_failure_burst_is_one_toast_whose_button_works() {
    let f = Fixture::start();
    let ids = f.episode_ids();
    assert!(ids.len() >= 6);
    f.server.fail_next(
        ids.len(),
        Fault::Status {
            code: 404,
            retry_after: None,
        },
    );
    for id in &ids {
        f.toggle_watched(id);
    }
    wait_for("all need attention", || {
        ids.iter()
            .all(|id| matches!(f.state(id), Some(ItemSyncState::NeedsAttention { .. })))
    });
    // Let any straggling notice arrive.
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        pump();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(f.app.model().toasts_shown, 1, "one toast for the burst");
    let toast = {
        let model = f.app.model();
        let active = model.toasts.values().next().unwrap();
        assert_eq!(active.count, ids.len());
        active.toast.clone()
    };
    let expected = format!(
        "{} changes couldn't be saved: This item is no longer on Demo",
        ids.len()
    );
    // libadwaita 1.2 toast titles are markup: the text arrives escaped.
    assert_eq!(
        toast.title().unwrap().as_str(),
        glib::markup_escape_text(&expected).as_str()
    );
    assert_eq!(toast.button_label().as_deref(), Some("Details"));
    // A later notice of the same kind while the toast is up updates it: still one toast.
    f.app.emit(AppInput::Queue(SyncQueueOutput::Notice {
        error: SyncError::new(ErrorKind::NotFound, "404"),
        count: 2,
        pending: 8,
        server: "Demo".into(),
    }));
    pump();
    assert_eq!(f.app.model().toasts_shown, 1);
    let expected = format!(
        "{} changes couldn't be saved: This item is no longer on Demo",
        ids.len() + 2
    );
    assert_eq!(
        toast.title().unwrap().as_str(),
        glib::markup_escape_text(&expected).as_str()
    );
    let popover: gtk::Popover = one(&f.app.model().status.widget().clone().upcast());
    assert!(!popover.is_visible());
    toast.emit_by_name::<()>("button-clicked", &[]);
    wait_for("details popover", || popover.is_visible());
}

#[gtk::test]
fn sign_in_says_what_is_wrong_then_switches_to_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::start();
    f.app.emit(AppInput::ShowSignIn);
    pump();
    let dialog = f
        .app
        .model()
        .sign_in
        .widget()
        .clone()
        .upcast::<gtk::Widget>();
    assert!(dialog.is_visible());
    let entries: Vec<gtk::Entry> = descendants(&dialog)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Entry>().ok())
        .collect();
    let password: gtk::PasswordEntry = one(&dialog);
    let button = descendants(&dialog)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.label().as_deref() == Some("Sign in"))
        .unwrap();
    let error = || f.app.model().sign_in.model().error.clone();

    entries[0].set_text("media.local");
    entries[1].set_text("demo");
    password.set_text("demo");
    button.emit_clicked();
    wait_for("address error", || error().is_some());
    assert!(error()
        .unwrap()
        .starts_with("That server address doesn't look right"));

    entries[0].set_text(&f.server.url());
    password.set_text("wrong");
    button.emit_clicked();
    wait_for("password error", || {
        error().as_deref() == Some("Wrong user name or password.")
    });
    assert!(dialog.is_visible());

    password.set_text("demo");
    button.emit_clicked();
    wait_for("signed in", || {
        matches!(
            f.app.model().source,
            Some(playmark::ui::sync_queue::LibrarySource::Account { .. })
        )
    });
    wait_for("dialog closed", || !dialog.is_visible());
    let token = std::fs::read_dir(f._dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("token-"))
        .last()
        .unwrap();
    assert_eq!(
        token.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    wait_for("library of the server", || f.episode_ids().len() >= 3);
}

#[gtk::test]
fn simulated_playback_reports_every_second_but_records_only_checkpoints() {
    let f = Fixture::start();
    let id = f.episode_ids()[0].clone();
    let position = || {
        f.app
            .model()
            .library
            .model()
            .rows
            .item(&id)
            .unwrap()
            .position_ms
    };
    f.server.clear_requests();
    let play: gtk::Button = named(&f.row_widget(&id), "play")
        .pop()
        .unwrap()
        .downcast()
        .unwrap();
    play.emit_clicked();
    wait_for("three seconds of playback", || position() >= 3_000);
    play.emit_clicked(); // pause
    let paused_at = position();
    let until = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < until {
        pump();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(position(), paused_at, "paused: no more ticks");
    wait_for("the pause position on the server", || {
        f.server.user_data(&id).unwrap().position_ms == paused_at
    });
    let writes = f
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .count();
    // 4+ reports (start, 3 ticks, pause); the first report and the pause are checkpoints.
    assert!((1..=2).contains(&writes), "{writes} writes");
    wait_for("synced", || f.state(&id) == Some(ItemSyncState::Synced));
}

#[gtk::test]
fn window_size_is_remembered() {
    let _ = relm4::adw::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(DemoServer::start(DemoConfig::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("window-state");
    std::fs::write(&state, "900 600 0\n").unwrap();
    let app = App::builder()
        .launch(AppInit {
            queue: SyncQueueInit::Demo {
                data_dir: dir.path().join("demo"),
                server: Some(server),
            },
            window_state: Some(state.clone()),
        })
        .detach();
    let window = app.widget().clone();
    assert_eq!(window.default_size(), (900, 600), "restored");
    window.present();
    window.set_default_size(1111, 777);
    pump();
    window.close();
    pump();
    assert_eq!(
        std::fs::read_to_string(&state).unwrap().trim(),
        "1111 777 0"
    );
}

#[gtk::test]
fn plex_sign_in_refuses_a_wrong_token_then_switches_to_the_plex_server() {
    use playmark::model::ServerKind;
    use playmark::store::{database_path, secrets, Store};
    use playmark::ui::sign_in::SignInKind;
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::start();
    let plex = f
        ._rt
        .block_on(DemoServer::start(DemoConfig::plex()))
        .unwrap();
    let jellyfin_ids = f.episode_ids();
    f.app.emit(AppInput::ShowSignIn);
    pump();
    let dialog = f
        .app
        .model()
        .sign_in
        .widget()
        .clone()
        .upcast::<gtk::Widget>();
    assert!(dialog.is_visible());
    // Choose Plex the way a person does: the switcher's second button.
    let switcher: gtk::StackSwitcher = one(&dialog);
    let kinds: Vec<gtk::ToggleButton> = descendants(switcher.upcast_ref())
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::ToggleButton>().ok())
        .collect();
    assert_eq!(kinds.len(), 2, "Jellyfin and Plex");
    kinds[1].emit_clicked();
    pump();
    assert_eq!(f.app.model().sign_in.model().kind, SignInKind::Plex);
    let stack: gtk::Stack = one(&dialog);
    assert_eq!(stack.visible_child_name().as_deref(), Some("plex"));
    assert_eq!(
        dialog
            .downcast_ref::<gtk::Window>()
            .unwrap()
            .title()
            .as_deref(),
        Some("Sign in to Plex")
    );
    let url = named(&dialog, "url")[0]
        .clone()
        .downcast::<gtk::Entry>()
        .unwrap();
    let token = named(&dialog, "token")[0]
        .clone()
        .downcast::<gtk::PasswordEntry>()
        .unwrap();
    let button = descendants(&dialog)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.label().as_deref() == Some("Sign in"))
        .unwrap();
    let error = || f.app.model().sign_in.model().error.clone();

    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    url.set_text(&format!("http://127.0.0.1:{closed}"));
    token.set_text(playmark::demo::DEMO_PLEX_TOKEN);
    button.emit_clicked();
    wait_for("unreachable error", || error().is_some());
    assert!(
        error().unwrap().starts_with("Can't reach a server at"),
        "{:?}",
        error()
    );
    // A Jellyfin server is not a Plex server.
    url.set_text(&f.server.url());
    button.emit_clicked();
    wait_for("not-Plex error", || {
        error().is_some_and(|e| !e.starts_with("Can't reach"))
    });
    assert!(
        error().unwrap().starts_with("No Plex server answers at"),
        "{:?}",
        error()
    );

    url.set_text(&plex.url());
    token.set_text("not-the-token");
    button.emit_clicked();
    wait_for("token error", || {
        error().is_some_and(|e| !e.starts_with("No Plex server"))
    });
    assert!(
        error()
            .unwrap()
            .starts_with("The server refused this token."),
        "{:?}",
        error()
    );
    assert!(dialog.is_visible());
    assert!(matches!(
        f.app.model().source,
        Some(playmark::ui::sync_queue::LibrarySource::Demo { .. })
    ));

    token.set_text(playmark::demo::DEMO_PLEX_TOKEN);
    token.emit_activate();
    wait_for("signed in", || {
        matches!(
            f.app.model().source,
            Some(playmark::ui::sync_queue::LibrarySource::Account { .. })
        )
    });
    wait_for("dialog closed", || !dialog.is_visible());
    assert_eq!(error(), None);
    assert_eq!(
        token.text().as_str(),
        "",
        "the token is not kept in the entry"
    );
    // Stored exactly as `playmark login plex` stores it.
    let store = Store::open(&database_path(f._dir.path())).unwrap();
    let account = store.account().unwrap().unwrap();
    assert_eq!(account.kind, ServerKind::Plex);
    assert_eq!(account.base_url, plex.url().trim_end_matches('/'));
    assert_eq!(
        secrets::load_token(f._dir.path(), account.id)
            .unwrap()
            .as_deref(),
        Some(playmark::demo::DEMO_PLEX_TOKEN)
    );
    let file = std::fs::read_dir(f._dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy() == format!("token-{}", account.id))
        .unwrap();
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    // The library now comes from the Plex server.
    wait_for("library of the Plex server", || {
        let ids = f.episode_ids();
        !ids.is_empty() && ids != jellyfin_ids
    });
    assert!(plex
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/library/")));
}
