//! The Downloads view: every download of the account with its progress bar, its state in
//! words, pause / resume and remove (which deletes the file), and the space the downloads use.
//!
//! It shows what the SyncQueue worker sends ([`DownloadsInput::Rows`], the persisted queue as
//! the `download` module keeps it) and asks the worker for every change
//! ([`DownloadsOutput::Control`]); it never touches the queue itself. Rows are updated in place,
//! so a progress update does not rebuild the list under the pointer. A download list is short
//! (what fits on a disk), so a plain `GtkListBox` serves.

use std::collections::HashMap;

use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;

use super::i18n::{gettext, tr};
use crate::download::human_bytes;
use crate::store::{DownloadRow, DownloadState};

/// What the person asks of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadAction {
    /// Stop it for now (the partial file is kept).
    Pause,
    /// Queue it again (paused or failed).
    Resume,
    /// Forget it and delete its file.
    Remove,
}

/// Messages to the view.
#[derive(Debug)]
pub enum DownloadsInput {
    /// Every download, as the queue holds it now.
    Rows { rows: Vec<DownloadRow> },
    /// A row's button.
    Clicked {
        item: String,
        action: DownloadAction,
    },
}

/// What the view asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadsOutput {
    /// Pause, resume or remove a download.
    Control {
        item: String,
        action: DownloadAction,
    },
}

/// The widgets of one download.
#[derive(Debug)]
struct Entry {
    root: gtk::ListBoxRow,
    title: gtk::Label,
    state: gtk::Label,
    progress: gtk::ProgressBar,
    pause: gtk::Button,
}

/// The Downloads view.
#[derive(Debug)]
pub struct Downloads {
    /// The downloads shown, in the queue's order.
    pub rows: Vec<DownloadRow>,
    entries: HashMap<String, Entry>,
    list: gtk::ListBox,
}

/// The space the downloads take on disk (finished files and partial ones).
pub fn space_used(rows: &[DownloadRow]) -> u64 {
    rows.iter().map(|r| r.bytes).sum()
}

/// Is any download waiting or running?
pub fn any_active(rows: &[DownloadRow]) -> bool {
    rows.iter()
        .any(|r| matches!(r.state, DownloadState::Queued | DownloadState::Downloading))
}

/// One download's state in words ("Downloading — 1.2 MB of 4.0 MB").
pub fn state_text(r: &DownloadRow) -> String {
    let size = |bytes: u64| match r.total_bytes {
        Some(total) => tr(
            "{done} of {total}",
            &[
                ("done", &human_bytes(bytes)),
                ("total", &human_bytes(total)),
            ],
        ),
        None => human_bytes(bytes),
    };
    match (r.state, &r.error) {
        (DownloadState::Queued, Some(e)) => tr("Retrying soon — {reason}", &[("reason", e)]),
        (DownloadState::Queued, None) => tr("Waiting — {size}", &[("size", &size(r.bytes))]),
        (DownloadState::Downloading, _) => tr("Downloading — {size}", &[("size", &size(r.bytes))]),
        (DownloadState::Paused, _) => tr("Paused — {size}", &[("size", &size(r.bytes))]),
        (DownloadState::Done, _) => tr("Downloaded — {size}", &[("size", &human_bytes(r.bytes))]),
        (DownloadState::Failed, e) => tr(
            "Failed — {reason}",
            &[(
                "reason",
                e.as_deref().unwrap_or(&gettext("the download failed")),
            )],
        ),
    }
}

