//! The library: **Home** (Continue watching, Next up), **Shows** (series → seasons → episodes,
//! an `AdwLeaflet` with back buttons and keyboard navigation), **Movies**, and search results
//! (Ctrl+F or type to search). Every list is a virtualised `GtkListView` of the one
//! [`ItemRow`] component; what rows show lives in one shared
//! [`RowStore`], so a badge or watched change shows in every view at once.
//!
//! The library never reads the database: Home and search results are item ids computed by the
//! SyncQueue worker ([`LibraryOutput::RefreshHome`], [`LibraryOutput::Search`]).

use std::collections::HashMap;
use std::rc::Rc;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;
use relm4::typed_view::list::TypedListView;

use crate::model::{ItemKind, LocalChange};
use crate::store::{DownloadRow, ItemView};
use crate::sync::{AccountState, ItemSyncState};
use crate::ui::downloads::{DownloadAction, Downloads, DownloadsInput, DownloadsOutput};
use crate::ui::i18n::{gettext, tr};
use crate::ui::item_row::{ItemRow, ItemRowOutput, RowActions, RowStore};

mod build;
mod index;
mod lists;
pub(crate) use build::SlowUpdate;
use build::*;
pub use build::{account_badge, apply_snapshot, ShowsPage};
pub use index::LibraryIndex;

/// A virtualised list of rows.
pub type RowList = TypedListView<ItemRow, gtk::NoSelection>;

/// The library's model.
#[derive(Debug)]
pub struct Library {
    /// Row data of every item, shared by all views.
    pub rows: Rc<RowStore>,
    /// Item ids of each list, in screen order.
    pub lists: ListIds,
    /// The open series (Shows).
    pub open_series: Option<String>,
    /// The open season (Shows).
    pub open_season: Option<String>,
    /// The Shows page on top.
    pub page: ShowsPage,
    /// The search text (empty: no search).
    pub query: String,
    /// The view switcher for the window's header bar.
    pub switcher_title: adw::ViewSwitcherTitle,
    /// The search bar (the window sets itself as its key-capture widget).
    pub search_bar: gtk::SearchBar,
    views: Views,
    stack: adw::ViewStack,
    leaflet: adw::Leaflet,
    children: HashMap<String, Vec<String>>,
    home_pending: bool,
    /// Home's lists have arrived once: before, an empty list is not yet known to be empty (no
    /// "Nothing in progress" flashes at start).
    home_loaded: bool,
    /// The current fill of each long list (Series, Movies).
    fills: [u64; 2],
    /// The load under way.
    pending: Option<PendingLoad>,
    /// The Downloads view.
    pub downloads: Controller<Downloads>,
}

/// Item ids shown by each list.
#[derive(Debug, Default, Clone)]
pub struct ListIds {
    /// Home: Continue watching.
    pub continue_watching: Vec<String>,
    /// Home: Next up.
    pub next_up: Vec<String>,
    /// Shows: every series.
    pub series: Vec<String>,
    /// Shows: the open series' seasons.
    pub seasons: Vec<String>,
    /// Shows: the open season's episodes.
    pub episodes: Vec<String>,
    /// Movies.
    pub movies: Vec<String>,
    /// Search results.
    pub results: Vec<String>,
}

/// How children sort under their parent: season number, episode number, id.
type ChildKey<'a> = (Option<i64>, Option<i64>, &'a str);

/// The virtualised lists.
#[derive(Debug)]
pub struct Views {
    /// Home: Continue watching.
    pub continue_watching: RowList,
    /// Home: Next up.
    pub next_up: RowList,
    /// Shows: series.
    pub series: RowList,
    /// Shows: seasons.
    pub seasons: RowList,
    /// Shows: episodes.
    pub episodes: RowList,
    /// Movies.
    pub movies: RowList,
    /// Search results.
    pub results: RowList,
}

