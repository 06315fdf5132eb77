//! The sign-in dialog: Jellyfin server address, user name, password. The worker does the work;
//! the dialog shows its answer (a clear error, or closes on success).

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;

use super::i18n::gettext;
use super::sync_queue::Password;

/// The dialog's model.
#[derive(Debug)]
pub struct SignIn {
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
    /// Close it.
    Hide,
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
}

/// Named widgets.
#[derive(Debug)]
pub struct SignInFields {
    url: gtk::Entry,
    user: gtk::Entry,
    password: gtk::PasswordEntry,
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
            set_title: Some(&gettext("Sign in to Jellyfin")),
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
                    gtk::Label {
                        set_xalign: 0.0,
                        set_wrap: true,
                        set_label: &gettext("Your password is sent only to the server; Playmark keeps the access token it returns in a private file (mode 0600) in its data folder."),
                        add_css_class: "dim-label",
                    },
                    #[local_ref]
                    url_entry -> gtk::Entry {
                        set_placeholder_text: Some(&gettext("Server address, e.g. https://media.example.org")),
                        set_input_purpose: gtk::InputPurpose::Url,
                    },
                    #[local_ref]
                    user_entry -> gtk::Entry {
                        set_placeholder_text: Some(&gettext("User name")),
                    },
                    #[local_ref]
                    password_entry -> gtk::PasswordEntry {
                        set_show_peek_icon: true,
                        set_property: ("placeholder-text", gettext("Password")),
                        connect_activate => SignInInput::Submit,
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
        };
        let (url_entry, user_entry, password_entry) = (
            fields.url.clone(),
            fields.user.clone(),
            fields.password.clone(),
        );
        let model = SignIn {
            visible: false,
            busy: false,
            error: None,
            fields,
        };
        let (url_entry, user_entry, password_entry) = (&url_entry, &user_entry, &password_entry);
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: SignInInput, sender: ComponentSender<Self>) {
        match message {
            SignInInput::Show => {
                self.visible = true;
                self.error = None;
            }
            SignInInput::Hide => self.visible = false,
            SignInInput::Submit => {
                if self.busy {
                    return;
                }
                self.busy = true;
                self.error = None;
                let _ = sender.output(SignInOutput::SignIn {
                    url: self.fields.url.text().to_string(),
                    user: self.fields.user.text().to_string(),
                    password: Password(self.fields.password.text().to_string()),
                });
            }
            SignInInput::Finished { error } => {
                self.busy = false;
                match error {
                    None => {
                        self.visible = false;
                        self.fields.password.set_text("");
                    }
                    Some(e) => self.error = Some(e),
                }
            }
        }
    }
}
