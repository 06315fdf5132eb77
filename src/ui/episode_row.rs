//! One episode in the library list: numbering, title, progress, resume position, the watched
//! toggle and the sync badge. Rows live in a `FactoryHashMap` keyed by item id, so a row is
//! always found by identity, never by a stored index.

use relm4::factory::FactoryView;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

use super::format::{self, Badge, SYNCED_FADE_MS};
use super::i18n::gettext;
use crate::model::Millis;
use crate::store::ItemView;
use crate::sync::checkpoint::PlaybackEvent;
use crate::sync::ItemSyncState;

/// A row's model.
#[derive(Debug)]
pub struct EpisodeRow {
    /// The item as stored locally.
    pub item: ItemView,
    /// Last sync state reported for it.
    pub state: Option<ItemSyncState>,
    /// Whether the badge is showing (the synced check fades).
    pub badge_visible: bool,
    /// Bumped on every state change, so a stale fade timer does nothing.
    generation: u64,
    /// The simulated player is playing this episode.
    pub playing: bool,
    /// The 1 Hz position timer while playing.
    ticker: Option<gtk::glib::SourceId>,
}

/// Messages to a row.
#[derive(Debug)]
pub enum EpisodeRowInput {
    /// New local data for the item.
    Data { item: Box<ItemView> },
    /// New sync state.
    State { state: ItemSyncState },
    /// The user flipped the watched toggle.
    ToggleWatched { played: bool },
    /// Time to fade the synced check (if nothing changed since).
    FadeSynced { generation: u64 },
    /// The simulated player's play/pause button.
    TogglePlay,
    /// One second of simulated playback passed.
    Tick,
    /// The simulated player jumped by `ms` (negative: back).
    SeekBy { ms: i64 },
}

/// What a row asks of the library.
#[derive(Debug)]
pub enum EpisodeRowOutput {
    /// Watched flag changed by the user (already shown).
    WatchedChanged { item: String, played: bool },
    /// A position report from the simulated player (about once a second while playing).
    Playback {
        item: String,
        position_ms: i64,
        event: PlaybackEvent,
    },
}

impl EpisodeRow {
    /// The badge the row shows now (`None` when hidden).
    pub fn badge(&self) -> Option<Badge> {
        if !self.badge_visible {
            return None;
        }
        self.state
            .as_ref()
            .and_then(|s| format::badge_for(s, now_ms()))
    }
}

fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Named widgets of a row.
#[derive(Debug)]
pub struct EpisodeRowWidgets {
    number: gtk::Label,
    title: gtk::Label,
    resume: gtk::Label,
    progress: gtk::ProgressBar,
    /// The row's content box (the badge is swapped inside it).
    content: gtk::Box,
    /// The badge container (tooltip, accessible label, visibility). Replaced when its
    /// accessible label changes (see `a11y`).
    pub badge: gtk::Box,
    /// The badge icon.
    pub badge_icon: gtk::Image,
    /// The spinner shown while syncing.
    pub badge_spinner: gtk::Spinner,
    /// Short badge text ("retrying in 40 s").
    pub badge_text: gtk::Label,
    /// The watched toggle.
    pub watched: gtk::CheckButton,
    /// Simulated player: play / pause.
    pub play: gtk::Button,
    watched_handler: gtk::glib::SignalHandlerId,
    /// The accessible label last given to the badge.
    pub badge_label: Option<String>,
}

impl FactoryComponent for EpisodeRow {
    type Init = (ItemView, Option<ItemSyncState>);
    type Input = EpisodeRowInput;
    type Output = EpisodeRowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;
    type Root = gtk::ListBoxRow;
    type Widgets = EpisodeRowWidgets;
    type Index = String;

    fn init_model(
        (item, state): Self::Init,
        _index: &String,
        _sender: FactorySender<Self>,
    ) -> Self {
        let badge_visible = !matches!(state, Some(ItemSyncState::Synced) | None);
        EpisodeRow {
            item,
            state,
            badge_visible,
            generation: 0,
            playing: false,
            ticker: None,
        }
    }

    fn init_root(&self) -> gtk::ListBoxRow {
        let row = gtk::ListBoxRow::new();
        row.set_activatable(false);
        // Tests and screenshots find a row by its item id.
        row.set_widget_name(&self.item.item_id);
        row
    }

