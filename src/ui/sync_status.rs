//! The header-bar sync button: an icon and label for the global state, and a popover with the
//! pending count, the changes needing attention (a virtualised list, with per-item Retry and
//! Discard), Retry all, Sync now and the last successful sync time. In the demo it also holds
//! the developer controls (simulate offline, server errors).

use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;
use relm4::typed_view::list::{RelmListItem, TypedListView};

use super::format;
use super::i18n::{gettext, ntr};
use super::worker::{AttentionItem, DevFault};
use crate::model::Millis;
use crate::store::Counts;
use crate::sync::AccountState;

/// The width of the status button's label, in characters (the longest English state,
/// "2 need attention" fits, longer ones are shortened).
const STATUS_LABEL_CHARS: i32 = 16;

/// The status button's model.
#[derive(Debug)]
pub struct SyncStatus {
    /// Queue counts.
    pub counts: Counts,
    /// Account state.
    pub account: AccountState,
    /// Last successful sync.
    pub last_sync: Option<Millis>,
    /// Pending rows held while their Undo toast is up (not waiting to be sent).
    pub held: usize,
    /// Changes needing attention (virtualised list).
    pub attention: TypedListView<AttentionRow, gtk::NoSelection>,
    /// Show the developer controls (demo library only).
    pub developer: bool,
    /// The developer "offline" switch.
    pub simulate_offline: bool,
    /// What the last developer control did to the demo server, in words (shown under them).
    pub simulated: Option<String>,
}

/// What a developer control does to the demo server, in words (the popover says it at once:
/// the faults themselves show only when a change meets them).
pub fn simulated_text(fault: DevFault) -> String {
    match fault {
        DevFault::Offline { offline: true } => {
            gettext("The demo server now refuses connections, as a server that is down.")
        }
        DevFault::Offline { offline: false } => gettext("The demo server answers again."),
        DevFault::FailNext { count, status: 404 } => ntr(
            "The next request to the demo server fails with 404 (gone).",
            "The next {count} requests to the demo server fail with 404 (gone).",
            count,
            &[],
        ),
        DevFault::FailNext { count, status } => ntr(
            "The next request to the demo server fails with {status} (server error).",
            "The next {count} requests to the demo server fail with {status} (server error).",
            count,
            &[("status", &status.to_string())],
        ),
        DevFault::Random { fraction } if fraction > 0.0 => {
            gettext("About 3 in 10 requests to the demo server now fail at random.")
        }
        DevFault::Random { .. } => gettext("The demo server no longer fails at random."),
    }
}

/// Messages to the status button.
#[derive(Debug)]
pub enum SyncStatusInput {
    /// New counts.
    Counts { counts: Counts },
    /// New account state.
    Account { state: AccountState },
    /// How many pending rows are held while their Undo is offered.
    Held { rows: usize },
    /// The whole needs-attention list (at start, and after the worker caught up).
    Attention { items: Vec<AttentionItem> },
    /// One change needs attention (added, or its reason changed).
    AttentionAdded { item: AttentionItem },
    /// One change no longer needs attention.
    AttentionRemoved { item: String },
    /// A change reached the server.
    Synced { at: Millis },
    /// Developer controls on or off.
    Developer { enabled: bool },
    /// Per-item Retry clicked.
    Retry { item: String },
    /// Per-item Discard clicked.
    Discard { item: String },
    /// Per-item "Copy details" clicked: the raw detail goes to the clipboard.
    CopyDetails { detail: String },
    /// Retry all clicked.
    RetryAll,
    /// Sync now clicked.
    SyncNow,
    /// Sign in clicked (the account needs a new sign-in).
    SignIn,
    /// A developer control.
    Simulate { fault: DevFault },
}

/// What the status button asks of the sync queue.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncStatusOutput {
    /// Retry one item.
    Retry { item: String },
    /// Discard one item's change.
    Discard { item: String },
    /// Retry every failed change.
    RetryAll,
    /// Send everything now.
    SyncNow,
    /// Open the sign-in dialog for the account (it needs a new sign-in).
    SignIn,
    /// Inject a fault into the demo server.
    Simulate { fault: DevFault },
}

/// One needs-attention row in the popover.
#[derive(Debug)]
pub struct AttentionRow {
    /// The change.
    pub item: AttentionItem,
    sender: relm4::Sender<SyncStatusInput>,
}

