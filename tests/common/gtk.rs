//! Main-loop and widget-tree helpers for the GTK tests (run under `xvfb-run`).

use std::time::{Duration, Instant};

use playmark::demo::{DemoConfig, DemoServer};
use playmark::ui::app::{App, AppInit};
use playmark::ui::sync_queue::SyncQueueInit;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

/// Run every pending main-loop event.
pub fn pump() {
    while glib::MainContext::default().iteration(false) {}
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
    let _ = relm4::adw::init();
    let app = App::builder()
        .launch(AppInit {
            queue,
            window_state: None,
        })
        .detach();
    app.widget().present();
    app
}
