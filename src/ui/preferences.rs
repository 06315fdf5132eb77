//! The Preferences window (`AdwPreferencesWindow`, from the primary menu or Ctrl+,): the
//! settings of `playmark settings` — the conflict policy of the running account, the pull
//! interval, the watched thresholds, the download folder and whether downloads go on after the
//! window is closed. The download folder is typed, or chosen with the folder button (a
//! `GtkFileChooserNative` in select-folder mode: the portal's chooser where there is one;
//! `GtkFileDialog` needs GTK 4.10).
//!
//! Values apply at once (no Apply button): each change goes to the
//! [`SyncQueue`](super::worker::SyncQueue) worker ([`PreferencesOutput`]), which saves it
//! with the same validation as the CLI and answers with the saved settings or a refusal. A
//! refused value stays on screen, marked as an error with the reason, and is not saved.
//!
//! The window never touches the database itself.

use std::cell::Cell;
use std::rc::Rc;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;

use super::i18n::{gettext, tr};
use crate::store::{SettingKey, Settings};
use crate::sync::Policy;

/// What the window shows: the saved settings and the running account's policy.
#[derive(Debug, Clone)]
pub struct PreferencesState {
    /// The global settings as saved.
    pub settings: Settings,
    /// The running account's conflict policy and its name (`None`: no account runs yet).
    pub policy: Option<(Policy, String)>,
}

/// Messages to the window.
#[derive(Debug)]
pub enum PreferencesInput {
    /// Present the window (the app asks the worker for the settings at the same time).
    Show,
    /// The saved settings (on open, and after each saved change).
    Load(PreferencesState),
    /// The worker refused a value: show why on its row.
    Refused { key: SettingKey, message: String },
    /// A row changed (from the widgets).
    Changed { key: SettingKey, value: String },
    /// The policy row changed (from the widgets).
    PolicyChanged { index: u32 },
    /// The download folder's button: open the folder chooser.
    ChooseFolder,
    /// The folder chooser answered (`None`: cancelled).
    FolderChosen(Option<std::path::PathBuf>),
    /// For the Mirror page.
    Mirror(super::worker::mirror::MirrorReport),
}

/// What the window asks the worker to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferencesOutput {
    /// Save a global setting (its text form, as `playmark settings KEY VALUE`).
    Set { key: SettingKey, value: String },
    /// Set the running account's conflict policy.
    SetPolicy { policy: Policy },
    /// A request of the Mirror page (its status on open, Run now, groups made and removed, a
    /// first-pass choice).
    Mirror(super::worker::mirror::MirrorRequest),
}

/// The window and its rows (public so tests can drive them).
pub struct Preferences {
    /// The window.
    pub window: adw::PreferencesWindow,
    /// Conflict policy of the running account.
    pub policy: adw::ComboRow,
    /// Pull interval, in minutes.
    pub pull_interval: gtk::SpinButton,
    /// Stopping before this % keeps no resume point.
    pub min_resume_pct: gtk::SpinButton,
    /// Stopping past this % marks watched.
    pub max_resume_pct: gtk::SpinButton,
    /// Items shorter than this many seconds are watched once started.
    pub min_resume_duration: gtk::SpinButton,
    pub plex_played_pct: gtk::SpinButton,
    /// The download folder (empty: the default).
    pub download_folder: adw::EntryRow,
    /// Keep downloading after the window is closed.
    pub keep_downloading: gtk::Switch,
    /// The download folder's "Choose a folder" button.
    pub choose_folder: gtk::Button,
    /// The folder chooser while it is open (kept alive until it answers).
    pub folder_chooser: Option<gtk::FileChooserNative>,
    /// The Mirror page.
    pub mirror: super::mirror_page::MirrorPage,
    rows: Vec<(SettingKey, adw::PreferencesRow, String)>,
    policy_group: adw::PreferencesGroup,
    /// Set while values are put into the widgets, so that is not taken for a change.
    loading: Rc<Cell<bool>>,
    state: Option<PreferencesState>,
}

impl std::fmt::Debug for Preferences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preferences")
            .field("state", &self.state)
            .finish()
    }
}

impl Preferences {
    /// The error shown on a row now (`None`: its value is saved).
    pub fn error(&self, key: SettingKey) -> Option<String> {
        self.rows
            .iter()
            .find(|(k, row, _)| *k == key && row.has_css_class("error"))
            .and_then(|(_, row, _)| row.tooltip_text().map(|t| t.to_string()))
    }

    /// The saved settings the window shows.
    pub fn state(&self) -> Option<&PreferencesState> {
        self.state.as_ref()
    }

