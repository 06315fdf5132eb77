//! The desktop app (relm4 + GTK 4 + libadwaita), behind the `gui` feature.
//!
//! Widget tree and components (one per file):
//!
//! ```text
//! App (AdwApplicationWindow)                      app.rs
//! ├── AdwHeaderBar
//! │   ├── AdwViewSwitcherTitle (Home | Shows | Movies; subtitle "Demo library" / server)
//! │   ├── search toggle (Ctrl+F)
//! │   ├── primary menu: Preferences, Keyboard Shortcuts, About   app_menu.rs
//! │   └── SyncStatus (MenuButton + popover)      sync_status.rs
//! │       └── needs-attention list (gtk::ListView, virtualised) with Retry / Discard
//! │   └── Sign in… / Sign out → SignIn dialog  sign_in.rs
//! │       (StackSwitcher: Jellyfin user + password | Plex token)
//! ├── notice strip: demo / offline / database notice, one line of fixed height (its space is
//! │   reserved, so a notice that comes or goes never moves what is under the pointer)
//! └── AdwToastOverlay (coalesced failure toasts; one toast for override notices, Use mine;
//!     the Undo toast of a bulk change                undo_toast.rs)
//!     └── Library                                   library.rs
//!         ├── GtkSearchBar → search results (FTS5 in the worker)
//!         ├── AdwViewStack: Home (Continue watching, Next up) | Shows (AdwLeaflet:
//!         │   series → seasons → episodes) | Movies
//!         ├── AdwViewSwitcherBar (narrow windows)
//!         └── every list: GtkListView of ItemRow (virtualised; data in one RowStore)
//!             item_row.rs, with the SyncBadge drawing of sync_badge.rs and the override
//!             notice ("Another device set 12:00 while you set 5:00 — kept 12:00", Use mine)
//! SyncQueue (relm4 Worker thread + tokio runtime; owns the Engine)  worker/
//! ```
//!
//! The UI never opens SQLite or sends HTTP: it sends [`worker::SyncQueueInput`]s to the
//! worker and renders the [`worker::SyncQueueOutput`]s it gets back. Pure helpers (badge look,
//! times, toast wording) are in `format.rs`.

pub mod a11y;
pub mod app;
pub mod app_menu;
pub mod downloads;
pub mod format;
pub mod i18n;
pub mod item_row;
pub mod library;
pub mod mirror_choices;
pub mod mirror_page;
pub mod preferences;
pub mod sign_in;
pub mod sync_badge;
pub mod sync_status;
pub mod toast;
pub mod undo_toast;
pub mod window_state;
pub mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Once;

use relm4::adw;
use relm4::gtk;
use relm4::gtk::{gdk, gio};

/// The reverse-DNS application id (also the GResource base path).
pub const APP_ID: &str = "org.playmark.Playmark";

/// Register the compiled GResource bundle and add its CSS and icons to the default display.
/// Safe to call more than once.
pub fn load_resources() {
    static REGISTER: Once = Once::new();
    static STYLE: Once = Once::new();
    REGISTER.call_once(|| {
        gio::resources_register_include!("playmark.gresource")
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot register the resources"));
    });
    if let Some(display) = gdk::Display::default() {
        STYLE.call_once(|| {
            gtk::IconTheme::for_display(&display).add_resource_path("/org/playmark/Playmark/icons");
            let css = gtk::CssProvider::new();
            css.load_from_resource("/org/playmark/Playmark/style.css");
            gtk::style_context_add_provider_for_display(
                &display,
                &css,
                gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
            );
        });
    }
}

/// Start the app on `data_dir`: the signed-in account there, or the bundled demo library.
pub fn run(data_dir: PathBuf) -> ExitCode {
    i18n::init();
    let mut flags = gio::ApplicationFlags::empty();
    // Single instance through D-Bus; without a session bus (e.g. a bare Xvfb) run anyway.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        flags |= gio::ApplicationFlags::NON_UNIQUE;
    }
    let app = adw::Application::builder()
        .application_id(APP_ID)
        .flags(flags)
        .build();
    let window_state = Some(data_dir.join("window-state"));
    relm4::RelmApp::from_app(app)
        .with_args(Vec::new())
        .run::<app::App>(app::AppInit {
            queue: worker::SyncQueueInit::DataDir { data_dir },
            window_state,
        });
    ExitCode::SUCCESS
}
