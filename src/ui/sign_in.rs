//! The sign-in dialog: the kind of server (a switcher: Jellyfin or Plex), its address, and
//! for Jellyfin a user name and password, for Plex a token. The worker does the work; the
//! dialog shows its answer (a clear error, or closes on success).
//!
//! Plex asks for a server token rather than a plex.tv account: that keeps Playmark talking to
//! the server only (the CLI's `playmark login plex` does the same, through the same
//! [`crate::sign_in::sign_in_plex`]). The token entry is a password entry, so it is hidden
//! and never leaves the process except to that server.

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;

use super::i18n::gettext;
use super::sync_queue::Password;

/// The kind of server the dialog signs in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInKind {
    /// User name and password.
    Jellyfin,
    /// A server token.
    Plex,
}

impl SignInKind {
    /// The name of its page in the dialog's stack.
    pub fn page_name(self) -> &'static str {
        match self {
            SignInKind::Jellyfin => "jellyfin",
            SignInKind::Plex => "plex",
        }
    }
}

/// The dialog's model.
#[derive(Debug)]
pub struct SignIn {
    /// The chosen kind of server.
    pub kind: SignInKind,
    /// Shown.
    pub visible: bool,
    /// Waiting for the worker.
    pub busy: bool,
    /// The last error (plain text).
    pub error: Option<String>,
    fields: SignInFields,
}

/// Messages to the dialog.
#[derive(Debug)]
pub enum SignInInput {
    /// Open it.
    Show,
    /// Open it to sign in to this account again: its kind, address and user name filled
    /// in (the password or token is asked).
    ShowFor {
        kind: SignInKind,
        url: String,
        user: String,
    },
    /// Close it.
    Hide,
    /// The switcher chose another kind of server.
    Choose(SignInKind),
    /// The Sign in button (or Enter).
    Submit,
    /// The worker's answer: `None` = signed in.
    Finished { error: Option<String> },
}

/// What the dialog asks for.
#[derive(Debug)]
pub enum SignInOutput {
    /// Sign in with these.
    SignIn {
        url: String,
        user: String,
        password: Password,
    },
    /// Sign in to a Plex server with this token.
    SignInPlex { url: String, token: Password },
}

/// Named widgets.
#[derive(Debug)]
pub struct SignInFields {
    url: gtk::Entry,
    user: gtk::Entry,
    password: gtk::PasswordEntry,
    token: gtk::PasswordEntry,
    /// The stack of the two kinds' pages (set once the view is built).
    kinds: Option<gtk::Stack>,
}

#[relm4::component(pub)]
impl SimpleComponent for SignIn {
    type Init = ();
    type Input = SignInInput;
    type Output = SignInOutput;

