//! The SyncQueue worker: owns the engine handle and the tokio runtime it runs on.
//!
//! The worker runs on its own thread (relm4 `Worker`), so SQLite writes never block the GTK
//! main thread; network work runs on the worker's tokio runtime. The engine's [`SyncEvent`]s come
//! back to the UI as [`SyncQueueOutput`] messages, with failures gathered for a moment so a burst
//! becomes one notice.

mod lifecycle;
mod media;
pub mod mirror;
mod posters;
mod relay;
mod session;
mod settings;
mod undo;
use relay::*;
use session::*;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relm4::{ComponentSender, Worker};
use tokio::sync::broadcast::error::RecvError;

use crate::account::SessionError;
use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::{ErrorKind, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::demo::{DemoConfig, DemoServer, Fault, DEMO_PASSWORD, DEMO_USER};
use crate::download::Downloader;
use crate::merge::{Decision, Outcome, Side};
use crate::model::{LocalChange, Millis, ServerKind};
use crate::store::tokens::{SecretError, TokenStore};
pub use lifecycle::Finished;
use media::PlayHandle;
pub use media::{mpv_args, MPV_ARGS_ENV};

use super::library::LibraryIndex;
use crate::store::ItemView;
use crate::store::{database_path, Counts, NewAccount, OutboxRow, Store, VIEW_LIMIT};
use crate::sync::{
    AccountState, Engine, EngineConfig, ItemSyncState, PullSchedule, RunMode, SyncEvent,
    DEFAULT_PAGE_SIZE,
};

/// How long failures are gathered into one notice.
const FAILURE_WINDOW: Duration = Duration::from_millis(400);

/// How long merges are gathered before the override notices are read again (a pull that
/// decides many items reads them once, and their toast is one).
const OVERRIDDEN_WINDOW: Duration = Duration::from_millis(300);

/// How often the library is pulled while the window is in front (the engine's idle schedule,
/// 5 to 60 minutes, applies otherwise).
pub const FOREGROUND_PULL_MS: i64 = 60_000;

/// Where the worker gets its account from.
#[derive(Debug, Clone)]
pub enum SyncQueueInit {
    /// The account signed in under `data_dir`; with none, the bundled demo library in
    /// `<data_dir>/demo`.
    DataDir { data_dir: PathBuf },
    /// Always the demo library, in `data_dir` itself, on `server` (a running demo server,
    /// e.g. a test's) or on one started here.
    Demo {
        data_dir: PathBuf,
        server: Option<DemoServer>,
    },
}

/// The way out when there is no database to work with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The database is damaged or from a newer Playmark: set it aside and start empty
    /// ([`SyncQueueInput::ResetDatabase`]).
    SetAside,
    /// Something outside the file (a folder that cannot be written, a lock): fix it, then try
    /// again ([`SyncQueueInput::Start`]).
    TryAgain,
}

/// Why the worker did not start.
#[derive(Debug)]
enum StartError {
    /// A sentence for the user.
    Said(String),
    /// No database to work with.
    NoDatabase { message: String, recovery: Recovery },
}

impl From<String> for StartError {
    fn from(message: String) -> StartError {
        StartError::Said(message)
    }
}

/// A fault the developer menu injects into the demo server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DevFault {
    /// Stop / start answering (connection refused).
    Offline { offline: bool },
    /// The next `count` requests fail with HTTP `status`.
    FailNext { count: usize, status: u16 },
    /// A fraction of requests fail at random (0 turns it off).
    Random { fraction: f64 },
}

