//! The one library row, used by every view (Home, Shows, Movies, search results, Downloads):
//! ▶, download, title, series and episode number, resume text, progress, the sync badge and
//! the watched toggle. Series and seasons (in search results) show their title and a chevron.
//!
//! Rows are virtualised: a view is a relm4 [`TypedListView`](relm4::typed_view::list::TypedListView)
//! of [`ItemRow`]s (an item id each), and GTK builds widgets only for the rows on screen. What a
//! row shows lives once in the shared [`RowStore`], by item id; a change there redraws the bound
//! rows of that item in every view at once, and nothing is read from the database per row.
//!
//! The buttons emit typed [`ItemRowOutput`]s through the store's sender: the watched toggle
//! (shown at once, made durable by the owner), ▶ ([`ItemRowOutput::Play`]) and download
//! ([`ItemRowOutput::Download`]). ▶ and download are hidden until the owner says it handles
//! them ([`RowStore::set_actions`]).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};

use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::typed_view::list::RelmListItem;

use super::format::{self, Badge, SYNCED_FADE_MS};
use super::i18n::gettext;
use super::sync_badge::BadgeView;
use super::worker::OverriddenItem;
use crate::store::{DownloadState, ItemView};
use crate::sync::ItemSyncState;

mod list_item;
pub use list_item::ItemRow;

/// What a row asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRowOutput {
    /// The watched toggle was flipped (the row already shows it).
    WatchedChanged { item: String, played: bool },
    /// ▶ was pressed.
    Play { item: String },
    /// The download button was pressed.
    Download { item: String },
    /// A row has shown this item for a moment and has no poster for it: fetch it (once).
    NeedPoster { item: String },
    /// "Use mine" on a row whose notice says a merge kept another device's progress.
    UseMine { item: String },
}

/// The size of a row's poster (every row, with or without its picture), in px.
const POSTER_WIDTH: i32 = 32;
const POSTER_HEIGHT: i32 = 48;

/// Posters kept decoded in memory (the least recently arrived go first; a row that shows one
/// of them again asks the worker, which has it on disk).
const MAX_TEXTURES: usize = 1_000;

/// How long the lists must be still before the posters of the rows on screen are asked for:
/// rows that fly past in a fast scroll fetch nothing.
const POSTER_DELAY_MS: u64 = 250;

/// Whether `w` is inside the visible part of the scrolled list it is in (a bound row can be
/// outside it: lists keep a few rows around the visible ones, and hidden views keep theirs).
fn on_screen(w: &impl IsA<gtk::Widget>) -> bool {
    if !w.is_mapped() {
        return false;
    }
    let Some(view) = w.ancestor(gtk::ScrolledWindow::static_type()) else {
        return true;
    };
    let Some(top) = w.compute_point(&view, &gtk::graphene::Point::new(0.0, 0.0)) else {
        return false;
    };
    let (y, h) = (f64::from(top.y()), f64::from(w.height()));
    y + h > 0.0 && y < f64::from(view.height())
}

/// Which optional buttons rows show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowActions {
    /// ▶ (someone plays items).
    pub play: bool,
    /// Download (someone downloads items).
    pub download: bool,
    /// No player is installed: ▶ shows, insensitive, with a tooltip saying how to install mpv.
    pub player_missing: bool,
}

/// What the store knows about one item.
#[derive(Debug, Clone)]
pub struct RowEntry {
    /// The item as stored locally.
    pub item: ItemView,
    /// Last sync state reported for it.
    pub state: Option<ItemSyncState>,
    /// Whether the badge shows (the synced check fades).
    pub badge_visible: bool,
    generation: u64,
    /// The load that last saw it (or the one under way when it was set).
    loaded: u64,
}

impl RowEntry {
    /// The badge the item's rows show now (`None`: hidden), on the account's `server`.
    pub fn badge(&self, server: &str) -> Option<Badge> {
        if !self.badge_visible {
            return None;
        }
        self.state
            .as_ref()
            .and_then(|s| format::badge_for(s, chrono::Utc::now().timestamp_millis(), server))
    }
}

