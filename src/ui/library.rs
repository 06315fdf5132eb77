//! The library: seasons in a sidebar (grouped by series), the selected season's episodes on the
//! right with a "Mark season watched/unwatched" header action.

use std::collections::HashMap;

use relm4::factory::FactoryHashMap;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

use super::episode_row::{EpisodeRow, EpisodeRowInput, EpisodeRowOutput};
use super::i18n::{gettext, tr};
use crate::clock::{Clock, SystemClock};
use crate::model::{ItemKind, LocalChange};
use crate::store::ItemView;
use crate::sync::checkpoint::{Checkpointer, PlaybackEvent};
use crate::sync::{AccountState, ItemSyncState};

/// A season in the sidebar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeasonEntry {
    /// Season item id (the parent of its episodes).
    pub id: String,
    /// "Series — Season 1".
    pub title: String,
}

/// The library's model.
#[derive(Debug)]
pub struct Library {
    items: HashMap<String, ItemView>,
    states: HashMap<String, ItemSyncState>,
    seasons: Vec<SeasonEntry>,
    selected: Option<usize>,
    /// Episode rows of the selected season, by item id.
    pub rows: FactoryHashMap<String, EpisodeRow>,
    /// Decides which simulated-player reports become recorded changes.
    checkpoints: Checkpointer,
    sidebar: gtk::ListBox,
}

/// Messages to the library.
#[derive(Debug)]
pub enum LibraryInput {
    /// Replace everything.
    Load { items: Vec<ItemView> },
    /// One item's local data changed.
    ItemData { item: ItemView },
    /// One item's sync state changed.
    ItemState { item: String, state: ItemSyncState },
    /// The account went online / offline: queued badges say whether they wait for the
    /// connection.
    Account { state: AccountState },
    /// Show the season at this sidebar position.
    SelectSeason { index: usize },
    /// A row's watched toggle.
    WatchedChanged { item: String, played: bool },
    /// A position report from a row's simulated player.
    Playback {
        item: String,
        position_ms: i64,
        event: PlaybackEvent,
    },
    /// Header action: the whole season.
    MarkSeason { played: bool },
}

/// What the library asks of the sync queue.
#[derive(Debug)]
pub enum LibraryOutput {
    /// Record a change for one item.
    Enqueue { item: String, change: LocalChange },
    /// Record a bulk change for a season.
    EnqueueBulk { parent: String, played: bool },
}

impl Library {
    /// The seasons listed in the sidebar.
    pub fn seasons(&self) -> &[SeasonEntry] {
        &self.seasons
    }

    /// The selected season, if any.
    pub fn selected_season(&self) -> Option<&SeasonEntry> {
        self.selected.and_then(|i| self.seasons.get(i))
    }

    fn season_title(&self, season: &ItemView) -> String {
        let series = season
            .series_name
            .clone()
            .or_else(|| {
                season
                    .series_id
                    .as_ref()
                    .and_then(|id| self.items.get(id))
                    .map(|s| s.name.clone())
            })
            .unwrap_or_default();
        tr(
            "{series} — {season}",
            &[("series", &series), ("season", &season.name)],
        )
    }

    fn rebuild_seasons(&mut self) {
        let mut seasons: Vec<&ItemView> = self
            .items
            .values()
            .filter(|i| i.kind == ItemKind::Season)
            .collect();
        seasons.sort_by(|a, b| {
            (a.series_name.as_deref(), a.season_number, &a.item_id).cmp(&(
                b.series_name.as_deref(),
                b.season_number,
                &b.item_id,
            ))
        });
        self.seasons = seasons
            .iter()
            .map(|s| SeasonEntry {
                id: s.item_id.clone(),
                title: self.season_title(s),
            })
            .collect();
        while let Some(row) = self.sidebar.row_at_index(0) {
            self.sidebar.remove(&row);
        }
        for s in &self.seasons {
            let label = gtk::Label::new(Some(&s.title));
            label.set_xalign(0.0);
            label.set_ellipsize(gtk::pango::EllipsizeMode::End);
            self.sidebar.append(&label);
        }
    }

