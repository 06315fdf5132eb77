//! The primary menu of the header bar (Preferences, Keyboard Shortcuts, About Playmark), its
//! window actions and their shortcuts.
//!
//! - `win.preferences` (Ctrl+,): the Preferences window (the app opens it).
//! - `win.show-help-overlay` (Ctrl+?): a `GtkShortcutsWindow` listing the shortcuts the app
//!   really has ([`shortcut_groups`]); GTK 4.8 builds one only from GtkBuilder XML, so it is built
//!   from [`shortcuts_xml`].
//! - `win.about`: an `AdwAboutWindow` (libadwaita 1.2).

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::gtk::glib;

use super::i18n::gettext;
use super::APP_ID;

/// One group of the Keyboard Shortcuts window: its title and its shortcuts.
#[derive(Debug, Clone)]
pub struct ShortcutGroup {
    /// The group's title.
    pub title: String,
    /// (accelerators, title, subtitle): accelerators in GTK's syntax, several separated by a
    /// space being alternatives.
    pub shortcuts: Vec<(&'static str, String, Option<String>)>,
}

/// Every keyboard shortcut of the app, translated. Keep in step with the code that installs
/// them: Ctrl+, and Ctrl+? here ([`install`]), Ctrl+F and Back in `library.rs`, Enter and
/// Escape in `sign_in.rs`.
pub fn shortcut_groups() -> Vec<ShortcutGroup> {
    vec![
        ShortcutGroup {
            title: gettext("General"),
            shortcuts: vec![
                ("<Control>comma", gettext("Preferences"), None),
                ("<Control>question", gettext("Keyboard shortcuts"), None),
            ],
        },
        ShortcutGroup {
            title: gettext("Library"),
            shortcuts: vec![
                (
                    "<Control>f",
                    gettext("Search"),
                    Some(gettext("Or start typing anywhere in the window")),
                ),
                (
                    "<Alt>Left Escape BackSpace",
                    gettext("Back"),
                    Some(gettext(
                        "From the episodes to the seasons, and to the series",
                    )),
                ),
            ],
        },
        ShortcutGroup {
            title: gettext("Sign-in dialog"),
            shortcuts: vec![
                (
                    "Return",
                    gettext("Sign in"),
                    Some(gettext("From any field of the dialog")),
                ),
                ("Escape", gettext("Close the dialog"), None),
            ],
        },
    ]
}

/// The GtkBuilder XML of the Keyboard Shortcuts window (texts translated and escaped).
pub fn shortcuts_xml() -> String {
    let esc = |s: &str| glib::markup_escape_text(s).to_string();
    let mut groups = String::new();
    for group in shortcut_groups() {
        let mut items = String::new();
        for (accel, title, subtitle) in &group.shortcuts {
            let subtitle = subtitle
                .as_deref()
                .map(|s| format!(r#"<property name="subtitle">{}</property>"#, esc(s)))
                .unwrap_or_default();
            items.push_str(&format!(
                r#"<child><object class="GtkShortcutsShortcut"><property name="accelerator">{}</property><property name="title">{}</property>{subtitle}</object></child>"#,
                esc(accel),
                esc(title),
            ));
        }
        groups.push_str(&format!(
            r#"<child><object class="GtkShortcutsGroup"><property name="title">{}</property>{items}</object></child>"#,
            esc(&group.title),
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><interface><object class="GtkShortcutsWindow" id="shortcuts"><property name="modal">true</property><child><object class="GtkShortcutsSection"><property name="section-name">shortcuts</property><property name="max-height">12</property>{groups}</object></child></object></interface>"#
    )
}

/// The Keyboard Shortcuts window (`None` only if GTK refuses the XML, which a test rules out).
pub fn shortcuts_window() -> Option<gtk::ShortcutsWindow> {
    let builder = gtk::Builder::from_string(&shortcuts_xml());
    builder.object::<gtk::ShortcutsWindow>("shortcuts")
}

/// The primary menu: Preferences, Keyboard Shortcuts, About Playmark (GNOME's order).
pub fn primary_menu() -> gtk::gio::Menu {
    let menu = gtk::gio::Menu::new();
    let section = gtk::gio::Menu::new();
    let item = |label: &str, action: &str, accel: Option<&str>| {
        let item = gtk::gio::MenuItem::new(Some(label), Some(action));
        if let Some(accel) = accel {
            item.set_attribute_value("accel", Some(&accel.to_variant()));
        }
        item
    };
    section.append_item(&item(
        &gettext("_Preferences"),
        "win.preferences",
        Some("<Control>comma"),
    ));
    section.append_item(&item(
        &gettext("_Keyboard Shortcuts"),
        "win.show-help-overlay",
        Some("<Control>question"),
    ));
    section.append_item(&item(&gettext("_About Playmark"), "win.about", None));
    menu.append_section(None, &section);
    menu
}

/// The About window.
pub fn about_window(parent: &impl IsA<gtk::Window>) -> adw::AboutWindow {
    let about = adw::AboutWindow::builder()
        .application_name(gettext("Playmark"))
        .application_icon(APP_ID)
        .version(env!("CARGO_PKG_VERSION"))
        .comments(gettext(
            "Keeps playback progress and watched status in sync with Jellyfin and Plex, online or offline, and shows where each change stands.",
        ))
        .license_type(gtk::License::Gpl30)
        .developer_name(gettext("The Playmark authors"))
        // Translators: your names, one per line, for the About window's credits.
        .translator_credits(gettext("translator-credits"))
        .modal(true)
        .transient_for(parent)
        .build();
    if about.translator_credits() == "translator-credits" {
        about.set_translator_credits("");
    }
    about
}

/// Install the window actions of the menu (`win.preferences` runs `preferences`) and their
/// shortcuts, and the Keyboard Shortcuts window as the window's help overlay.
pub fn install(window: &adw::ApplicationWindow, preferences: impl Fn() + 'static) {
    let action = gtk::gio::SimpleAction::new("preferences", None);
    action.connect_activate(move |_, _| preferences());
    window.add_action(&action);
    let about = gtk::gio::SimpleAction::new("about", None);
    let weak = window.downgrade();
    about.connect_activate(move |_, _| {
        if let Some(window) = weak.upgrade() {
            about_window(&window).present();
        }
    });
    window.add_action(&about);
    // `set_help_overlay` adds `win.show-help-overlay`.
    match shortcuts_window() {
        Some(shortcuts) => {
            shortcuts.set_transient_for(Some(window));
            window.set_help_overlay(Some(&shortcuts));
        }
        None => tracing::error!("the keyboard shortcuts window could not be built"),
    }
    let shortcuts = gtk::ShortcutController::new();
    shortcuts.set_scope(gtk::ShortcutScope::Global);
    for (trigger, action) in [
        ("<Control>comma", "win.preferences"),
        ("<Control>question", "win.show-help-overlay"),
    ] {
        shortcuts.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string(trigger),
            Some(gtk::NamedAction::new(action)),
        ));
    }
    window.add_controller(shortcuts);
}