/// Every item's row data, shared by all views, and the rows bound to each item right now.
pub struct RowStore {
    entries: RefCell<HashMap<String, RowEntry>>,
    bound: RefCell<HashMap<String, Vec<Rc<RowWidgets>>>>,
    sender: relm4::Sender<ItemRowOutput>,
    /// How many loads began ([`RowStore::begin_load`]).
    loads: Cell<u64>,
    /// Sync states of items not loaded yet (kept until the load ends).
    early_states: RefCell<HashMap<String, ItemSyncState>>,
    /// A load is under way.
    loading: Cell<bool>,
    actions: Cell<RowActions>,
    playing: RefCell<Option<String>>,
    /// Where each item's download stands (items without one are absent).
    downloads: RefCell<HashMap<String, DownloadState>>,
    /// Decoded posters by item, and the order they arrived in.
    posters: RefCell<(HashMap<String, gtk::gdk::Texture>, VecDeque<String>)>,
    /// Items whose poster was asked for (and not dropped since).
    asked: RefCell<HashSet<String>>,
    /// The pending poster check ([`RowStore::schedule_poster_check`]).
    poster_timer: RefCell<Option<gtk::glib::SourceId>>,
    /// Items where a merge kept another device's progress over the person's: their rows say so
    /// and offer Use mine (kept apart from the entries: it outlives reloads).
    overridden: RefCell<HashMap<String, OverriddenItem>>,
    /// The account's server name, for the words of a needs-attention badge.
    server: RefCell<String>,
    me: Weak<RowStore>,
}

impl std::fmt::Debug for RowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStore")
            .field("items", &self.entries.borrow().len())
            .field("actions", &self.actions.get())
            .finish()
    }
}

impl RowStore {
    /// An empty store whose rows report to `sender`.
    pub fn new(sender: relm4::Sender<ItemRowOutput>) -> Rc<RowStore> {
        Rc::new_cyclic(|me| RowStore {
            entries: RefCell::new(HashMap::new()),
            bound: RefCell::new(HashMap::new()),
            sender,
            loads: Cell::new(0),
            early_states: RefCell::default(),
            loading: Cell::new(false),
            actions: Cell::new(RowActions::default()),
            playing: RefCell::new(None),
            downloads: RefCell::new(HashMap::new()),
            posters: RefCell::default(),
            asked: RefCell::default(),
            poster_timer: RefCell::default(),
            overridden: RefCell::default(),
            server: RefCell::default(),
            me: me.clone(),
        })
    }

    /// A list entry for item `id` (`context`: show the series name, for mixed lists).
    pub fn row(&self, id: &str, context: bool) -> ItemRow {
        ItemRow {
            id: id.to_string(),
            context,
            store: self.me.clone(),
        }
    }

    /// Replace every item (sync states of items still present are kept). Entries are updated
    /// in place: a reload after a pull (100,000 items, a few of them changed) neither rebuilds
    /// the map nor redraws rows whose item did not change.
    pub fn load(&self, items: Vec<ItemView>) {
        let load = self.begin_load();
        self.load_part(load, items);
        self.finish_load(load);
    }

    /// Start replacing every item, part by part ([`RowStore::load_part`], then
    /// [`RowStore::finish_load`]): the GTK thread can draw between parts.
    pub fn begin_load(&self) -> u64 {
        let load = self.loads.get() + 1;
        self.loads.set(load);
        self.loading.set(true);
        load
    }

    /// Some of the items of load `load`.
    pub fn load_part(&self, load: u64, items: impl IntoIterator<Item = ItemView>) {
        let mut changed = Vec::new();
        {
            let mut entries = self.entries.borrow_mut();
            let mut early = self.early_states.borrow_mut();
            let bound = self.bound.borrow();
            for item in items {
                match entries.get_mut(&item.item_id) {
                    Some(e) => {
                        e.loaded = load;
                        if e.item != item {
                            if bound.contains_key(&item.item_id) {
                                changed.push(item.item_id.clone());
                            }
                            e.item = item;
                        }
                    }
                    None => {
                        if bound.contains_key(&item.item_id) {
                            changed.push(item.item_id.clone());
                        }
                        // A state that came before its item (a load in parts).
                        let state = early.remove(&item.item_id);
                        entries.insert(
                            item.item_id.clone(),
                            RowEntry {
                                item,
                                badge_visible: state
                                    .as_ref()
                                    .is_some_and(|s| *s != ItemSyncState::Discarded),
                                state,
                                generation: 0,
                                loaded: load,
                            },
                        );
                    }
                }
            }
        }
        for id in changed {
            self.redraw(&id);
        }
    }

