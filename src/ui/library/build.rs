//! Building blocks of the library's widgets and lists.

use super::*;

pub(super) fn set_list(view: &mut RowList, ids: &[String], rows: &RowStore, context: bool) {
    view.clear();
    view.extend_from_iter(ids.iter().map(|id| rows.row(id, context)));
}

/// How many rows a long list gets at a time (Movies, Series): filling 20,000 rows at once
/// keeps the GTK thread from drawing for ~100 ms; between two parts a frame can be drawn.
pub(super) const FILL_CHUNK: usize = 2_000;

/// How many items a load gives the `RowStore` at a time, one part a frame: a first load of
/// 20,000 items at once took 233 ms of the GTK thread (release, loaded 2-core machine).
pub(super) const LOAD_CHUNK: usize = 2_500;

/// The first rows of a long list, which GTK builds widgets for (bound even while the list is
/// hidden), go in parts of [`FIRST_CHUNK`] a frame: 2,000 rows at once took 1.17 s for two
/// lists (about 3 ms a row's widgets) at 20,000 items.
pub(super) const FIRST_ROWS: usize = 250;
pub(super) const FIRST_CHUNK: usize = 10;

/// A load under way, part by part ([`LibraryInput::LoadIndexed`]).
#[derive(Debug)]
pub(super) struct PendingLoad {
    pub(super) load: u64,
    pub(super) items: std::vec::IntoIter<ItemView>,
    pub(super) index: LibraryIndex,
}

/// The lists that can be long, filled part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongList {
    /// Shows: every series.
    Series,
    /// Movies.
    Movies,
}

pub(super) fn scrolled(child: &impl IsA<gtk::Widget>, rows: &Rc<RowStore>) -> gtk::ScrolledWindow {
    let s = gtk::ScrolledWindow::new();
    s.set_hscrollbar_policy(gtk::PolicyType::Never);
    s.set_vexpand(true);
    s.set_child(Some(child));
    // Posters are asked for where the list comes to rest.
    let weak = Rc::downgrade(rows);
    s.vadjustment().connect_value_changed(move |_| {
        if let Some(rows) = weak.upgrade() {
            rows.schedule_poster_check();
        }
    });
    s
}

pub(super) fn list_view(view: &RowList, name: &str) {
    view.view.set_widget_name(name);
    view.view.add_css_class("rich-list");
}

pub(super) fn page_header(
    title: &gtk::Label,
    buttons: &[&gtk::Button],
    sender: &ComponentSender<Library>,
) -> gtk::Box {
    let header = gtk::Box::new(gtk::Orientation::Vertical, 6);
    header.set_margin_start(12);
    header.set_margin_end(12);
    header.set_margin_top(12);
    header.set_margin_bottom(6);
    let top = gtk::Box::new(gtk::Orientation::Horizontal, 6);
    let back = gtk::Button::from_icon_name("go-previous-symbolic");
    back.set_widget_name("back");
    back.set_tooltip_text(Some(&gettext("Back")));
    let s = sender.input_sender().clone();
    back.connect_clicked(move |_| s.emit(LibraryInput::Back));
    title.add_css_class("title-3");
    title.set_hexpand(true);
    title.set_xalign(0.0);
    title.set_ellipsize(gtk::pango::EllipsizeMode::End);
    top.append(&back);
    top.append(title);
    let actions = gtk::Box::new(gtk::Orientation::Horizontal, 6);
    for b in buttons {
        actions.append(*b);
    }
    header.append(&top);
    header.append(&actions);
    header
}

pub(super) fn section_title(text: &str) -> gtk::Label {
    let l = gtk::Label::new(Some(text));
    l.add_css_class("heading");
    l.set_xalign(0.0);
    l.set_margin_start(12);
    l.set_margin_top(12);
    l
}

/// The page of the Shows leaflet on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowsPage {
    /// Every series.
    Series,
    /// The seasons of the open series.
    Seasons,
    /// The episodes of the open season.
    Episodes,
}

impl ShowsPage {
    pub(super) fn name(self) -> &'static str {
        match self {
            ShowsPage::Series => "series",
            ShowsPage::Seasons => "seasons",
            ShowsPage::Episodes => "episodes",
        }
    }
}

/// What a row's badge becomes when the account changes state: while the server is unreachable
/// every queued or retrying change waits for the connection (the engine does not retry it until
/// then); when it is back, they are queued again. `None`: unchanged.
pub fn account_badge(current: &ItemSyncState, account: AccountState) -> Option<ItemSyncState> {
    match (current, account) {
        (ItemSyncState::Queued | ItemSyncState::Retrying { .. }, AccountState::Offline) => {
            Some(ItemSyncState::WaitingForConnection)
        }
        (ItemSyncState::WaitingForConnection, AccountState::Online) => Some(ItemSyncState::Queued),
        _ => None,
    }
}

/// The engine's snapshot of every queued change on the rows: each listed state that differs
/// from the row's is set, and a badge that waits for something (queued, syncing, …) whose
/// item is not listed settles as synced (its change left the queue meanwhile).
pub fn apply_snapshot(rows: &RowStore, states: Vec<(String, ItemSyncState)>) {
    let listed: HashMap<String, ItemSyncState> = states.into_iter().collect();
    for (item, current) in rows.states() {
        if current.is_open() && !listed.contains_key(&item) {
            rows.set_state(&item, ItemSyncState::Synced);
        }
    }
    for (item, state) in listed {
        if rows.get(&item).and_then(|e| e.state).as_ref() != Some(&state) {
            rows.set_state(&item, state);
        }
    }
}

/// The item's change left the queue: an open badge settles as synced, any other stays.
pub(super) fn settle(rows: &RowStore, item: &str) {
    let open = rows
        .get(item)
        .and_then(|e| e.state)
        .is_some_and(|s| s.is_open());
    if open {
        rows.set_state(item, ItemSyncState::Synced);
    }
}

/// A line in place of an empty list, saying what will appear there (hidden until then).
pub(super) fn placeholder(text: String, name: &str) -> gtk::Label {
    let label = gtk::Label::new(Some(&text));
    label.set_widget_name(name);
    label.add_css_class("dim-label");
    label.set_wrap(true);
    label.set_xalign(0.0);
    label.set_margin_start(12);
    label.set_margin_end(12);
    label.set_margin_bottom(12);
    label.set_visible(false);
    label
}

/// Logs (target `playmark::ui::slow`, debug level) a message handler of the GTK thread that
/// took longer than a frame at 60 Hz may: what keeps frames from being drawn, by message.
pub(crate) struct SlowUpdate {
    started: std::time::Instant,
    what: String,
}

impl SlowUpdate {
    /// Start timing the handling of `message` (its `Debug` text, cut short: formatting stops
    /// after 60 characters, so a message of 100,000 items costs nothing to name).
    pub(crate) fn start(message: &impl std::fmt::Debug) -> SlowUpdate {
        struct Short(String);
        impl std::fmt::Write for Short {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                for c in s.chars() {
                    if self.0.len() >= 60 {
                        return Err(std::fmt::Error);
                    }
                    self.0.push(c);
                }
                Ok(())
            }
        }
        let mut what = Short(String::new());
        let _ = std::fmt::write(&mut what, format_args!("{message:?}"));
        SlowUpdate {
            started: std::time::Instant::now(),
            what: what.0,
        }
    }
}

impl Drop for SlowUpdate {
    fn drop(&mut self) {
        let ms = self.started.elapsed().as_secs_f64() * 1000.0;
        if ms > 16.0 {
            tracing::debug!(target: "playmark::ui::slow", ms, what = %self.what, "slow GTK-thread update");
        }
    }
}
