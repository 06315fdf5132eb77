//! The sign-in dialog, the primary menu (Keyboard Shortcuts, About), the folder chooser of
//! Preferences and the demo's fault buttons, driven as a person would: real clicks and key
//! presses through the X server (`xdotool`) under Xvfb
//! (`DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/x xvfb-run -a cargo test --test gui ui_dialogs::`),
//! with the real worker, a real SQLite file and the demo server over loopback.
#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used)]

use crate::common;
use common::gtk::close_all_windows;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::gtk::{descendants, named, pump, wait_for};
use common::xdo;
use playmark::demo::{DemoLibrary, DemoServer, DEMO_PASSWORD, DEMO_USER};
use playmark::ui::sign_in::SignInKind;
use playmark::ui::worker::LibrarySource;
use relm4::adw;
use relm4::gtk;
use relm4::gtk::prelude::*;
use relm4::prelude::*;

impl Fixture {
    fn start() -> Fixture {
        // Windows left by earlier tests of this binary go: without a window manager every
        // window sits at the top left, and a click must land on this test's.
        close_all_windows();
        let f = common::gtk::Fixture::launch(DemoLibrary::seeded().without_progress(), None);
        wait_for("the library", || f.app.model().source.is_some());
        // A title of its own, to find its X window for key presses.
        f.app
            .widget()
            .set_title(Some(&format!("Playmark (test {})", std::process::id())));
        Fixture(f)
    }

    fn window(&self) -> gtk::Widget {
        self.app.widget().clone().upcast()
    }

    fn dialog(&self) -> adw::Window {
        self.app.model().sign_in.widget().clone()
    }

    /// The visible button labelled `label` in the main window.
    fn button(&self, label: &str) -> gtk::Button {
        button_in(&self.window(), label)
    }

    /// Open the sign-in dialog with a click on the header's "Sign in…".
    fn open_sign_in(&self) -> adw::Window {
        xdo::click(&self.button("Sign in…"));
        let dialog = self.dialog();
        wait_for("the sign-in dialog", || {
            dialog.is_mapped() && dialog.width() > 0
        });
        dialog
    }
}

common::gtk::fixture_of_file!(
    /// The common fixture (the demo server, the data folder, the app), its window titled for
    /// xdotool.
    Fixture
);

impl Drop for Fixture {
    /// The test's windows go (a later test's clicks must not land on them: without a window
    /// manager they all sit at the top left of the screen).
    fn drop(&mut self) {
        close_all_windows();
    }
}

fn button_in(root: &gtk::Widget, label: &str) -> gtk::Button {
    descendants(root)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Button>().ok())
        .find(|b| b.label().as_deref() == Some(label) && b.is_visible())
        .unwrap_or_else(|| panic!("a visible button {label:?}"))
}

/// The mapped label whose text is `text` below `root`.
fn label_in(root: &gtk::Widget, text: &str) -> Option<gtk::Label> {
    descendants(root)
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::Label>().ok())
        .find(|l| l.text() == text && l.is_mapped())
}

/// Click the dialog's tab `name` (Jellyfin, Plex) and wait for its page.
fn click_tab(f: &Fixture, dialog: &adw::Window, name: &str, kind: SignInKind) {
    let tab = descendants(&dialog.clone().upcast())
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::ToggleButton>().ok())
        .find(|b| label_in(&b.clone().upcast(), name).is_some())
        .unwrap_or_else(|| panic!("the {name} tab"));
    xdo::click(&tab);
    wait_for("the page", || f.app.model().sign_in.model().kind == kind);
}

/// The dialog's entry named `name` (url, user).
fn entry(dialog: &adw::Window, name: &str) -> gtk::Widget {
    named(&dialog.clone().upcast(), name).pop().unwrap()
}

/// The words about the token on the dialog's page on screen.
fn token_words(dialog: &adw::Window) -> String {
    named(&dialog.clone().upcast(), "token-note")
        .into_iter()
        .filter(|w| w.is_mapped())
        .filter_map(|w| w.downcast::<gtk::Label>().ok())
        .map(|l| l.label().to_string())
        .next()
        .unwrap_or_default()
}

/// Focus `widget` with a click and type `text` over what it holds.
fn type_into(dialog: &adw::Window, widget: &gtk::Widget, text: &str) {
    xdo::click(widget);
    wait_for("the field focused", || {
        gtk::prelude::GtkWindowExt::focus(dialog)
            .is_some_and(|focus| &focus == widget || focus.is_ancestor(widget))
    });
    xdo::press(dialog, "ctrl+a");
    xdo::type_text(dialog, text);
}

