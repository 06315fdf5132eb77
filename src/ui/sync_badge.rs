//! The sync badge: where one item's change stands (queued, waiting for the connection,
//! syncing, synced, retrying, needs attention, merged), as an icon or spinner, a short text, a
//! tooltip and an accessible label.
//!
//! [`BadgeView`] is the drawing, shared by every library row; [`SyncBadge`] is the same badge
//! as a standalone relm4 component for other players to embed: launch it with the account's
//! server name (a needs-attention badge names it) and give it the [`ItemSyncState`]s the [`SyncQueue`](super::worker::SyncQueue) worker reports for an item
//! and it shows them, fading the "synced" check after [`SYNCED_FADE_MS`].
//!
//! ```no_run
//! use playmark::sync::ItemSyncState;
//! use playmark::ui::sync_badge::{SyncBadge, SyncBadgeInput};
//! use relm4::prelude::*;
//!
//! # fn example(row: &relm4::gtk::Box) {
//! use relm4::gtk::prelude::*;
//! let badge = SyncBadge::builder().launch("Demo".to_string()).detach();
//! row.append(badge.widget());
//! // Later, for each `SyncQueueOutput::ItemState { item, state }` about this row's item:
//! badge.emit(SyncBadgeInput::State(ItemSyncState::Syncing));
//! # }
//! ```

use std::cell::RefCell;

use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

use super::format::{self, Badge, SYNCED_FADE_MS};
use crate::sync::ItemSyncState;

/// The colour classes a badge may carry (one at a time).
const CLASSES: [&str; 6] = [
    "queued",
    "waiting",
    "synced",
    "retrying",
    "attention",
    "merged",
];

/// The badge's widgets: a stable container holding the labelled box (replaced when the
/// accessible label changes, see `a11y`) with the icon, the spinner and the text.
#[derive(Debug)]
pub struct BadgeView {
    /// The stable outer container (what callers pack).
    pub root: gtk::Box,
    /// The labelled box named `sync-badge` (tooltip, colour class, visibility).
    pub badge: RefCell<gtk::Box>,
    /// The icon.
    pub icon: gtk::Image,
    /// The spinner shown while syncing.
    pub spinner: gtk::Spinner,
    /// Short text ("retrying in 40 s").
    pub text: gtk::Label,
    label: RefCell<Option<String>>,
}

impl Default for BadgeView {
    fn default() -> Self {
        Self::new()
    }
}

impl BadgeView {
    /// A hidden badge.
    pub fn new() -> BadgeView {
        let root = gtk::Box::new(gtk::Orientation::Horizontal, 0);
        root.set_valign(gtk::Align::Center);
        let badge = gtk::Box::new(gtk::Orientation::Horizontal, 4);
        style(&badge);
        badge.set_visible(false);
        let icon = gtk::Image::new();
        let spinner = gtk::Spinner::new();
        let text = gtk::Label::new(None);
        text.add_css_class("caption");
        badge.append(&icon);
        badge.append(&spinner);
        badge.append(&text);
        root.append(&badge);
        BadgeView {
            root,
            badge: RefCell::new(badge),
            icon,
            spinner,
            text,
            label: RefCell::new(None),
        }
    }

    /// Show `badge` (`None`: hide).
    pub fn render(&self, badge: Option<&Badge>) {
        let Some(b) = badge else {
            self.badge.borrow().set_visible(false);
            self.spinner.set_spinning(false);
            return;
        };
        self.icon.set_visible(b.icon.is_some());
        if let Some(icon) = b.icon {
            self.icon.set_icon_name(Some(icon));
        }
        self.spinner.set_visible(b.spinner);
        self.spinner.set_spinning(b.spinner);
        self.text.set_visible(!b.text.is_empty());
        self.text.set_label(&b.text);
        if self.label.borrow().as_deref() != Some(b.accessible_label.as_str()) {
            match super::a11y::labelled_box(&b.accessible_label) {
                Ok(new) => {
                    self.swap(new);
                    *self.label.borrow_mut() = Some(b.accessible_label.clone());
                }
                Err(e) => tracing::warn!(error = %e, "cannot label the badge for screen readers"),
            }
        }
        let badge = self.badge.borrow();
        badge.set_visible(true);
        for class in CLASSES {
            badge.remove_css_class(class);
        }
        badge.add_css_class(b.css_class);
        // Tooltips take plain text here: server text never becomes markup.
        badge.set_tooltip_text(b.tooltip.as_deref());
    }