    /// The end of load `load`: items it did not bring are gone.
    pub fn finish_load(&self, load: u64) {
        let mut entries = self.entries.borrow_mut();
        entries.retain(|_, e| e.loaded >= load);
        if load == self.loads.get() {
            self.loading.set(false);
            self.early_states.borrow_mut().clear();
        }
    }

    /// New local data for one item.
    pub fn set_item(&self, item: ItemView) {
        let id = item.item_id.clone();
        {
            let mut entries = self.entries.borrow_mut();
            match entries.get_mut(&id) {
                Some(e) => e.item = item,
                None => {
                    entries.insert(
                        id.clone(),
                        RowEntry {
                            item,
                            state: None,
                            badge_visible: false,
                            generation: 0,
                            loaded: self.loads.get(),
                        },
                    );
                }
            }
        }
        self.redraw(&id);
    }

    /// New local data for some items (Home's rows, which come before the whole library).
    pub fn put_items(&self, items: Vec<ItemView>) {
        for item in items {
            self.set_item(item);
        }
    }

    /// Change one item's data in place (optimistic updates).
    pub fn update_item(&self, id: &str, f: impl FnOnce(&mut ItemView)) {
        if let Some(e) = self.entries.borrow_mut().get_mut(id) {
            f(&mut e.item);
        }
        self.redraw(id);
    }

    /// New sync state for one item; the synced check fades after [`SYNCED_FADE_MS`].
    pub fn set_state(&self, id: &str, state: ItemSyncState) {
        let generation = {
            let mut entries = self.entries.borrow_mut();
            let Some(e) = entries.get_mut(id) else {
                // Its item may be in a part of the load under way.
                if self.loading.get() {
                    self.early_states.borrow_mut().insert(id.to_string(), state);
                }
                return;
            };
            e.generation += 1;
            e.badge_visible = state != ItemSyncState::Discarded;
            e.state = Some(state.clone());
            e.generation
        };
        if state == ItemSyncState::Synced {
            let me = self.me.clone();
            let id = id.to_string();
            gtk::glib::timeout_add_local_once(
                std::time::Duration::from_millis(u64::from(SYNCED_FADE_MS)),
                move || {
                    if let Some(store) = me.upgrade() {
                        store.fade(&id, generation);
                    }
                },
            );
        }
        self.redraw(id);
    }

    fn fade(&self, id: &str, generation: u64) {
        {
            let mut entries = self.entries.borrow_mut();
            let Some(e) = entries.get_mut(id) else {
                return;
            };
            if e.generation != generation || e.state != Some(ItemSyncState::Synced) {
                return;
            }
            e.badge_visible = false;
        }
        self.redraw(id);
    }

    /// Every override notice (the worker's whole list): rows whose notice came, changed or
    /// went are redrawn.
    pub fn set_overridden(&self, items: Vec<OverriddenItem>) {
        let new: HashMap<String, OverriddenItem> =
            items.into_iter().map(|o| (o.item_id.clone(), o)).collect();
        let old = self.overridden.replace(new);
        let changed: Vec<String> = {
            let new = self.overridden.borrow();
            old.keys()
                .chain(new.keys())
                .filter(|id| old.get(*id) != new.get(*id))
                .cloned()
                .collect()
        };
        for id in changed {
            self.redraw(&id);
        }
    }

    /// An item's override notice, if it has one.
    pub fn overridden(&self, id: &str) -> Option<OverriddenItem> {
        self.overridden.borrow().get(id).cloned()
    }

    /// Use mine was pressed: the notice goes at once (the worker's next list confirms it).
    fn use_mine(&self, id: &str) {
        if self.overridden.borrow_mut().remove(id).is_some() {
            self.redraw(id);
            self.sender.emit(ItemRowOutput::UseMine {
                item: id.to_string(),
            });
        }
    }

    /// Which optional buttons rows show (▶, download).
    pub fn actions(&self) -> RowActions {
        self.actions.get()
    }

    /// Which optional buttons show.
    pub fn set_actions(&self, actions: RowActions) {
        self.actions.set(actions);
        self.redraw_all();
    }

