//! A large library in the real window (issue 12 §4): a signed-in account whose library is
//! already stored opens, shows Home, and scrolls through the Movies list, under Xvfb with the
//! real worker, engine, SQLite file and demo server over loopback.
//!
//! It prints the figures (time to the first frame, to Home on screen, frame intervals and
//! per-frame work during a scripted scroll, RSS) and asserts only what must hold at any speed:
//! Home lists the items with a resume position and the next episode of a series in progress,
//! and the rows far down the list are bound and shown. Sizes: `PLAYMARK_SCALE_ITEMS` (default 5,000 here, so the suite stays fast) and
//! `PLAYMARK_SCALE_ROWS` (rows to scroll through, default 10,000, at most the movies there
//! are). After that fast scroll (25 rows a frame), a second one at `PLAYMARK_SCALE_SPEED`
//! rows a frame (default 2: about 120 rows, some 8,000 px, a second at 60 Hz, a fast fling)
//! goes back up through `PLAYMARK_SCALE_SLOW_ROWS` rows (default 600). The measurement in
//! `docs/PERFORMANCE.md`:
//! `PLAYMARK_SCALE_ITEMS=100000 xvfb-run -a cargo test --release --test ui_scale -- --nocapture`.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::bin::{expect_code, login, run};
use common::gtk::{descendants, wait_polling, wait_within};
use playmark::demo::{DemoConfig, DemoLibrary, DemoServer, DEMO_PASSWORD};
use playmark::model::ItemKind;
use playmark::ui::app::{App, AppInit};
use playmark::ui::library::LibraryInput;
use playmark::ui::worker::SyncQueueInit;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

/// How often the waits that time something look (the suite's waits poll every 10 ms).
const FINE: Duration = Duration::from_millis(2);

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

/// CPU time this thread has used (`/proc/thread-self/schedstat`), in ns.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One painted frame.
#[derive(Clone, Copy)]
struct Frame {
    /// When its paint ended.
    at: Instant,
    /// From the frame clock's `update` to the end of its paint.
    work: Duration,
    /// CPU time of the GTK thread in that span (the rest is waiting: for the renderer's
    /// threads, the X server, other processes on the machine).
    cpu: Duration,
}

/// Per frame: when it started (the frame clock's `update`) and when its paint ended.
#[derive(Default)]
struct Frames {
    started: Option<(Instant, u64)>,
    done: Vec<Frame>,
}

/// Frame interval, frame work and GTK-thread CPU per frame (ms): p50, p95, max each.
fn frame_stats(frames: &[Frame]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut intervals: Vec<f64> = frames.windows(2).map(|w| ms(w[1].at - w[0].at)).collect();
    let mut work: Vec<f64> = frames.iter().map(|f| ms(f.work)).collect();
    let mut cpu: Vec<f64> = frames.iter().map(|f| ms(f.cpu)).collect();
    let line = |name: &str, v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "{name} p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            percentile(v, 0.5),
            percentile(v, 0.95),
            v.last().copied().unwrap_or(0.0)
        )
    };
    format!(
        "{}; {}; {}",
        line("frame interval", &mut intervals),
        line("frame work", &mut work),
        line("GTK-thread CPU a frame", &mut cpu)
    )
}

/// Scroll `adj` by `per_frame` rows a frame (negative: up) until row `target` is reached;
/// returns the frames it drove and how long it took.
fn scroll(
    list: &gtk::ListView,
    adj: &gtk::Adjustment,
    frames: &Rc<RefCell<Frames>>,
    rows_total: usize,
    target: usize,
    per_frame: f64,
) -> (Vec<Frame>, f64) {
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
            let row_height = adj.upper() / rows_total as f64;
            let target = (target as f64 * row_height).max(0.0);
            let next = if per_frame >= 0.0 {
                (adj.value() + per_frame * row_height).min(target)
            } else {
                (adj.value() + per_frame * row_height).max(target)
            };
            adj.set_value(next);
            let arrived = if per_frame >= 0.0 {
                next >= target || adj.value() >= adj.upper() - adj.page_size()
            } else {
                next <= target || adj.value() <= 0.0
            };
            if arrived {
                *done.borrow_mut() = true;
                *scroll_end.borrow_mut() = Some(frames.borrow().done.len() + 1);
                return glib::ControlFlow::Break;
            }
            glib::ControlFlow::Continue
        });
    }
    // The main loop runs as in the app (blocking until its next event), not a poll that
    // sleeps between iterations: a sleeping poll would delay the frames it measures.
    let limit = Instant::now() + Duration::from_secs(600);
    while !*done.borrow() {
        glib::MainContext::default().iteration(true);
        assert!(Instant::now() < limit, "timed out waiting for the scroll");
    }
    let secs = started.elapsed().as_secs_f64();
    let painted = frames.borrow().done.len();
    wait_polling(
        "the last scroll frame",
        Duration::from_secs(30),
        FINE,
        || frames.borrow().done.len() > painted + 1,
    );
    let f = frames.borrow();
    let start = scroll_start.borrow().expect("the scroll ticked");
    let end = scroll_end
        .borrow()
        .unwrap_or(f.done.len())
        .min(f.done.len());
    (f.done[start..end].to_vec(), secs)
}