/// Messages to the library.
#[derive(Debug)]
pub enum LibraryInput {
    /// Replace everything (the lists are indexed here, on the GTK thread: for small
    /// libraries and tests; the app sends [`LibraryInput::LoadIndexed`]).
    Load { items: Vec<ItemView> },
    /// Replace everything, with the lists already indexed off the GTK thread. The items go to
    /// the `RowStore` in parts, at low priority (frames are drawn in between).
    LoadIndexed {
        items: Vec<ItemView>,
        index: LibraryIndex,
    },
    /// One item's local data changed.
    ItemData { item: ItemView },
    /// One item's sync state changed.
    ItemState { item: String, state: ItemSyncState },
    /// The engine's snapshot of every queued change ([`apply_snapshot`]).
    Snapshot {
        states: Vec<(String, ItemSyncState)>,
    },
    /// The item's change left the queue: a badge that waits for something settles as synced.
    Settled { item: String },
    /// Every override notice (rows say what a merge kept and offer Use mine).
    Overridden {
        items: Vec<crate::ui::worker::OverriddenItem>,
    },
    /// Another engine runs (a sign-in or a sign-out): no badge of the one before stays.
    ClearStates,
    /// The account went online / offline: queued badges say whether they wait for the
    /// connection.
    Account { state: AccountState },
    /// Home's lists, as computed by the worker, with the data of their items (Home can show
    /// before the whole library is loaded).
    Home {
        continue_watching: Vec<String>,
        next_up: Vec<String>,
        items: Vec<ItemView>,
    },
    /// Search results for `query`.
    SearchResults { query: String, items: Vec<String> },
    /// A row's button.
    Row(ItemRowOutput),
    /// Which row buttons the owner handles: ▶ (`play`: a player is there; `false` shows ▶
    /// insensitive, saying how to install mpv) and download.
    Actions { play: bool, download: bool },
    /// Open a series (Shows → its seasons).
    OpenSeries { id: String },
    /// Open a season (its episodes).
    OpenSeason { id: String },
    /// A row of a list was activated (Enter, click).
    Activated { list: ListKind, position: u32 },
    /// Back one Shows page.
    Back,
    /// The leaflet shows this page (e.g. after a swipe).
    PageShown { name: String },
    /// Show a top-level view: `home`, `shows` or `movies`.
    ShowView { name: String },
    /// The search text changed.
    SearchChanged { text: String },
    /// Start or stop searching.
    ToggleSearch,
    /// Header action of the open season (or series when no season is open).
    MarkSeason { played: bool },
    /// Header action of the open series.
    MarkSeries { played: bool },
    /// Time to ask for Home again (after changes).
    HomeDue,
    /// The item playing now (its ▶ shows stop), or none.
    Playing { item: Option<String> },
    /// Every download, for the Downloads view.
    Downloads { rows: Vec<DownloadRow> },
    /// Header action of the open season: download all its episodes.
    DownloadSeason,
    /// An item's poster arrived.
    Poster {
        item: String,
        texture: gtk::gdk::Texture,
    },
    /// Give the `RowStore` the next part of load `load`.
    #[doc(hidden)]
    LoadMore { load: u64 },
    /// Fill the next part of a long list (`generation`: the fill it belongs to; a newer fill
    /// makes it stale).
    #[doc(hidden)]
    FillMore {
        list: LongList,
        generation: u64,
        from: usize,
    },
}

/// Which list a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Shows: series.
    Series,
    /// Shows: seasons.
    Seasons,
    /// Search results.
    Results,
}

/// What the library asks of the sync queue.
#[derive(Debug)]
pub enum LibraryOutput {
    /// Record a change for one item.
    Enqueue { item: String, change: LocalChange },
    /// Record a bulk change for a season or series.
    EnqueueBulk { parent: String, played: bool },
    /// Compute Home's lists.
    RefreshHome,
    /// Search titles.
    Search { query: String },
    /// Play an item (or stop it when it plays).
    Play { item: String },
    /// Download an item (an episode or movie, or every episode of a season).
    Download { item: String },
    /// Pause, resume or remove a download (the Downloads view).
    DownloadControl {
        item: String,
        action: DownloadAction,
    },
    /// A row shows this item: its poster is wanted.
    Poster { item: String },
    /// Use mine on a row: send the person's value again.
    UseMine { item: String },
}