/// The fraction for the progress bar (a finished download is full).
pub fn fraction(r: &DownloadRow) -> f64 {
    match (r.state, r.total_bytes) {
        (DownloadState::Done, _) => 1.0,
        (_, Some(total)) if total > 0 => (r.bytes as f64 / total as f64).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

impl Downloads {
    fn entry(&mut self, row: &DownloadRow, sender: &ComponentSender<Self>) -> &Entry {
        let sender = sender.clone();
        self.entries.entry(row.item_id.clone()).or_insert_with(|| {
            let root = gtk::ListBoxRow::new();
            root.set_activatable(false);
            root.set_widget_name(&format!("download-{}", row.item_id));
            let hbox = gtk::Box::new(gtk::Orientation::Horizontal, 12);
            hbox.set_margin_top(8);
            hbox.set_margin_bottom(8);
            hbox.set_margin_start(12);
            hbox.set_margin_end(12);
            let text = gtk::Box::new(gtk::Orientation::Vertical, 4);
            text.set_hexpand(true);
            let title = gtk::Label::new(None);
            title.set_xalign(0.0);
            title.set_ellipsize(gtk::pango::EllipsizeMode::End);
            let state = gtk::Label::new(None);
            state.set_widget_name("download-state");
            state.set_xalign(0.0);
            state.set_wrap(true);
            state.add_css_class("dim-label");
            state.add_css_class("caption");
            let progress = gtk::ProgressBar::new();
            progress.set_widget_name("download-progress");
            text.append(&title);
            text.append(&state);
            text.append(&progress);
            let pause = gtk::Button::new();
            pause.set_widget_name("download-pause");
            pause.add_css_class("flat");
            pause.set_valign(gtk::Align::Center);
            let remove = gtk::Button::from_icon_name("user-trash-symbolic");
            remove.set_widget_name("download-remove");
            remove.add_css_class("flat");
            remove.set_valign(gtk::Align::Center);
            remove.set_tooltip_text(Some(&gettext("Remove the download and delete its file")));
            let item = row.item_id.clone();
            let s = sender.input_sender().clone();
            remove.connect_clicked(move |_| {
                s.emit(DownloadsInput::Clicked {
                    item: item.clone(),
                    action: DownloadAction::Remove,
                })
            });
            let item = row.item_id.clone();
            let s = sender.input_sender().clone();
            pause.connect_clicked(move |b| {
                // The button says what it does now (its name follows the state).
                let action = if b.icon_name().as_deref() == Some("media-playback-pause-symbolic") {
                    DownloadAction::Pause
                } else {
                    DownloadAction::Resume
                };
                s.emit(DownloadsInput::Clicked {
                    item: item.clone(),
                    action,
                })
            });
            hbox.append(&text);
            hbox.append(&pause);
            hbox.append(&remove);
            root.set_child(Some(&hbox));
            Entry {
                root,
                title,
                state,
                progress,
                pause,
            }
        })
    }

    fn show(&mut self, rows: Vec<DownloadRow>, sender: &ComponentSender<Self>) {
        let keep: std::collections::HashSet<&str> =
            rows.iter().map(|r| r.item_id.as_str()).collect();
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !keep.contains(k.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some(e) = self.entries.remove(&id) {
                self.list.remove(&e.root);
            }
        }
        for (i, row) in rows.iter().enumerate() {
            let list = self.list.clone();
            let e = self.entry(row, sender);
            if e.root.parent().is_none() {
                list.insert(&e.root, i32::try_from(i).unwrap_or(-1));
            }
            e.title.set_label(&row.display_title());
            e.state.set_label(&state_text(row));
            e.progress.set_fraction(fraction(row));
            let running = matches!(
                row.state,
                DownloadState::Queued | DownloadState::Downloading
            );
            let (icon, tip) = if running {
                ("media-playback-pause-symbolic", gettext("Pause"))
            } else if row.state == DownloadState::Done {
                ("object-select-symbolic", gettext("Downloaded"))
            } else {
                ("media-playback-start-symbolic", gettext("Resume"))
            };
            e.pause.set_icon_name(icon);
            e.pause.set_tooltip_text(Some(&tip));
            e.pause.set_sensitive(row.state != DownloadState::Done);
        }
        self.rows = rows;
    }
}

/// Named widgets of the view.
#[derive(Debug)]
pub struct DownloadsWidgets {
    /// "Space used: 12.3 MB".
    pub space: gtk::Label,
    /// Shown when there is no download.
    pub empty: adw::StatusPage,
    scroller: gtk::ScrolledWindow,
}

impl SimpleComponent for Downloads {
    type Init = ();
    type Input = DownloadsInput;
    type Output = DownloadsOutput;
    type Root = gtk::Box;
    type Widgets = DownloadsWidgets;

    fn init_root() -> gtk::Box {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(_: (), root: gtk::Box, _sender: ComponentSender<Self>) -> ComponentParts<Self> {
        root.set_widget_name("downloads");
        let space = gtk::Label::new(None);
        space.set_widget_name("downloads-space");
        space.set_xalign(0.0);
        space.add_css_class("dim-label");
        space.set_margin_start(12);
        space.set_margin_top(12);
        space.set_margin_bottom(6);
        let list = gtk::ListBox::new();
        list.set_selection_mode(gtk::SelectionMode::None);
        list.add_css_class("rich-list");
        let scroller = gtk::ScrolledWindow::new();
        scroller.set_hscrollbar_policy(gtk::PolicyType::Never);
        scroller.set_vexpand(true);
        scroller.set_child(Some(&list));
        let empty = adw::StatusPage::new();
        empty.set_icon_name(Some("folder-download-symbolic"));
        empty.set_title(&gettext("No downloads"));
        empty.set_description(Some(&gettext(
            "Download an episode, a movie or a whole season to watch it without a connection.",
        )));
        empty.set_vexpand(true);
        root.append(&space);
        root.append(&scroller);
        root.append(&empty);
        let model = Downloads {
            rows: Vec::new(),
            entries: HashMap::new(),
            list,
        };
        let widgets = DownloadsWidgets {
            space,
            empty,
            scroller,
        };
        ComponentParts { model, widgets }
    }

    fn update(&mut self, message: DownloadsInput, sender: ComponentSender<Self>) {
        match message {
            DownloadsInput::Rows { rows } => self.show(rows, &sender),
            DownloadsInput::Clicked { item, action } => {
                let _ = sender.output(DownloadsOutput::Control { item, action });
            }
        }
    }

    fn update_view(&self, w: &mut DownloadsWidgets, _sender: ComponentSender<Self>) {
        let any = !self.rows.is_empty();
        w.space.set_label(&tr(
            "Space used: {size}",
            &[("size", &human_bytes(space_used(&self.rows)))],
        ));
        w.space.set_visible(any);
        w.scroller.set_visible(any);
        w.empty.set_visible(!any);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: DownloadState, bytes: u64, total: Option<u64>) -> DownloadRow {
        DownloadRow {
            item_id: "e1".into(),
            name: "Pilot".into(),
            state,
            bytes,
            total_bytes: total,
            path: "/d/Pilot.y4m".into(),
            attempts: 0,
            next_attempt_at: 0,
            error: None,
            error_kind: None,
            updated_at: 0,
            series_name: None,
            season_number: None,
            episode_number: None,
        }
    }

    #[test]
    fn fraction_and_space_follow_the_bytes() {
        assert_eq!(
            fraction(&row(DownloadState::Downloading, 50, Some(200))),
            0.25
        );
        assert_eq!(fraction(&row(DownloadState::Downloading, 50, None)), 0.0);
        assert_eq!(fraction(&row(DownloadState::Done, 200, None)), 1.0);
        assert_eq!(fraction(&row(DownloadState::Queued, 300, Some(200))), 1.0);
        let rows = [
            row(DownloadState::Done, 200, Some(200)),
            row(DownloadState::Paused, 50, Some(200)),
        ];
        assert_eq!(space_used(&rows), 250);
        assert!(!any_active(&rows));
        assert!(any_active(&[row(DownloadState::Queued, 0, None)]));
    }
}
