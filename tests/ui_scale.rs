//! A large library in the real window (issue 12 §4): a signed-in account whose library is
//! already stored opens, shows Home, and scrolls through the Movies list, under Xvfb with the
//! real worker, engine, SQLite file and demo server over loopback.
//!
//! It prints the figures (time to the first frame, to Home on screen, frame intervals and
//! per-frame work during a scripted scroll, RSS) and asserts only what must hold at any speed:
//! Home lists the items with a resume position and the rows far down the list are bound and
//! shown. Sizes: `PLAYMARK_SCALE_ITEMS` (default 5,000 here, so the suite stays fast) and
//! `PLAYMARK_SCALE_ROWS` (rows to scroll through, default 10,000, at most the movies there
//! are). The measurement in `docs/PERFORMANCE.md`:
//! `PLAYMARK_SCALE_ITEMS=100000 xvfb-run -a cargo test --release --test ui_scale -- --nocapture`.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::bin::{expect_code, login, run};
use common::gtk::{descendants, wait_within};
use playmark::demo::{DemoConfig, DemoLibrary, DemoServer, DEMO_PASSWORD};
use playmark::model::ItemKind;
use playmark::ui::app::{App, AppInit};
use playmark::ui::library::LibraryInput;
use playmark::ui::sync_queue::SyncQueueInit;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Per frame: when it started (the frame clock's `update`) and when its paint ended.
#[derive(Default)]
struct Frames {
    started: Option<Instant>,
    done: Vec<(Instant, Duration)>,
}

#[gtk::test]
fn a_large_stored_library_opens_with_home_and_scrolls() {
    let items = env("PLAYMARK_SCALE_ITEMS", 5_000);
    let library = DemoLibrary::sized(items);
    let all = library.items();
    let movies = all.iter().filter(|i| i.kind == ItemKind::Movie).count();
    let episodes: Vec<String> = all
        .iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .take(3)
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(episodes.len(), 3);
    let rows = env("PLAYMARK_SCALE_ROWS", 10_000).min(movies.saturating_sub(20));

    // Before: the person signed in and the library is stored, with three episodes started.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(DemoServer::start(DemoConfig {
            library,
            ..DemoConfig::default()
        }))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let prepared = Instant::now();
    expect_code(&login(dir, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&run(dir, &["refresh"], None), 0);
    for (n, ep) in episodes.iter().enumerate() {
        let at = format!("{}:00", 10 + n);
        expect_code(&run(dir, &["progress", ep, &at], None), 0);
    }
    expect_code(&run(dir, &["sync"], None), 0);
    println!(
        "SCALE library: {} items ({movies} movies), stored through the CLI in {:.1} s",
        all.len(),
        prepared.elapsed().as_secs_f64()
    );
    let (rss_before, _) = rss_mib();

    // Open the window.
    let frames = Rc::new(RefCell::new(Frames::default()));
    let launched = Instant::now();
    let app = App::builder()
        .launch(AppInit {
            queue: SyncQueueInit::DataDir {
                data_dir: dir.to_path_buf(),
            },
            window_state: None,
        })
        .detach();
    let window = app.widget().clone();
    window.set_default_size(1000, 700);
    window.present();
    let clock = window
        .frame_clock()
        .expect("a realized window has a frame clock");
    {
        let f = frames.clone();
        clock.connect_update(move |_| f.borrow_mut().started = Some(Instant::now()));
        let f = frames.clone();
        clock.connect_after_paint(move |_| {
            let mut f = f.borrow_mut();
            let now = Instant::now();
            let work = f.started.map_or(Duration::ZERO, |s| now - s);
            f.done.push((now, work));
        });
    }
    wait_within("the first frame", Duration::from_secs(30), || {
        !frames.borrow().done.is_empty()
    });
    let first_frame = frames.borrow().done[0].0 - launched;

    // Home: Continue watching lists the three started episodes, on screen.
    let lists = || app.model().library.model().lists.clone();
    let root = window.clone().upcast::<gtk::Widget>();
    let visible = |id: &str| {
        descendants(&root)
            .iter()
            .any(|w| w.widget_name() == id && w.is_mapped())
    };
    wait_within("the stored library", Duration::from_secs(60), || {
        !lists().movies.is_empty()
    });
    let loaded = launched.elapsed();
    // A row is mapped in the frame that lays it out: the first poll that sees it mapped is
    // within one main-loop pass of that frame.
    wait_within("Home on screen", Duration::from_secs(60), || {
        episodes.iter().all(|e| visible(e))
    });
    let home_shown = launched.elapsed();
    assert!(
        episodes
            .iter()
            .all(|e| lists().continue_watching.contains(e)),
        "Continue watching lists the started episodes"
    );
    // Posters: the rows on screen get theirs (fetched off the GTK thread), and only those.
    let poster_of = |id: &str| {
        descendants(&root)
            .into_iter()
            .filter(|w| w.widget_name() == id && w.is_mapped())
            .flat_map(|row| descendants(&row))
            .find_map(|w| w.downcast::<gtk::Picture>().ok())
            .and_then(|p| p.paintable())
    };
    wait_within("Home's posters", Duration::from_secs(60), || {
        episodes.iter().all(|e| poster_of(e).is_some())
    });
    let posters_asked = || {
        server
            .requests()
            .iter()
            .filter(|r| r.path.contains("/Images/Primary"))
            .count()
    };
    let at_home = posters_asked();
    let bound = app.model().library.model().rows.bound_rows();
    // A 700 px window shows at most about 20 rows; lists keep more rows bound than that
    // (and hidden views keep theirs), but only the ones on screen fetch.
    assert!(
        at_home <= 40 && at_home < bound,
        "{at_home} posters fetched for {bound} rows bound"
    );
    let (rss_home, _) = rss_mib();

    // The app pulls after start-up: let that settle so the scroll measures scrolling.
    let settle = Instant::now();
    let mut seen = server.requests().len();
    let mut quiet_since = Instant::now();
    wait_within("the start-up pull", Duration::from_secs(600), || {
        let now = server.requests().len();
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
        quiet_since.elapsed() > Duration::from_secs(2)
    });
    let pull_took = settle.elapsed().saturating_sub(Duration::from_secs(2));

    // Movies, then a scripted scroll through `rows` rows, 25 rows a frame.
    app.model().library.emit(LibraryInput::ShowView {
        name: "movies".into(),
    });
    wait_within("the movies", Duration::from_secs(30), || {
        lists().movies.len() == movies
    });
    let list = app.model().library.model().views().movies.view.clone();
    let scrolled = list
        .parent()
        .and_then(|p| p.downcast::<gtk::ScrolledWindow>().ok())
        .expect("the movie list scrolls in a ScrolledWindow");
    let adj = scrolled.vadjustment();
    wait_within("the movie list laid out", Duration::from_secs(30), || {
        list.is_mapped() && adj.upper() > adj.page_size() && adj.page_size() > 0.0
    });
    let target_id = lists().movies[rows].clone();
    let row_height = adj.upper() / movies as f64;
    let target = rows as f64 * row_height;
    let started = Instant::now();
    let done = Rc::new(RefCell::new(false));
    // The first frame the scroll drives: the frames before it are the idle window's.
    let scroll_start = Rc::new(RefCell::new(None::<usize>));
    // ... and the frame of its last tick (painted after the callback returns).
    let scroll_end = Rc::new(RefCell::new(None::<usize>));
    {
        let scroll_end = scroll_end.clone();
        let done = done.clone();
        let adj = adj.clone();
        let frames = frames.clone();
        let scroll_start = scroll_start.clone();
        list.add_tick_callback(move |_, _| {
            scroll_start
                .borrow_mut()
                .get_or_insert(frames.borrow().done.len());
            // The list's estimate of its height changes as rows are measured: aim at the row.
            let step = 25.0 * adj.upper() / movies as f64;
            let next = (adj.value() + step).min(target.max(0.0));
            adj.set_value(next);
            if next >= target || adj.value() >= adj.upper() - adj.page_size() {
                *done.borrow_mut() = true;
                *scroll_end.borrow_mut() = Some(frames.borrow().done.len() + 1);
                return glib::ControlFlow::Break;
            }
            glib::ControlFlow::Continue
        });
    }
    wait_within("the scroll", Duration::from_secs(600), || *done.borrow());
    let scroll_secs = started.elapsed().as_secs_f64();
    let painted = frames.borrow().done.len();
    wait_within("the last scroll frame", Duration::from_secs(30), || {
        frames.borrow().done.len() > painted + 1
    });
    // The rows down there are bound and shown: the target row or one of its neighbours.
    let around: Vec<String> =
        lists().movies[rows.saturating_sub(15)..(rows + 15).min(movies)].to_vec();
    assert!(
        around.iter().any(|id| visible(id)),
        "row {rows} ({target_id}) and its neighbours are on screen after the scroll"
    );
    // Rows that flew past asked for nothing; the ones the scroll stopped on get posters.
    wait_within(
        "the posters where the scroll stopped",
        Duration::from_secs(60),
        || around.iter().any(|id| poster_of(id).is_some()),
    );
    let after_scroll = posters_asked();
    println!(
        "SCALE posters: {at_home} fetched for Home ({bound} rows bound), {after_scroll} after scrolling through {rows} rows"
    );
    assert!(
        after_scroll - at_home < rows / 4,
        "a fast scroll fetches posters only where it stops: {} for {rows} rows",
        after_scroll - at_home
    );
    let (rss_end, hwm) = rss_mib();

    let f = frames.borrow();
    let scroll_start = scroll_start.borrow().expect("the scroll ticked");
    let scroll_end = scroll_end
        .borrow()
        .unwrap_or(f.done.len())
        .min(f.done.len());
    let scroll_frames = &f.done[scroll_start..scroll_end];
    let mut intervals: Vec<f64> = scroll_frames
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64() * 1000.0)
        .collect();
    intervals.sort_by(f64::total_cmp);
    let mut work: Vec<f64> = scroll_frames
        .iter()
        .map(|(_, w)| w.as_secs_f64() * 1000.0)
        .collect();
    work.sort_by(f64::total_cmp);
    println!(
        "SCALE open: first frame {:.0} ms after launch; stored library listed {:.0} ms; Home's rows on screen {:.0} ms after launch; start-up pull {:.1} s",
        first_frame.as_secs_f64() * 1000.0,
        loaded.as_secs_f64() * 1000.0,
        home_shown.as_secs_f64() * 1000.0,
        pull_took.as_secs_f64(),
    );
    println!(
        "SCALE scroll: {rows} rows (row {rows} = {target_id}) in {scroll_secs:.2} s, {} frames; frame interval p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; frame work p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        scroll_frames.len(),
        percentile(&intervals, 0.5),
        percentile(&intervals, 0.95),
        intervals.last().copied().unwrap_or(0.0),
        percentile(&work, 0.5),
        percentile(&work, 0.95),
        work.last().copied().unwrap_or(0.0),
    );
    println!(
        "SCALE memory: RSS {rss_before:.0} MiB before the window (test, demo server and its library), {rss_home:.0} MiB with Home, {rss_end:.0} MiB after the scroll, peak {hwm:.0} MiB"
    );
    assert!(scroll_frames.len() >= 2, "the scroll was painted");
    drop(f);
    drop(app);
    drop(rt);
}