/// The dialog is as wide as a GNOME dialog on both tabs (it was 1,401 px on the Jellyfin tab,
/// wider than a 1280-px screen), Escape closes it, and Enter in the address field signs in:
/// first with an address that lacks `http://` (the sentence that says to add it), then right.
/// The words about the token say where it goes: with no keyring on the bus, a file only the
/// person can read — and that is where it went.
#[gtk::test]
fn the_sign_in_dialog_fits_closes_on_escape_and_signs_in_on_enter() {
    let f = Fixture::start();
    let dialog = f.open_sign_in();
    let sizes = |tab: &str| {
        pump();
        let surface = dialog.surface().unwrap();
        let (width, screen) = (dialog.width(), surface.width());
        eprintln!("{tab}: dialog {width} px, its window {screen} px");

        assert!(screen <= 1280, "{tab}: the window is {screen} px wide");
        assert!(width <= 600, "{tab}: the dialog is {width} px wide");
    };
    sizes("Jellyfin");
    click_tab(&f, &dialog, "Plex", SignInKind::Plex);
    sizes("Plex");

    // Escape closes it.
    xdo::press(&dialog, "Escape");
    wait_for("Escape closes the dialog", || !dialog.is_visible());

    // Open again, on the Jellyfin tab: the words about the token are the token store's.
    let dialog = f.open_sign_in();
    click_tab(&f, &dialog, "Jellyfin", SignInKind::Jellyfin);
    wait_for("the words about the token", || {
        token_words(&dialog)
            == "Your password is sent only to the server. No keyring is available, so Playmark \
                keeps the access token it returns in a file in its data folder that only you \
                can read."
    });

    // Enter in the address field submits: an address without http:// is explained.
    let url = entry(&dialog, "url");
    type_into(&dialog, &url, "media.local");
    xdo::press(&dialog, "Return");
    let error = || f.app.model().sign_in.model().error.clone();
    wait_for("the address explained", || error().is_some());
    assert_eq!(
        error().unwrap(),
        "That server address doesn't look right: add http:// or https:// to the start of \"media.local\""
    );
    type_into(&dialog, &entry(&dialog, "user"), DEMO_USER);
    type_into(&dialog, &entry(&dialog, "password"), DEMO_PASSWORD);
    type_into(&dialog, &url, &f.server.url());
    xdo::press(&dialog, "Return");
    wait_for("signed in", || {
        matches!(f.app.model().source, Some(LibrarySource::Account { .. }))
    });
    wait_for("the dialog closed", || !dialog.is_visible());
    // Where the words said: a private file in the data folder.
    use std::os::unix::fs::PermissionsExt;
    let token = std::fs::read_dir(f._dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("token-"))
        .expect("a token file");
    assert_eq!(
        token.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// The test's name as the test binary knows it: its module path without the crate's name
/// (`ui_dialogs::NAME` in the `gui` binary).
fn test_path(test: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{test}"),
        None => test.to_owned(),
    }
}

/// Set in the child process: the name of the test to run for real.
const CHILD: &str = "PLAYMARK_UI_KEYRING_TEST";

/// True in the child (run the test's body); in the parent, run this test binary's `test` in a
/// child on its own session bus with an unlocked gnome-keyring (as `tests/keyring.rs` does),
/// on the same X display, check that it passed, and return false.
fn in_keyring_session(test: &str) -> bool {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        return true;
    }
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["120", "dbus-run-session", "--", "sh", "-c"])
        .arg(
            "printf playmark-test | gnome-keyring-daemon --unlock --components=secrets \
             >/dev/null && exec \"$@\"",
        )
        .arg("sh")
        .arg(std::env::current_exe().unwrap())
        .args([
            &test_path(test),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, test)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("GTK_A11Y", "none")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .expect("dbus-run-session and gnome-keyring-daemon (scripts/install-deps.sh)");
    let all = common::bin::text(&out);
    assert!(out.status.success(), "{test} on its own bus failed:\n{all}");
    assert!(all.contains("1 passed"), "{test} did not run:\n{all}");
    false
}

