//! Main-loop and widget-tree helpers for the GTK tests (run under `xvfb-run`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use playmark::demo::{DemoConfig, DemoLibrary, DemoServer};
use playmark::store::ItemView;
use playmark::sync::ItemSyncState;
use playmark::ui::app::{App, AppInit};
use playmark::ui::library::{LibraryInput, ListIds};
use playmark::ui::worker::SyncQueueInit;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

/// Run every pending main-loop event. A main loop that never goes idle (a source that is always
/// ready) fails the test after 20 s instead of spinning forever, and [`watchdog`] ends the whole
/// binary when no `pump` completes for [`WATCHDOG_LIMIT`] (a call blocked without a time limit):
/// a CI run that hung on such a test once used its whole 90 minutes.
pub fn pump() {
    watchdog();
    let start = Instant::now();
    while glib::MainContext::default().iteration(false) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the main loop never went idle for 20 s (a source that is always ready)"
        );
    }
    LAST_PUMP.store(now_ms(), Ordering::Relaxed);
}

/// How long the GTK tests may go without a completed [`pump`] before [`watchdog`] ends them.
pub const WATCHDOG_LIMIT: Duration = Duration::from_secs(150);

static LAST_PUMP: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts (once) a thread that, when no [`pump`] has completed for [`WATCHDOG_LIMIT`], prints
/// every thread's stack (with `gdb`, when installed) and aborts the test binary: a hang becomes a
/// failure with the place it hung, not a CI run that runs out of time.
pub fn watchdog() {
    static START: std::sync::Once = std::sync::Once::new();
    START.call_once(|| {
        LAST_PUMP.store(now_ms(), Ordering::Relaxed);
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(5));
            let idle = now_ms().saturating_sub(LAST_PUMP.load(Ordering::Relaxed));
            if idle > WATCHDOG_LIMIT.as_millis() as u64 {
                eprintln!(
                    "WATCHDOG: no main-loop pump for {} s: a GTK test is blocked; stacks follow",
                    idle / 1000
                );
                let _ = std::process::Command::new("gdb")
                    .args(["-p", &std::process::id().to_string(), "-batch"])
                    .args(["-ex", "thread apply all bt 40"])
                    .stdout(std::process::Stdio::inherit())
                    .stderr(std::process::Stdio::inherit())
                    .status();
                std::process::abort();
            }
        });
    });
}

/// Pump the main loop until `cond` holds; fail after 30 s.
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_within(what, Duration::from_secs(30), cond);
}

/// [`wait_for`] with its own limit. Polls every 10 ms: a tighter loop keeps the GTK thread
/// drawing without pause, and on a loaded 2-core machine that starved the app's worker long
/// enough for `ui::offline_then_back…` to time out (it passed at 10 ms, failed at 2 ms).
pub fn wait_within(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    wait_polling(what, limit, Duration::from_millis(10), cond);
}

/// [`wait_within`] polling every `poll` (a measurement that wants a finer clock).
pub fn wait_polling(what: &str, limit: Duration, poll: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        pump();
        if cond() {
            return;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(poll);
    }
}

/// Every widget below `root`, depth first.
pub fn descendants(root: &gtk::Widget) -> Vec<gtk::Widget> {
    let mut out = Vec::new();
    let mut child = root.first_child();
    while let Some(c) = child {
        out.push(c.clone());
        out.extend(descendants(&c));
        child = c.next_sibling();
    }
    out
}

/// The widgets below `root` named `name` (rows are named after their item id).
pub fn named(root: &gtk::Widget, name: &str) -> Vec<gtk::Widget> {
    descendants(root)
        .into_iter()
        .filter(|w| w.widget_name() == name)
        .collect()
}

/// The first widget of type `T` below `root`.
pub fn one<T: IsA<gtk::Widget>>(root: &gtk::Widget) -> T {
    descendants(root)
        .into_iter()
        .find_map(|w| w.downcast::<T>().ok())
        .expect("widget of that type")
}

/// A demo server with `config`, on a runtime of its own (one worker thread), which must live
/// as long as the server.
pub fn demo_server(config: DemoConfig) -> (tokio::runtime::Runtime, DemoServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(DemoServer::start(config)).unwrap();
    (rt, server)
}

/// The app's window on `queue` (no remembered size), presented; libadwaita is initialised
/// first.
pub fn launch(queue: SyncQueueInit) -> relm4::Controller<App> {
    launch_sized(queue, None)
}

/// [`launch`], the window given a default `size` (width, height) before it is presented.
pub fn launch_sized(queue: SyncQueueInit, size: Option<(i32, i32)>) -> relm4::Controller<App> {
    let _ = relm4::adw::init();
    let app = App::builder()
        .launch(AppInit {
            queue,
            window_state: None,
        })
        .detach();
    if let Some((width, height)) = size {
        app.widget().set_default_size(width, height);
    }
    app.widget().present();
    app
}

/// The app on the demo server (its own runtime) with a fresh data directory: the GTK tests'
/// one fixture.
pub struct Fixture {
    /// The server's runtime (lives as long as the server).
    pub _rt: tokio::runtime::Runtime,
    pub server: DemoServer,
    /// The app's data directory.
    pub _dir: tempfile::TempDir,
    pub app: relm4::Controller<App>,
}