/// Named widgets of the library.
#[derive(Debug)]
pub struct LibraryWidgets {
    /// Home, Shows, Movies.
    pub stack: adw::ViewStack,
    /// Views or search results.
    pub content: gtk::Stack,
    /// The Shows pages.
    pub leaflet: adw::Leaflet,
    /// The search entry.
    pub search_entry: gtk::SearchEntry,
    /// Seasons page title (the series).
    pub series_title: gtk::Label,
    /// Episodes page title ("Series — Season 1").
    pub season_title: gtk::Label,
    /// Mark the open season watched.
    pub mark_season_watched: gtk::Button,
    /// Mark the open season unwatched.
    pub mark_season_unwatched: gtk::Button,
    /// Mark the open series watched.
    pub mark_series_watched: gtk::Button,
    /// Mark the open series unwatched.
    pub mark_series_unwatched: gtk::Button,
    /// Download the open season.
    pub download_season: gtk::Button,
    continue_empty: gtk::Label,
    next_empty: gtk::Label,
    continue_scroller: gtk::ScrolledWindow,
    next_scroller: gtk::ScrolledWindow,
    no_results: gtk::Label,
}

impl SimpleComponent for Library {
    type Init = ();
    type Input = LibraryInput;
    type Output = LibraryOutput;
    type Root = gtk::Box;
    type Widgets = LibraryWidgets;

