//! A minimal relm4 "player" that embeds Playmark's sync components: the SyncQueue worker (the
//! engine: durable outbox, retries, merge), a SyncBadge per item and the SyncStatus header
//! button with its popover. It runs against the bundled demo server.
//! `cargo run --example embed`; tick "Watched", go offline with the status button's developer
//! controls and back: the badges follow.

use playmark::model::LocalChange;
use playmark::ui::sync_badge::{SyncBadge, SyncBadgeInput};
use playmark::ui::sync_status::{SyncStatus, SyncStatusInput, SyncStatusOutput};
use playmark::ui::worker::{SyncQueue, SyncQueueInit, SyncQueueInput, SyncQueueOutput};
use relm4::adw;
use relm4::adw::prelude::*;
use relm4::gtk;
use relm4::prelude::*;
use relm4::WorkerController;
use std::collections::HashMap;

struct Player {
    queue: WorkerController<SyncQueue>,
    status: Controller<SyncStatus>,
    list: gtk::ListBox,
    badges: HashMap<String, Controller<SyncBadge>>,
}

// One message at a time through a channel: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Msg {
    Queue(SyncQueueOutput),
    Status(SyncStatusOutput),
}

impl SimpleComponent for Player {
    type Init = std::path::PathBuf;
    type Input = Msg;
    type Output = ();
    type Root = adw::ApplicationWindow;
    type Widgets = ();

    fn init_root() -> adw::ApplicationWindow {
        adw::ApplicationWindow::builder()
            .title("Embedded Playmark")
            .build()
    }

    fn init(
        dir: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        // The worker owns the engine; `server: None` starts the bundled demo server.
        let queue = SyncQueue::builder()
            .detach_worker(SyncQueueInit::Demo {
                data_dir: dir,
                server: None,
            })
            .forward(sender.input_sender(), Msg::Queue);
        queue.emit(SyncQueueInput::Start);
        let status = SyncStatus::builder()
            .launch(())
            .forward(sender.input_sender(), Msg::Status);
        let header = adw::HeaderBar::new();
        header.pack_end(status.widget());
        let list = gtk::ListBox::new();
        list.add_css_class("boxed-list");
        list.set_selection_mode(gtk::SelectionMode::None);
        list.set_margin_all(12);
        let scrolled = gtk::ScrolledWindow::builder()
            .vexpand(true)
            .child(&list)
            .build();
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&header);
        content.append(&scrolled);
        root.set_content(Some(&content));
        let model = Player {
            queue,
            status,
            list,
            badges: HashMap::new(),
        };
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Msg, _sender: ComponentSender<Self>) {
        match msg {
            Msg::Queue(SyncQueueOutput::Library { items, .. }) => {
                while let Some(row) = self.list.row_at_index(0) {
                    self.list.remove(&row);
                }
                self.badges.clear();
                for item in items.into_iter().filter(|i| i.kind.is_playable()) {
                    let row = gtk::Box::new(gtk::Orientation::Horizontal, 12);
                    row.set_margin_all(6);
                    let title = gtk::Label::new(Some(&item.name));
                    title.set_hexpand(true);
                    title.set_xalign(0.0);
                    let badge = SyncBadge::builder().launch("Demo".to_string()).detach();
                    let watched = gtk::CheckButton::with_label("Watched");
                    watched.set_active(item.played);
                    // A player records its changes through the worker: durable, then synced.
                    let (queue, item_id) = (self.queue.sender().clone(), item.item_id.clone());
                    watched.connect_toggled(move |b| {
                        let change = [LocalChange::MarkUnwatched, LocalChange::MarkWatched];
                        let change = change[usize::from(b.is_active())];
                        let _ = queue.send(SyncQueueInput::Enqueue {
                            item: item_id.clone(),
                            change,
                        });
                    });
                    row.append(&title);
                    row.append(badge.widget());
                    row.append(&watched);
                    self.list.append(&row);
                    self.badges.insert(item.item_id, badge);
                }
            }
            Msg::Queue(SyncQueueOutput::ItemState { item, state }) => {
                if let Some(badge) = self.badges.get(&item) {
                    badge.emit(SyncBadgeInput::State(state));
                }
            }
            // The engine's snapshot (at start, after missed events): every queued change.
            Msg::Queue(SyncQueueOutput::Snapshot { states }) => {
                for (item, state) in states {
                    if let Some(badge) = self.badges.get(&item) {
                        badge.emit(SyncBadgeInput::State(state));
                    }
                }
            }
            Msg::Queue(out) => self.status.emit(match out {
                SyncQueueOutput::Counts { counts } => SyncStatusInput::Counts { counts },
                SyncQueueOutput::Attention { items } => SyncStatusInput::Attention { items },
                SyncQueueOutput::AccountState { state } | SyncQueueOutput::Launched { state } => {
                    SyncStatusInput::Account { state }
                }
                SyncQueueOutput::Synced { at } => SyncStatusInput::Synced { at },
                _ => return,
            }),
            // The demo account signs itself in: Sign in is the only output with no worker input.
            Msg::Status(out) => {
                if let Ok(input) = SyncQueueInput::try_from(out) {
                    self.queue.emit(input);
                }
            }
        }
    }
}

fn main() {
    let dir = std::env::temp_dir().join("playmark-embed-example");
    let app = adw::Application::builder()
        .application_id("org.playmark.EmbedExample")
        .flags(relm4::gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    app.connect_startup(|_| playmark::ui::load_resources());
    relm4::RelmApp::from_app(app)
        .with_args(Vec::new())
        .run::<Player>(dir);
}