    /// Where the downloads stand: a downloaded item's download button says so (and is off), one
    /// under way says it is coming.
    pub fn set_downloads(&self, states: HashMap<String, DownloadState>) {
        let old = self.downloads.replace(states);
        let new = self.downloads.borrow().clone();
        let changed: Vec<String> = old
            .keys()
            .chain(new.keys())
            .filter(|id| old.get(*id) != new.get(*id))
            .cloned()
            .collect();
        for id in changed {
            self.redraw(&id);
        }
    }

    /// The item the player is playing, if any: its ▶ shows stop.
    pub fn set_playing(&self, id: Option<String>) {
        let old = self.playing.replace(id.clone());
        for id in old.into_iter().chain(id) {
            self.redraw(&id);
        }
    }

    /// An item's poster arrived: its rows show it.
    pub fn set_poster(&self, id: &str, texture: gtk::gdk::Texture) {
        {
            let (map, order) = &mut *self.posters.borrow_mut();
            if map.insert(id.to_string(), texture).is_none() {
                order.push_back(id.to_string());
            }
            while order.len() > MAX_TEXTURES {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                    self.asked.borrow_mut().remove(&old);
                }
            }
        }
        self.redraw(id);
    }

    /// Whether an item's poster is in memory.
    pub fn has_poster(&self, id: &str) -> bool {
        self.posters.borrow().0.contains_key(id)
    }

    /// Check for rows on screen without a poster once the lists have been still for
    /// `POSTER_DELAY_MS` (every bind and every scroll moves the check later: a fast scroll
    /// fetches nothing for the rows that fly past).
    pub fn schedule_poster_check(&self) {
        if let Some(old) = self.poster_timer.borrow_mut().take() {
            old.remove();
        }
        let me = self.me.clone();
        let id = gtk::glib::timeout_add_local_once(
            std::time::Duration::from_millis(POSTER_DELAY_MS),
            move || {
                if let Some(store) = me.upgrade() {
                    store.poster_timer.borrow_mut().take();
                    store.check_posters();
                }
            },
        );
        *self.poster_timer.borrow_mut() = Some(id);
    }

    /// Forget which posters were asked for and are still missing (a fetch that failed while the
    /// server was unreachable never answers), then check the rows on screen again: after a
    /// reconnection their posters come.
    pub fn posters_again(&self) {
        let posters = self.posters.borrow();
        self.asked
            .borrow_mut()
            .retain(|id| posters.0.contains_key(id));
        drop(posters);
        self.schedule_poster_check();
    }

    /// Ask once for the poster of every item shown on screen without one.
    fn check_posters(&self) {
        let wanted: Vec<String> = self
            .bound
            .borrow()
            .iter()
            .filter(|(id, rows)| {
                !self.has_poster(id)
                    && !self.asked.borrow().contains(*id)
                    && rows.iter().any(|w| on_screen(&w.poster))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in wanted {
            self.asked.borrow_mut().insert(id.clone());
            self.sender.emit(ItemRowOutput::NeedPoster { item: id });
        }
    }

    /// The item playing now.
    pub fn playing(&self) -> Option<String> {
        self.playing.borrow().clone()
    }

    /// A copy of one item's entry.
    pub fn get(&self, id: &str) -> Option<RowEntry> {
        self.entries.borrow().get(id).cloned()
    }

    /// The badge item `id`'s rows show now (`None`: hidden).
    pub fn badge(&self, id: &str) -> Option<Badge> {
        let server = self.server.borrow();
        self.entries.borrow().get(id).and_then(|e| e.badge(&server))
    }

    /// The account's server name, which a needs-attention badge names ("This item is no
    /// longer on Demo").
    pub fn set_server(&self, name: &str) {
        self.server.replace(name.to_string());
    }

    /// A copy of one item's data.
    pub fn item(&self, id: &str) -> Option<ItemView> {
        self.entries.borrow().get(id).map(|e| e.item.clone())
    }

    /// Forget every sync state (another account's engine runs now: its badges follow).
    pub fn clear_states(&self) {
        {
            let mut entries = self.entries.borrow_mut();
            for e in entries.values_mut() {
                e.generation += 1;
                e.state = None;
                e.badge_visible = false;
            }
            self.early_states.borrow_mut().clear();
        }
        self.redraw_all();
    }

    /// Every item's sync state (for account-wide badge changes).
    pub fn states(&self) -> Vec<(String, ItemSyncState)> {
        self.entries
            .borrow()
            .iter()
            .filter_map(|(id, e)| e.state.clone().map(|s| (id.clone(), s)))
            .collect()
    }

    /// Call `f` with every item (in no order).
    pub fn for_each(&self, mut f: impl FnMut(&ItemView)) {
        for e in self.entries.borrow().values() {
            f(&e.item);
        }
    }

    /// Number of items known.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// True when no item is known.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }

    /// Number of rows bound to widgets now (on screen or about to be): what virtualisation
    /// keeps small.
    pub fn bound_rows(&self) -> usize {
        self.bound.borrow().values().map(Vec::len).sum()
    }

    fn redraw_all(&self) {
        let ids: Vec<String> = self.bound.borrow().keys().cloned().collect();
        for id in ids {
            self.redraw(&id);
        }
    }

    fn redraw(&self, id: &str) {
        let rows: Vec<Rc<RowWidgets>> = match self.bound.borrow().get(id) {
            Some(rows) => rows.clone(),
            None => return,
        };
        let entries = self.entries.borrow();
        let Some(entry) = entries.get(id) else {
            return;
        };
        for w in rows {
            self.render(entry, &w);
        }
    }

    fn toggled(&self, id: &str, played: bool) {
        {
            let mut entries = self.entries.borrow_mut();
            let Some(e) = entries.get_mut(id) else {
                return;
            };
            // Drawing the row sets the toggle too: only a real flip is a change.
            if e.item.played == played {
                return;
            }
            // Optimistic: every row of the item shows the new state at once.
            e.item.played = played;
            e.item.position_ms = 0;
        }
        self.redraw(id);
        self.sender.emit(ItemRowOutput::WatchedChanged {
            item: id.to_string(),
            played,
        });
    }

    fn render(&self, entry: &RowEntry, w: &RowWidgets) {
        // Setting the toggle below fires its handler: it must not read this as a user's flip.
        w.rendering.set(true);
        self.draw(entry, w);
        w.rendering.set(false);
    }

    fn draw(&self, entry: &RowEntry, w: &RowWidgets) {
        let item = &entry.item;
        let playable = item.kind.is_playable();
        let actions = self.actions.get();
        w.number.set_label(&format::episode_code(
            item.season_number,
            item.episode_number,
        ));
        w.number.set_visible(playable);
        w.title.set_label(&item.name);
        let context = match (w.context.get(), &item.series_name) {
            (true, Some(series)) if item.kind != crate::model::ItemKind::Series => {
                Some(series.as_str())
            }
            _ => None,
        };
        w.context_label.set_visible(context.is_some());
        w.context_label.set_label(context.unwrap_or_default());
        let line = match item.unwatched.filter(|_| !playable) {
            Some(n) => Some(format::unwatched_text(n)),
            None => format::resume_text(item.position_ms, item.played).filter(|_| playable),
        };
        match line {
            Some(t) => {
                w.resume.set_label(&t);
                w.resume.set_visible(true);
            }
            None => w.resume.set_visible(false),
        }
        w.progress.set_visible(playable);
        w.progress.set_fraction(format::progress_fraction(
            item.position_ms,
            item.runtime_ms,
            item.played,
        ));
        w.watched.set_visible(playable);
        w.watched.set_active(item.played);
        w.open.set_visible(!playable);
        let playing = self.playing.borrow().as_deref() == Some(item.item_id.as_str());
        w.play
            .set_visible(playable && (actions.play || actions.player_missing));
        w.play.set_sensitive(actions.play);
        // Icons and tooltips are set only when they change: a scroll rebinds rows to other
        // items whose buttons mostly look the same, and setting an icon name again makes GTK
        // look the icon up again.
        let play_look = if actions.player_missing {
            PlayLook::Missing
        } else if playing {
            PlayLook::Stop
        } else {
            PlayLook::Play
        };
        if w.play_look.replace(Some(play_look)) != Some(play_look) {
            let (icon, tip) = match play_look {
                PlayLook::Missing => (
                    "media-playback-start-symbolic",
                    gettext("Playing needs mpv, which is not installed. Install it with your package manager (Debian, Ubuntu: sudo apt install mpv; Fedora: sudo dnf install mpv; Arch: sudo pacman -S mpv), then start Playmark again."),
                ),
                PlayLook::Stop => ("media-playback-stop-symbolic", gettext("Stop")),
                PlayLook::Play => ("media-playback-start-symbolic", gettext("Play")),
            };
            w.play.set_icon_name(icon);
            w.play.set_tooltip_text(Some(&tip));
        }
        w.download_slot.set_visible(playable && actions.download);
        let download = self.downloads.borrow().get(&item.item_id).copied();
        let download_look = match download {
            Some(DownloadState::Done) => DownloadLook::Done,
            Some(DownloadState::Queued | DownloadState::Downloading) => DownloadLook::Coming,
            _ => DownloadLook::Offer,
        };
        if w.download_look.replace(Some(download_look)) != Some(download_look) {
            // A download that is done or under way is a marker (a dim icon, not a button):
            // there is nothing to press.
            let page = match download_look {
                DownloadLook::Done => "downloaded",
                DownloadLook::Coming => "downloading",
                DownloadLook::Offer => "offer",
            };
            w.download_slot.set_visible_child_name(page);
            w.download
                .set_sensitive(download_look == DownloadLook::Offer);
        }
        w.badge.render(entry.badge(&self.server.borrow()).as_ref());
        match self.overridden.borrow().get(&item.item_id) {
            Some(o) => {
                // Plain text (a label without markup): nothing from the server is parsed.
                w.notice.set_label(&format::overridden_notice(
                    o.kept,
                    o.yours,
                    o.after_unknown_outcome,
                ));
                w.use_mine
                    .set_tooltip_text(Some(&format::use_mine_tooltip(o.yours)));
                w.notice_box.set_visible(true);
            }
            None => w.notice_box.set_visible(false),
        }
        w.poster
            .set_paintable(self.posters.borrow().0.get(&item.item_id));
    }

    fn bind(&self, id: &str, w: &Rc<RowWidgets>) {
        self.bound
            .borrow_mut()
            .entry(id.to_string())
            .or_default()
            .push(w.clone());
        if let Some(entry) = self.entries.borrow().get(id) {
            self.render(entry, w);
        }
        if !self.has_poster(id) {
            self.schedule_poster_check();
        }
    }

    fn unbind(&self, id: &str, w: &Rc<RowWidgets>) {
        let mut bound = self.bound.borrow_mut();
        if let Some(rows) = bound.get_mut(id) {
            rows.retain(|r| !Rc::ptr_eq(r, w));
            if rows.is_empty() {
                bound.remove(id);
            }
        }
    }
}

/// What the ▶ button shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlayLook {
    Missing,
    Stop,
    Play,
}