    fn init_widgets(
        &mut self,
        _index: &String,
        root: gtk::ListBoxRow,
        _returned: &<gtk::ListBox as FactoryView>::ReturnedWidget,
        sender: FactorySender<Self>,
    ) -> EpisodeRowWidgets {
        let hbox = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        hbox.set_margin_top(8);
        hbox.set_margin_bottom(8);
        hbox.set_margin_start(12);
        hbox.set_margin_end(12);
        let number = gtk::Label::new(None);
        number.add_css_class("dim-label");
        number.add_css_class("episode-number");
        number.set_width_chars(7);
        let text = gtk::Box::new(gtk::Orientation::Vertical, 4);
        text.set_hexpand(true);
        let title = gtk::Label::new(None);
        title.set_xalign(0.0);
        title.set_ellipsize(gtk::pango::EllipsizeMode::End);
        let resume = gtk::Label::new(None);
        resume.set_xalign(0.0);
        resume.add_css_class("dim-label");
        resume.add_css_class("caption");
        let progress = gtk::ProgressBar::new();
        text.append(&title);
        text.append(&resume);
        text.append(&progress);

        let badge = gtk::Box::new(gtk::Orientation::Horizontal, 4);
        badge.set_widget_name("sync-badge");
        badge.add_css_class("sync-badge");
        badge.set_valign(gtk::Align::Center);
        badge.set_focusable(true);
        let badge_icon = gtk::Image::new();
        let badge_spinner = gtk::Spinner::new();
        let badge_text = gtk::Label::new(None);
        badge_text.add_css_class("caption");
        badge.append(&badge_icon);
        badge.append(&badge_spinner);
        badge.append(&badge_text);

        let watched = gtk::CheckButton::with_label(&gettext("Watched"));
        watched.set_valign(gtk::Align::Center);
        let s = sender.clone();
        let watched_handler = watched.connect_toggled(move |b| {
            s.input(EpisodeRowInput::ToggleWatched {
                played: b.is_active(),
            });
        });

        let play = gtk::Button::from_icon_name("media-playback-start-symbolic");
        play.set_widget_name("play");
        play.add_css_class("flat");
        play.set_valign(gtk::Align::Center);
        let s = sender.clone();
        play.connect_clicked(move |_| s.input(EpisodeRowInput::TogglePlay));
        let seek = gtk::Button::from_icon_name("media-seek-forward-symbolic");
        seek.set_widget_name("seek");
        seek.add_css_class("flat");
        seek.set_valign(gtk::Align::Center);
        seek.set_tooltip_text(Some(&gettext("Forward 30 seconds")));
        let s = sender.clone();
        seek.connect_clicked(move |_| s.input(EpisodeRowInput::SeekBy { ms: 30_000 }));

        hbox.append(&play);
        hbox.append(&seek);
        hbox.append(&number);
        hbox.append(&text);
        hbox.append(&badge);
        hbox.append(&watched);
        root.set_child(Some(&hbox));

        let mut widgets = EpisodeRowWidgets {
            content: hbox,
            number,
            title,
            resume,
            progress,
            badge,
            badge_icon,
            badge_spinner,
            badge_text,
            watched,
            play,
            watched_handler,
            badge_label: None,
        };
        self.render(&mut widgets);
        widgets
    }

    fn update(&mut self, message: EpisodeRowInput, sender: FactorySender<Self>) {
        match message {
            EpisodeRowInput::Data { item } => {
                let live = self.item.position_ms;
                self.item = *item;
                if self.playing {
                    // The stored value is the last checkpoint; the player is ahead of it.
                    self.item.position_ms = live;
                }
            }
            EpisodeRowInput::TogglePlay => {
                if self.playing {
                    self.stop_playing();
                    self.report(PlaybackEvent::Pause, &sender);
                } else {
                    self.playing = true;
                    let input = sender.input_sender().clone();
                    self.ticker = Some(gtk::glib::timeout_add_local(
                        std::time::Duration::from_secs(1),
                        move || {
                            let _ = input.send(EpisodeRowInput::Tick);
                            gtk::glib::ControlFlow::Continue
                        },
                    ));
                    self.report(PlaybackEvent::Tick, &sender);
                }
            }
            EpisodeRowInput::Tick => {
                if !self.playing {
                    return;
                }
                self.item.position_ms = self.clamp(self.item.position_ms + 1_000);
                if self
                    .item
                    .runtime_ms
                    .is_some_and(|r| self.item.position_ms >= r)
                {
                    self.stop_playing();
                    self.report(PlaybackEvent::Stop, &sender);
                } else {
                    self.report(PlaybackEvent::Tick, &sender);
                }
            }
            EpisodeRowInput::SeekBy { ms } => {
                self.item.position_ms = self.clamp(self.item.position_ms + ms);
                self.report(PlaybackEvent::Seek, &sender);
            }
            EpisodeRowInput::State { state } => self.set_state(state, &sender),
            EpisodeRowInput::ToggleWatched { played } => {
                if played == self.item.played {
                    return;
                }
                // Optimistic: the row shows the new state at once; the worker makes it durable.
                self.item.played = played;
                self.item.position_ms = 0;
                let _ = sender.output(EpisodeRowOutput::WatchedChanged {
                    item: self.item.item_id.clone(),
                    played,
                });
            }
            EpisodeRowInput::FadeSynced { generation } => {
                if generation == self.generation && self.state == Some(ItemSyncState::Synced) {
                    self.badge_visible = false;
                }
            }
        }
    }