impl Fixture {
    /// The seeded library with no progress; returns once the open season lists three episodes.
    pub fn start() -> Fixture {
        // The engine's log on stderr, for a failure that needs it:
        // `PLAYMARK_TEST_TRACE=1 RUST_LOG=playmark=debug xvfb-run -a cargo test --test gui ui:: …`.
        if std::env::var_os("PLAYMARK_TEST_TRACE").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .try_init();
        }
        let f = Fixture::launch(DemoLibrary::seeded().without_progress(), None);
        wait_for("the library", || f.episode_ids().len() >= 3);
        f
    }

    /// The demo server on `library` and the app's window (of default `size`, if given) on it,
    /// without waiting for the library.
    pub fn launch(library: DemoLibrary, size: Option<(i32, i32)>) -> Fixture {
        let (rt, server) = demo_server(DemoConfig {
            library,
            ..DemoConfig::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let app = launch_sized(
            SyncQueueInit::Demo {
                data_dir: dir.path().to_path_buf(),
                server: Some(server.clone()),
            },
            size,
        );
        Fixture {
            _rt: rt,
            server,
            _dir: dir,
            app,
        }
    }

    /// The library's lists (ids in screen order).
    pub fn lists(&self) -> ListIds {
        self.app.model().library.model().lists.clone()
    }

    /// Episode ids of the open season (Shows → first series → first season, opened when no
    /// season is open), in screen order.
    pub fn episode_ids(&self) -> Vec<String> {
        episode_ids(&self.app)
    }

    /// The library view's widget.
    pub fn library_widget(&self) -> gtk::Widget {
        self.app
            .model()
            .library
            .widget()
            .clone()
            .upcast::<gtk::Widget>()
    }

    /// The row widget of item `id` (waits until it is on screen).
    pub fn row_widget(&self, id: &str) -> gtk::Widget {
        let library = self.library_widget();
        wait_for("the row on screen", || !named(&library, id).is_empty());
        named(&library, id).pop().expect("row by item id")
    }

    /// What the library shows of item `id`.
    pub fn item(&self, id: &str) -> ItemView {
        self.app.model().library.model().rows.item(id).unwrap()
    }

    pub fn state(&self, id: &str) -> Option<ItemSyncState> {
        self.app
            .model()
            .library
            .model()
            .rows
            .get(id)
            .and_then(|r| r.state)
    }

    pub fn played(&self, id: &str) -> bool {
        self.item(id).played
    }

    /// Click the watched check of item `id`'s row.
    pub fn toggle_watched(&self, id: &str) {
        let check: gtk::CheckButton = one(&self.row_widget(id));
        check.set_active(!check.is_active());
    }

    /// The sync status button (with its popover).
    pub fn status(&self) -> gtk::Widget {
        self.app
            .model()
            .status
            .widget()
            .clone()
            .upcast::<gtk::Widget>()
    }

    pub fn server_played(&self, id: &str) -> bool {
        self.server.user_data(id).unwrap().played
    }
}

/// Close every popover (an open one holds the pointer) and destroy every window.
/// Episode ids of the open season of `app` (Shows → first series → first season, opened when
/// no season is open), in screen order.
pub fn episode_ids(app: &relm4::Controller<App>) -> Vec<String> {
    // No model borrow is held across a pump (the components update in it).
    let lists = || app.model().library.model().lists.clone();
    if lists().episodes.is_empty() {
        if let Some(id) = lists().series.first().cloned() {
            app.model().library.emit(LibraryInput::OpenSeries { id });
            pump();
        }
        if let Some(id) = lists().seasons.first().cloned() {
            app.model().library.emit(LibraryInput::OpenSeason { id });
            pump();
        }
    }
    lists().episodes
}

/// The mapped row of `list` (a GtkListView by name) under `root` showing item `id`, once it
/// is on screen.
pub fn mapped_row(root: &gtk::Widget, list: &str, id: &str) -> gtk::Widget {
    let find = || {
        named(root, list)
            .into_iter()
            .flat_map(|l| named(&l, id))
            .find(|w| w.is_mapped())
    };
    wait_for(&format!("row {id} in {list}"), || find().is_some());
    find().expect("the row, found a moment ago")
}

pub fn close_all_windows() {
    for window in gtk::Window::list_toplevels() {
        for popover in descendants(&window)
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Popover>().ok())
        {
            popover.popdown();
        }
    }
    pump();
    for window in gtk::Window::list_toplevels() {
        if let Ok(window) = window.downcast::<gtk::Window>() {
            window.destroy();
        }
    }
    pump();
}

/// `struct NAME(Fixture)` that derefs to the common [`Fixture`]: a test file's own fixture,
/// with that file's helpers beside the common ones.
#[allow(unused_macros)] // Not every test binary that includes this file uses it.
macro_rules! fixture_of_file {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        struct $name($crate::common::gtk::Fixture);

        impl std::ops::Deref for $name {
            type Target = $crate::common::gtk::Fixture;

            fn deref(&self) -> &$crate::common::gtk::Fixture {
                &self.0
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use fixture_of_file;

/// The visible override notice of an item's on-screen row ("Another device set …"), if any.
pub fn overridden_notice(library: &gtk::Widget, id: &str) -> Option<String> {
    let row = named(library, id).pop()?;
    let notice = named(&row, "overridden").pop()?;
    if !notice.is_visible() {
        return None;
    }
    let label = named(&notice, "overridden-notice")
        .pop()?
        .downcast::<gtk::Label>()
        .ok()?;
    Some(label.label().to_string())
}