/// The longest gap between two ticks of the GTK thread's 5 ms timer in `from..=until` (the
/// thread could draw no frame in it), and how many gaps were over 50 ms.
fn stalls(ticks: &[Instant], from: Instant, until: Instant) -> (Duration, usize) {
    let mut prev = from;
    let (mut worst, mut over) = (Duration::ZERO, 0);
    for t in ticks.iter().filter(|t| **t >= from && **t <= until) {
        let gap = t.saturating_duration_since(prev);
        worst = worst.max(gap);
        if gap > Duration::from_millis(50) {
            over += 1;
        }
        prev = *t;
    }
    (worst, over)
}

#[gtk::test]
fn a_large_stored_library_opens_with_home_and_scrolls() {
    // What keeps the GTK thread busy, by message: `PLAYMARK_TEST_TRACE=1
    // RUST_LOG=playmark::ui::slow=debug` (handlers over 16 ms).
    if std::env::var_os("PLAYMARK_TEST_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
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
    // The last series: its first two episodes watched, so Next up has its third.
    let last_series_id = all
        .iter()
        .rev()
        .find(|i| i.kind == ItemKind::Episode)
        .and_then(|i| i.series_id.clone());
    assert!(last_series_id.is_some());
    let mut last_series: Vec<_> = all
        .iter()
        .filter(|i| i.kind == ItemKind::Episode && i.series_id == last_series_id)
        .map(|i| (i.season_number, i.episode_number, i.id.clone()))
        .collect();
    last_series.sort();
    assert!(last_series.len() >= 3);
    let watched: Vec<String> = last_series[..2].iter().map(|e| e.2.clone()).collect();
    let next_up = last_series[2].2.clone();
    let rows = env("PLAYMARK_SCALE_ROWS", 10_000).min(movies.saturating_sub(20));
    let slow_rows = env("PLAYMARK_SCALE_SLOW_ROWS", 600).min(rows);
    let speed = env("PLAYMARK_SCALE_SPEED", 2).max(1) as f64;

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
    expect_code(
        &run(dir, &["mark-watched", &watched[0], &watched[1]], None),
        0,
    );
    expect_code(&run(dir, &["sync"], None), 0);
    println!(
        "SCALE library: {} items ({movies} movies), stored through the CLI in {:.1} s",
        all.len(),
        prepared.elapsed().as_secs_f64()
    );
    let (rss_before, _) = rss_mib();

    // Open the window. A 5 ms timer on the GTK thread shows how long the thread is kept from
    // its main loop while the library opens (a frame cannot be drawn in such a stall).
    let frames = Rc::new(RefCell::new(Frames::default()));
    let ticks = Rc::new(RefCell::new(Vec::<Instant>::new()));
    let ticker = {
        let ticks = ticks.clone();
        glib::timeout_add_local(Duration::from_millis(5), move || {
            ticks.borrow_mut().push(Instant::now());
            glib::ControlFlow::Continue
        })
    };
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
        clock.connect_update(move |_| {
            f.borrow_mut().started = Some((Instant::now(), thread_cpu_ns()));
        });
        let f = frames.clone();
        clock.connect_after_paint(move |_| {
            let mut f = f.borrow_mut();
            let at = Instant::now();
            let (work, cpu) = f
                .started
                .map_or((Duration::ZERO, Duration::ZERO), |(s, c)| {
                    (
                        at - s,
                        Duration::from_nanos(thread_cpu_ns().saturating_sub(c)),
                    )
                });
            f.done.push(Frame { at, work, cpu });
        });
    }
    wait_polling("the first frame", Duration::from_secs(30), FINE, || {
        !frames.borrow().done.is_empty()
    });
    let first_frame = frames.borrow().done[0].at - launched;

    // Home: Continue watching lists the three started episodes, on screen.
    let lists = || app.model().library.model().lists.clone();
    let root = window.clone().upcast::<gtk::Widget>();
    let visible = |id: &str| {
        descendants(&root)
            .iter()
            .any(|w| w.widget_name() == id && w.is_mapped())
    };
    // A row is mapped in the frame that lays it out: the first poll that sees it mapped is
    // within one main-loop pass of that frame. Home need not wait for the whole library.
    let (mut loaded, mut home_shown) = (None, None);
    wait_polling(
        "Home on screen and the stored library listed",
        Duration::from_secs(60),
        FINE,
        || {
            if loaded.is_none() && !lists().movies.is_empty() {
                loaded = Some(launched.elapsed());
            }
            if home_shown.is_none() && episodes.iter().chain([&next_up]).all(|e| visible(e)) {
                home_shown = Some(launched.elapsed());
            }
            loaded.is_some() && home_shown.is_some()
        },
    );
    let (loaded, home_shown) = (loaded.unwrap(), home_shown.unwrap());
    // The longest stall of the GTK thread from the first frame until both are on screen and
    // half a second after.
    let from = launched + first_frame;
    let until = launched + loaded.max(home_shown) + Duration::from_millis(500);
    wait_within("half a second", Duration::from_secs(5), || {
        Instant::now() >= until
    });
    let stall = stalls(&ticks.borrow(), from, until);
    assert!(
        episodes
            .iter()
            .all(|e| lists().continue_watching.contains(e)),
        "Continue watching lists the started episodes"
    );
    assert!(
        lists().next_up.contains(&next_up),
        "Next up has the episode after the last watched one"
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
    // The pull ends with the whole library sent again (a reload): the GTK thread's stalls
    // from the open until the pull settled.
    ticker.remove();
    let pull_stall = stalls(&ticks.borrow(), until, Instant::now());

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
    let (fast, scroll_secs) = scroll(&list, &adj, &frames, movies, rows, 25.0);
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
    // A realistic speed: back up through `slow_rows` rows.
    let (slow, slow_secs) = scroll(&list, &adj, &frames, movies, rows - slow_rows, -speed);
    let back: Vec<String> = lists().movies
        [(rows - slow_rows).saturating_sub(15)..(rows - slow_rows + 15).min(movies)]
        .to_vec();
    assert!(
        back.iter().any(|id| visible(id)),
        "row {} and its neighbours are on screen after the scroll back",
        rows - slow_rows
    );
    let (rss_end, hwm) = rss_mib();

    println!(
        "SCALE open: first frame {:.0} ms after launch; stored library listed {:.0} ms; Home's rows on screen {:.0} ms after launch ({:.0} ms after the first frame); longest GTK-thread stall after the first frame {:.0} ms, {} stalls over 50 ms; start-up pull {:.1} s, longest stall during it and its reload {:.0} ms, {} over 50 ms",
        first_frame.as_secs_f64() * 1000.0,
        loaded.as_secs_f64() * 1000.0,
        home_shown.as_secs_f64() * 1000.0,
        (home_shown.saturating_sub(first_frame)).as_secs_f64() * 1000.0,
        stall.0.as_secs_f64() * 1000.0,
        stall.1,
        pull_took.as_secs_f64(),
        pull_stall.0.as_secs_f64() * 1000.0,
        pull_stall.1,
    );
    let over = |frames: &[Frame]| {
        frames
            .windows(2)
            .filter(|w| w[1].at - w[0].at > Duration::from_millis(50))
            .count()
    };
    println!(
        "SCALE frames over 50 ms apart: {} of {} in the fast scroll, {} of {} in the scroll back",
        over(&fast),
        fast.len(),
        over(&slow),
        slow.len()
    );
    println!(
        "SCALE scroll: {rows} rows at 25 a frame (row {rows} = {target_id}) in {scroll_secs:.2} s, {} frames; {}",
        fast.len(),
        frame_stats(&fast),
    );
    println!(
        "SCALE scroll back: {slow_rows} rows at {speed} a frame in {slow_secs:.2} s, {} frames; {}",
        slow.len(),
        frame_stats(&slow),
    );
    println!(
        "SCALE memory: RSS {rss_before:.0} MiB before the window (test, demo server and its library), {rss_home:.0} MiB with Home, {rss_end:.0} MiB after the scroll, peak {hwm:.0} MiB"
    );
    assert!(fast.len() >= 2, "the scroll was painted");
    assert!(slow.len() >= 2, "the scroll back was painted");
    drop(app);
    drop(rt);
}
