//! The library views under a real display (`xvfb-run -a cargo test --test gui ui_library::`): Home,
//! Shows, Movies and search, with the real SyncQueue worker, a real SQLite file and the demo
//! server over loopback. `#[gtk::test]` runs every test on one GTK thread.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use crate::common;

use common::gtk::{descendants, named, pump, wait_for};
use playmark::demo::DemoLibrary;
use playmark::model::{ItemKind, LocalChange};
use playmark::sync::ItemSyncState;
use playmark::ui::worker::SyncQueueInput;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

common::gtk::fixture_of_file!(
    /// The GTK tests' fixture, with this file's helpers (rows found by list).
    Fixture
);

impl Fixture {
    fn start() -> Fixture {
        Fixture::with(DemoLibrary::seeded().without_progress())
    }

    fn with(library: DemoLibrary) -> Fixture {
        let f = Fixture(common::gtk::Fixture::launch(library, Some((900, 700))));
        wait_for("the library", || {
            !f.lists().series.is_empty() || !f.lists().movies.is_empty()
        });
        f
    }

    fn name(&self, id: &str) -> String {
        self.item(id).name
    }

    /// The widget of `list` (a GtkListView by name) showing item `id`.
    fn row_in(&self, list: &str, id: &str) -> gtk::Widget {
        common::gtk::mapped_row(&self.library_widget(), list, id)
    }

    fn toggle_watched(&self, list: &str, id: &str) {
        let check = descendants(&self.row_in(list, id))
            .into_iter()
            .find_map(|w| w.downcast::<gtk::CheckButton>().ok())
            .unwrap();
        check.set_active(!check.is_active());
    }

    /// Activate row `position` of a list the way Enter or a click does.
    fn activate(&self, list: &str, position: u32) {
        let root = self.library_widget();
        let view = named(&root, list).pop().unwrap();
        view.activate_action("list.activate-item", Some(&position.to_variant()))
            .unwrap();
        pump();
    }

    fn show(&self, view: &str) {
        let stack = self.app.model().library.widgets().stack.clone();
        stack.set_visible_child_name(view);
        pump();
    }

    fn leaflet_page(&self) -> String {
        let leaflet = self.app.model().library.widgets().leaflet.clone();
        leaflet.visible_child_name().unwrap().to_string()
    }

    fn click_visible(&self, name: &str) {
        let root = self.library_widget();
        let button = named(&root, name)
            .into_iter()
            .find(|w| w.is_mapped())
            .unwrap()
            .downcast::<gtk::Button>()
            .unwrap();
        button.emit_clicked();
        pump();
    }

    fn search(&self, text: &str) {
        self.app.widgets().search_button.set_active(true);
        let entry = self.app.model().library.widgets().search_entry.clone();
        entry.set_text(text);
        wait_for("search results", || {
            self.app.model().library.model().query == text && !self.lists().results.is_empty()
        });
    }
}

#[gtk::test]
fn movies_are_listed_by_title_and_markable() {
    let f = Fixture::start();
    f.show("movies");
    let names: Vec<String> = f.lists().movies.iter().map(|id| f.name(id)).collect();
    assert_eq!(
        names,
        ["A Quiet Harbor", "Northern Static", "The Last Tram Home"]
    );
    let id = f.lists().movies[1].clone();
    assert!(!f.played(&id));
    f.toggle_watched("movie-list", &id);
    assert!(f.played(&id), "optimistic");
    wait_for("the movie watched on the server", || {
        f.server.user_data(&id).unwrap().played
    });
    wait_for("synced", || f.state(&id) == Some(ItemSyncState::Synced));
}