    fn row(&self, key: SettingKey) -> Option<&adw::PreferencesRow> {
        self.rows
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, row, _)| row)
    }

    fn clear_error(&self, key: SettingKey) {
        if let Some(row) = self.row(key) {
            row.remove_css_class("error");
            row.set_tooltip_text(None);
            if let (Some(action), Some((_, _, subtitle))) = (
                row.downcast_ref::<adw::ActionRow>(),
                self.rows.iter().find(|(k, _, _)| *k == key),
            ) {
                action.set_subtitle(subtitle);
            }
        }
    }

    fn show_error(&self, key: SettingKey, message: &str) {
        if let Some(row) = self.row(key) {
            row.add_css_class("error");
            row.set_tooltip_text(Some(message));
            if let Some(action) = row.downcast_ref::<adw::ActionRow>() {
                action.set_subtitle(&gtk::glib::markup_escape_text(message));
            }
        }
    }

    /// Put the saved values into the widgets (without taking that for a change).
    fn load(&mut self, state: PreferencesState) {
        self.loading.set(true);
        let s = &state.settings;
        let minutes = (s.pull_interval.as_secs() as f64 / 60.0).round();
        self.pull_interval.set_value(minutes);
        self.min_resume_pct
            .set_value(f64::from(s.thresholds.min_resume_pct));
        self.max_resume_pct
            .set_value(f64::from(s.thresholds.max_resume_pct));
        self.min_resume_duration
            .set_value(f64::from(s.thresholds.min_resume_duration_s));
        self.plex_played_pct
            .set_value(f64::from(s.thresholds.plex_played_pct));
        let folder = SettingKey::DownloadFolder.value_in(s);
        if self.download_folder.text().as_str() != folder {
            self.download_folder.set_text(&folder);
        }
        self.keep_downloading
            .set_active(s.keep_downloading_when_closed);
        match &state.policy {
            Some((policy, account)) => {
                let index = Policy::ALL.iter().position(|p| p == policy).unwrap_or(0);
                self.policy.set_selected(index as u32);
                self.policy_group.set_description(Some(&tr(
                    "How a change made here and another made on the server are decided, for {account}.",
                    &[("account", account)],
                )));
                self.policy_group.set_visible(true);
            }
            None => self.policy_group.set_visible(false),
        }
        for key in SettingKey::ALL {
            self.clear_error(key);
        }
        self.loading.set(false);
        self.state = Some(state);
    }
}

impl Preferences {
    /// Open the folder chooser on the folder shown (if it exists); its answer comes back as
    /// [`PreferencesInput::FolderChosen`].
    fn choose_folder(&mut self, sender: &ComponentSender<Self>) {
        if let Some(open) = &self.folder_chooser {
            open.show();
            return;
        }
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Download folder")),
            Some(&self.window),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettext("_Select")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let shown = std::path::PathBuf::from(self.download_folder.text().trim());
        if shown.is_absolute() && shown.is_dir() {
            let _ = chooser.set_current_folder(Some(&gtk::gio::File::for_path(&shown)));
        }
        let sender = sender.clone();
        chooser.connect_response(move |chooser, response| {
            let folder = (response == gtk::ResponseType::Accept)
                .then(|| chooser.file().and_then(|f| f.path()))
                .flatten();
            sender.input(PreferencesInput::FolderChosen(folder));
        });
        chooser.show();
        self.folder_chooser = Some(chooser);
    }
}

/// A policy's name for people.
pub fn policy_label(policy: Policy) -> String {
    match policy {
        Policy::LastWriterWins => gettext("The later change wins"),
        Policy::FurthestProgress => gettext("The furthest progress wins"),
        Policy::PreferLocal => gettext("This computer wins"),
        Policy::PreferServer => gettext("The server wins"),
    }
}

/// Why the worker refused a value, for people (the store's own reason is for the log).
fn refusal(key: SettingKey) -> String {
    match key {
        SettingKey::MinResumePct | SettingKey::MaxResumePct => {
            gettext("“No resume point before” must be below “Watched after”.")
        }
        SettingKey::DownloadFolder => gettext(
            "Enter a full folder path starting with “/”, or leave it empty for the default.",
        ),
        SettingKey::PullIntervalS => gettext("Choose from 1 minute to 1 day (1440 minutes)."),
        _ => gettext("This value cannot be used."),
    }
}

fn spin(lower: f64, upper: f64, step: f64) -> gtk::SpinButton {
    let spin = gtk::SpinButton::with_range(lower, upper, step);
    spin.set_valign(gtk::Align::Center);
    spin.set_numeric(true);
    spin.set_digits(0);
    spin
}

fn action_row(title: &str, subtitle: &str, suffix: &impl IsA<gtk::Widget>) -> adw::ActionRow {
    let row = adw::ActionRow::new();
    row.set_title(title);
    row.set_subtitle(subtitle);
    row.add_suffix(suffix);
    row.set_activatable_widget(Some(suffix));
    row
}