/// What the download button shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownloadLook {
    Done,
    Coming,
    Offer,
}

/// The widgets of one on-screen row (reused for other items as the list scrolls).
#[derive(Debug)]
pub struct RowWidgets {
    /// ▶ / pause.
    pub play: gtk::Button,
    /// Download.
    pub download: gtk::Button,
    /// The download button, or in its place (same width) the marker of a download that is done
    /// ("downloaded") or under way ("downloading"): a dim icon with a tooltip, not a button.
    pub download_slot: gtk::Stack,
    /// The poster (empty, on a placeholder card, until it arrives).
    pub poster: gtk::Picture,
    number: gtk::Label,
    title: gtk::Label,
    context_label: gtk::Label,
    resume: gtk::Label,
    progress: gtk::ProgressBar,
    /// The override notice and its Use mine button (hidden without a notice).
    notice_box: gtk::Box,
    /// The override notice's sentence.
    pub notice: gtk::Label,
    /// Use mine.
    pub use_mine: gtk::Button,
    /// The sync badge.
    pub badge: BadgeView,
    /// The watched toggle.
    pub watched: gtk::CheckButton,
    open: gtk::Image,
    context: Cell<bool>,
    rendering: Cell<bool>,
    play_look: Cell<Option<PlayLook>>,
    download_look: Cell<Option<DownloadLook>>,
    /// The item bound now, and its store.
    current: RefCell<Option<(String, Weak<RowStore>)>>,
}

impl RowWidgets {
    fn current(&self) -> Option<(String, Rc<RowStore>)> {
        let current = self.current.borrow();
        let (id, store) = current.as_ref()?;
        Some((id.clone(), store.upgrade()?))
    }
}

#[cfg(test)]
mod tests;