    fn show_season(&mut self, index: usize) {
        self.selected = Some(index);
        if let Some(row) = self.sidebar.row_at_index(index as i32) {
            self.sidebar.select_row(Some(&row));
        }
        let Some(season) = self.seasons.get(index) else {
            return;
        };
        let mut episodes: Vec<&ItemView> = self
            .items
            .values()
            .filter(|i| i.kind.is_playable() && i.parent_id.as_deref() == Some(season.id.as_str()))
            .collect();
        episodes.sort_by_key(|e| (e.episode_number, e.item_id.clone()));
        let episodes: Vec<(String, (ItemView, Option<ItemSyncState>))> = episodes
            .into_iter()
            .map(|e| {
                (
                    e.item_id.clone(),
                    (e.clone(), self.states.get(&e.item_id).cloned()),
                )
            })
            .collect();
        self.rows.clear();
        for (id, init) in episodes {
            self.rows.insert(id, init);
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

#[relm4::component(pub)]
impl SimpleComponent for Library {
    type Init = ();
    type Input = LibraryInput;
    type Output = LibraryOutput;

    view! {
        gtk::Paned {
            set_position: 280,
            set_shrink_start_child: false,
            set_shrink_end_child: false,
            #[wrap(Some)]
            set_start_child = &gtk::ScrolledWindow {
                set_hscrollbar_policy: gtk::PolicyType::Never,
                set_width_request: 200,
                #[local_ref]
                sidebar -> gtk::ListBox {
                    add_css_class: "navigation-sidebar",
                    connect_row_selected[sender] => move |_, row| {
                        if let Some(row) = row {
                            if let Ok(index) = usize::try_from(row.index()) {
                                sender.input(LibraryInput::SelectSeason { index });
                            }
                        }
                    },
                },
            },
            #[wrap(Some)]
            set_end_child = &gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                set_spacing: 12,
                set_margin_all: 12,
                gtk::Box {
                    set_spacing: 12,
                    set_orientation: gtk::Orientation::Vertical,
                    #[name = "season_title"]
                    gtk::Label {
                        add_css_class: "title-3",
                        set_hexpand: true,
                        set_xalign: 0.0,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        #[watch]
                        set_label: &model.selected_season().map(|s| s.title.clone()).unwrap_or_default(),
                    },
                    gtk::Box {
                    set_spacing: 6,
                    set_halign: gtk::Align::Start,
                    #[name = "mark_season_watched"]
                    gtk::Button {
                        set_label: &gettext("Mark season watched"),
                        #[watch]
                        set_sensitive: model.selected.is_some(),
                        connect_clicked => LibraryInput::MarkSeason { played: true },
                    },
                    #[name = "mark_season_unwatched"]
                    gtk::Button {
                        set_label: &gettext("Mark season unwatched"),
                        #[watch]
                        set_sensitive: model.selected.is_some(),
                        connect_clicked => LibraryInput::MarkSeason { played: false },
                    },
                    },
                },
                gtk::ScrolledWindow {
                    set_vexpand: true,
                    set_hscrollbar_policy: gtk::PolicyType::Never,
                    #[local_ref]
                    episodes -> gtk::ListBox {
                        add_css_class: "boxed-list",
                        set_valign: gtk::Align::Start,
                        set_selection_mode: gtk::SelectionMode::None,
                    },
                },
            },
        }
    }

    fn init(_init: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let sidebar = gtk::ListBox::new();
        let rows = FactoryHashMap::builder()
            .launch(gtk::ListBox::new())
            .forward(sender.input_sender(), |out| match out {
                EpisodeRowOutput::WatchedChanged { item, played } => {
                    LibraryInput::WatchedChanged { item, played }
                }
                EpisodeRowOutput::Playback {
                    item,
                    position_ms,
                    event,
                } => LibraryInput::Playback {
                    item,
                    position_ms,
                    event,
                },
            });
        let model = Library {
            items: HashMap::new(),
            states: HashMap::new(),
            seasons: Vec::new(),
            selected: None,
            rows,
            checkpoints: Checkpointer::default(),
            sidebar: sidebar.clone(),
        };
        let episodes = model.rows.widget();
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: LibraryInput, sender: ComponentSender<Self>) {
        match message {
            LibraryInput::Load { items } => {
                let selected_id = self.selected_season().map(|s| s.id.clone());
                self.items = items.into_iter().map(|i| (i.item_id.clone(), i)).collect();
                self.rebuild_seasons();
                let index = selected_id
                    .and_then(|id| self.seasons.iter().position(|s| s.id == id))
                    .or((!self.seasons.is_empty()).then_some(0));
                if let Some(index) = index {
                    self.show_season(index);
                }
            }
            LibraryInput::ItemData { item } => {
                let id = item.item_id.clone();
                self.items.insert(id.clone(), item.clone());
                self.rows.send(
                    &id,
                    EpisodeRowInput::Data {
                        item: Box::new(item),
                    },
                );
            }
            LibraryInput::ItemState { item, state } => {
                self.states.insert(item.clone(), state.clone());
                self.rows.send(&item, EpisodeRowInput::State { state });
            }
            LibraryInput::Account { state } => {
                let changed: Vec<(String, ItemSyncState)> = self
                    .states
                    .iter()
                    .filter_map(|(id, s)| account_badge(s, state).map(|new| (id.clone(), new)))
                    .collect();
                for (item, state) in changed {
                    self.states.insert(item.clone(), state.clone());
                    self.rows.send(&item, EpisodeRowInput::State { state });
                }
            }
            LibraryInput::SelectSeason { index } => {
                if self.selected != Some(index) {
                    self.show_season(index);
                }
            }
            LibraryInput::WatchedChanged { item, played } => {
                if let Some(i) = self.items.get_mut(&item) {
                    i.played = played;
                    i.position_ms = 0;
                }
                let change = if played {
                    LocalChange::MarkWatched
                } else {
                    LocalChange::MarkUnwatched
                };
                let _ = sender.output(LibraryOutput::Enqueue { item, change });
            }
            LibraryInput::Playback {
                item,
                position_ms,
                event,
            } => {
                if let Some(i) = self.items.get_mut(&item) {
                    i.position_ms = position_ms;
                }
                // A player reports every second; only checkpoints become durable changes.
                if self
                    .checkpoints
                    .should_record(&item, position_ms, event, SystemClock.now())
                {
                    let _ = sender.output(LibraryOutput::Enqueue {
                        item,
                        change: LocalChange::Position { position_ms },
                    });
                }
            }
            LibraryInput::MarkSeason { played } => {
                let Some(season) = self.selected_season().map(|s| s.id.clone()) else {
                    return;
                };
                // Optimistic: every row of the season shows the new state at once.
                let ids: Vec<String> = self.rows.keys().cloned().collect();
                for id in ids {
                    if let Some(i) = self.items.get_mut(&id) {
                        i.played = played;
                        i.position_ms = 0;
                        self.rows.send(
                            &id,
                            EpisodeRowInput::Data {
                                item: Box::new(i.clone()),
                            },
                        );
                    }
                }
                let _ = sender.output(LibraryOutput::EnqueueBulk {
                    parent: season,
                    played,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_turns_queued_and_retrying_into_waiting_and_back() {
        let retrying = ItemSyncState::Retrying {
            attempt: 1,
            next_attempt_at: 0,
        };
        assert_eq!(
            account_badge(&retrying, AccountState::Offline),
            Some(ItemSyncState::WaitingForConnection)
        );
        assert_eq!(
            account_badge(&ItemSyncState::Queued, AccountState::Offline),
            Some(ItemSyncState::WaitingForConnection)
        );
        assert_eq!(
            account_badge(&ItemSyncState::WaitingForConnection, AccountState::Online),
            Some(ItemSyncState::Queued)
        );
        assert_eq!(
            account_badge(&ItemSyncState::Synced, AccountState::Offline),
            None
        );
        let attention = ItemSyncState::NeedsAttention { error: "x".into() };
        assert_eq!(account_badge(&attention, AccountState::Offline), None);
    }
}