    view! {
        adw::Window {
            set_modal: true,
            set_hide_on_close: true,
            set_default_width: 420,
            #[watch]
            set_title: Some(&match model.kind {
                SignInKind::Jellyfin => gettext("Sign in to Jellyfin"),
                SignInKind::Plex => gettext("Sign in to Plex"),
            }),
            #[watch]
            set_visible: model.visible,
            connect_close_request[sender] => move |_| {
                sender.input(SignInInput::Hide);
                gtk::glib::Propagation::Proceed
            },
            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,
                adw::HeaderBar {},
                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_spacing: 12,
                    set_margin_all: 18,
                    #[name = "kind_switcher"]
                    gtk::StackSwitcher {
                        set_halign: gtk::Align::Center,
                        set_stack: Some(&kind_stack),
                    },
                    #[local_ref]
                    url_entry -> gtk::Entry {
                        set_widget_name: "url",
                        set_placeholder_text: Some(&gettext("Server address, e.g. https://media.example.org")),
                        set_input_purpose: gtk::InputPurpose::Url,
                    },
                    #[name = "kind_stack"]
                    gtk::Stack {
                        set_vhomogeneous: false,
                        connect_visible_child_name_notify[sender] => move |stack| {
                            let kind = match stack.visible_child_name().as_deref() {
                                Some("plex") => SignInKind::Plex,
                                _ => SignInKind::Jellyfin,
                            };
                            sender.input(SignInInput::Choose(kind));
                        },
                        add_titled[Some("jellyfin"), "Jellyfin"] = &gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 12,
                            gtk::Label {
                                set_xalign: 0.0,
                                set_wrap: true,
                                set_label: &gettext("Your password is sent only to the server; Playmark keeps the access token it returns in a private file (mode 0600) in its data folder."),
                                add_css_class: "dim-label",
                            },
                            #[local_ref]
                            user_entry -> gtk::Entry {
                                set_widget_name: "user",
                                set_placeholder_text: Some(&gettext("User name")),
                            },
                            #[local_ref]
                            password_entry -> gtk::PasswordEntry {
                                set_widget_name: "password",
                                set_show_peek_icon: true,
                                set_property: ("placeholder-text", gettext("Password")),
                                connect_activate => SignInInput::Submit,
                            },
                        },
                        add_titled[Some("plex"), "Plex"] = &gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 12,
                            gtk::Label {
                                set_xalign: 0.0,
                                set_wrap: true,
                                set_label: &gettext("Playmark sends the token only to this server and keeps it in a private file (mode 0600) in its data folder. In Plex Web, “Get Info” → “View XML” on any item shows it at the end of the address (X-Plex-Token=…)."),
                                add_css_class: "dim-label",
                            },
                            #[local_ref]
                            token_entry -> gtk::PasswordEntry {
                                set_widget_name: "token",
                                set_show_peek_icon: true,
                                set_property: ("placeholder-text", gettext("Plex token")),
                                connect_activate => SignInInput::Submit,
                            },
                        },
                    },
                    #[name = "error"]
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        add_css_class: "error",
                        #[watch]
                        set_visible: model.error.is_some(),
                        // Plain text: it may quote server text.
                        #[watch]
                        set_label: model.error.as_deref().unwrap_or(""),
                    },
                    gtk::Button {
                        set_label: &gettext("Sign in"),
                        add_css_class: "suggested-action",
                        #[watch]
                        set_sensitive: !model.busy,
                        connect_clicked => SignInInput::Submit,
                    },
                },
            },
        }
    }

    fn init(_init: (), root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let fields = SignInFields {
            url: gtk::Entry::new(),
            user: gtk::Entry::new(),
            password: gtk::PasswordEntry::new(),
            token: gtk::PasswordEntry::new(),
            kinds: None,
        };
        let (url_entry, user_entry, password_entry, token_entry) = (
            fields.url.clone(),
            fields.user.clone(),
            fields.password.clone(),
            fields.token.clone(),
        );
        let mut model = SignIn {
            kind: SignInKind::Jellyfin,
            visible: false,
            busy: false,
            error: None,
            fields,
        };
        let (url_entry, user_entry, password_entry, token_entry) =
            (&url_entry, &user_entry, &password_entry, &token_entry);
        let widgets = view_output!();
        model.fields.kinds = Some(widgets.kind_stack.clone());
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: SignInInput, sender: ComponentSender<Self>) {
        match message {
            SignInInput::Show => {
                self.visible = true;
                self.error = None;
            }
            SignInInput::ShowFor { kind, url, user } => {
                self.kind = kind;
                if let Some(stack) = &self.fields.kinds {
                    stack.set_visible_child_name(kind.page_name());
                }
                self.fields.url.set_text(&url);
                self.fields.user.set_text(&user);
                self.fields.password.set_text("");
                self.fields.token.set_text("");
                self.visible = true;
                self.error = None;
                // What is left to type is the secret.
                match kind {
                    SignInKind::Jellyfin => self.fields.password.grab_focus(),
                    SignInKind::Plex => self.fields.token.grab_focus(),
                };
            }
            SignInInput::Hide => self.visible = false,
            SignInInput::Choose(kind) => {
                if kind != self.kind {
                    self.kind = kind;
                    self.error = None;
                }
            }
            SignInInput::Submit => {
                if self.busy {
                    return;
                }
                self.busy = true;
                self.error = None;
                let url = self.fields.url.text().to_string();
                let _ = sender.output(match self.kind {
                    SignInKind::Jellyfin => SignInOutput::SignIn {
                        url,
                        user: self.fields.user.text().to_string(),
                        password: Password(self.fields.password.text().to_string()),
                    },
                    SignInKind::Plex => SignInOutput::SignInPlex {
                        url,
                        token: Password(self.fields.token.text().to_string()),
                    },
                });
            }
            SignInInput::Finished { error } => {
                self.busy = false;
                match error {
                    None => {
                        self.visible = false;
                        self.fields.password.set_text("");
                        self.fields.token.set_text("");
                    }
                    Some(e) => self.error = Some(e),
                }
            }
        }
    }
}