/// A password on its way to the server: never printed (its `Debug` is redacted).
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Requests to the worker.
#[derive(Debug)]
pub enum SyncQueueInput {
    /// Open the store, sign in (or start the demo), refresh, and run the engine. Also "Try
    /// Again" after [`SyncQueueOutput::NoDatabase`].
    Start,
    /// Set the unusable database aside (renamed, never deleted: `playmark reset-database`)
    /// and start with an empty one.
    ResetDatabase,
    /// Record a local change for `item` (durable, then queued).
    Enqueue { item: String, change: LocalChange },
    /// Mark every episode under `parent` (season or series) watched or not: recorded at once,
    /// held (not sent) while its Undo is offered ([`SyncQueueOutput::BulkHeld`]).
    EnqueueBulk { parent: String, played: bool },
    /// Take back the held bulk change `batch` (its Undo button): answered with
    /// [`SyncQueueOutput::UndoTooLate`] when some of it may have been sent.
    Undo { batch: u64 },
    /// The Undo of the held bulk change `batch` is no longer offered: send it now.
    ReleaseHold { batch: u64 },
    /// Retry one failed or needs-attention change now.
    Retry { item: String },
    /// Retry every failed or needs-attention change now.
    RetryAll,
    /// Drop the queued change of `item`; it goes back to the server's state.
    Discard { item: String },
    /// Send everything queued now.
    SyncNow,
    /// A network hint (gio's NetworkMonitor).
    ConnectivityChanged { online: bool },
    /// Developer menu (demo only).
    Simulate { fault: DevFault },
    /// Say where the token of a sign-in would be kept ([`SyncQueueOutput::TokenStorage`]).
    TokenStorage,
    /// Sign in to a Jellyfin server; on success the library switches to it.
    SignIn {
        url: String,
        user: String,
        password: Password,
    },
    /// Sign in to a Plex server with a server token; on success the library switches to it.
    SignInPlex { url: String, token: Password },
    /// Forget the token (queued changes are kept) and go back to the demo library.
    SignOut,
    /// The window came to the front (`true`) or went to the back: the pull interval follows.
    Foreground { active: bool },
    /// Compute Home's lists (answered with [`SyncQueueOutput::Home`]).
    Home,
    /// Search titles (answered with [`SyncQueueOutput::SearchResults`]).
    Search { query: String },
    /// Play an item in mpv (one play at a time: ▶ on the playing item stops it, on another item
    /// stops the one playing and plays the new one).
    Play { item: String },
    /// Download an episode or movie, or every episode of a season or series.
    Download { item: String },
    /// Pause, resume or remove a download.
    DownloadControl {
        item: String,
        action: super::downloads::DownloadAction,
    },
    /// A row shows this item: fetch its poster (answered with [`SyncQueueOutput::Poster`]).
    Poster { item: String },
    /// Send the settings and the running account's policy (`SyncQueueOutput::Settings`).
    LoadSettings,
    /// Save a global setting from its text form (validated as `playmark settings KEY VALUE`):
    /// answered with `Settings` when saved, `SettingRefused` when not.
    SetSetting {
        key: crate::store::SettingKey,
        value: String,
    },
    /// Set the running account's conflict policy (answered with `Settings`).
    SetPolicy { policy: crate::sync::Policy },
    /// "Use mine": queue the person's value again for items where a merge kept another
    /// device's (`Engine::use_mine`); their notices go.
    UseMine { items: Vec<String> },
    /// A network step the worker ran as a task of its runtime (a sign-in, a sign-out) is
    /// done: sent by the worker to itself, never by the app.
    Finished(Finished),
    /// The Mirror page (status, Run now): answered with [`SyncQueueOutput::Mirror`].
    Mirror(mirror::MirrorRequest),
}

/// A merge kept another device's progress over a change of the person's (DESIGN.md
/// invariant 11): what the item's row and the toast say, and what Use mine sends again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverriddenItem {
    /// Item id.
    pub item_id: String,
    /// Display title ("S01E03 · Title"; server text, never markup).
    pub title: String,
    /// What the merge kept (the server's).
    pub kept: crate::store::Progress,
    /// What the person had set.
    pub yours: crate::store::Progress,
    /// The person's write may have reached the server and been changed there after it.
    pub after_unknown_outcome: bool,
}

/// What the library shows and who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LibrarySource {
    /// The bundled demo server on loopback.
    Demo { url: String },
    /// A signed-in server.
    Account {
        server_name: String,
        /// What signing in to it again needs (the dialog is filled in with it).
        again: SignInAgain,
    },
}

impl LibrarySource {
    /// The server's name, as the human messages say it ("Demo" for the demo library).
    pub fn server_name(&self) -> String {
        match self {
            LibrarySource::Demo { .. } => "Demo".to_string(),
            LibrarySource::Account { server_name, .. } => server_name.clone(),
        }
    }
}

/// The account a new sign-in is for: its kind of server, address and user name (for the
/// sign-in dialog; the password or token is asked again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAgain {
    pub kind: ServerKind,
    pub url: String,
    pub user: String,
}

/// One change that needs the user (for the status popover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionItem {
    /// Item id.
    pub item_id: String,
    /// Display title ("S01E03 · Title").
    pub title: String,
    /// Why it needs attention, in words ("This item is no longer on Demo").
    pub reason: String,
    /// The server's raw answer, only for "Copy details" (never shown as the reason).
    pub detail: String,
}