#[gtk::test]
fn shows_series_then_season_then_episodes_and_back() {
    let f = Fixture::start();
    f.show("shows");
    assert_eq!(f.leaflet_page(), "series");
    let names: Vec<String> = f.lists().series.iter().map(|id| f.name(id)).collect();
    assert_eq!(
        names,
        ["Orbital Kitchen", "Paper Cities", "The Lighthouse Keepers"]
    );
    f.row_in("series-list", &f.lists().series[2]);
    f.activate("series-list", 2);
    assert_eq!(f.leaflet_page(), "seasons");
    let seasons: Vec<String> = f.lists().seasons.iter().map(|id| f.name(id)).collect();
    assert_eq!(seasons, ["Season 1", "Season 2"]);
    f.row_in("season-list", &f.lists().seasons[1]);
    f.activate("season-list", 1);
    assert_eq!(f.leaflet_page(), "episodes");
    let episodes = f.lists().episodes;
    assert_eq!(episodes.len(), 8);
    let numbers: Vec<(Option<i64>, Option<i64>)> = episodes
        .iter()
        .map(|id| {
            let i = f.app.model().library.model().rows.item(id).unwrap();
            (i.season_number, i.episode_number)
        })
        .collect();
    assert_eq!(
        numbers,
        (1..=8).map(|e| (Some(2), Some(e))).collect::<Vec<_>>()
    );
    assert_eq!(
        f.app.model().library.widgets().season_title.label(),
        "The Lighthouse Keepers — Season 2"
    );
    // The season's bulk action is one server call for all of it, sent when its Undo toast
    // goes (here dismissed at once; `tests/ui_undo.rs` tests the hold and Undo).
    f.server.clear_requests();
    f.click_visible("mark_season_watched");
    assert!(episodes.iter().all(|id| f.played(id)), "optimistic");
    wait_for("the Undo toast", || f.app.model().undo_toast.is_some());
    let toast = f.app.model().undo_toast.as_ref().unwrap().1.clone();
    toast.dismiss();
    wait_for("the season watched on the server", || {
        episodes
            .iter()
            .all(|id| f.server.user_data(id).unwrap().played)
    });
    let writes = f
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 1, "one bulk call");
    // Back, back.
    f.click_visible("back");
    assert_eq!(f.leaflet_page(), "seasons");
    f.click_visible("back");
    assert_eq!(f.leaflet_page(), "series");
}

#[gtk::test]
fn continue_watching_is_most_recent_first_after_changes() {
    let f = Fixture::start();
    let movie = f.lists().movies[0].clone();
    let episode = {
        f.show("shows");
        f.activate("series-list", 0);
        f.activate("season-list", 0);
        f.lists().episodes[2].clone()
    };
    let position = |item: &str, ms| {
        f.app.model().queue.emit(SyncQueueInput::Enqueue {
            item: item.into(),
            change: LocalChange::Position { position_ms: ms },
        });
    };
    let home = || f.lists().continue_watching;
    position(&episode, 60_000);
    wait_for("the episode on Home", || home() == [episode.clone()]);
    position(&movie, 120_000);
    wait_for("the movie first", || {
        home() == [movie.clone(), episode.clone()]
    });
    position(&episode, 90_000);
    wait_for("the episode first again", || {
        home() == [episode.clone(), movie.clone()]
    });
    // Finishing the movie from its Home row takes it off Continue watching.
    f.show("home");
    f.toggle_watched("continue-watching", &movie);
    wait_for("the movie gone", || home() == [episode.clone()]);
}

#[gtk::test]
fn next_up_moves_on_when_an_episode_is_marked_watched() {
    let f = Fixture::start();
    f.show("shows");
    f.activate("series-list", 0);
    f.activate("season-list", 0);
    let episodes = f.lists().episodes;
    assert!(f.lists().next_up.is_empty(), "nothing started");
    // Skip the first episode, watch the second: next up is the third.
    f.toggle_watched("episode-list", &episodes[1]);
    wait_for("next up: the third", || {
        f.lists().next_up == [episodes[2].clone()]
    });
    f.toggle_watched("episode-list", &episodes[2]);
    wait_for("next up: the fourth", || {
        f.lists().next_up == [episodes[3].clone()]
    });
    f.show("home");
    f.row_in("next-up", &episodes[3]);
}

#[gtk::test]
fn search_finds_an_episode_and_a_movie_and_their_badges_follow_sync() {
    let f = Fixture::start();
    f.search("paper boa");
    let results = f.lists().results;
    assert!(
        results.iter().all(|id| f.name(id) == "Paper Boats"),
        "{results:?}"
    );
    let kinds = |ids: &[String]| -> Vec<ItemKind> {
        ids.iter()
            .map(|id| f.app.model().library.model().rows.item(id).unwrap().kind)
            .collect()
    };
    assert!(kinds(&results).iter().all(|k| *k == ItemKind::Episode));

    f.search("quiet harb");
    let results = f.lists().results;
    assert_eq!(kinds(&results), [ItemKind::Movie]);
    let movie = results[0].clone();
    assert_eq!(f.name(&movie), "A Quiet Harbor");
    // Marking it watched in the results: its badge there shows the change reaching the server.
    f.toggle_watched("search-results", &movie);
    wait_for("synced", || f.state(&movie) == Some(ItemSyncState::Synced));
    let row = f.row_in("search-results", &movie);
    let badge = named(&row, "sync-badge").pop().unwrap();
    assert!(badge.is_visible());
    let icon = descendants(&badge)
        .into_iter()
        .find_map(|w| w.downcast::<gtk::Image>().ok())
        .unwrap();
    assert_eq!(icon.icon_name().as_deref(), Some("emblem-ok-symbolic"));
    assert!(f.server.user_data(&movie).unwrap().played);
}

