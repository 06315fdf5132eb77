//! The main window: header bar (title, sync status button), the demo and offline notices, the
//! toast overlay and the library. Routes messages between the library, the status button and
//! the SyncQueue worker; turns failure notices into coalesced toasts.
//!
//! Closing the window ends the app, and running downloads stop (they go on at the next start),
//! unless the `keep_downloading_when_closed` setting is on and downloads are queued: then the
//! window hides and the app stays (a `GApplication` hold) until the queue is done.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;
use relm4::WorkerController;

use super::format;
use crate::backend::error::Action;
use crate::backend::ErrorKind;
use crate::model::ServerKind;
use crate::sync::{AccountState, ItemSyncState};
use crate::ui::i18n::{gettext, tr};
use crate::ui::library::{Library, LibraryInput, LibraryOutput};
use crate::ui::preferences::{Preferences, PreferencesInput, PreferencesOutput};
use crate::ui::sign_in::{SignIn, SignInInput, SignInKind, SignInOutput};
use crate::ui::sync_status::{needs_sign_in, SyncStatus, SyncStatusInput, SyncStatusOutput};
use crate::ui::window_state::WindowState;
use crate::ui::worker::{
    LibrarySource, OverriddenItem, Recovery, SyncQueue, SyncQueueInit, SyncQueueInput,
    SyncQueueOutput,
};

mod helpers;
mod routes;

/// How the window starts.
#[derive(Debug, Clone)]
pub struct AppInit {
    /// Where the sync queue finds its account (or the demo).
    pub queue: SyncQueueInit,
    /// Where the window size is remembered (`None`: not remembered).
    pub window_state: Option<PathBuf>,
}

/// A toast on screen, kept so the next failure of the same kind updates it instead of stacking.
#[derive(Debug)]
pub struct ActiveToast {
    /// The toast.
    pub toast: adw::Toast,
    /// The items whose changes it counts (each once, however often it failed).
    pub items: std::collections::BTreeSet<String>,
    /// Changes it counts: `items.len()`.
    pub count: usize,
    /// Its action.
    pub action: Action,
    /// What failed, on which server, with how many changes pending: to word it again when its
    /// count changes.
    pub error: crate::backend::SyncError,
    pub server: String,
    pub pending: usize,
}

/// The toast saying that merges kept another device's progress over the person's (DESIGN.md
/// invariant 11), kept so notices that arrive while it is up update it instead of stacking.
///
/// One item: the toast says what happened to it (the row's sentence, with its title) and its
/// button is that item's Use mine. Several items: one toast counts them ("Kept another
/// device's progress for N episodes") and its button, "Use mine for all", sends the person's
/// value again for every item the toast counts. We chose that over opening a list: the toast
/// says plainly what the button does to all of them, each row keeps its own notice and Use mine
/// (for 7 days) for a choice item by item, and ignoring the toast loses nothing. Items whose
/// notice went meanwhile (Use mine on the row, a new change) leave the toast's count.
#[derive(Debug)]
pub struct OverriddenToast {
    /// The toast.
    pub toast: adw::Toast,
    /// The items it counts.
    pub items: Vec<String>,
    /// Which override toast it is (a late "dismissed" of an earlier one must not forget it).
    pub serial: usize,
}