/// Widgets of an attention row.
#[derive(Debug)]
pub struct AttentionRowWidgets {
    title: gtk::Label,
    reason: gtk::Label,
    retry: gtk::Button,
    discard: gtk::Button,
    copy: gtk::Button,
    handlers: Vec<(gtk::Button, gtk::glib::SignalHandlerId)>,
}

impl RelmListItem for AttentionRow {
    type Root = gtk::Box;
    type Widgets = AttentionRowWidgets;

    fn setup(_item: &gtk::ListItem) -> (gtk::Box, AttentionRowWidgets) {
        let root = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        root.set_margin_top(4);
        root.set_margin_bottom(4);
        let text = gtk::Box::new(gtk::Orientation::Vertical, 2);
        text.set_hexpand(true);
        let title = gtk::Label::new(None);
        title.set_xalign(0.0);
        title.set_ellipsize(gtk::pango::EllipsizeMode::End);
        let reason = gtk::Label::new(None);
        reason.set_xalign(0.0);
        reason.set_wrap(true);
        reason.add_css_class("caption");
        reason.add_css_class("dim-label");
        text.append(&title);
        text.append(&reason);
        let retry = gtk::Button::with_label(&gettext("Retry"));
        retry.set_valign(gtk::Align::Center);
        retry.set_widget_name("retry");
        let discard = gtk::Button::with_label(&gettext("Discard"));
        discard.set_valign(gtk::Align::Center);
        discard.set_widget_name("discard");
        discard.add_css_class("destructive-action");
        // The server's own words stay out of sight, one click away for a bug report.
        let copy = gtk::Button::from_icon_name("edit-copy-symbolic");
        copy.set_valign(gtk::Align::Center);
        copy.set_widget_name("copy_details");
        copy.add_css_class("flat");
        copy.set_tooltip_text(Some(&gettext("Copy details")));
        root.append(&text);
        root.append(&copy);
        root.append(&retry);
        root.append(&discard);
        (
            root,
            AttentionRowWidgets {
                title,
                reason,
                retry,
                discard,
                copy,
                handlers: Vec::new(),
            },
        )
    }

    fn bind(&mut self, w: &mut AttentionRowWidgets, _root: &mut gtk::Box) {
        w.title.set_label(&self.item.title);
        // set_label, never markup.
        w.reason.set_label(&self.item.reason);
        let (s, detail) = (self.sender.clone(), self.item.detail.clone());
        let h = w.copy.connect_clicked(move |_| {
            s.emit(SyncStatusInput::CopyDetails {
                detail: detail.clone(),
            });
        });
        w.handlers.push((w.copy.clone(), h));
        let (s, id) = (self.sender.clone(), self.item.item_id.clone());
        let h = w.retry.connect_clicked(move |_| {
            s.emit(SyncStatusInput::Retry { item: id.clone() });
        });
        w.handlers.push((w.retry.clone(), h));
        let (s, id) = (self.sender.clone(), self.item.item_id.clone());
        let h = w.discard.connect_clicked(move |_| {
            s.emit(SyncStatusInput::Discard { item: id.clone() });
        });
        w.handlers.push((w.discard.clone(), h));
    }

    fn unbind(&mut self, w: &mut AttentionRowWidgets, _root: &mut gtk::Box) {
        for (button, handler) in w.handlers.drain(..) {
            button.disconnect(handler);
        }
    }
}

/// The account sends nothing until the person signs in again.
pub fn needs_sign_in(account: AccountState) -> bool {
    matches!(
        account,
        AccountState::SignInNeeded | AccountState::ServerChanged
    )
}

impl SyncStatus {
    /// What the button and the popover say: one view of one set of counts, whose
    /// needs-attention number is the length of the list shown.
    pub fn view(&self) -> format::StatusView {
        let counts = Counts {
            needs_attention: self.attention.len() as usize,
            ..self.counts
        };
        format::status_view_held(&counts, self.account, self.held)
    }

    /// Where the change of `item` sits in the list.
    fn attention_index(&self, item: &str) -> Option<u32> {
        self.attention.find(|row| row.item.item_id == item)
    }

    fn remove_attention(&mut self, item: &str) {
        if let Some(i) = self.attention_index(item) {
            self.attention.remove(i);
        }
    }
}

