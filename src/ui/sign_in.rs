//! The sign-in dialog: the kind of server (a switcher: Jellyfin or Plex), its address, and
//! for Jellyfin a user name and password, for Plex a token. The worker does the work; the
//! dialog shows its answer (a clear error, or closes on success).
//!
//! Plex asks for a server token rather than a plex.tv account: that keeps Playmark talking to
//! the server only (the CLI's `playmark login plex` does the same, through the same
//! [`crate::sign_in::sign_in_plex`]). The token entry is a password entry, so it is hidden
//! and never leaves the process except to that server (and once to plex.tv, which says whose
//! token it is).
//!
//! A GNOME dialog: about 440 px wide (long labels wrap), Escape closes it, Enter in any field
//! signs in (the Sign in button is the default widget). Where the token will be kept is said as
//! the token store says it ([`SignInInput::TokenStorage`], from the worker): the keyring, or a
//! private file where no keyring answers.

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;

use super::i18n::gettext;
use super::worker::Password;

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

/// Where the token of a sign-in is kept, as the token store says
/// ([`crate::store::tokens::keyring_on_bus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStorage {
    /// The keyring (a Secret Service is on the session bus).
    Keyring,
    /// A private file in Playmark's data folder (no keyring answers).
    File,
}

/// The dialog's width (GNOME's dialogs are about this wide); its long labels wrap.
pub const DIALOG_WIDTH: i32 = 440;

/// Characters after which the dialog's long labels wrap (keeps its natural width small).
const WRAP_CHARS: i32 = 48;

/// What the dialog says about the token of `kind`: where it goes and where it is kept
/// (`None`: the token store has not answered yet; the words then name no place).
pub fn token_note(kind: SignInKind, storage: Option<TokenStorage>) -> String {
    match (kind, storage) {
        (SignInKind::Jellyfin, Some(TokenStorage::Keyring)) => gettext(
            "Your password is sent only to the server. Playmark keeps the access token it returns in your keyring (Passwords and Keys).",
        ),
        (SignInKind::Jellyfin, Some(TokenStorage::File)) => gettext(
            "Your password is sent only to the server. No keyring is available, so Playmark keeps the access token it returns in a file in its data folder that only you can read.",
        ),
        (SignInKind::Jellyfin, None) => gettext(
            "Your password is sent only to the server. Playmark keeps the access token it returns on this computer.",
        ),
        (SignInKind::Plex, storage) => {
            let kept = match storage {
                Some(TokenStorage::Keyring) => gettext(
                    "Playmark sends the token to this server, and once to plex.tv to learn whose it is. It keeps the token in your keyring (Passwords and Keys).",
                ),
                Some(TokenStorage::File) => gettext(
                    "Playmark sends the token to this server, and once to plex.tv to learn whose it is. No keyring is available, so it keeps the token in a file in its data folder that only you can read.",
                ),
                None => gettext(
                    "Playmark sends the token to this server, and once to plex.tv to learn whose it is. It keeps the token on this computer.",
                ),
            };
            format!(
                "{kept} {}",
                gettext("In Plex Web, “Get Info” → “View XML” on any item shows it at the end of the address (X-Plex-Token=…).")
            )
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
    /// Where the token will be kept (`None` until the worker says).
    pub storage: Option<TokenStorage>,
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
    /// Where the token store keeps tokens now (the worker asks it when the dialog opens).
    TokenStorage(TokenStorage),
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
            set_default_width: DIALOG_WIDTH,
            set_default_widget: Some(&submit),
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
                        set_activates_default: true,
                    },
                    #[name = "kind_stack"]
                    gtk::Stack {
                        // Only the page on screen is measured. (A hidden page is measured
                        // width-for-its-smallest-height, which puts its wrapping label on one
                        // line: that made the dialog 1,400 px wide.)
                        set_vhomogeneous: false,
                        set_hhomogeneous: false,
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
                                set_widget_name: "token-note",
                                set_xalign: 0.0,
                                set_wrap: true,
                                set_max_width_chars: WRAP_CHARS,
                                #[watch]
                                set_label: &token_note(SignInKind::Jellyfin, model.storage),
                                add_css_class: "dim-label",
                            },
                            #[local_ref]
                            user_entry -> gtk::Entry {
                                set_widget_name: "user",
                                set_placeholder_text: Some(&gettext("User name")),
                                set_activates_default: true,
                            },
                            #[local_ref]
                            password_entry -> gtk::PasswordEntry {
                                set_widget_name: "password",
                                set_show_peek_icon: true,
                                set_property: ("placeholder-text", gettext("Password")),
                                set_activates_default: true,
                            },
                        },
                        add_titled[Some("plex"), "Plex"] = &gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 12,
                            gtk::Label {
                                set_widget_name: "token-note",
                                set_xalign: 0.0,
                                set_wrap: true,
                                set_max_width_chars: WRAP_CHARS,
                                #[watch]
                                set_label: &token_note(SignInKind::Plex, model.storage),
                                add_css_class: "dim-label",
                            },
                            #[local_ref]
                            token_entry -> gtk::PasswordEntry {
                                set_widget_name: "token",
                                set_show_peek_icon: true,
                                set_property: ("placeholder-text", gettext("Plex token")),
                                set_activates_default: true,
                            },
                        },
                    },
                    #[name = "error"]
                    gtk::Label {
                        set_widget_name: "sign-in-error",
                        set_xalign: 0.0,
                        set_wrap: true,
                        set_wrap_mode: gtk::pango::WrapMode::WordChar,
                        set_max_width_chars: WRAP_CHARS,
                        add_css_class: "error",
                        #[watch]
                        set_visible: model.error.is_some(),
                        // Plain text: it may quote server text.
                        #[watch]
                        set_label: model.error.as_deref().unwrap_or(""),
                    },
                    #[name = "submit"]
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
            storage: None,
            fields,
        };
        let (url_entry, user_entry, password_entry, token_entry) =
            (&url_entry, &user_entry, &password_entry, &token_entry);
        let widgets = view_output!();
        model.fields.kinds = Some(widgets.kind_stack.clone());
        // Escape closes the dialog (as a GtkDialog's does): the close request hides it.
        let keys = gtk::ShortcutController::new();
        keys.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string("Escape"),
            Some(gtk::CallbackAction::new(|widget, _| {
                if let Some(window) = widget.downcast_ref::<gtk::Window>() {
                    window.close();
                }
                gtk::glib::Propagation::Stop
            })),
        ));
        root.add_controller(keys);
        // Typing starts in the first empty field (the address; after "Sign in" for an account
        // whose address and name are filled in, the password or token).
        let fields = (
            model.fields.url.clone(),
            model.fields.user.clone(),
            model.fields.password.clone(),
            model.fields.token.clone(),
        );
        root.connect_map(move |_| {
            let (url, user, password, token) = &fields;
            if url.text().is_empty() {
                url.grab_focus();
            } else if user.is_mapped() && user.text().is_empty() {
                user.grab_focus();
            } else if password.is_mapped() {
                password.grab_focus();
            } else if token.is_mapped() {
                token.grab_focus();
            }
        });
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
            SignInInput::TokenStorage(storage) => self.storage = Some(storage),
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