    /// Put `new` in the place of the labelled box, moving the icon, spinner and text into it.
    fn swap(&self, new: gtk::Box) {
        new.set_spacing(4);
        style(&new);
        let old = self.badge.replace(new.clone());
        for child in [
            self.icon.clone().upcast::<gtk::Widget>(),
            self.spinner.clone().upcast(),
            self.text.clone().upcast(),
        ] {
            old.remove(&child);
            new.append(&child);
        }
        self.root.remove(&old);
        self.root.append(&new);
    }
}

fn style(b: &gtk::Box) {
    b.set_widget_name("sync-badge");
    b.add_css_class("sync-badge");
    b.set_valign(gtk::Align::Center);
    b.set_focusable(true);
}

/// The standalone badge component (see the module docs).
#[derive(Debug)]
pub struct SyncBadge {
    /// The state shown (`None`: nothing to show).
    pub state: Option<ItemSyncState>,
    /// False once the synced check faded (or after a discard).
    pub visible: bool,
    /// The account's server name, for the words of a needs-attention badge.
    pub server: String,
    generation: u64,
}

/// Messages to a [`SyncBadge`].
#[derive(Debug)]
pub enum SyncBadgeInput {
    /// The item's new sync state (as `SyncQueueOutput::ItemState` reports it).
    State(ItemSyncState),
    /// Forget the state: no badge.
    Clear,
    /// Internal: the synced check's fade timer for this generation fired.
    #[doc(hidden)]
    Fade(u64),
}

impl SyncBadge {
    /// The badge drawn now, if any.
    pub fn badge(&self) -> Option<Badge> {
        if !self.visible {
            return None;
        }
        self.state
            .as_ref()
            .and_then(|s| format::badge_for(s, chrono::Utc::now().timestamp_millis(), &self.server))
    }
}

impl SimpleComponent for SyncBadge {
    /// The account's server name.
    type Init = String;
    type Input = SyncBadgeInput;
    type Output = ();
    type Root = gtk::Box;
    type Widgets = BadgeView;

    fn init_root() -> gtk::Box {
        gtk::Box::new(gtk::Orientation::Horizontal, 0)
    }

    fn init(
        server: String,
        root: gtk::Box,
        _sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let view = BadgeView::new();
        root.append(&view.root);
        ComponentParts {
            model: SyncBadge {
                state: None,
                visible: false,
                server,
                generation: 0,
            },
            widgets: view,
        }
    }

    fn update(&mut self, message: SyncBadgeInput, sender: ComponentSender<Self>) {
        match message {
            SyncBadgeInput::State(state) => {
                self.generation += 1;
                self.visible = state != ItemSyncState::Discarded;
                if state == ItemSyncState::Synced {
                    let generation = self.generation;
                    let input = sender.input_sender().clone();
                    gtk::glib::timeout_add_local_once(
                        std::time::Duration::from_millis(u64::from(SYNCED_FADE_MS)),
                        move || input.emit(SyncBadgeInput::Fade(generation)),
                    );
                }
                self.state = Some(state);
            }
            SyncBadgeInput::Clear => {
                self.generation += 1;
                self.state = None;
                self.visible = false;
            }
            SyncBadgeInput::Fade(generation) => {
                if generation == self.generation && self.state == Some(ItemSyncState::Synced) {
                    self.visible = false;
                }
            }
        }
    }

    fn update_view(&self, widgets: &mut BadgeView, _sender: ComponentSender<Self>) {
        widgets.render(self.badge().as_ref());
    }
}
