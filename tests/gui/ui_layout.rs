//! A layout that does not jump (issue 20, item 8), measured on the widgets' allocations under
//! a real display (`xvfb-run -a cargo test --test gui ui_layout::`): rows with and without a
//! resume line line up, a poster arriving moves nothing, the view switcher stays where it is
//! whatever the sync button says.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::gtk::{close_all_windows, descendants, named, pump, wait_for, Fixture};
use playmark::demo::DemoLibrary;
use playmark::store::Counts;
use playmark::sync::AccountState;
use playmark::ui::library::LibraryInput;
use playmark::ui::sync_status::SyncStatusInput;
use playmark::ui::worker::AttentionItem;
use relm4::adw;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

/// Let GTK lay out and draw for `d` (allocations follow a change only at the next frame).
fn settle(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        pump();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where `w` is in `root`'s coordinates, and its size.
fn rect(w: &impl IsA<gtk::Widget>, root: &impl IsA<gtk::Widget>) -> (f32, f32, i32, i32) {
    let p = w
        .compute_point(root, &gtk::graphene::Point::new(0.0, 0.0))
        .expect("the widget is in the window");
    (p.x(), p.y(), w.width(), w.height())
}

/// The poster of a row widget.
fn poster(row: &gtk::Widget) -> gtk::Widget {
    named(row, "poster").pop().expect("a row has a poster")
}

/// The label of a row showing `text`.
fn label(row: &gtk::Widget, text: &str) -> gtk::Widget {
    descendants(row)
        .into_iter()
        .find(|w| {
            w.downcast_ref::<gtk::Label>()
                .is_some_and(|l| l.label() == text && l.is_mapped())
        })
        .unwrap_or_else(|| panic!("a label {text:?} in the row"))
}

/// The app on the seeded demo library (a resume point in "The Lighthouse Keepers" S2E1), its
/// season 2 open.
fn lighthouse_season_two(f: &Fixture) -> Vec<String> {
    wait_for("the library", || !f.lists().series.is_empty());
    let series = f
        .lists()
        .series
        .into_iter()
        .find(|id| f.item(id).name == "The Lighthouse Keepers")
        .unwrap();
    f.app
        .model()
        .library
        .emit(LibraryInput::OpenSeries { id: series });
    wait_for("its seasons", || f.lists().seasons.len() == 2);
    let season = f.lists().seasons[1].clone();
    f.app
        .model()
        .library
        .emit(LibraryInput::OpenSeason { id: season });
    wait_for("its season 2", || {
        f.lists()
            .episodes
            .first()
            .is_some_and(|e| f.item(e).season_number == Some(2))
    });
    f.lists().episodes
}

/// A row's height, its poster's size and place, and its title's place, all relative to the row.
fn row_layout(f: &Fixture, list: &str, id: &str) -> (i32, (f32, f32, i32, i32), f32) {
    let root = f.library_widget();
    common::gtk::mapped_row(&root, list, id);
    settle(Duration::from_millis(400));
    let row = common::gtk::mapped_row(&root, list, id);
    let name = f.item(id).name;
    let title_x = rect(&label(&row, &name), &row).0;
    (row.height(), rect(&poster(&row), &row), title_x)
}

#[gtk::test]
fn rows_with_and_without_a_resume_line_line_up() {
    close_all_windows();
    let f = Fixture::launch(DemoLibrary::seeded(), Some((960, 640)));
    let episodes = lighthouse_season_two(&f);
    let resumed = episodes[0].clone();
    wait_for("the resume point", || f.item(&resumed).position_ms > 0);
    // Home's Continue watching: the series name, the title, the resume line.
    f.app.model().library.emit(LibraryInput::ShowView {
        name: "home".into(),
    });
    wait_for("Continue watching", || {
        f.lists().continue_watching.contains(&resumed)
    });
    let tall = row_layout(&f, "continue-watching", &resumed);
    // The season's rows without a resume point: the title alone.
    f.app.model().library.emit(LibraryInput::ShowView {
        name: "shows".into(),
    });
    let short: Vec<_> = episodes[1..3]
        .iter()
        .map(|id| row_layout(&f, "episode-list", id))
        .collect();
    println!("LAYOUT row with a resume line and a series name: {tall:?}; rows without: {short:?}");
    assert!(
        short.iter().all(|s| tall.0 > s.0),
        "the row with the series name and a resume line is taller"
    );
    for s in &short {
        assert_eq!(
            (s.1 .2, s.1 .3),
            (tall.1 .2, tall.1 .3),
            "posters are one size in every row"
        );
        assert_eq!(s.1 .0, tall.1 .0, "posters start at one x");
        assert_eq!(s.2, tall.2, "titles start at one x in every row");
    }
    close_all_windows();
}

#[gtk::test]
fn a_poster_arriving_moves_nothing() {
    close_all_windows();
    let f = Fixture::launch(DemoLibrary::seeded(), Some((960, 640)));
    let episodes = lighthouse_season_two(&f);
    // The tallest row: Continue watching's, with the series name and the resume line.
    let id = episodes[0].clone();
    f.app.model().library.emit(LibraryInput::ShowView {
        name: "home".into(),
    });
    wait_for("Continue watching", || {
        f.lists().continue_watching.contains(&id)
    });
    let root = f.library_widget();
    let row = || {
        named(&root, "continue-watching")
            .into_iter()
            .flat_map(|l| named(&l, &id))
            .find(|w| w.is_mapped())
    };
    wait_for("the row on screen", || row().is_some());
    let row = || row().unwrap();
    settle(Duration::from_millis(300));
    let picture: gtk::Picture = descendants(&row())
        .into_iter()
        .find_map(|w| w.downcast::<gtk::Picture>().ok())
        .unwrap();
    // The poster not come yet (the demo's may have: take it away).
    picture.set_paintable(None::<&gtk::gdk::Paintable>);
    settle(Duration::from_millis(300));
    let window = f.app.widget().clone();
    let name = f.item(&id).name;
    let before = (
        rect(&poster(&row()), &window),
        rect(&label(&row(), &name), &window),
        row().height(),
    );
    // A poster as servers send them: 2:3, far larger than the row shows it.
    let (w, h) = (200, 300);
    let bytes = gtk::glib::Bytes::from_owned(vec![0x80u8; w * h * 4]);
    let texture = gtk::gdk::MemoryTexture::new(
        w as i32,
        h as i32,
        gtk::gdk::MemoryFormat::R8g8b8a8,
        &bytes,
        w * 4,
    );
    picture.set_paintable(Some(&texture));
    settle(Duration::from_millis(300));
    let after = (
        rect(&poster(&row()), &window),
        rect(&label(&row(), &name), &window),
        row().height(),
    );
    println!("LAYOUT poster, title, row height before the poster: {before:?}; after: {after:?}");
    assert_eq!(after, before, "a poster arriving moves nothing");
    close_all_windows();
}

/// The sync button's states of issue 20 item 8, and the switcher's place in each.
fn switcher_places(width: i32) -> Vec<(String, f32, i32)> {
    let f = Fixture::launch(DemoLibrary::seeded(), Some((width, 640)));
    wait_for("the library", || !f.lists().series.is_empty());
    let status = f.app.model().status.sender().clone();
    let label: gtk::Label = named(&f.status(), "label")
        .pop()
        .unwrap()
        .downcast()
        .unwrap();
    let switcher = f.app.model().library.model().switcher_title.clone();
    let window = f.app.widget().clone();
    let attention = |n: usize| {
        (0..n)
            .map(|i| AttentionItem {
                item_id: format!("x{i}"),
                title: format!("S01E0{i} · Item"),
                reason: "This item is no longer on Demo".into(),
                detail: String::new(),
            })
            .collect::<Vec<_>>()
    };
    let mut places = Vec::new();
    // The worker says "Up to date" at start: wait for it, then drive the button's states.
    wait_for("Up to date", || label.label() == "Up to date");
    let states: [(AccountState, usize, usize, &str); 4] = [
        (AccountState::Online, 0, 0, "Up to date"),
        (AccountState::Online, 0, 2, "2 need attention"),
        (AccountState::Offline, 0, 2, "Offline · 2 need attention"),
        (AccountState::Online, 3, 0, "Syncing 3"),
    ];
    for (account, pending, needs, text) in states {
        let _ = status.send(SyncStatusInput::Attention {
            items: attention(needs),
        });
        let _ = status.send(SyncStatusInput::Counts {
            counts: Counts {
                pending,
                needs_attention: needs,
                ..Counts::default()
            },
        });
        let _ = status.send(SyncStatusInput::Account { state: account });
        wait_for(text, || label.label() == text);
        settle(Duration::from_millis(250));
        // What the person sees: the switcher's buttons in the header (or, where the header
        // is too narrow, none there: the bar at the bottom has them).
        let shown = descendants(switcher.upcast_ref())
            .into_iter()
            .find(|w| w.is::<adw::ViewSwitcher>() && w.is_mapped());
        let (x, w) = shown.map_or((-1.0, 0), |s| {
            let (x, _, w, _) = rect(&s, &window);
            (x, w)
        });
        places.push((text.to_string(), x, w));
    }
    close_all_windows();
    places
}

#[gtk::test]
fn the_view_switcher_stays_put_whatever_the_sync_button_says() {
    close_all_windows();
    // The app's default size (960 × 640), and narrower windows where the header is full.
    for width in [960, 900, 720, 640, 560] {
        let places = switcher_places(width);
        println!("LAYOUT switcher at {width} px: {places:?}");
        let first = &places[0];
        for p in &places[1..] {
            assert_eq!(
                (p.1, p.2),
                (first.1, first.2),
                "at {width} px the switcher is where it was with {:?} when the button says {:?}",
                first.0,
                p.0
            );
        }
    }
}

/// The toasts on screen (libadwaita's toast widgets, CSS name `toast`), mapped.
fn toasts(window: &gtk::Widget) -> Vec<gtk::Widget> {
    descendants(window)
        .into_iter()
        .filter(|w| w.css_name() == "toast" && w.is_mapped())
        .collect()
}

/// Toasts are not cut off in a narrow window (issue 20 item 8): at the window's minimum
/// width the longest toasts the app shows (an Undo toast of a season with a long name, the
/// too-late one) lie inside the window, and their words are all there (not cut, not "…").
#[gtk::test]
fn toasts_fit_a_window_at_its_minimum_width() {
    use playmark::ui::app::AppInput;
    use playmark::ui::worker::SyncQueueOutput;
    close_all_windows();
    // Narrower than the window can go: it takes its minimum width.
    let f = Fixture::launch(DemoLibrary::seeded(), Some((300, 640)));
    wait_for("the library", || !f.lists().series.is_empty());
    let window = f.app.widget().clone().upcast::<gtk::Widget>();
    settle(Duration::from_millis(300));
    let min = window.measure(gtk::Orientation::Horizontal, -1).0;
    println!("LAYOUT window width {} (minimum {min})", window.width());
    assert!(window.width() <= min, "the window is at its minimum width");
    let long = [
        SyncQueueOutput::BulkHeld {
            batch: 1,
            name: "Season 2".into(),
            series: Some("The Lighthouse Keepers of the Northern Isles".into()),
            count: 12,
            played: false,
            held: 12,
        },
        SyncQueueOutput::UseMineHeld {
            batch: 2,
            count: 12,
            held: 12,
        },
        SyncQueueOutput::UndoTooLate { batch: 2 },
    ];
    for out in long {
        let what = format!("{out:?}");
        f.app.emit(AppInput::Queue(out));
        wait_for("a toast", || !toasts(&window).is_empty());
        // The toast slides in: measure once it stands still.
        let mut last = None;
        wait_for("the toast in place", || {
            settle(Duration::from_millis(100));
            let now = toasts(&window).first().map(|t| rect(t, &window));
            std::mem::replace(&mut last, now) == now
        });
        let toast = toasts(&window).pop().unwrap();
        let (x, _, w, _) = rect(&toast, &window);
        let title = descendants(&toast)
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Label>().ok())
            .find(|l| l.is_mapped() && l.label().chars().count() > 12)
            .expect("the toast's title");
        let (tx, _, tw, _) = rect(&title, &window);
        let cut = title.layout().is_ellipsized();
        let natural_one_line = title.measure(gtk::Orientation::Horizontal, -1).1;
        println!(
            "LAYOUT toast {what}: x {x} width {w} in {}; title x {tx} width {tw} \
             (natural {natural_one_line}), ellipsized {cut}, lines {}",
            window.width(),
            title.layout().line_count()
        );
        assert!(
            x >= 0.0 && x + w as f32 <= window.width() as f32,
            "{what}: the toast ({x}, width {w}) is cut off by the window ({})",
            window.width()
        );
        assert!(
            tx >= 0.0 && tx + tw as f32 <= window.width() as f32,
            "{what}: its title ({tx}, width {tw}) is cut off by the window"
        );
        assert!(!cut, "{what}: its title is cut short (…)");
        let (_, _, _, th) = rect(&title, &window);
        let needed = title.measure(gtk::Orientation::Vertical, tw).0;
        assert!(
            th >= needed,
            "{what}: its title has {th} px of the {needed} its lines need"
        );
        let (_, ty, _, _) = rect(&title, &window);
        assert!(
            ty >= 0.0 && ty + th as f32 <= window.height() as f32,
            "{what}: its title is cut off at the bottom"
        );
        // Dismiss it, so the next one is measured alone.
        let close = descendants(&toast)
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Button>().ok())
            .find(|b| b.icon_name().as_deref() == Some("window-close-symbolic"))
            .expect("the toast's close button");
        close.emit_clicked();
        wait_for("the toast gone", || toasts(&window).is_empty());
    }
    close_all_windows();
}