/// What the worker reports.
#[derive(Debug)]
pub enum SyncQueueOutput {
    /// A new engine runs (at start, after a sign-in or a sign-out): nothing shown for the one
    /// before holds any more (badges, toasts, the account's state). `state` is the new
    /// engine's account state now; its badges and list follow.
    Launched { state: AccountState },
    /// The library is loaded (at start and after a refresh). At start, [`SyncQueueOutput::Home`]
    /// comes first: Home needs only its own rows.
    Library {
        source: LibrarySource,
        items: Vec<ItemView>,
        /// The lists of `items` (series, movies, children), indexed off the GTK thread.
        index: LibraryIndex,
    },
    /// The local state of one item changed (after a change, a discard or a sync).
    ItemData { item: ItemView },
    /// Where an item's change stands.
    ItemState { item: String, state: ItemSyncState },
    /// Queue counts.
    Counts { counts: Counts },
    /// The whole needs-attention list (at start, and when the worker catches up after missed
    /// events); otherwise the list changes one item at a time (`AttentionAdded/Removed`).
    Attention { items: Vec<AttentionItem> },
    /// The account went online / offline / needs sign-in.
    AccountState { state: AccountState },
    /// A change reached the server at `at`.
    Synced { at: Millis },
    /// The changes of `items` failed with `error` (a burst, gathered into one; each item once,
    /// however often it failed, and only while its change is still queued).
    Notice {
        error: SyncError,
        items: Vec<String>,
        pending: usize,
        server: String,
    },
    /// Start-up failed (the message is for the user).
    Failed { message: String },
    /// There is no database to work with (the message says why, in words): no engine runs
    /// until `recovery` is done.
    NoDatabase { message: String, recovery: Recovery },
    /// A sign-in finished: `None` = signed in, else what went wrong, in words.
    SignInFinished { error: Option<String> },
    /// Where the token store keeps a sign-in's token now (the keyring or a file).
    TokenStorage {
        storage: super::sign_in::TokenStorage,
    },
    /// One change now needs attention (or its reason changed): add it to the list.
    AttentionAdded { item: AttentionItem },
    /// The engine's snapshot of every queued change's state (at start, and after missed
    /// events): a badge that waits for something and whose item is not listed settles as
    /// synced (its change left the queue meanwhile).
    Snapshot {
        states: Vec<(String, ItemSyncState)>,
    },
    /// The item's change left the queue (a merge found the server holding it): a badge that
    /// waits for something settles as synced.
    Settled { item: String },
    /// The local database is in trouble (`Some`: the sentence to show until it clears) or works
    /// again (`None`).
    StoreTrouble { message: Option<String> },
    /// Home's lists: item ids with a resume position (most recent first) and the next episode
    /// of each series in progress, with the data of those items (`items`, in no order).
    Home {
        continue_watching: Vec<String>,
        next_up: Vec<String>,
        items: Vec<ItemView>,
    },
    /// Items whose titles match `query`, best first.
    SearchResults { query: String, items: Vec<String> },
    /// Whether a player (mpv) is installed (sent at start).
    Player { available: bool },
    /// The item playing now (`None`: nothing plays), and the player's process id.
    Playing {
        item: Option<String>,
        pid: Option<u32>,
    },
    /// Something the person must know, in words (a play or a download that failed).
    Message { text: String },
    /// Every download of the account, and whether the app keeps downloading after its window
    /// is closed (the `keep_downloading_when_closed` setting).
    Downloads {
        rows: Vec<crate::store::DownloadRow>,
        keep_running: bool,
    },
    /// An item's poster, decoded off the GTK thread.
    Poster {
        item: String,
        texture: relm4::gtk::gdk::Texture,
    },
    /// The saved settings and the running account's policy (for the Preferences window).
    Settings {
        state: super::preferences::PreferencesState,
    },
    /// A setting was not saved: its value is invalid (the store's reason, for the log).
    SettingRefused {
        key: crate::store::SettingKey,
        message: String,
    },
    /// A bulk change was recorded and is held while its Undo is offered: `count` episodes of
    /// a series or season (`name`, server text; a season's `series` too) marked watched or not.
    /// The hold ends by itself after `store::UNDO_HOLD_MS`; the UI ends it earlier with
    /// [`SyncQueueInput::ReleaseHold`] or takes the change back with [`SyncQueueInput::Undo`].
    BulkHeld {
        batch: u64,
        name: String,
        series: Option<String>,
        count: usize,
        played: bool,
        /// Outbox rows held (items the change brought back to the server's state have none).
        held: usize,
    },
    /// "Use mine for all" was recorded and is held while its Undo is offered, like
    /// [`SyncQueueOutput::BulkHeld`]: the person's values of `count` items queued after all.
    /// An Undo puts their override notices back.
    UseMineHeld {
        batch: u64,
        count: usize,
        /// Outbox rows held.
        held: usize,
    },
    /// An Undo came too late: some change of the batch was sent or is being sent; nothing was
    /// taken back.
    UndoTooLate { batch: u64 },
    /// Every override notice of the last 7 days (the whole list, sent when it changes), and
    /// the items among them that are new since the last list and should be announced (a toast).
    Overridden {
        items: Vec<OverriddenItem>,
        new: Vec<String>,
    },
    /// For the Mirror page: the mirror groups' status, a pass started or finished.
    Mirror(mirror::MirrorReport),
}