impl SimpleComponent for Preferences {
    type Init = ();
    type Input = PreferencesInput;
    type Output = PreferencesOutput;
    type Root = adw::PreferencesWindow;
    type Widgets = ();

    fn init_root() -> Self::Root {
        let window = adw::PreferencesWindow::new();
        window.set_title(Some(&gettext("Preferences")));
        window.set_modal(true);
        window.set_hide_on_close(true);
        window.set_search_enabled(false);
        window.set_default_size(560, 640);
        window
    }

    fn init(_init: (), window: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let loading = Rc::new(Cell::new(false));
        let page = adw::PreferencesPage::new();
        page.set_title(&gettext("General"));
        page.set_icon_name(Some("preferences-system-symbolic"));

        // Sync
        let policy_group = adw::PreferencesGroup::new();
        policy_group.set_title(&gettext("Conflicts"));
        let names: Vec<String> = Policy::ALL.iter().map(|p| policy_label(*p)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let policy = adw::ComboRow::new();
        policy.set_title(&gettext("When both sides changed"));
        policy.set_model(Some(&gtk::StringList::new(&names)));
        policy_group.add(&policy);
        policy_group.set_visible(false);
        page.add(&policy_group);

        let sync_group = adw::PreferencesGroup::new();
        sync_group.set_title(&gettext("Library"));
        let pull_interval = spin(1.0, 1440.0, 1.0);
        let pull_subtitle = gettext(
            "Minutes between library pulls while the window is in the back (in front: every minute).",
        );
        let pull_row = action_row(
            &gettext("Check the server for changes every"),
            &pull_subtitle,
            &pull_interval,
        );
        sync_group.add(&pull_row);
        page.add(&sync_group);

        // Watched
        let watched_group = adw::PreferencesGroup::new();
        watched_group.set_title(&gettext("Watched"));
        watched_group.set_description(Some(&gettext(
            "When playing stops, these decide whether a resume point is kept or the item counts as watched (Jellyfin's defaults: 5 %, 90 %, 300 s).",
        )));
        let min_resume_pct = spin(0.0, 100.0, 1.0);
        let min_subtitle = gettext("Percent: stopping earlier keeps no resume point.");
        let min_row = action_row(
            &gettext("No resume point before"),
            &min_subtitle,
            &min_resume_pct,
        );
        let max_resume_pct = spin(0.0, 100.0, 1.0);
        let max_subtitle = gettext("Percent: stopping later marks the item watched.");
        let max_row = action_row(&gettext("Watched after"), &max_subtitle, &max_resume_pct);
        let min_resume_duration = spin(0.0, 86_400.0, 10.0);
        let duration_subtitle = gettext("Seconds: shorter items count as watched once started.");
        let duration_row = action_row(
            &gettext("Short items"),
            &duration_subtitle,
            &min_resume_duration,
        );
        let plex_played_pct = spin(1.0, 100.0, 1.0);
        let plex_subtitle = gettext(
            "Plex accounts, percent: playing later counts as watched. Set it to your server's “Video played threshold” (by default 90 %). The three above are Jellyfin's.",
        );
        let plex_row = action_row(
            &gettext("Watched after, on Plex"),
            &plex_subtitle,
            &plex_played_pct,
        );
        watched_group.add(&min_row);
        watched_group.add(&max_row);
        watched_group.add(&duration_row);
        watched_group.add(&plex_row);
        page.add(&watched_group);

        // Downloads
        let downloads_group = adw::PreferencesGroup::new();
        downloads_group.set_title(&gettext("Downloads"));
        downloads_group.set_description(Some(&gettext(
            "Empty: the downloads folder in Playmark's data folder. A new folder is used from the next start.",
        )));
        let download_folder = adw::EntryRow::new();
        download_folder.set_title(&gettext("Download folder"));
        download_folder.set_show_apply_button(true);
        let choose_folder = gtk::Button::from_icon_name("folder-open-symbolic");
        choose_folder.set_widget_name("choose-folder");
        choose_folder.set_valign(gtk::Align::Center);
        choose_folder.add_css_class("flat");
        choose_folder.set_tooltip_text(Some(&gettext("Choose a folder…")));
        download_folder.add_suffix(&choose_folder);
        {
            let sender = sender.clone();
            choose_folder.connect_clicked(move |_| sender.input(PreferencesInput::ChooseFolder));
        }
        let keep_downloading = gtk::Switch::new();
        keep_downloading.set_valign(gtk::Align::Center);
        let keep_subtitle =
            gettext("Closing the window hides it until the queued downloads are done.");
        let keep_row = action_row(
            &gettext("Keep downloading when the window is closed"),
            &keep_subtitle,
            &keep_downloading,
        );
        downloads_group.add(&download_folder);
        downloads_group.add(&keep_row);
        page.add(&downloads_group);
        window.add(&page);
        let mirror = {
            let sender = sender.clone();
            super::mirror_page::MirrorPage::new(move |request| {
                let _ = sender.output(PreferencesOutput::Mirror(request));
            })
        };
        window.add(&mirror.page);

        // Every change goes out at once (not while values are loaded).
        let changed = |key: SettingKey| {
            let sender = sender.clone();
            let loading = loading.clone();
            move |value: String| {
                if !loading.get() {
                    sender.input(PreferencesInput::Changed { key, value });
                }
            }
        };
        for (key, spin) in [
            (SettingKey::PullIntervalS, &pull_interval),
            (SettingKey::MinResumePct, &min_resume_pct),
            (SettingKey::MaxResumePct, &max_resume_pct),
            (SettingKey::MinResumeDurationS, &min_resume_duration),
            (SettingKey::PlexPlayedPct, &plex_played_pct),
        ] {
            let send = changed(key);
            spin.connect_value_changed(move |s| {
                let value = s.value().round() as i64;
                let value = if key == SettingKey::PullIntervalS {
                    value * 60
                } else {
                    value
                };
                send(value.to_string())
            });
        }
        let send = changed(SettingKey::DownloadFolder);
        download_folder.connect_apply(move |row| send(row.text().trim().to_string()));
        let send = changed(SettingKey::KeepDownloadingWhenClosed);
        keep_downloading.connect_active_notify(move |s| send(s.is_active().to_string()));
        {
            let sender = sender.clone();
            let loading = loading.clone();
            policy.connect_selected_notify(move |row| {
                if !loading.get() {
                    sender.input(PreferencesInput::PolicyChanged {
                        index: row.selected(),
                    });
                }
            });
        }

        let rows = vec![
            (
                SettingKey::PullIntervalS,
                pull_row.upcast::<adw::PreferencesRow>(),
                pull_subtitle,
            ),
            (
                SettingKey::MinResumePct,
                min_row.upcast::<adw::PreferencesRow>(),
                min_subtitle,
            ),
            (
                SettingKey::MaxResumePct,
                max_row.upcast::<adw::PreferencesRow>(),
                max_subtitle,
            ),
            (
                SettingKey::MinResumeDurationS,
                duration_row.upcast::<adw::PreferencesRow>(),
                duration_subtitle,
            ),
            (
                SettingKey::PlexPlayedPct,
                plex_row.upcast::<adw::PreferencesRow>(),
                plex_subtitle,
            ),
            (
                SettingKey::DownloadFolder,
                download_folder.clone().upcast::<adw::PreferencesRow>(),
                String::new(),
            ),
            (
                SettingKey::KeepDownloadingWhenClosed,
                keep_row.upcast::<adw::PreferencesRow>(),
                keep_subtitle,
            ),
        ];
        let model = Preferences {
            window,
            policy,
            pull_interval,
            min_resume_pct,
            max_resume_pct,
            min_resume_duration,
            plex_played_pct,
            download_folder,
            keep_downloading,
            choose_folder,
            folder_chooser: None,
            mirror,
            rows,
            policy_group,
            loading,
            state: None,
        };
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, message: PreferencesInput, sender: ComponentSender<Self>) {
        match message {
            PreferencesInput::Show => {
                use super::worker::mirror::MirrorRequest;
                let _ = sender.output(PreferencesOutput::Mirror(MirrorRequest::Status));
                self.window.present()
            }
            PreferencesInput::Mirror(report) => self.mirror.show(report),
            PreferencesInput::Load(state) => self.load(state),
            PreferencesInput::Refused { key, message } => {
                tracing::info!(key = key.as_str(), %message, "setting refused");
                self.show_error(key, &refusal(key));
            }
            PreferencesInput::Changed { key, value } => {
                let saved = self
                    .state
                    .as_ref()
                    .map(|s| key.value_in(&s.settings) == value)
                    .unwrap_or(false);
                if saved {
                    self.clear_error(key);
                } else {
                    let _ = sender.output(PreferencesOutput::Set { key, value });
                }
            }
            PreferencesInput::ChooseFolder => self.choose_folder(&sender),
            PreferencesInput::FolderChosen(folder) => {
                self.folder_chooser = None;
                let Some(folder) = folder else { return };
                let value = folder.to_string_lossy().to_string();
                self.download_folder.set_text(&value);
                sender.input(PreferencesInput::Changed {
                    key: SettingKey::DownloadFolder,
                    value,
                });
            }
            PreferencesInput::PolicyChanged { index } => {
                let Some(policy) = Policy::ALL.get(index as usize).copied() else {
                    return;
                };
                let _ = sender.output(PreferencesOutput::SetPolicy { policy });
            }
        }
    }
}