#[gtk::test]
fn a_long_list_builds_widgets_only_for_rows_on_screen() {
    let f = Fixture::with(DemoLibrary::generated(0, 0, 0, 3_000));
    wait_for("every movie", || f.lists().movies.len() == 3_000);
    f.show("movies");
    f.row_in("movie-list", &f.lists().movies[0]);
    let bound = f.app.model().library.model().rows.bound_rows();
    // GTK 4.8 keeps about 200 rows around the visible ones: a fifteenth of this list.
    assert!(
        (1..300).contains(&bound),
        "{bound} rows bound for 3,000 movies"
    );
}

/// Real key presses, as the X server delivers them (`xdotool`, XTEST) to this test's window:
/// focused first (no window manager under Xvfb), found by a title set for the test.
struct Keyboard {
    window: String,
}

impl Keyboard {
    fn of(f: &Fixture) -> Keyboard {
        let title = format!("playmark-keyboard-test-{}", std::process::id());
        f.app.widget().set_title(Some(&title));
        let mut window = String::new();
        wait_for("the X window", || {
            let out = std::process::Command::new("xdotool")
                .args(["search", "--name", &title])
                .output()
                .expect("xdotool runs (scripts/install-deps.sh installs it)");
            window = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            !window.is_empty()
        });
        Keyboard { window }
    }

    /// Run xdotool on the window while GTK keeps handling events, as it does while a person
    /// types.
    fn xdotool(&self, args: &[&str]) {
        common::xdo::xdotool(&[&["windowfocus", "--sync", self.window.as_str()], args].concat());
    }

    /// Press `keys` (xdotool's names: `alt+Left`, `ctrl+f`, `Escape`).
    fn press(&self, keys: &str) {
        self.xdotool(&["key", keys]);
    }

    /// Type `text`, 50 ms between keys (a fast typist).
    fn type_text(&self, text: &str) {
        self.xdotool(&["type", "--delay", "50", text]);
    }
}

#[gtk::test]
fn the_keyboard_goes_back_and_searches() {
    let f = Fixture::start();
    let keys = Keyboard::of(&f);
    f.show("shows");
    f.row_in("series-list", &f.lists().series[2]);
    f.activate("series-list", 2);
    f.row_in("season-list", &f.lists().seasons[1]);
    f.activate("season-list", 1);
    assert_eq!(f.leaflet_page(), "episodes");
    // Back with Alt+← (like a browser), then with Escape.
    keys.press("alt+Left");
    wait_for("Alt+← back to the seasons", || {
        f.leaflet_page() == "seasons"
    });
    keys.press("Escape");
    wait_for("Escape back to the series", || f.leaflet_page() == "series");
    // Ctrl+F opens search; what is typed searches.
    let search_bar = f.app.model().library.model().search_bar.clone();
    assert!(!search_bar.is_search_mode());
    keys.press("ctrl+f");
    wait_for("Ctrl+F opens search", || search_bar.is_search_mode());
    keys.type_text("quiet harb");
    wait_for("results for what was typed", || {
        f.app.model().library.model().query == "quiet harb"
            && f.lists()
                .results
                .iter()
                .any(|id| f.name(id) == "A Quiet Harbor")
    });
    // Escape closes it. (Typing again while the bar is still sliding away can leave it
    // hidden with the text in it: GtkSearchBar's own race, so the test waits for the end.)
    keys.press("Escape");
    let entry = f.app.model().library.widgets().search_entry.clone();
    wait_for("Escape closes search", || {
        !search_bar.is_search_mode() && !entry.is_mapped()
    });
    // Or just start typing.
    keys.type_text("paper boa");
    wait_for("typing searches", || {
        search_bar.is_search_mode()
            && f.app.model().library.model().query == "paper boa"
            && f.lists()
                .results
                .iter()
                .all(|id| f.name(id) == "Paper Boats")
            && !f.lists().results.is_empty()
    });
}