    fn init_root() -> gtk::Box {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(_: (), root: gtk::Box, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let (row_tx, row_rx) = relm4::channel::<ItemRowOutput>();
        let input = sender.input_sender().clone();
        relm4::spawn_local(async move {
            while let Some(out) = row_rx.recv().await {
                input.emit(LibraryInput::Row(out));
            }
        });
        let rows = RowStore::new(row_tx);
        // ▶ and download show once the owner says who handles them (LibraryInput::Actions).
        rows.set_actions(RowActions::default());
        let views = Views {
            continue_watching: RowList::new(),
            next_up: RowList::new(),
            series: RowList::new(),
            seasons: RowList::new(),
            episodes: RowList::new(),
            movies: RowList::new(),
            results: RowList::new(),
        };
        list_view(&views.continue_watching, "continue-watching");
        list_view(&views.next_up, "next-up");
        list_view(&views.series, "series-list");
        list_view(&views.seasons, "season-list");
        list_view(&views.episodes, "episode-list");
        list_view(&views.movies, "movie-list");
        list_view(&views.results, "search-results");
        for (view, kind) in [
            (&views.series, ListKind::Series),
            (&views.seasons, ListKind::Seasons),
            (&views.results, ListKind::Results),
        ] {
            view.view.set_single_click_activate(true);
            let s = sender.input_sender().clone();
            view.view.connect_activate(move |_, position| {
                s.emit(LibraryInput::Activated {
                    list: kind,
                    position,
                });
            });
        }

        // Search.
        let search_entry = gtk::SearchEntry::new();
        search_entry.set_placeholder_text(Some(&gettext("Search series, episodes and movies")));
        search_entry.set_hexpand(true);
        let s = sender.input_sender().clone();
        search_entry.connect_search_changed(move |e| {
            s.emit(LibraryInput::SearchChanged {
                text: e.text().to_string(),
            });
        });
        let search_bar = gtk::SearchBar::new();
        search_bar.set_child(Some(&search_entry));
        search_bar.connect_entry(&search_entry);
        search_bar.set_show_close_button(true);
        let s = sender.input_sender().clone();
        search_bar.connect_search_mode_enabled_notify(move |bar| {
            if !bar.is_search_mode() {
                s.emit(LibraryInput::SearchChanged {
                    text: String::new(),
                });
            }
        });

        // Home.
        let home = gtk::Box::new(gtk::Orientation::Vertical, 0);
        // An empty section says what will appear there, in a line, instead of a blank box.
        let continue_empty = placeholder(
            gettext("Nothing in progress. An episode or a movie you start shows here, to pick up where you left off."),
            "continue-empty",
        );
        let next_empty = placeholder(
            gettext("When you watch an episode of a series, the next one shows here."),
            "next-empty",
        );
        let continue_scroller = scrolled(&views.continue_watching.view, &rows);
        let next_scroller = scrolled(&views.next_up.view, &rows);
        continue_scroller.set_visible(false);
        next_scroller.set_visible(false);
        home.append(&section_title(&gettext("Continue watching")));
        home.append(&continue_empty);
        home.append(&continue_scroller);
        home.append(&section_title(&gettext("Next up")));
        home.append(&next_empty);
        home.append(&next_scroller);

        // Shows.
        let series_title = gtk::Label::new(None);
        let season_title = gtk::Label::new(None);
        season_title.set_widget_name("season_title");
        let button = |label: &str, name: &str, msg: fn() -> LibraryInput| {
            let b = gtk::Button::with_label(label);
            b.set_widget_name(name);
            let s = sender.input_sender().clone();
            b.connect_clicked(move |_| s.emit(msg()));
            b
        };
        let mark_series_watched = button(
            &gettext("Mark series watched"),
            "mark_series_watched",
            || LibraryInput::MarkSeries { played: true },
        );
        let mark_series_unwatched = button(
            &gettext("Mark series unwatched"),
            "mark_series_unwatched",
            || LibraryInput::MarkSeries { played: false },
        );
        let mark_season_watched = button(
            &gettext("Mark season watched"),
            "mark_season_watched",
            || LibraryInput::MarkSeason { played: true },
        );
        let mark_season_unwatched = button(
            &gettext("Mark season unwatched"),
            "mark_season_unwatched",
            || LibraryInput::MarkSeason { played: false },
        );
        let download_season = button(&gettext("Download season"), "download_season", || {
            LibraryInput::DownloadSeason
        });
        download_season.set_visible(false);
        let leaflet = adw::Leaflet::new();
        leaflet.set_can_unfold(false);
        leaflet.set_can_navigate_back(true);
        let seasons_page = gtk::Box::new(gtk::Orientation::Vertical, 0);
        seasons_page.append(&page_header(
            &series_title,
            &[&mark_series_watched, &mark_series_unwatched],
            &sender,
        ));
        seasons_page.append(&scrolled(&views.seasons.view, &rows));
        let episodes_page = gtk::Box::new(gtk::Orientation::Vertical, 0);
        episodes_page.append(&page_header(
            &season_title,
            &[
                &mark_season_watched,
                &mark_season_unwatched,
                &download_season,
            ],
            &sender,
        ));
        episodes_page.append(&scrolled(&views.episodes.view, &rows));
        leaflet
            .append(&scrolled(&views.series.view, &rows))
            .set_name(Some("series"));
        leaflet.append(&seasons_page).set_name(Some("seasons"));
        leaflet.append(&episodes_page).set_name(Some("episodes"));
        // Back from the keyboard too (Alt+← like a browser, or Escape).
        let keys = gtk::ShortcutController::new();
        for trigger in ["<Alt>Left", "Escape", "BackSpace"] {
            let s = sender.input_sender().clone();
            keys.add_shortcut(gtk::Shortcut::new(
                gtk::ShortcutTrigger::parse_string(trigger),
                Some(gtk::CallbackAction::new(move |_, _| {
                    s.emit(LibraryInput::Back);
                    gtk::glib::Propagation::Stop
                })),
            ));
        }
        leaflet.add_controller(keys);
        let s = sender.input_sender().clone();
        let weak = Rc::downgrade(&rows);
        leaflet.connect_visible_child_name_notify(move |l| {
            if let Some(rows) = weak.upgrade() {
                rows.schedule_poster_check();
            }
            if let Some(name) = l.visible_child_name() {
                s.emit(LibraryInput::PageShown {
                    name: name.to_string(),
                });
            }
        });

        // Movies, search results.
        let stack = adw::ViewStack::new();
        stack.set_vexpand(true);
        let weak = Rc::downgrade(&rows);
        stack.connect_visible_child_name_notify(move |_| {
            if let Some(rows) = weak.upgrade() {
                rows.schedule_poster_check();
            }
        });
        stack
            .add_titled(&home, Some("home"), &gettext("Home"))
            .set_icon_name(Some("user-home-symbolic"));
        stack
            .add_titled(&leaflet, Some("shows"), &gettext("Shows"))
            .set_icon_name(Some("video-display-symbolic"));
        stack
            .add_titled(
                &scrolled(&views.movies.view, &rows),
                Some("movies"),
                &gettext("Movies"),
            )
            .set_icon_name(Some("camera-video-symbolic"));
        let downloads = Downloads::builder().launch(()).forward(
            sender.output_sender(),
            |DownloadsOutput::Control { item, action }| LibraryOutput::DownloadControl {
                item,
                action,
            },
        );
        stack
            .add_titled(downloads.widget(), Some("downloads"), &gettext("Downloads"))
            .set_icon_name(Some("folder-download-symbolic"));
        let results = gtk::Box::new(gtk::Orientation::Vertical, 0);
        let no_results = gtk::Label::new(Some(&gettext("No titles match.")));
        no_results.add_css_class("dim-label");
        no_results.set_margin_top(24);
        results.append(&scrolled(&views.results.view, &rows));
        results.append(&no_results);
        let content = gtk::Stack::new();
        content.set_transition_type(gtk::StackTransitionType::Crossfade);
        content.add_named(&stack, Some("views"));
        content.add_named(&results, Some("search"));

        let switcher_title = adw::ViewSwitcherTitle::new();
        switcher_title.set_stack(Some(&stack));
        switcher_title.set_title(&gettext("Playmark"));
        let switcher_bar = adw::ViewSwitcherBar::new();
        switcher_bar.set_stack(Some(&stack));
        switcher_title
            .bind_property("title-visible", &switcher_bar, "reveal")
            .sync_create()
            .build();

        // Ctrl+F anywhere in the window.
        let keys = gtk::ShortcutController::new();
        keys.set_scope(gtk::ShortcutScope::Global);
        let s = sender.input_sender().clone();
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string("<Control>f"),
            Some(gtk::CallbackAction::new(move |_, _| {
                s.emit(LibraryInput::ToggleSearch);
                gtk::glib::Propagation::Stop
            })),
        ));
        root.add_controller(keys);
        root.append(&search_bar);
        root.append(&content);
        root.append(&switcher_bar);