#[relm4::component(pub)]
impl SimpleComponent for SyncStatus {
    type Init = ();
    type Input = SyncStatusInput;
    type Output = SyncStatusOutput;

    view! {
        #[name = "button"]
        gtk::MenuButton {
            #[watch]
            set_tooltip_text: Some(&model.view().tooltip),
            #[wrap(Some)]
            set_child = &gtk::Box {
                set_spacing: 6,
                #[name = "icon"]
                gtk::Image {
                    #[watch]
                    set_icon_name: Some(model.view().icon),
                },
                #[name = "label"]
                gtk::Label {
                    set_widget_name: "label",
                    // One width whatever it says ("Up to date", "Offline · 2 need
                    // attention"): a label that grows and shrinks with the sync state moved
                    // the view switcher beside it, or pushed it out of the header. The
                    // tooltip says the whole sentence.
                    set_width_chars: STATUS_LABEL_CHARS,
                    set_max_width_chars: STATUS_LABEL_CHARS,
                    set_ellipsize: gtk::pango::EllipsizeMode::End,
                    #[watch]
                    set_label: &model.view().label,
                },
            },
            #[wrap(Some)]
            #[name = "popover"]
            set_popover = &gtk::Popover {
                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_spacing: 8,
                    set_margin_all: 6,
                    set_width_request: 360,
                    #[name = "pending"]
                    gtk::Label {
                        set_widget_name: "pending",
                        set_xalign: 0.0,
                        add_css_class: "heading",
                        #[watch]
                        set_label: &model.view().queued,
                    },
                    #[name = "account_line"]
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        #[watch]
                        set_label: model.view().account_line.as_deref().unwrap_or_default(),
                        #[watch]
                        set_visible: model.view().account_line.is_some(),
                    },
                    // The account line says "sign in again": the way to do it is right below.
                    #[name = "sign_in"]
                    gtk::Button {
                        set_widget_name: "sign_in",
                        set_label: &gettext("Sign in…"),
                        set_halign: gtk::Align::Start,
                        add_css_class: "suggested-action",
                        #[watch]
                        set_visible: needs_sign_in(model.account),
                        connect_clicked => SyncStatusInput::SignIn,
                    },
                    #[name = "attention_heading"]
                    gtk::Label {
                        set_widget_name: "attention_heading",
                        set_xalign: 0.0,
                        add_css_class: "dim-label",
                        #[watch]
                        set_label: model.view().attention_heading.as_deref().unwrap_or_default(),
                        #[watch]
                        set_visible: !model.attention.is_empty(),
                    },
                    gtk::ScrolledWindow {
                        set_hscrollbar_policy: gtk::PolicyType::Never,
                        set_propagate_natural_height: true,
                        set_min_content_height: 150,
                        set_max_content_height: 320,
                        #[watch]
                        set_visible: !model.attention.is_empty(),
                        #[local_ref]
                        attention_view -> gtk::ListView {},
                    },
                    gtk::Box {
                        set_spacing: 6,
                        set_homogeneous: true,
                        #[name = "retry_all"]
                        gtk::Button {
                            set_widget_name: "retry_all",
                            set_label: &gettext("Retry all"),
                            #[watch]
                            set_sensitive: !model.attention.is_empty() || model.counts.failed > 0,
                            connect_clicked => SyncStatusInput::RetryAll,
                        },
                        #[name = "sync_now"]
                        gtk::Button {
                            set_widget_name: "sync_now",
                            set_label: &gettext("Sync now"),
                            add_css_class: "suggested-action",
                            connect_clicked => SyncStatusInput::SyncNow,
                        },
                    },
                    #[name = "last_sync"]
                    gtk::Label {
                        set_xalign: 0.0,
                        add_css_class: "caption",
                        add_css_class: "dim-label",
                        #[watch]
                        set_label: &format::last_sync_text(model.last_sync),
                    },
                    gtk::Box {
                        set_widget_name: "developer",
                        set_orientation: gtk::Orientation::Vertical,
                        set_spacing: 6,
                        #[watch]
                        set_visible: model.developer,
                        gtk::Separator {},
                        gtk::Label {
                            set_xalign: 0.0,
                            add_css_class: "heading",
                            set_label: &gettext("Developer (demo server)"),
                        },
                        #[name = "dev_offline"]
                        gtk::CheckButton {
                            set_label: Some(&gettext("Simulate offline")),
                            #[watch]
                            #[block_signal(offline_toggled)]
                            set_active: model.simulate_offline,
                            connect_toggled[sender] => move |b| {
                                sender.input(SyncStatusInput::Simulate {
                                    fault: DevFault::Offline { offline: b.is_active() },
                                });
                            } @offline_toggled,
                        },
                        gtk::CheckButton {
                            set_label: Some(&gettext("Random server errors (30 %)")),
                            connect_toggled[sender] => move |b| {
                                let fraction = if b.is_active() { 0.3 } else { 0.0 };
                                sender.input(SyncStatusInput::Simulate {
                                    fault: DevFault::Random { fraction },
                                });
                            },
                        },
                        gtk::Box {
                            set_spacing: 6,
                            set_homogeneous: true,
                            gtk::Button {
                                set_widget_name: "dev-fail-500",
                                set_label: &gettext("Next 5 fail (500)"),
                                connect_clicked => SyncStatusInput::Simulate {
                                    fault: DevFault::FailNext { count: 5, status: 500 },
                                },
                            },
                            gtk::Button {
                                set_widget_name: "dev-gone-404",
                                set_label: &gettext("Next 5 gone (404)"),
                                connect_clicked => SyncStatusInput::Simulate {
                                    fault: DevFault::FailNext { count: 5, status: 404 },
                                },
                            },
                        },
                        gtk::Label {
                            set_widget_name: "dev-simulated",
                            set_xalign: 0.0,
                            set_wrap: true,
                            set_max_width_chars: 40,
                            add_css_class: "caption",
                            #[watch]
                            set_visible: model.simulated.is_some(),
                            #[watch]
                            set_label: model.simulated.as_deref().unwrap_or_default(),
                        },
                    },
                },
            },
        }
    }

    fn init(_init: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let model = SyncStatus {
            counts: Counts::default(),
            account: AccountState::Online,
            last_sync: None,
            held: 0,
            attention: TypedListView::new(),
            developer: false,
            simulate_offline: false,
            simulated: None,
        };
        let attention_view = &model.attention.view;
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: SyncStatusInput, sender: ComponentSender<Self>) {
        match message {
            SyncStatusInput::Counts { counts } => self.counts = counts,
            SyncStatusInput::Account { state } => self.account = state,
            SyncStatusInput::Held { rows } => self.held = rows,
            SyncStatusInput::Synced { at } => self.last_sync = Some(at),
            SyncStatusInput::Developer { enabled } => self.developer = enabled,
            SyncStatusInput::Attention { items } => {
                self.attention.clear();
                let s = sender.input_sender().clone();
                self.attention
                    .extend_from_iter(items.into_iter().map(|item| AttentionRow {
                        item,
                        sender: s.clone(),
                    }));
            }
            SyncStatusInput::AttentionAdded { item } => {
                self.remove_attention(&item.item_id);
                self.attention.append(AttentionRow {
                    item,
                    sender: sender.input_sender().clone(),
                });
            }
            SyncStatusInput::AttentionRemoved { item } => self.remove_attention(&item),
            SyncStatusInput::CopyDetails { detail } => {
                if let Some(display) = gtk::gdk::Display::default() {
                    display.clipboard().set_text(&detail);
                }
            }
            SyncStatusInput::Retry { item } => {
                let _ = sender.output(SyncStatusOutput::Retry { item });
            }
            SyncStatusInput::Discard { item } => {
                let _ = sender.output(SyncStatusOutput::Discard { item });
            }
            SyncStatusInput::RetryAll => {
                let _ = sender.output(SyncStatusOutput::RetryAll);
            }
            SyncStatusInput::SyncNow => {
                let _ = sender.output(SyncStatusOutput::SyncNow);
            }
            SyncStatusInput::SignIn => {
                let _ = sender.output(SyncStatusOutput::SignIn);
            }
            SyncStatusInput::Simulate { fault } => {
                if let DevFault::Offline { offline } = fault {
                    self.simulate_offline = offline;
                }
                self.simulated = Some(simulated_text(fault));
                let _ = sender.output(SyncStatusOutput::Simulate { fault });
            }
        }
    }
}