/// The worker's state.
pub struct SyncQueue {
    init: SyncQueueInit,
    runtime: Option<tokio::runtime::Runtime>,
    engine: Option<Engine>,
    demo: Option<DemoServer>,
    /// The engine's tasks (event forwarding, refresh + run), stopped on an account switch.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The window is in front (pull every [`FOREGROUND_PULL_MS`]).
    foreground: bool,
    /// What the UI was told, for the running engine.
    relay: Option<Relay>,
    /// The data directory of the running engine's account (its token, downloads).
    data_dir: Option<PathBuf>,
    /// The play under way (one at a time).
    play: Option<PlayHandle>,
    /// The running account's download queue.
    downloader: Option<Arc<Downloader>>,
    /// The running account's posters.
    posters: Option<posters::Posters>,
    /// Bulk changes held while their Undo is offered, by batch number.
    held: undo::HeldBatches,
    /// A sign-out stopped the account's engine and the demo's is on its way: what needs an
    /// engine waits in `waiting` for it.
    switching: bool,
    waiting: Vec<SyncQueueInput>,
    /// The mirror groups' engines and passes.
    mirrors: mirror::Mirrors,
}

impl std::fmt::Debug for SyncQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncQueue")
            .field("engine", &self.engine)
            .finish()
    }
}