        let model = Library {
            rows,
            lists: ListIds::default(),
            open_series: None,
            open_season: None,
            page: ShowsPage::Series,
            query: String::new(),
            switcher_title,
            search_bar,
            views,
            stack: stack.clone(),
            leaflet: leaflet.clone(),
            children: HashMap::new(),
            home_pending: false,
            home_loaded: false,
            fills: [0; 2],
            pending: None,
            downloads,
        };
        let widgets = LibraryWidgets {
            stack,
            content,
            leaflet,
            search_entry,
            series_title,
            season_title,
            mark_season_watched,
            mark_season_unwatched,
            mark_series_watched,
            mark_series_unwatched,
            download_season,
            continue_empty,
            next_empty,
            continue_scroller,
            next_scroller,
            no_results,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: LibraryInput, sender: ComponentSender<Self>) {
        let _slow = build::SlowUpdate::start(&message);
        match message {
            LibraryInput::Load { items } => {
                self.pending = None;
                let index = LibraryIndex::of(&items);
                self.rows.load(items);
                self.rebuild(index, &sender);
                let _ = sender.output(LibraryOutput::RefreshHome);
            }
            LibraryInput::LoadIndexed { items, index } => {
                // In parts, after any frame that is due (Home's, at start).
                let load = self.rows.begin_load();
                self.pending = Some(PendingLoad {
                    load,
                    items: items.into_iter(),
                    index,
                });
                self.schedule_load_more(load, &sender);
            }
            LibraryInput::LoadMore { load } => self.load_more(load, &sender),
            LibraryInput::ItemData { item } => {
                self.rows.set_item(item);
                self.schedule_home(&sender);
            }
            LibraryInput::ItemState { item, state } => self.rows.set_state(&item, state),
            LibraryInput::Snapshot { states } => apply_snapshot(&self.rows, states),
            LibraryInput::Settled { item } => settle(&self.rows, &item),
            LibraryInput::Overridden { items } => self.rows.set_overridden(items),
            LibraryInput::ClearStates => self.rows.clear_states(),
            LibraryInput::Account { state } => {
                for (item, current) in self.rows.states() {
                    if let Some(new) = account_badge(&current, state) {
                        self.rows.set_state(&item, new);
                    }
                }
                // Back online: the posters that could not be fetched meanwhile are asked for
                // again (those of the rows on screen).
                if state == AccountState::Online {
                    self.rows.posters_again();
                }
            }
            LibraryInput::Home {
                continue_watching,
                next_up,
                items,
            } => {
                self.home_loaded = true;
                self.rows.put_items(items);
                self.lists.continue_watching = continue_watching;
                self.lists.next_up = next_up;
                set_list(
                    &mut self.views.continue_watching,
                    &self.lists.continue_watching,
                    &self.rows,
                    true,
                );
                set_list(
                    &mut self.views.next_up,
                    &self.lists.next_up,
                    &self.rows,
                    true,
                );
            }
            LibraryInput::SearchResults { query, items } => {
                if query == self.query {
                    self.lists.results = items;
                    set_list(
                        &mut self.views.results,
                        &self.lists.results,
                        &self.rows,
                        true,
                    );
                }
            }
            LibraryInput::Row(out) => match out {
                ItemRowOutput::WatchedChanged { item, played } => {
                    let change = if played {
                        LocalChange::MarkWatched
                    } else {
                        LocalChange::MarkUnwatched
                    };
                    let _ = sender.output(LibraryOutput::Enqueue { item, change });
                }
                ItemRowOutput::Play { item } => {
                    let _ = sender.output(LibraryOutput::Play { item });
                }
                ItemRowOutput::Download { item } => {
                    let _ = sender.output(LibraryOutput::Download { item });
                }
                ItemRowOutput::NeedPoster { item } => {
                    let _ = sender.output(LibraryOutput::Poster { item });
                }
                ItemRowOutput::UseMine { item } => {
                    let _ = sender.output(LibraryOutput::UseMine { item });
                }
            },
            LibraryInput::Poster { item, texture } => self.rows.set_poster(&item, texture),
            LibraryInput::Actions { play, download } => {
                self.rows.set_actions(RowActions {
                    play,
                    download,
                    player_missing: !play,
                });
            }
            LibraryInput::OpenSeries { id } => self.open_series(id),
            LibraryInput::OpenSeason { id } => self.open_season(id),
            LibraryInput::Activated { list, position } => {
                let ids = match list {
                    ListKind::Series => &self.lists.series,
                    ListKind::Seasons => &self.lists.seasons,
                    ListKind::Results => &self.lists.results,
                };
                let Some(id) = ids.get(position as usize).cloned() else {
                    return;
                };
                match self.rows.item(&id).map(|i| i.kind) {
                    Some(ItemKind::Series) => {
                        self.open_series(id);
                        if list == ListKind::Results {
                            self.search_bar.set_search_mode(false);
                        }
                    }
                    Some(ItemKind::Season) => self.open_season(id),
                    _ => {}
                }
            }
            LibraryInput::Back => {
                let page = match self.page {
                    ShowsPage::Episodes if self.open_series.is_some() => ShowsPage::Seasons,
                    _ => ShowsPage::Series,
                };
                self.show_page(page);
                match page {
                    ShowsPage::Seasons => self.views.seasons.view.grab_focus(),
                    _ => self.views.series.view.grab_focus(),
                };
            }
            LibraryInput::PageShown { name } => {
                // A swipe back moves the leaflet by itself.
                for page in [ShowsPage::Series, ShowsPage::Seasons, ShowsPage::Episodes] {
                    if page.name() == name {
                        self.page = page;
                    }
                }
            }
            LibraryInput::ShowView { name } => {
                self.search_bar.set_search_mode(false);
                self.query.clear();
                self.stack.set_visible_child_name(&name);
            }
            LibraryInput::SearchChanged { text } => {
                let text = text.trim().to_string();
                if text == self.query {
                    return;
                }
                self.query = text;
                if self.query.is_empty() {
                    self.lists.results.clear();
                    self.views.results.clear();
                } else {
                    let _ = sender.output(LibraryOutput::Search {
                        query: self.query.clone(),
                    });
                }
            }
            LibraryInput::ToggleSearch => {
                let on = !self.search_bar.is_search_mode();
                self.search_bar.set_search_mode(on);
            }
            LibraryInput::MarkSeason { played } => {
                if let Some(season) = self.open_season.clone() {
                    self.mark_all(season, played, &sender);
                }
            }
            LibraryInput::MarkSeries { played } => {
                if let Some(series) = self.open_series.clone() {
                    self.mark_all(series, played, &sender);
                }
            }
            LibraryInput::HomeDue => {
                self.home_pending = false;
                let _ = sender.output(LibraryOutput::RefreshHome);
            }
            LibraryInput::Playing { item } => self.rows.set_playing(item),
            LibraryInput::Downloads { rows } => {
                self.rows
                    .set_downloads(rows.iter().map(|r| (r.item_id.clone(), r.state)).collect());
                self.downloads.emit(DownloadsInput::Rows { rows });
            }
            LibraryInput::FillMore {
                list,
                generation,
                from,
            } => self.fill_more(list, generation, from, &sender),
            LibraryInput::DownloadSeason => {
                if let Some(item) = self.open_season.clone() {
                    let _ = sender.output(LibraryOutput::Download { item });
                }
            }
        }
    }

    fn update_view(&self, w: &mut LibraryWidgets, _sender: ComponentSender<Self>) {
        let searching = !self.query.is_empty();
        w.content
            .set_visible_child_name(if searching { "search" } else { "views" });
        w.no_results
            .set_visible(searching && self.lists.results.is_empty());
        let in_progress = !self.lists.continue_watching.is_empty();
        let next = !self.lists.next_up.is_empty();
        w.continue_scroller.set_visible(in_progress);
        w.continue_empty
            .set_visible(self.home_loaded && !in_progress);
        w.next_scroller.set_visible(next);
        w.next_empty.set_visible(self.home_loaded && !next);
        w.series_title
            .set_label(&self.title_of(self.open_series.as_ref()));
        w.season_title.set_label(&self.season_title());
        let season = self.open_season.is_some();
        w.mark_season_watched.set_sensitive(season);
        w.mark_season_unwatched.set_sensitive(season);
        w.download_season.set_sensitive(season);
        w.download_season.set_visible(self.rows_download());
        let series = self.open_series.is_some();
        w.mark_series_watched.set_sensitive(series);
        w.mark_series_unwatched.set_sensitive(series);
    }
}

#[cfg(test)]
mod tests;