/// Posters that could not be fetched while the server was unreachable come once it is back
/// (issue 20 item 7: they never came, even after reconnecting and scrolling).
#[gtk::test]
fn posters_that_failed_offline_come_after_reconnecting() {
    let f = Fixture::start();
    // Offline before the Movies page is first shown: its rows ask for posters that cannot come.
    f.server.set_offline(true);
    std::thread::sleep(std::time::Duration::from_millis(50));
    f.show("movies");
    let movie = f.lists().movies[0].clone();
    // A change to send: the engine finds the server unreachable.
    f.toggle_watched("movie-list", &movie);
    wait_for("offline", || {
        f.app.model().account == playmark::sync::AccountState::Offline
    });
    let root: gtk::Widget = f.app.widget().clone().upcast();
    let poster_of = |id: &str| {
        descendants(&root)
            .into_iter()
            .filter(|w| w.widget_name() == id && w.is_mapped())
            .flat_map(|row| descendants(&row))
            .find_map(|w| w.downcast::<gtk::Picture>().ok())
            .and_then(|p| p.paintable())
    };
    // The rows on screen asked for their posters meanwhile (the check runs once the list is
    // still); none came.
    let until = std::time::Instant::now() + std::time::Duration::from_millis(1_500);
    while std::time::Instant::now() < until {
        pump();
    }
    assert!(poster_of(&movie).is_none(), "no poster while offline");
    f.server.set_offline(false);
    // The app's next probe finds the server (backing off up to a minute), and the posters of
    // the rows on screen are asked for again.
    common::gtk::wait_within(
        "the poster after reconnecting",
        std::time::Duration::from_secs(90),
        || poster_of(&movie).is_some(),
    );
}

/// Series and season rows say how many episodes are left unwatched, and follow a change made
/// on an episode (issue 20 item 12).
#[gtk::test]
fn series_and_season_rows_count_unwatched_episodes_as_changes_arrive() {
    let f = Fixture::start();
    let line = |list: &str, id: &str| -> Vec<String> {
        descendants(&f.row_in(list, id))
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Label>().ok())
            .filter(|l| l.is_visible())
            .map(|l| l.label().to_string())
            .filter(|t| t.contains("unwatched") || t == "All watched")
            .collect()
    };
    let unwatched_on_server = |pick: &dyn Fn(&playmark::model::RemoteItem) -> bool| {
        f.server
            .items()
            .into_iter()
            .filter(|i| i.kind == ItemKind::Episode && pick(i) && !i.user_data.played)
            .count()
    };
    f.show("shows");
    let series = f.lists().series[2].clone();
    let in_series = unwatched_on_server(&|i| i.series_id.as_deref() == Some(series.as_str()));
    assert!(in_series > 1);
    assert_eq!(
        line("series-list", &series),
        [format!("{in_series} unwatched episodes")]
    );
    f.activate("series-list", 2);
    let season = f.lists().seasons[1].clone();
    let in_season = unwatched_on_server(&|i| i.season_id.as_deref() == Some(season.as_str()));
    assert_eq!(
        line("season-list", &season),
        [format!("{in_season} unwatched episodes")]
    );
    f.activate("season-list", 1);
    let episode = f.lists().episodes[0].clone();
    assert!(!f.played(&episode));
    f.toggle_watched("episode-list", &episode);
    f.click_visible("back");
    wait_for("the season's count follows", || {
        line("season-list", &season) == [format!("{} unwatched episodes", in_season - 1)]
    });
    f.click_visible("back");
    wait_for("the series' count follows", || {
        line("series-list", &series) == [format!("{} unwatched episodes", in_series - 1)]
    });
}

/// An empty Home section says what will appear there in one line instead of a blank box, and
/// its list takes the space once something is in it (issue 20 item 9).
#[gtk::test]
fn an_empty_home_section_says_what_will_appear_there() {
    let f = Fixture::start();
    f.show("home");
    let root: gtk::Widget = f.app.model().library.widget().clone().upcast();
    let label = |name: &str| {
        named(&root, name)
            .pop()
            .unwrap()
            .downcast::<gtk::Label>()
            .unwrap()
    };
    let list_shown = |name: &str| named(&root, name).iter().any(|w| w.is_mapped());
    wait_for("the empty Continue watching said", || {
        label("continue-empty").is_mapped()
    });
    assert!(label("continue-empty")
        .label()
        .starts_with("Nothing in progress"));
    assert!(!list_shown("continue-watching"), "no blank box");
    let episode = {
        f.show("shows");
        f.activate("series-list", 0);
        f.activate("season-list", 0);
        f.lists().episodes[1].clone()
    };
    f.app.model().queue.emit(SyncQueueInput::Enqueue {
        item: episode.clone(),
        change: LocalChange::Position {
            position_ms: 60_000,
        },
    });
    f.show("home");
    wait_for("the episode on Home", || {
        f.lists().continue_watching == [episode.clone()] && list_shown("continue-watching")
    });
    assert!(!label("continue-empty").is_visible());
}