/// The window's model.
pub struct App {
    /// The library view.
    pub library: Controller<Library>,
    /// The header-bar status button.
    pub status: Controller<SyncStatus>,
    /// The sign-in dialog.
    pub sign_in: Controller<SignIn>,
    /// The Preferences window (primary menu, Ctrl+,).
    pub preferences: Controller<Preferences>,
    /// The worker that owns the engine.
    pub queue: WorkerController<SyncQueue>,
    /// Where the library comes from (once loaded).
    pub source: Option<LibrarySource>,
    /// Account state (drives the offline notice).
    pub account: AccountState,
    /// Visible toasts by error kind.
    pub toasts: HashMap<&'static str, ActiveToast>,
    /// Toasts shown since start (a burst must count once).
    pub toasts_shown: usize,
    /// The items on the status popover's needs-attention list: one leaves it when its badge
    /// says something else (the popover's own model may not have a message queued to it yet).
    pub attention: HashSet<String>,
    /// The override notices (the worker's whole list).
    pub overridden: Vec<OverriddenItem>,
    /// The override toast on screen.
    pub overridden_toast: Option<OverriddenToast>,
    /// The Undo toast of the held bulk change on screen, by its batch number (one at a time:
    /// a newer bulk change replaces it, and its change is then sent).
    pub undo_toast: Option<(u64, adw::Toast)>,
    /// A start-up failure, shown instead of the library.
    pub failure: Option<String>,
    /// The way out the failure page offers (no database to work with).
    pub recovery: Option<Recovery>,
    /// The way out was taken; the worker is at it.
    pub recovering: bool,
    /// Playmark's database fails: the one sentence shown until it works again.
    pub store_trouble: Option<String>,
    /// The item playing in mpv, and mpv's process id.
    pub playing: Option<(String, Option<u32>)>,
    /// The last message toast (a play or a download that failed).
    pub last_message: Option<String>,
    /// Closing the window only hides it: downloads are queued and the person asked for them
    /// to go on (read by the close handler).
    pub keep_running: Rc<Cell<bool>>,
    /// Held while the window is hidden and downloads go on.
    hold: Option<gtk::gio::ApplicationHoldGuard>,
    toast_overlay: adw::ToastOverlay,
    window_state: Option<PathBuf>,
    network_handler: Option<gtk::glib::SignalHandlerId>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("source", &self.source).finish()
    }
}

/// Messages to the window.
#[derive(Debug)]
pub enum AppInput {
    /// From the worker.
    Queue(SyncQueueOutput),
    /// From the library.
    Library(LibraryOutput),
    /// From the status button.
    Status(SyncStatusOutput),
    /// A toast's button was clicked.
    ToastAction { kind: ErrorKind },
    /// A toast went away.
    ToastDismissed { kind: ErrorKind },
    /// The override toast's button (Use mine) was clicked.
    OverriddenToastAction,
    /// The override toast `serial` went away.
    OverriddenToastDismissed { serial: usize },
    /// The Undo toast of held bulk change `batch`: its button was clicked.
    Undo { batch: u64 },
    /// The Undo toast of held bulk change `batch` went away (clicked, timed out or replaced).
    UndoDismissed { batch: u64 },
    /// Open the sign-in dialog.
    ShowSignIn,
    /// From the sign-in dialog.
    SignIn(SignInOutput),
    /// Sign out of the server (back to the demo library).
    SignOut,
    /// The window was hidden instead of closed (downloads go on).
    Hidden,
    /// Open the Preferences window.
    ShowPreferences,
    /// The failure page's button: set the database aside, or try again.
    Recover,
    /// From the Preferences window.
    Preferences(PreferencesOutput),
}

/// The notice the strip under the header bar shows (one at a time, the most pressing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing to say: the strip's space stays reserved.
    None,
    /// The demo library is shown.
    Demo,
    /// The server can't be reached.
    Offline,
    /// Playmark's database fails.
    Store,
}

#[relm4::component(pub)]
impl SimpleComponent for App {
    type Init = AppInit;
    type Input = AppInput;
    type Output = ();