/// With a keyring on the session bus the dialog says the token is kept in the keyring (not "a
/// private file (mode 0600)"), for Jellyfin and Plex, and after Enter that is where it is: in
/// the keyring, no token file.
#[gtk::test]
fn with_a_keyring_the_dialog_says_so_and_the_token_goes_there() {
    if !in_keyring_session("with_a_keyring_the_dialog_says_so_and_the_token_goes_there") {
        return;
    }
    let f = Fixture::start();
    let dialog = f.open_sign_in();
    wait_for("the words about the token", || {
        token_words(&dialog)
            == "Your password is sent only to the server. Playmark keeps the access token it \
                returns in your keyring (Passwords and Keys)."
    });
    click_tab(&f, &dialog, "Plex", SignInKind::Plex);
    wait_for("the words about the Plex token", || {
        token_words(&dialog).starts_with(
            "Playmark sends the token to this server, and once to plex.tv to learn whose it is. \
             It keeps the token in your keyring (Passwords and Keys).",
        )
    });
    click_tab(&f, &dialog, "Jellyfin", SignInKind::Jellyfin);
    type_into(&dialog, &entry(&dialog, "url"), &f.server.url());
    type_into(&dialog, &entry(&dialog, "user"), DEMO_USER);
    type_into(&dialog, &entry(&dialog, "password"), DEMO_PASSWORD);
    xdo::press(&dialog, "Return");
    wait_for("signed in", || {
        matches!(f.app.model().source, Some(LibrarySource::Account { .. }))
    });
    let store =
        playmark::store::Store::open(&playmark::store::database_path(f._dir.path())).unwrap();
    let account = store.account().unwrap().unwrap();
    assert_eq!(account.kind, playmark::model::ServerKind::Jellyfin);
    // (The demo library's throwaway token stays in its file: never the keyring.)
    let file = f._dir.path().join(format!("token-{}", account.id));
    assert!(!file.exists(), "no token file with a keyring: {file:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = rt.block_on(async {
        let tokens = playmark::store::tokens::TokenStore::open(f._dir.path())
            .await
            .unwrap();
        assert_eq!(
            tokens.location(&account),
            playmark::store::tokens::TokenLocation::Keyring
        );
        tokens.load(&account).await.unwrap()
    });
    assert!(
        token.is_some_and(|t| !t.is_empty()),
        "the token is in the keyring"
    );
}

/// The visible toplevel window of type `T`.
fn toplevel<T: IsA<gtk::Window> + IsA<gtk::Widget>>() -> Option<T> {
    gtk::Window::list_toplevels()
        .into_iter()
        .filter_map(|w| w.downcast::<T>().ok())
        .find(|w| w.upcast_ref::<gtk::Widget>().is_visible())
}

/// The primary menu holds Keyboard Shortcuts and About besides Preferences: a click on each
/// opens its window; Ctrl+? opens the shortcuts too, which list the app's real shortcuts.
#[gtk::test]
fn the_main_menu_opens_keyboard_shortcuts_and_about() {
    let f = Fixture::start();
    let menu = descendants(&f.window())
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::MenuButton>().ok())
        .find(|b| b.tooltip_text().as_deref() == Some("Main menu"))
        .unwrap();
    let open_menu_entry = |text: &str| {
        xdo::click(&menu);
        let popover = menu.popover().unwrap().upcast::<gtk::Widget>();
        wait_for("the menu", || popover.is_mapped());
        let label = descendants(&popover)
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Label>().ok())
            .find(|l| l.text() == text)
            .unwrap_or_else(|| panic!("{text:?} in the menu"));
        xdo::click(&label);
    };

    open_menu_entry("About Playmark");
    wait_for("the About window", || {
        toplevel::<adw::AboutWindow>().is_some()
    });
    let about = toplevel::<adw::AboutWindow>().unwrap();
    assert_eq!(about.application_name(), "Playmark");
    assert_eq!(about.version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(about.license_type(), gtk::License::Gpl30);
    about.close();
    wait_for("About closed", || toplevel::<adw::AboutWindow>().is_none());

    open_menu_entry("Keyboard Shortcuts");
    wait_for("the shortcuts window", || {
        toplevel::<gtk::ShortcutsWindow>().is_some()
    });
    let shortcuts = toplevel::<gtk::ShortcutsWindow>().unwrap();
    let listed: Vec<String> = descendants(&shortcuts.clone().upcast())
        .into_iter()
        .filter_map(|w| w.downcast::<gtk::ShortcutsShortcut>().ok())
        .map(|s| s.property::<String>("accelerator"))
        .collect();
    for accel in [
        "<Control>comma",
        "<Control>question",
        "<Control>f",
        "<Alt>Left Escape BackSpace",
        "Return",
        "Escape",
    ] {
        assert!(listed.iter().any(|l| l == accel), "{accel} in {listed:?}");
    }
    shortcuts.close();
    wait_for("shortcuts closed", || {
        toplevel::<gtk::ShortcutsWindow>().is_none()
    });

    // Ctrl+? from the main window.
    xdo::press(f.app.widget(), "ctrl+question");
    wait_for("Ctrl+? opens the shortcuts", || {
        toplevel::<gtk::ShortcutsWindow>().is_some()
    });
    toplevel::<gtk::ShortcutsWindow>().unwrap().close();
    pump();
}