impl Drop for SyncQueue {
    fn drop(&mut self) {
        self.stop_play_and_downloads();
        self.mirrors.stop();
        if let Some(engine) = &self.engine {
            engine.shutdown();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Worker for SyncQueue {
    type Init = SyncQueueInit;
    type Input = SyncQueueInput;
    type Output = SyncQueueOutput;

    fn init(init: SyncQueueInit, _sender: ComponentSender<Self>) -> SyncQueue {
        SyncQueue {
            init,
            runtime: None,
            engine: None,
            demo: None,
            tasks: Vec::new(),
            foreground: false,
            relay: None,
            data_dir: None,
            play: None,
            downloader: None,
            posters: None,
            held: undo::HeldBatches::default(),
            switching: false,
            waiting: Vec::new(),
            mirrors: mirror::Mirrors::default(),
        }
    }

    fn update(&mut self, message: SyncQueueInput, sender: ComponentSender<Self>) {
        match message {
            SyncQueueInput::Start => {
                self.start_or_say(&sender);
                return;
            }
            SyncQueueInput::ResetDatabase => {
                let path = database_path(&self.base_dir());
                match crate::store::reset_database(&path, SystemClock.now()) {
                    Ok(outcome) => {
                        tracing::warn!(?outcome, "database reset");
                        self.start_or_say(&sender);
                    }
                    Err(e) => {
                        let _ = sender.output(SyncQueueOutput::NoDatabase {
                            message: store_failed(e),
                            recovery: Recovery::TryAgain,
                        });
                    }
                }
                return;
            }
            SyncQueueInput::SignIn {
                url,
                user,
                password,
            } => {
                // A task: the worker goes on answering while the server is asked.
                if let Err(error) = self.sign_in(url, user, password, &sender) {
                    let error = Some(error);
                    let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                }
                return;
            }
            SyncQueueInput::SignInPlex { url, token } => {
                if let Err(error) = self.sign_in_plex(url, token, &sender) {
                    let error = Some(error);
                    let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                }
                return;
            }
            SyncQueueInput::Finished(Finished(step)) => {
                self.finished(step, &sender);
                return;
            }
            SyncQueueInput::TokenStorage => {
                use super::sign_in::TokenStorage;
                // Asking the bus for a keyring can take a while: a task answers.
                let out = sender.output_sender().clone();
                let ask = async move {
                    let storage = if crate::store::tokens::keyring_on_bus().await {
                        TokenStorage::Keyring
                    } else {
                        TokenStorage::File
                    };
                    let _ = out.send(SyncQueueOutput::TokenStorage { storage });
                };
                if let Err(message) = self.runtime().map(|rt| rt.spawn(ask)) {
                    tracing::warn!(%message, "token storage unknown");
                }
                return;
            }
            SyncQueueInput::SignOut => {
                if let Err(message) = self.sign_out(&sender) {
                    let _ = sender.output(SyncQueueOutput::Failed { message });
                }
                return;
            }
            SyncQueueInput::Foreground { active } => {
                self.foreground = active;
                if let Some(engine) = &self.engine {
                    engine.set_foreground_pull(foreground_pull(active));
                }
                return;
            }
            SyncQueueInput::LoadSettings => {
                self.send_settings(sender.output_sender());
                return;
            }
            SyncQueueInput::SetSetting { key, value } => {
                self.set_setting(key, &value, sender.output_sender());
                return;
            }
            SyncQueueInput::SetPolicy { policy } => {
                self.set_policy(policy, sender.output_sender());
                return;
            }
            SyncQueueInput::Mirror(request) => {
                self.mirror_request(request, &sender);
                return;
            }
            _ => {}
        }
        let (Some(engine), Some(relay)) = (self.engine.clone(), self.relay.clone()) else {
            if self.switching {
                self.waiting.push(message);
            } else {
                tracing::warn!(?message, "not started yet");
            }
            return;
        };
        // The item a failed store write leaves showing a change that was not stored.
        let item = match &message {
            SyncQueueInput::Enqueue { item, .. } | SyncQueueInput::Discard { item } => {
                Some(item.clone())
            }
            _ => None,
        };
        let result = match message {
            SyncQueueInput::Home => {
                send_home(&engine, sender.output_sender());
                return;
            }
            SyncQueueInput::Search { query } => {
                send_search(&engine, sender.output_sender(), query);
                return;
            }
            SyncQueueInput::Play { item } => {
                self.play(engine, item, sender.output_sender());
                return;
            }
            SyncQueueInput::Poster { item } => {
                if let (Some(p), Some(rt)) = (&self.posters, &self.runtime) {
                    p.request(rt.handle(), item, sender.output_sender());
                }
                return;
            }
            SyncQueueInput::Download { item } => {
                self.download(&item, sender.output_sender());
                return;
            }
            SyncQueueInput::DownloadControl { item, action } => {
                self.download_control(&item, action, sender.output_sender());
                return;
            }
            // "Use mine for all" is a bulk change: held while its Undo is offered.
            SyncQueueInput::UseMine { items } if items.len() > 1 => {
                self.held
                    .use_mine(&engine, &relay, &items, sender.output_sender())
            }
            SyncQueueInput::UseMine { items } => {
                let mut result = Ok(());
                for item in &items {
                    match engine.use_mine(item) {
                        Ok(_) => send_item(&engine, sender.output_sender(), item),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                relay.overridden(false);
                result
            }
            SyncQueueInput::Start
            | SyncQueueInput::ResetDatabase
            | SyncQueueInput::SignIn { .. }
            | SyncQueueInput::TokenStorage
            | SyncQueueInput::SignInPlex { .. }
            | SyncQueueInput::Finished(_)
            | SyncQueueInput::SignOut
            | SyncQueueInput::Foreground { .. }
            | SyncQueueInput::LoadSettings
            | SyncQueueInput::SetSetting { .. }
            | SyncQueueInput::SetPolicy { .. }
            | SyncQueueInput::Mirror(_) => Ok(()),
            SyncQueueInput::Enqueue { item, change } => {
                engine.record_change(&item, change).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                    // A new change of the person's replaces an override notice of the item.
                    if relay.has_notice(&item) {
                        relay.overridden(false);
                    }
                })
            }
            SyncQueueInput::EnqueueBulk { parent, played } => {
                engine.record_bulk_held(&parent, played).map(|batch| {
                    self.held.announce(&engine, batch, sender.output_sender());
                    let account = engine.account();
                    let items = engine.with_store(|s| s.items(account)).unwrap_or_default();
                    let under = |id: &Option<String>| id.as_deref() == Some(parent.as_str());
                    for item in items.into_iter().filter(|i| {
                        i.kind.is_playable()
                            && (under(&i.parent_id) || under(&i.season_id) || under(&i.series_id))
                    }) {
                        let account = engine.account_state();
                        let state = item.sync_state.map(|_| ItemSyncState::waiting(account));
                        let id = item.item_id.clone();
                        let _ = sender.output(SyncQueueOutput::ItemData { item });
                        if let Some(state) = state {
                            relay.item_state(id, state);
                        }
                    }
                    if relay.has_notices() {
                        relay.overridden(false);
                    }
                })
            }
            // The engine badges the retried changes (queued, off the list).
            SyncQueueInput::Retry { item } => engine.retry(Some(&[item])).map(|_| ()),
            SyncQueueInput::RetryAll => engine.retry(None).map(|_| ()),
            SyncQueueInput::Discard { item } => {
                engine.discard(std::slice::from_ref(&item)).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                })
            }
            SyncQueueInput::Undo { batch } => {
                self.held
                    .undo(&engine, batch, sender.output_sender())
                    .map(|_| {
                        // An undone "Use mine for all" brings its override notices back.
                        relay.overridden(false);
                    })
            }
            SyncQueueInput::ReleaseHold { batch } => self.held.release(&engine, batch),
            // Both directions: send what is queued (held bulk changes too: the person asked for
            // a send), then bring what other devices changed.
            SyncQueueInput::SyncNow => self
                .held
                .release_all(&engine)
                .and_then(|_| engine.sync_now())
                .map(|_| engine.pull_soon()),
            SyncQueueInput::ConnectivityChanged { online } => {
                engine.connectivity_changed(online);
                self.mirrors.connectivity_changed(online);
                Ok(())
            }
            SyncQueueInput::Simulate { fault } => {
                self.simulate(fault);
                if fault == (DevFault::Offline { offline: false }) {
                    engine.connectivity_changed(true);
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => relay.store_trouble(Trouble::Worker, None),
            Err(e) => {
                tracing::error!(error = %e, "store operation failed");
                // The row showed the change at once; it was not stored: show what is.
                if let Some(item) = item {
                    send_item(&engine, sender.output_sender(), &item);
                }
                relay.store_trouble(Trouble::Worker, Some(&e.to_string()));
            }
        }
    }
}

/// Home's lists and their rows' data (three queries, off the GTK thread).
fn send_home(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>) {
    let account = engine.account();
    let lists = engine.with_store(|s| {
        let continue_watching = s.continue_watching(account, VIEW_LIMIT)?;
        let next_up = s.next_up(account, VIEW_LIMIT)?;
        let ids: Vec<String> = continue_watching.iter().chain(&next_up).cloned().collect();
        let items = s.items_by_ids(account, &ids)?;
        Ok::<_, crate::store::StoreError>((continue_watching, next_up, items))
    });
    match lists {
        Ok((continue_watching, next_up, items)) => {
            let _ = sender.send(SyncQueueOutput::Home {
                continue_watching,
                next_up,
                items,
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot compute Home"),
    }
}

/// The whole library of the running account, indexed for the lists (off the GTK thread).
fn send_library(engine: &Engine, source: LibrarySource, out: &relm4::Sender<SyncQueueOutput>) {
    match engine.with_store(|s| s.items(engine.account())) {
        Ok(items) => {
            let index = LibraryIndex::of(&items);
            let _ = out.send(SyncQueueOutput::Library {
                source,
                items,
                index,
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the library"),
    }
}

fn send_search(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>, query: String) {
    let account = engine.account();
    match engine.with_store(|s| s.search(account, &query, VIEW_LIMIT)) {
        Ok(items) => {
            let _ = sender.send(SyncQueueOutput::SearchResults { query, items });
        }
        Err(e) => tracing::warn!(error = %e, "search failed"),
    }
}

fn send_item(engine: &Engine, sender: &relm4::Sender<SyncQueueOutput>, item: &str) {
    let account = engine.account();
    if let Ok(Some(view)) = engine.with_store(|s| s.item(account, item)) {
        // An episode's season and series count its watched state: their rows follow.
        let parents: Vec<String> = [view.season_id.clone(), view.series_id.clone()]
            .into_iter()
            .flatten()
            .filter(|_| view.kind == crate::model::ItemKind::Episode)
            .collect();
        let _ = sender.send(SyncQueueOutput::ItemData { item: view });
        if !parents.is_empty() {
            if let Ok(views) = engine.with_store(|s| s.items_by_ids(account, &parents)) {
                for view in views {
                    let _ = sender.send(SyncQueueOutput::ItemData { item: view });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