    view! {
        #[name = "window"]
        adw::ApplicationWindow {
            set_title: Some(&gettext("Playmark")),
            set_default_size: (init_state.width, init_state.height),
            set_maximized: init_state.maximized,
            connect_close_request[window_state = model.window_state.clone(), keep_running = model.keep_running.clone(), sender = sender.clone()] => move |w| {
                if let Some(path) = &window_state {
                    let state = WindowState {
                        width: w.default_width(),
                        height: w.default_height(),
                        maximized: w.is_maximized(),
                    };
                    if let Err(e) = state.save(path) {
                        tracing::warn!(error = %e, "cannot remember the window size");
                    }
                }
                if keep_running.get() {
                    w.set_visible(false);
                    sender.input(AppInput::Hidden);
                    return gtk::glib::Propagation::Stop;
                }
                gtk::glib::Propagation::Proceed
            },

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::HeaderBar {
                    set_title_widget: Some(&model.library.model().switcher_title),
                    pack_end = &gtk::MenuButton {
                        set_icon_name: "open-menu-symbolic",
                        set_tooltip_text: Some(&gettext("Main menu")),
                        set_menu_model: Some(&crate::ui::app_menu::primary_menu()),
                    },
                    pack_end: model.status.widget(),
                    #[name = "search_button"]
                    pack_end = &gtk::ToggleButton {
                        set_icon_name: "system-search-symbolic",
                        set_tooltip_text: Some(&gettext("Search (Ctrl+F)")),
                        #[watch]
                        set_visible: model.failure.is_none(),
                    },
                    // Sign out first: "Sign in…" appearing beside it when the server wants a
                    // new sign-in must not move Sign out from under the pointer (a click aimed
                    // at Sign out landed on "Sign in…" when it came first).
                    pack_start = &gtk::Button {
                        set_label: &gettext("Sign out"),
                        #[watch]
                        set_visible: model.failure.is_none()
                            && matches!(model.source, Some(LibrarySource::Account { .. })),
                        connect_clicked => AppInput::SignOut,
                    },
                    pack_start = &gtk::Button {
                        set_label: &gettext("Sign in…"),
                        set_tooltip_text: Some(&gettext("Sign in to your Jellyfin or Plex server")),
                        // Also while the account needs a new sign-in.
                        #[watch]
                        set_visible: model.failure.is_none()
                            && (!matches!(model.source, Some(LibrarySource::Account { .. }))
                                || needs_sign_in(model.account)),
                        connect_clicked => AppInput::ShowSignIn,
                    },
                },
                // The notice strip: one line whose space is always reserved, so a notice that
                // comes or goes never moves the content under the pointer (AdwBanner, which
                // animates its height, needs libadwaita 1.3). One notice at a time, the most
                // pressing; an ellipsized one shows whole in its tooltip.
                #[name = "notices"]
                gtk::Box {
                    set_widget_name: "notices",
                    set_orientation: gtk::Orientation::Vertical,
                    #[name = "no_notice"]
                    gtk::Label {
                        set_widget_name: "no_notice",
                        add_css_class: "no-notice",
                        set_single_line_mode: true,
                        // One line of text's height, like the notices (an empty label has it too).
                        set_label: "",
                        #[watch]
                        set_visible: model.notice() == Notice::None,
                    },
                    #[name = "demo_notice"]
                    gtk::Label {
                        set_widget_name: "demo_notice",
                        add_css_class: "demo-notice",
                        set_single_line_mode: true,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        set_xalign: 0.0,
                        #[watch]
                        set_visible: model.notice() == Notice::Demo,
                        #[watch]
                        set_label: &model.demo_notice_text(),
                        #[watch]
                        set_tooltip_text: Some(&model.demo_notice_text()),
                    },
                    #[name = "offline_notice"]
                    gtk::Label {
                        set_widget_name: "offline_notice",
                        add_css_class: "offline-notice",
                        set_single_line_mode: true,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        set_xalign: 0.0,
                        set_label: &gettext("Offline — your changes are kept and will be sent when the server is back."),
                        set_tooltip_text: Some(&gettext("Offline — your changes are kept and will be sent when the server is back.")),
                        #[watch]
                        set_visible: model.notice() == Notice::Offline,
                    },
                    #[name = "store_notice"]
                    gtk::Label {
                        set_widget_name: "store_notice",
                        add_css_class: "offline-notice",
                        set_single_line_mode: true,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        set_xalign: 0.0,
                        #[watch]
                        set_label: model.store_trouble.as_deref().unwrap_or_default(),
                        #[watch]
                        set_tooltip_text: model.store_trouble.as_deref(),
                        #[watch]
                        set_visible: model.notice() == Notice::Store,
                    },
                },
                #[local_ref]
                toast_overlay -> adw::ToastOverlay {
                    set_vexpand: true,
                    if let Some(message) = &model.failure {
                        adw::StatusPage {
                            set_icon_name: Some("dialog-error-symbolic"),
                            set_title: &gettext("Playmark could not start"),
                            #[watch]
                            set_description: Some(&gtk::glib::markup_escape_text(message)),
                            #[wrap(Some)]
                            set_child = &gtk::Button {
                                set_widget_name: "recover",
                                set_halign: gtk::Align::Center,
                                add_css_class: "pill",
                                add_css_class: "suggested-action",
                                #[watch]
                                set_visible: model.recovery.is_some(),
                                #[watch]
                                set_sensitive: !model.recovering,
                                #[watch]
                                set_label: &match model.recovery {
                                    Some(Recovery::SetAside) => gettext("Set Aside and Start Empty"),
                                    _ => gettext("Try Again"),
                                },
                                connect_clicked => AppInput::Recover,
                            },
                        }
                    } else {
                        gtk::Box {
                            append: model.library.widget(),
                        }
                    }
                },
            }
        }
    }

    fn init(
        init: AppInit,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        super::load_resources();
        let init_state = init
            .window_state
            .as_deref()
            .map(WindowState::load)
            .unwrap_or_default();
        let library = Library::builder()
            .launch(())
            .forward(sender.input_sender(), AppInput::Library);
        let status = SyncStatus::builder()
            .launch(())
            .forward(sender.input_sender(), AppInput::Status);
        let sign_in = SignIn::builder()
            .transient_for(&root)
            .launch(())
            .forward(sender.input_sender(), AppInput::SignIn);
        let preferences = Preferences::builder()
            .transient_for(&root)
            .launch(())
            .forward(sender.input_sender(), AppInput::Preferences);
        let input = sender.input_sender().clone();
        crate::ui::app_menu::install(&root, move || input.emit(AppInput::ShowPreferences));
        let queue = SyncQueue::builder()
            .detach_worker(init.queue)
            .forward(sender.input_sender(), AppInput::Queue);
        queue.emit(SyncQueueInput::Start);
        // gio's network monitor is a hint: "online" makes the engine probe at once; "offline" is
        // not trusted (VPNs report it wrongly) — failed requests decide.
        let hints = queue.sender().clone();
        let network_handler =
            gtk::gio::NetworkMonitor::default().connect_network_changed(move |_, available| {
                let _ = hints.send(SyncQueueInput::ConnectivityChanged { online: available });
            });
        let toast_overlay = adw::ToastOverlay::new();
        let model = App {
            library,
            status,
            sign_in,
            preferences,
            queue,
            source: None,
            account: AccountState::Online,
            toasts: HashMap::new(),
            toasts_shown: 0,
            attention: HashSet::new(),
            overridden: Vec::new(),
            overridden_toast: None,
            undo_toast: None,
            failure: None,
            recovery: None,
            recovering: false,
            store_trouble: None,
            playing: None,
            last_message: None,
            keep_running: Rc::new(Cell::new(false)),
            hold: None,
            toast_overlay: toast_overlay.clone(),
            window_state: init.window_state,
            network_handler: Some(network_handler),
        };
        model.library.widget().set_hexpand(true);
        model.library.widget().set_vexpand(true);
        let toast_overlay = &toast_overlay;
        let widgets = view_output!();
        // The sync button shows once an engine runs: before, there is no sync state to show.
        model.status.widget().set_visible(false);
        // In front, the library is pulled every minute; in the back, on the engine's idle
        // schedule.
        let hints = model.queue.sender().clone();
        root.connect_is_active_notify(move |w| {
            let _ = hints.send(SyncQueueInput::Foreground {
                active: w.is_active() && w.is_visible(),
            });
        });
        // Type to search anywhere in the window; the header button follows the search bar.
        {
            let library = model.library.model();
            library
                .search_bar
                .set_key_capture_widget(Some(&widgets.window));
            library
                .search_bar
                .bind_property("search-mode-enabled", &widgets.search_button, "active")
                .bidirectional()
                .sync_create()
                .build();
        }
        ComponentParts { model, widgets }
    }

    fn shutdown(&mut self, _widgets: &mut Self::Widgets, _output: relm4::Sender<()>) {
        if let Some(handler) = self.network_handler.take() {
            gtk::gio::NetworkMonitor::default().disconnect(handler);
        }
    }

    fn update(&mut self, message: AppInput, sender: ComponentSender<Self>) {
        let _slow = crate::ui::library::SlowUpdate::start(&message);
        match message {
            AppInput::Queue(out) => match out {
                SyncQueueOutput::Launched { state } => {
                    // An engine runs: whatever stopped the start is over.
                    self.failure = None;
                    self.recovery = None;
                    self.recovering = false;
                    self.show_engine_state(true);
                    // Nothing shown for the engine before holds: its badges, its toasts.
                    self.library.emit(LibraryInput::ClearStates);
                    for (_, active) in self.toasts.drain() {
                        active.toast.dismiss();
                    }
                    self.show_overridden(Vec::new(), Vec::new(), &sender);
                    self.account = state;
                    self.status.emit(SyncStatusInput::Account { state });
                    self.library.emit(LibraryInput::Account { state });
                }
                SyncQueueOutput::Library {
                    source,
                    items,
                    index,
                } => {
                    self.status.emit(SyncStatusInput::Developer {
                        enabled: matches!(source, LibrarySource::Demo { .. }),
                    });
                    self.library.model().rows.set_server(&source.server_name());
                    self.source = Some(source);
                    self.library
                        .model()
                        .switcher_title
                        .set_subtitle(&self.subtitle());
                    self.library
                        .emit(LibraryInput::LoadIndexed { items, index });
                }
                SyncQueueOutput::ItemData { item } => {
                    self.library.emit(LibraryInput::ItemData { item })
                }
                SyncQueueOutput::ItemState { item, state } => self.item_state(item, state),
                SyncQueueOutput::Snapshot { states } => self.snapshot(states),
                SyncQueueOutput::Settled { item } => {
                    self.settle_in_toasts(&item);
                    self.library.emit(LibraryInput::Settled { item });
                }
                SyncQueueOutput::Counts { counts } => {
                    self.status.emit(SyncStatusInput::Counts { counts })
                }
                SyncQueueOutput::Attention { items } => {
                    self.attention = items.iter().map(|i| i.item_id.clone()).collect();
                    self.status.emit(SyncStatusInput::Attention { items })
                }
                SyncQueueOutput::AttentionAdded { item } => {
                    self.attention.insert(item.item_id.clone());
                    self.status.emit(SyncStatusInput::AttentionAdded { item })
                }
                SyncQueueOutput::StoreTrouble { message } => self.store_trouble = message,
                SyncQueueOutput::AccountState { state } => {
                    self.account = state;
                    if state == AccountState::Online {
                        // "Can't be reached" / "sign in again" are no longer true.
                        for kind in [ErrorKind::Offline, ErrorKind::Auth] {
                            if let Some(active) = self.toasts.remove(kind.as_str()) {
                                active.toast.dismiss();
                            }
                        }
                    }
                    self.status.emit(SyncStatusInput::Account { state });
                    self.library.emit(LibraryInput::Account { state });
                }
                SyncQueueOutput::Synced { at } => self.status.emit(SyncStatusInput::Synced { at }),
                SyncQueueOutput::Notice {
                    error,
                    items,
                    pending,
                    server,
                } => self.show_failure_toast(error, items, pending, &server, &sender),
                SyncQueueOutput::SignInFinished { error } => {
                    self.sign_in.emit(SignInInput::Finished { error });
                }
                SyncQueueOutput::TokenStorage { storage } => {
                    self.sign_in.emit(SignInInput::TokenStorage(storage));
                }
                SyncQueueOutput::Home {
                    continue_watching,
                    next_up,
                    items,
                } => self.library.emit(LibraryInput::Home {
                    continue_watching,
                    next_up,
                    items,
                }),
                SyncQueueOutput::SearchResults { query, items } => self
                    .library
                    .emit(LibraryInput::SearchResults { query, items }),
                SyncQueueOutput::Player { available } => self.library.emit(LibraryInput::Actions {
                    play: available,
                    download: true,
                }),
                SyncQueueOutput::Playing { item, pid } => {
                    self.library
                        .emit(LibraryInput::Playing { item: item.clone() });
                    self.playing = item.map(|i| (i, pid));
                }
                SyncQueueOutput::Message { text } => {
                    let toast = crate::ui::toast::new(&text);
                    toast.set_timeout(8);
                    self.toast_overlay.add_toast(toast);
                    self.last_message = Some(text);
                }
                SyncQueueOutput::Downloads { rows, keep_running } => {
                    let active = crate::ui::downloads::any_active(&rows);
                    self.keep_running.set(keep_running && active);
                    if !active && self.hold.take().is_some() {
                        // The window is hidden and the queue is done: now the app ends.
                        relm4::main_application().quit();
                    }
                    self.library.emit(LibraryInput::Downloads { rows });
                }
                SyncQueueOutput::Poster { item, texture } => {
                    self.library.emit(LibraryInput::Poster { item, texture })
                }
                SyncQueueOutput::Settings { state } => {
                    self.preferences.emit(PreferencesInput::Load(state))
                }
                SyncQueueOutput::Mirror(report) => {
                    self.preferences.emit(PreferencesInput::Mirror(report))
                }
                SyncQueueOutput::Overridden { items, new } => {
                    self.show_overridden(items, new, &sender)
                }
                SyncQueueOutput::BulkHeld {
                    batch,
                    name,
                    series,
                    count,
                    played,
                    held,
                } => {
                    let name = match series {
                        Some(series) => crate::ui::undo_toast::season_name(&series, &name),
                        None => name,
                    };
                    let toast = crate::ui::undo_toast::new(&name, count, played);
                    self.show_undo_toast(batch, toast, &sender);
                    self.set_held(held);
                }
                SyncQueueOutput::UseMineHeld { batch, count, held } => {
                    let toast = crate::ui::undo_toast::use_mine(count);
                    self.show_undo_toast(batch, toast, &sender);
                    self.set_held(held);
                }
                SyncQueueOutput::UndoTooLate { .. } => {
                    let text = crate::ui::undo_toast::too_late();
                    let toast = crate::ui::toast::new(&text);
                    toast.set_timeout(8);
                    self.toast_overlay.add_toast(toast);
                    self.last_message = Some(text);
                }
                SyncQueueOutput::SettingRefused { key, message } => self
                    .preferences
                    .emit(PreferencesInput::Refused { key, message }),
                SyncQueueOutput::NoDatabase { message, recovery } => {
                    self.failure = Some(message);
                    self.recovery = Some(recovery);
                    self.recovering = false;
                    // No database, no sync state: nothing to say "Up to date" about.
                    self.show_engine_state(false);
                }
                SyncQueueOutput::Failed { message } => {
                    self.recovering = false;
                    if self.source.is_none() || self.recovery.is_some() {
                        self.recovery = None;
                        self.failure = Some(message);
                        self.show_engine_state(false);
                    } else {
                        let toast = crate::ui::toast::new(&message);
                        self.toast_overlay.add_toast(toast);
                    }
                }
            },
            // Requests for the worker, each converted once (`routes.rs`).
            AppInput::Library(out) => self.queue.emit(out.into()),
            AppInput::Status(out) => {
                if matches!(out, SyncStatusOutput::SyncNow) {
                    // The person asked for a send: held bulk changes go too, so their Undo
                    // is no longer offered.
                    self.dismiss_undo_toast();
                }
                match SyncQueueInput::try_from(out) {
                    Ok(input) => self.queue.emit(input),
                    // Sign in: the app's own dialog.
                    Err(_) => {
                        self.status.widget().popdown();
                        self.show_sign_in();
                    }
                }
            }
            AppInput::ToastAction { kind } => {
                let action = self.toasts.remove(kind.as_str()).map(|t| t.action);
                match action {
                    Some(Action::Retry) => self.queue.emit(SyncQueueInput::RetryAll),
                    // Details: the status popover lists each change with Retry / Discard.
                    Some(Action::Discard) => self.status.widget().popup(),
                    Some(Action::SignIn) => self.show_sign_in(),
                    Some(Action::None) | None => {}
                }
            }
            AppInput::ToastDismissed { kind } => {
                self.toasts.remove(kind.as_str());
            }
            AppInput::OverriddenToastAction => {
                if let Some(t) = self.overridden_toast.take() {
                    self.queue.emit(SyncQueueInput::UseMine { items: t.items });
                }
            }
            AppInput::OverriddenToastDismissed { serial } => {
                if self.overridden_toast.as_ref().map(|t| t.serial) == Some(serial) {
                    self.overridden_toast = None;
                }
            }
            AppInput::Undo { batch } => {
                if self.undo_toast.as_ref().map(|(b, _)| *b) == Some(batch) {
                    self.undo_toast = None;
                    self.set_held(0);
                }
                self.queue.emit(SyncQueueInput::Undo { batch });
            }
            AppInput::UndoDismissed { batch } => {
                if self.undo_toast.as_ref().map(|(b, _)| *b) == Some(batch) {
                    self.undo_toast = None;
                    self.set_held(0);
                }
                // After an Undo the batch is gone and this does nothing.
                self.queue.emit(SyncQueueInput::ReleaseHold { batch });
            }
            AppInput::ShowSignIn => self.show_sign_in(),
            AppInput::SignIn(out) => self.queue.emit(out.into()),
            AppInput::SignOut => self.queue.emit(SyncQueueInput::SignOut),
            AppInput::Hidden => self.hold = Some(relm4::main_application().hold()),
            AppInput::Recover => {
                self.recovering = true;
                self.queue.emit(match self.recovery {
                    Some(Recovery::SetAside) => SyncQueueInput::ResetDatabase,
                    _ => SyncQueueInput::Start,
                });
            }
            AppInput::ShowPreferences => {
                self.queue.emit(SyncQueueInput::LoadSettings);
                self.preferences.emit(PreferencesInput::Show);
            }
            AppInput::Preferences(out) => self.queue.emit(out.into()),
        }
    }
}