/// One request to the demo server, answered with its HTTP status.
fn status_of_a_request(server: &DemoServer) -> u16 {
    let url = url::Url::parse(&server.url()).unwrap();
    let mut s =
        std::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
    s.write_all(b"GET /System/Info/Public HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {reply:?}"))
}

/// The demo's fault buttons say what they armed, and "Next 5 fail (500)" after "Next 5 gone
/// (404)" (one 404 used) arms five 500s: the next request is a 500, not a leftover 404.
#[gtk::test]
fn the_fault_buttons_say_what_they_armed_and_500_replaces_leftover_404s() {
    let f = Fixture::start();
    let status = f.app.model().status.widget().clone();
    xdo::click(&status);
    let popover = status.popover().unwrap().upcast::<gtk::Widget>();
    let developer = named(&popover, "developer").pop().unwrap();
    wait_for("the developer controls", || developer.is_mapped());

    xdo::click(&button_in(&developer, "Next 5 gone (404)"));
    let said = "The next 5 requests to the demo server fail with 404 (gone).";
    wait_for("the 404s said", || label_in(&developer, said).is_some());
    wait_for("five 404s armed", || f.server.armed_faults() > 0);
    assert_eq!(status_of_a_request(&f.server), 404);

    xdo::click(&button_in(&developer, "Next 5 fail (500)"));
    let said = "The next 5 requests to the demo server fail with 500 (server error).";
    wait_for("the 500s said", || label_in(&developer, said).is_some());
    assert!(
        (1..=5).contains(&f.server.armed_faults()),
        "the 500s replace the leftover 404s: {} armed",
        f.server.armed_faults()
    );
    assert_eq!(status_of_a_request(&f.server), 500);
    assert_eq!(status_of_a_request(&f.server), 500);
}

/// The download folder has a folder chooser (select-folder mode): the folder chosen there is
/// shown and saved, as if typed.
#[gtk::test]
fn the_download_folder_is_chosen_in_a_folder_chooser() {
    use playmark::store::{database_path, Store};
    let f = Fixture::start();
    xdo::press(f.app.widget(), "ctrl+comma");
    let prefs = f.app.model().preferences.model().window.clone();
    wait_for("the preferences", || {
        prefs.is_mapped() && f.app.model().preferences.model().state().is_some()
    });
    let choose = named(&prefs.clone().upcast(), "choose-folder")
        .pop()
        .expect("a folder button on the download folder's row");
    // The page is taller than the window. On a loaded machine a click can land before the
    // scroll has moved the button (CI saw the chooser never open): the click is tried again,
    // three times at most, each given 10 s.
    let mut opened = false;
    for _ in 0..3 {
        xdo::scroll_into_view(&choose);
        xdo::click(&choose);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < until && toplevel::<gtk::FileChooserDialog>().is_none() {
            common::gtk::pump();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if toplevel::<gtk::FileChooserDialog>().is_some() {
            opened = true;
            break;
        }
    }
    assert!(opened, "the folder chooser did not open after three clicks");
    let chooser = toplevel::<gtk::FileChooserDialog>().unwrap();
    assert_eq!(chooser.action(), gtk::FileChooserAction::SelectFolder);
    let folder = tempfile::tempdir().unwrap();
    chooser
        .set_current_folder(Some(&gtk::gio::File::for_path(folder.path())))
        .unwrap();
    // The chooser moves to the folder as it loads it; "Select" takes the folder it is in.
    wait_for("the chooser in the folder", || {
        chooser
            .current_folder()
            .and_then(|f| f.path())
            .is_some_and(|p| p == folder.path())
            && chooser
                .file()
                .and_then(|f| f.path())
                .is_some_and(|p| p == folder.path())
    });
    chooser.response(gtk::ResponseType::Accept);
    let chosen = folder.path().to_string_lossy().to_string();
    let row = f.app.model().preferences.model().download_folder.clone();
    wait_for("the folder shown", || row.text() == chosen.as_str());
    let data: &Path = f._dir.path();
    wait_for("the folder saved", || {
        Store::open(&database_path(data))
            .unwrap()
            .settings()
            .unwrap()
            .download_folder
            .is_some_and(|p| p == folder.path())
    });
    prefs.close();
    pump();
}