    fn update_view(&self, widgets: &mut EpisodeRowWidgets, _sender: FactorySender<Self>) {
        self.render(widgets);
    }

    fn shutdown(
        &mut self,
        _widgets: &mut EpisodeRowWidgets,
        _output: relm4::Sender<EpisodeRowOutput>,
    ) {
        self.stop_playing();
    }
}

/// Put `new` in the place of the row's badge, moving the icon, spinner and text into it.
fn swap_badge(w: &mut EpisodeRowWidgets, new: gtk::Box) {
    new.set_spacing(4);
    new.set_widget_name("sync-badge");
    new.add_css_class("sync-badge");
    new.set_valign(gtk::Align::Center);
    new.set_focusable(true);
    for child in [
        w.badge_icon.clone().upcast::<gtk::Widget>(),
        w.badge_spinner.clone().upcast(),
        w.badge_text.clone().upcast(),
    ] {
        w.badge.remove(&child);
        new.append(&child);
    }
    w.content.insert_child_after(&new, Some(&w.badge));
    w.content.remove(&w.badge);
    w.badge = new;
}

impl EpisodeRow {
    fn stop_playing(&mut self) {
        self.playing = false;
        if let Some(ticker) = self.ticker.take() {
            ticker.remove();
        }
    }

    fn clamp(&self, position_ms: i64) -> i64 {
        let max = self.item.runtime_ms.unwrap_or(i64::MAX);
        position_ms.clamp(0, max)
    }

    fn report(&self, event: PlaybackEvent, sender: &FactorySender<Self>) {
        let _ = sender.output(EpisodeRowOutput::Playback {
            item: self.item.item_id.clone(),
            position_ms: self.item.position_ms,
            event,
        });
    }

    fn set_state(&mut self, state: ItemSyncState, sender: &FactorySender<Self>) {
        self.generation += 1;
        self.badge_visible = state != ItemSyncState::Discarded;
        if state == ItemSyncState::Synced {
            let generation = self.generation;
            let input = sender.input_sender().clone();
            gtk::glib::timeout_add_local_once(
                std::time::Duration::from_millis(u64::from(SYNCED_FADE_MS)),
                move || {
                    let _ = input.send(EpisodeRowInput::FadeSynced { generation });
                },
            );
        }
        self.state = Some(state);
    }

    fn render(&self, w: &mut EpisodeRowWidgets) {
        let item = &self.item;
        w.number.set_label(&format::episode_code(
            item.season_number,
            item.episode_number,
        ));
        w.title.set_label(&item.name);
        let (icon, tip) = if self.playing {
            (
                "media-playback-pause-symbolic",
                gettext("Pause (simulated player)"),
            )
        } else {
            (
                "media-playback-start-symbolic",
                gettext("Play (simulated player)"),
            )
        };
        w.play.set_icon_name(icon);
        w.play.set_tooltip_text(Some(&tip));
        match format::resume_text(item.position_ms, item.played) {
            Some(t) => {
                w.resume.set_label(&t);
                w.resume.set_visible(true);
            }
            None => w.resume.set_visible(false),
        }
        w.progress.set_fraction(format::progress_fraction(
            item.position_ms,
            item.runtime_ms,
            item.played,
        ));
        // Update the toggle without re-entering our own handler.
        w.watched.block_signal(&w.watched_handler);
        w.watched.set_active(item.played);
        w.watched.unblock_signal(&w.watched_handler);

        match self.badge() {
            Some(b) => {
                w.badge_icon.set_visible(b.icon.is_some());
                if let Some(icon) = b.icon {
                    w.badge_icon.set_icon_name(Some(icon));
                }
                w.badge_spinner.set_visible(b.spinner);
                w.badge_spinner.set_spinning(b.spinner);
                w.badge_text.set_visible(!b.text.is_empty());
                w.badge_text.set_label(&b.text);
                if w.badge_label.as_deref() != Some(b.accessible_label.as_str()) {
                    match super::a11y::labelled_box(&b.accessible_label) {
                        Ok(new) => {
                            swap_badge(w, new);
                            w.badge_label = Some(b.accessible_label.clone());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot label the badge for screen readers")
                        }
                    }
                }
                w.badge.set_visible(true);
                for class in ["queued", "waiting", "synced", "retrying", "attention"] {
                    w.badge.remove_css_class(class);
                }
                w.badge.add_css_class(b.css_class);
                // Tooltips take plain text here: server text never becomes markup.
                w.badge.set_tooltip_text(b.tooltip.as_deref());
            }
            None => {
                w.badge.set_visible(false);
                w.badge_spinner.set_spinning(false);
            }
        }
    }
}
