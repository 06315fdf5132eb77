//! The SyncQueue worker: owns the engine handle and the tokio runtime it runs on.
//!
//! The worker runs on its own thread (relm4 `Worker`), so SQLite writes never block the GTK
//! main thread; network work runs on the worker's tokio runtime. The engine's [`SyncEvent`]s come
//! back to the UI as [`SyncQueueOutput`] messages, with failures gathered for a moment so a burst
//! becomes one notice.

mod media;
mod posters;
mod settings;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use relm4::{ComponentSender, Worker};
use tokio::sync::broadcast::error::RecvError;

use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::{ErrorKind, SyncError};
use crate::clock::{Clock, SystemClock};
use crate::demo::{DemoConfig, DemoServer, Fault, DEMO_PASSWORD, DEMO_USER};
use crate::download::Downloader;
use crate::merge::{Decision, Outcome, Side};
use crate::model::{LocalChange, Millis, ServerKind};
use crate::sign_in::AccountClientError;
use crate::store::tokens::{SecretError, TokenStore};
use media::PlayHandle;
pub use media::{mpv_args, MPV_ARGS_ENV};

use super::library::LibraryIndex;
use crate::store::ItemView;
use crate::store::{database_path, Counts, NewAccount, OutboxRow, RowState, Store, VIEW_LIMIT};
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
    /// Mark every episode under `parent` (season or series) watched or not.
    EnqueueBulk { parent: String, played: bool },
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
    /// One change no longer needs attention: take it off the list.
    AttentionRemoved { item: String },
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
    /// Every override notice of the last 7 days (the whole list, sent when it changes), and
    /// the items among them that are new since the last list and should be announced (a toast).
    Overridden {
        items: Vec<OverriddenItem>,
        new: Vec<String>,
    },
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
                let error = self.sign_in(&url, &user, &password, &sender).err();
                let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                return;
            }
            SyncQueueInput::SignInPlex { url, token } => {
                let error = self.sign_in_plex(&url, &token, &sender).err();
                let _ = sender.output(SyncQueueOutput::SignInFinished { error });
                return;
            }
            SyncQueueInput::TokenStorage => {
                use super::sign_in::TokenStorage;
                let keyring = self
                    .runtime()
                    .map(|rt| rt.block_on(crate::store::tokens::keyring_on_bus()));
                match keyring {
                    Ok(keyring) => {
                        let storage = if keyring {
                            TokenStorage::Keyring
                        } else {
                            TokenStorage::File
                        };
                        let _ = sender.output(SyncQueueOutput::TokenStorage { storage });
                    }
                    Err(message) => tracing::warn!(%message, "token storage unknown"),
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
            _ => {}
        }
        let (Some(engine), Some(relay)) = (self.engine.clone(), self.relay.clone()) else {
            tracing::warn!(?message, "not started yet");
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
            | SyncQueueInput::SignOut
            | SyncQueueInput::Foreground { .. }
            | SyncQueueInput::LoadSettings
            | SyncQueueInput::SetSetting { .. }
            | SyncQueueInput::SetPolicy { .. } => Ok(()),
            SyncQueueInput::Enqueue { item, change } => {
                engine.record_change(&item, change).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                    // A new change of the person's replaces an override notice of the item.
                    if relay.shown().overridden.contains_key(&item) {
                        relay.overridden(false);
                    }
                })
            }
            SyncQueueInput::EnqueueBulk { parent, played } => {
                engine.record_bulk(&parent, played).map(|_| {
                    let account = engine.account();
                    let items = engine.with_store(|s| s.items(account)).unwrap_or_default();
                    let under = |id: &Option<String>| id.as_deref() == Some(parent.as_str());
                    for item in items.into_iter().filter(|i| {
                        i.kind.is_playable()
                            && (under(&i.parent_id) || under(&i.season_id) || under(&i.series_id))
                    }) {
                        let state = queued_state(&engine, item.sync_state);
                        let id = item.item_id.clone();
                        let _ = sender.output(SyncQueueOutput::ItemData { item });
                        if let Some(state) = state {
                            relay.item_state(id, state);
                        }
                    }
                    if !relay.shown().overridden.is_empty() {
                        relay.overridden(false);
                    }
                })
            }
            // Retrying sends no per-item event from the engine: the badges and the list follow
            // the rows (queued again, off the list).
            SyncQueueInput::Retry { item } => {
                let items = [item];
                engine
                    .retry(Some(&items))
                    .map(|_| relay.resync_items(&items))
            }
            SyncQueueInput::RetryAll => {
                let items = relay.open_items();
                engine.retry(None).map(|_| relay.resync_items(&items))
            }
            SyncQueueInput::Discard { item } => {
                engine.discard(std::slice::from_ref(&item)).map(|_| {
                    send_item(&engine, sender.output_sender(), &item);
                })
            }
            // Both directions: send what is queued, then bring what other devices changed.
            SyncQueueInput::SyncNow => engine.sync_now().map(|_| engine.pull_soon()),
            SyncQueueInput::ConnectivityChanged { online } => {
                engine.connectivity_changed(online);
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

/// The badge for an item that has a queued row (after a bulk action).
fn queued_state(engine: &Engine, row: Option<RowState>) -> Option<ItemSyncState> {
    row.map(|_| match engine.account_state() {
        AccountState::Online => ItemSyncState::Queued,
        AccountState::Offline => ItemSyncState::WaitingForConnection,
        AccountState::SignInNeeded | AccountState::ServerChanged => ItemSyncState::WaitingForSignIn,
    })
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

/// Is a change of this item still under way (its badge waits for something)?
fn is_open(state: &ItemSyncState) -> bool {
    matches!(
        state,
        ItemSyncState::Queued
            | ItemSyncState::WaitingForConnection
            | ItemSyncState::WaitingForSignIn
            | ItemSyncState::Syncing
            | ItemSyncState::Retrying { .. }
            | ItemSyncState::NeedsAttention { .. }
    )
}

/// The badge an outbox row deserves (after missed events, a retry, a merge).
fn row_badge(row: &OutboxRow, account: AccountState) -> ItemSyncState {
    match (row.state, account) {
        (RowState::NeedsAttention, _) => ItemSyncState::NeedsAttention {
            error: row.error_detail.clone().unwrap_or_default(),
        },
        (RowState::InFlight, _) => ItemSyncState::Syncing,
        (RowState::Failed, AccountState::Online) => ItemSyncState::Retrying {
            attempt: row.attempts,
            next_attempt_at: row.next_attempt_at,
        },
        (_, AccountState::Online) => ItemSyncState::Queued,
        (_, AccountState::Offline) => ItemSyncState::WaitingForConnection,
        (_, AccountState::SignInNeeded | AccountState::ServerChanged) => {
            ItemSyncState::WaitingForSignIn
        }
    }
}

/// What the UI was told about the running engine's items, so every change reaches its badge
/// and the needs-attention list changes one item at a time.
#[derive(Debug, Default)]
struct Shown {
    /// Items whose badge shows a change under way, with that state.
    open: HashMap<String, ItemSyncState>,
    /// Items on the needs-attention list.
    attention: HashSet<String>,
    /// The store-trouble sentence shown, per source (the engine's loop, the worker's writes).
    trouble: [Option<String>; 2],
    /// Override notices shown: item → when the merge decided.
    overridden: HashMap<String, Millis>,
}

/// Who ran into the store trouble: the engine's loop or a write of the worker.
#[derive(Debug, Clone, Copy)]
enum Trouble {
    Engine = 0,
    Worker = 1,
}

/// Tells the UI where each change stands. Shared by the worker and its event task.
#[derive(Clone)]
struct Relay {
    engine: Engine,
    out: relm4::Sender<SyncQueueOutput>,
    /// The server's name, for the human messages.
    server: String,
    shown: Arc<Mutex<Shown>>,
}

impl Relay {
    fn new(engine: Engine, out: relm4::Sender<SyncQueueOutput>, server: String) -> Relay {
        Relay {
            engine,
            out,
            server,
            shown: Arc::default(),
        }
    }

    fn shown(&self) -> std::sync::MutexGuard<'_, Shown> {
        self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Items whose change is still under way.
    fn open_items(&self) -> Vec<String> {
        self.shown().open.keys().cloned().collect()
    }

    /// The list entry of a row that needs attention.
    fn attention_item(&self, store: &mut Store, row: &OutboxRow) -> AttentionItem {
        let account = self.engine.account();
        let title = match store.item(account, &row.item_id) {
            Ok(Some(i)) => {
                let code = super::format::episode_code(i.season_number, i.episode_number);
                if code.is_empty() {
                    i.name
                } else {
                    format!("{code} · {}", i.name)
                }
            }
            _ => row.item_id.clone(),
        };
        let detail = row.error_detail.clone().unwrap_or_default();
        AttentionItem {
            item_id: row.item_id.clone(),
            title,
            reason: super::format::attention_reason(row.error_kind, &detail, &self.server),
            detail,
        }
    }

    /// Send `state` to the item's badge: needs-attention states carry the human reason (the
    /// raw detail goes only to the list's "Copy details"), and the list follows.
    fn item_state(&self, item: String, state: ItemSyncState) {
        let state = match state {
            ItemSyncState::NeedsAttention { error } => {
                let account = self.engine.account();
                let entry = self
                    .engine
                    .with_store(|s| match s.outbox_row(account, &item) {
                        Ok(Some(row)) => Some(self.attention_item(s, &row)),
                        _ => None,
                    });
                let entry = entry.unwrap_or_else(|| AttentionItem {
                    item_id: item.clone(),
                    title: item.clone(),
                    reason: super::format::attention_reason(None, &error, &self.server),
                    detail: error,
                });
                let reason = entry.reason.clone();
                self.shown().attention.insert(item.clone());
                let _ = self
                    .out
                    .send(SyncQueueOutput::AttentionAdded { item: entry });
                ItemSyncState::NeedsAttention { error: reason }
            }
            other => {
                if self.shown().attention.remove(&item) {
                    let _ = self
                        .out
                        .send(SyncQueueOutput::AttentionRemoved { item: item.clone() });
                }
                other
            }
        };
        {
            let mut shown = self.shown();
            if is_open(&state) {
                shown.open.insert(item.clone(), state.clone());
            } else {
                shown.open.remove(&item);
            }
        }
        let _ = self.out.send(SyncQueueOutput::ItemState { item, state });
    }

    /// Make the badges of `items` and their places on the needs-attention list match their
    /// outbox rows (after a retry, or a merge that may have emptied a row).
    fn resync_items(&self, items: &[String]) {
        let account = self.engine.account();
        let state = self.engine.account_state();
        for item in items {
            let row = self
                .engine
                .with_store(|s| s.outbox_row(account, item))
                .ok()
                .flatten();
            let shown = self.shown().open.get(item).cloned();
            let badge = match row {
                Some(row) => row_badge(&row, state),
                // Left the outbox (delivered, or emptied by a merge): the server holds it.
                None if shown.as_ref().is_some_and(is_open) => ItemSyncState::Synced,
                None => continue,
            };
            let unchanged = match (&badge, &shown) {
                // The shown one carries the human reason: compare the kind only.
                (
                    ItemSyncState::NeedsAttention { .. },
                    Some(ItemSyncState::NeedsAttention { .. }),
                ) => true,
                _ => shown.as_ref() == Some(&badge),
            };
            if !unchanged {
                self.item_state(item.clone(), badge);
            }
        }
    }

    /// Make every badge and the whole needs-attention list match the outbox again: at start,
    /// after missed events, or when the counts disagree with the list.
    fn resync(&self) {
        let account = self.engine.account();
        let state = self.engine.account_state();
        let (rows, entries) = self.engine.with_store(|s| {
            let rows = s.outbox(account).unwrap_or_default();
            let entries: Vec<AttentionItem> = rows
                .iter()
                .filter(|r| r.state == RowState::NeedsAttention)
                .map(|r| self.attention_item(s, r))
                .collect();
            (rows, entries)
        });
        let mut badges: Vec<(String, ItemSyncState)> = Vec::new();
        {
            let shown = self.shown();
            let queued: HashSet<&str> = rows.iter().map(|r| r.item_id.as_str()).collect();
            // Changes that left the outbox meanwhile (delivered, or emptied by a merge).
            for id in shown.open.keys() {
                if !queued.contains(id.as_str()) {
                    badges.push((id.clone(), ItemSyncState::Synced));
                }
            }
            for row in &rows {
                let mut badge = row_badge(row, state);
                if let ItemSyncState::NeedsAttention { error } = &mut badge {
                    if let Some(e) = entries.iter().find(|e| e.item_id == row.item_id) {
                        error.clone_from(&e.reason);
                    }
                }
                if shown.open.get(&row.item_id) != Some(&badge) {
                    badges.push((row.item_id.clone(), badge));
                }
            }
        }
        {
            let mut shown = self.shown();
            shown.attention = entries.iter().map(|e| e.item_id.clone()).collect();
            for (id, badge) in &badges {
                if is_open(badge) {
                    shown.open.insert(id.clone(), badge.clone());
                } else {
                    shown.open.remove(id);
                }
            }
        }
        let _ = self.out.send(SyncQueueOutput::Attention { items: entries });
        for (item, state) in badges {
            let _ = self.out.send(SyncQueueOutput::ItemState { item, state });
        }
    }

    /// The store of `source` failed (`Some(raw)`: the error, never shown as is) or worked
    /// again. One message is shown while any source is in trouble.
    fn store_trouble(&self, source: Trouble, raw: Option<&str>) {
        let message = {
            let mut shown = self.shown();
            let before = shown.trouble.iter().flatten().next().cloned();
            shown.trouble[source as usize] = raw.map(super::format::store_trouble);
            let after = shown.trouble.iter().flatten().next().cloned();
            if before == after {
                return;
            }
            after
        };
        let _ = self.out.send(SyncQueueOutput::StoreTrouble { message });
    }

    /// Read the override notices again and send them when they changed; with `announce`, the
    /// ones not shown before are marked new (the app toasts them). A notice already shown is not
    /// announced again (a re-read after a change, or at start, only updates the rows).
    fn overridden(&self, announce: bool) {
        let entries = match self.engine.overridden() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "override notices not read");
                return;
            }
        };
        let now: HashMap<String, Millis> =
            entries.iter().map(|o| (o.item_id.clone(), o.at)).collect();
        let new: Vec<String> = {
            let mut shown = self.shown();
            if shown.overridden == now {
                return;
            }
            let new = entries
                .iter()
                .filter(|o| announce && shown.overridden.get(&o.item_id) != Some(&o.at))
                .map(|o| o.item_id.clone())
                .collect();
            shown.overridden = now;
            new
        };
        let account = self.engine.account();
        let ids: Vec<String> = entries.iter().map(|o| o.item_id.clone()).collect();
        let views = self
            .engine
            .with_store(|s| s.items_by_ids(account, &ids))
            .unwrap_or_default();
        let items = entries
            .into_iter()
            .map(|o| {
                let title = views
                    .iter()
                    .find(|v| v.item_id == o.item_id)
                    .map(|i| {
                        let code = super::format::episode_code(i.season_number, i.episode_number);
                        if code.is_empty() {
                            i.name.clone()
                        } else {
                            format!("{code} · {}", i.name)
                        }
                    })
                    .unwrap_or_else(|| o.item_id.clone());
                OverriddenItem {
                    item_id: o.item_id,
                    title,
                    kept: o.kept,
                    yours: o.yours,
                    after_unknown_outcome: o.after_unknown_outcome,
                }
            })
            .collect();
        let _ = self.out.send(SyncQueueOutput::Overridden { items, new });
    }

    /// New counts: the list is repaired first if it disagrees, so the popover's header, its
    /// list and the button always count the same changes.
    fn counts(&self, counts: Counts) {
        if counts.needs_attention != self.shown().attention.len() {
            self.resync();
        }
        let _ = self.out.send(SyncQueueOutput::Counts { counts });
    }
}

/// Remove the demo's previous database and token: the demo server starts from its seeded
/// library every time, so local state from an earlier run would not match it.
fn reset_demo_dir(dir: &Path) -> std::io::Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("playmark.db") || name.starts_with("token-") {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

impl SyncQueue {
    fn simulate(&self, fault: DevFault) {
        let Some(demo) = &self.demo else { return };
        match fault {
            DevFault::Offline { offline } => demo.set_offline(offline),
            // Replaces what an earlier button left armed (404s after "fail (500)" were wrong).
            DevFault::FailNext { count, status } => demo.replace_next(
                count,
                Fault::Status {
                    code: status,
                    retry_after: None,
                },
            ),
            DevFault::Random { fraction } if fraction > 0.0 => {
                demo.fail_fraction(fraction, Fault::random_mix(), rand::random())
            }
            DevFault::Random { .. } => demo.clear_faults(),
        }
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, String> {
        if self.runtime.is_none() {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("playmark-sync")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the sync runtime: {e}"))?;
            self.runtime = Some(runtime);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| "no sync runtime".to_string())
    }

    /// The data directory of real accounts.
    fn base_dir(&self) -> PathBuf {
        match &self.init {
            SyncQueueInit::Demo { data_dir, .. } | SyncQueueInit::DataDir { data_dir } => {
                data_dir.clone()
            }
        }
    }

    /// [`SyncQueue::start`], saying what stopped it.
    fn start_or_say(&mut self, sender: &ComponentSender<Self>) {
        match self.start(sender) {
            Ok(()) => {}
            Err(StartError::Said(message)) => {
                tracing::error!(%message, "start-up failed");
                let _ = sender.output(SyncQueueOutput::Failed { message });
            }
            Err(StartError::NoDatabase { message, recovery }) => {
                tracing::error!(%message, ?recovery, "no database");
                let _ = sender.output(SyncQueueOutput::NoDatabase { message, recovery });
            }
        }
    }

    fn start(&mut self, sender: &ComponentSender<Self>) -> Result<(), StartError> {
        // Playmark writes its database, tokens and settings in its data folder: one that
        // cannot be written is said as such (root ignores permission bits, so the folder is
        // asked by writing to it).
        let base = self.base_dir();
        if let Err(e) =
            std::fs::create_dir_all(&base).and_then(|()| crate::store::writable_probe(&base))
        {
            tracing::warn!(error = %e, folder = %base.display(), "data folder not writable");
            return Err(StartError::NoDatabase {
                message: super::i18n::tr(
                    "Playmark can't write to its data folder, {folder}. It keeps your library and the changes waiting to be sent there, so it needs to write to that folder: make it writable (or free space on its disk), then try again.",
                    &[("folder", &base.display().to_string())],
                ),
                recovery: Recovery::TryAgain,
            });
        }
        let mut given_server = None;
        let (data_dir, demo) = match &self.init {
            SyncQueueInit::Demo { data_dir, server } => {
                given_server = server.clone();
                (data_dir.clone(), true)
            }
            SyncQueueInit::DataDir { data_dir } => {
                let data_dir = data_dir.clone();
                // No database yet: a new user, the demo library. A database that cannot be
                // opened or read (damaged, from a newer Playmark, a full disk) is said, never
                // hidden behind the demo library as if the person were signed out.
                let db = database_path(&data_dir);
                let account = if db.exists() {
                    Store::open(&db)
                        .and_then(|s| s.account())
                        .map_err(|e| unusable_database(&db, e))?
                } else {
                    None
                };
                let has_account = match account {
                    // A locked keyring is said, not hidden behind the demo library.
                    Some(a) => self
                        .runtime()?
                        .block_on(crate::sign_in::account_token(&data_dir, &a))
                        .map_err(|e| secret_failed(&e))?
                        .is_some(),
                    None => false,
                };
                if has_account {
                    (data_dir, false)
                } else {
                    (data_dir.join("demo"), true)
                }
            }
        };
        if demo {
            Ok(self.start_demo(&data_dir, given_server, sender)?)
        } else {
            let (engine, source) = account_engine(self.runtime()?, &data_dir)?;
            Ok(self.launch(engine, &data_dir, source, sender)?)
        }
    }

    fn start_demo(
        &mut self,
        data_dir: &Path,
        given_server: Option<DemoServer>,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        reset_demo_dir(data_dir)
            .map_err(|e| format!("cannot reset the demo data in {}: {e}", data_dir.display()))?;
        self.copy_settings_to(data_dir)?;
        let server = match given_server.or_else(|| self.demo.clone()) {
            Some(server) => server,
            None => self
                .runtime()?
                .block_on(DemoServer::start(DemoConfig::default()))
                .map_err(|e| format!("cannot start the demo server: {e}"))?,
        };
        let url = server.url();
        let engine = self.runtime()?.block_on(demo_engine(data_dir, &url))?;
        self.demo = Some(server);
        self.launch(engine, data_dir, LibrarySource::Demo { url }, sender)
    }

    /// Stop the current engine and its tasks.
    fn stop_engine(&mut self) {
        self.stop_play_and_downloads();
        self.posters = None;
        self.relay = None;
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Run `engine`: show what is stored at once, refresh from the server in the background,
    /// forward its events.
    fn launch(
        &mut self,
        engine: Engine,
        data_dir: &Path,
        source: LibrarySource,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        self.stop_engine();
        let server_name = match &source {
            LibrarySource::Demo { .. } => "Demo".to_string(),
            LibrarySource::Account { server_name, .. } => server_name.clone(),
        };
        self.data_dir = Some(data_dir.to_path_buf());
        // The account state shown is the engine's own, never one left from the engine before
        // (an engine that starts signed in sends no event for it).
        let _ = sender.output(SyncQueueOutput::Launched {
            state: engine.account_state(),
        });
        // Home first: its rows are two queries away, the whole library (100,000 items) is not.
        send_home(&engine, sender.output_sender());
        let items = engine
            .with_store(|s| s.items(engine.account()))
            .map_err(|e| e.to_string())?;
        let index = LibraryIndex::of(&items);
        let _ = sender.output(SyncQueueOutput::Library {
            source: source.clone(),
            items,
            index,
        });
        let out = sender.output_sender().clone();
        let runtime = self.runtime()?;
        let relay = Relay::new(engine.clone(), out.clone(), server_name);
        // Subscribed before anything runs, so no event is missed.
        let events = engine.subscribe();
        let forward = runtime.spawn(forward_events(relay.clone(), events));
        let refresher = engine.clone();
        let run = runtime.spawn(async move {
            match refresher.pull(DEFAULT_PAGE_SIZE).await {
                Ok(_) => send_library(&refresher, source, &out),
                Err(e) => tracing::warn!(error = %e, "library refresh failed"),
            }
            // Send, pull and listen: the periodic pull counts the refresh above as its first
            // scan; the live socket (Jellyfin) brings other devices' changes within seconds.
            let (sent, (), ()) = tokio::join!(
                refresher.run(RunMode::Forever),
                refresher.run_pull(),
                refresher.run_live(),
            );
            if let Err(e) = sent {
                tracing::error!(error = %e, "sync engine stopped");
            }
        });
        self.tasks = vec![forward, run];
        let _ = sender.output(SyncQueueOutput::Player {
            available: crate::player::mpv::find_mpv().is_some(),
        });
        self.start_downloads(&engine, data_dir, sender.output_sender());
        self.posters = self
            .runtime()
            .and_then(|rt| posters::Posters::of(rt, &engine, data_dir))
            .map_err(|e| tracing::warn!(error = %e, "no posters"))
            .ok();
        // What is queued from before: every badge and the list, then the counts; the override
        // notices of the last 7 days go to their rows (not toasted again).
        relay.resync();
        relay.overridden(false);
        if let Ok(counts) = engine.counts() {
            relay.counts(counts);
        }
        self.relay = Some(relay);
        engine.set_foreground_pull(foreground_pull(self.foreground));
        self.engine = Some(engine);
        Ok(())
    }

    /// Sign in (address check, version check, credentials), store the account and its token,
    /// and switch to it. The error is a sentence for the user.
    fn sign_in(
        &mut self,
        url: &str,
        user: &str,
        password: &Password,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        use super::format::{sign_in_error, SignInStep};
        use crate::sign_in::{sign_in_jellyfin, SignInError};
        let data_dir = self.base_dir();
        let mut store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
        let runtime = self.runtime()?;
        runtime
            .block_on(sign_in_jellyfin(
                &mut store,
                &data_dir,
                url,
                user,
                &password.0,
                None,
            ))
            .map_err(|e| match e {
                SignInError::Address(e) => sign_in_error(&e, SignInStep::Address, url),
                SignInError::Reach(e) => sign_in_error(&e, SignInStep::Reach, url),
                SignInError::Version(e) => sign_in_error(&e, SignInStep::Version, url),
                SignInError::Server(e) => sign_in_error(&e, SignInStep::Credentials, url),
                SignInError::Store(e) => store_failed(e),
                SignInError::Secret(e) => secret_failed(&e),
                SignInError::UnknownUser { .. } => unknown_plex_user(),
            })?;
        drop(store);
        let (engine, source) = account_engine(self.runtime()?, &data_dir)?;
        engine.signed_in();
        self.launch(engine, &data_dir, source, sender)
    }

    /// Sign in to a Plex server with a server token (the same steps as `playmark login plex`),
    /// and switch to it. The error is a sentence for the user.
    fn sign_in_plex(
        &mut self,
        url: &str,
        token: &Password,
        sender: &ComponentSender<Self>,
    ) -> Result<(), String> {
        use super::format::{sign_in_error, SignInStep};
        use crate::sign_in::{sign_in_plex, PlexUserChoice, SignInError};
        let token = token.0.trim();
        if token.is_empty() {
            return Err(super::i18n::gettext("Enter the server's Plex token."));
        }
        let data_dir = self.base_dir();
        let mut store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
        let runtime = self.runtime()?;
        runtime
            .block_on(sign_in_plex(
                &mut store,
                &data_dir,
                url,
                token,
                PlexUserChoice::Ask,
            ))
            .map_err(|e| match e {
                SignInError::Address(e) => sign_in_error(&e, SignInStep::Address, url),
                SignInError::Server(e) | SignInError::Reach(e) | SignInError::Version(e) => {
                    sign_in_error(&e, SignInStep::Token, url)
                }
                SignInError::UnknownUser { .. } => unknown_plex_user(),
                SignInError::Store(e) => store_failed(e),
                SignInError::Secret(e) => secret_failed(&e),
            })?;
        drop(store);
        let (engine, source) = account_engine(self.runtime()?, &data_dir)?;
        engine.signed_in();
        self.launch(engine, &data_dir, source, sender)
    }

    /// Forget the token of the signed-in account and show the demo library again.
    fn sign_out(&mut self, sender: &ComponentSender<Self>) -> Result<(), String> {
        let data_dir = self.base_dir();
        let store = Store::open(&database_path(&data_dir)).map_err(store_failed)?;
        if let Some(account) = store.account().map_err(store_failed)? {
            if account.kind != ServerKind::Demo {
                let forget = async { TokenStore::open(&data_dir).await?.delete(&account).await };
                self.runtime()?.block_on(forget).map_err(|e| {
                    tracing::warn!(error = %e, "token not removed");
                    match e {
                        SecretError::Locked => secret_failed(&e),
                        _ => super::i18n::gettext(
                            "Could not sign out: the saved sign-in could not be removed from this computer.",
                        ),
                    }
                })?;
            }
        }
        drop(store);
        self.stop_engine();
        self.start_demo(&data_dir.join("demo"), None, sender)
    }
}

/// The app's engine: the default tunables plus the periodic pull (the CLI has none), every
/// `pull_interval_s` (`playmark settings`) while nothing changes, doubling up to an hour.
fn engine_config(store: &Store) -> EngineConfig {
    let default = PullSchedule::default();
    let interval_ms = match store.settings() {
        Ok(settings) => i64::try_from(settings.pull_interval.as_millis())
            .unwrap_or(default.interval_ms)
            .max(1),
        Err(e) => {
            tracing::warn!(error = %e, "settings not read; default pull interval");
            default.interval_ms
        }
    };
    EngineConfig {
        pull: Some(PullSchedule {
            interval_ms,
            max_interval_ms: default.max_interval_ms.max(interval_ms),
            ..default
        }),
        ..EngineConfig::default()
    }
}

/// The engine's pull interval for a window in front or in the back.
fn foreground_pull(active: bool) -> Option<i64> {
    active.then_some(FOREGROUND_PULL_MS)
}

/// Sign in to the demo server with its demo user and build the engine.
async fn demo_engine(data_dir: &Path, url: &str) -> Result<Engine, String> {
    let mut store = Store::open(&database_path(data_dir)).map_err(|e| e.to_string())?;
    let device_id = store.device_id().map_err(|e| e.to_string())?;
    let client = JellyfinClient::new(
        url,
        DeviceInfo::playmark(device_id.clone()),
        ClientOptions::default(),
    )
    .map_err(|e| e.detail)?;
    let session = client
        .authenticate(DEMO_USER, DEMO_PASSWORD)
        .await
        .map_err(|e| e.detail)?;
    let account = store
        .upsert_account(
            &NewAccount {
                kind: ServerKind::Demo,
                base_url: url,
                server_id: &session.server_id,
                server_name: "Demo",
                user_id: &session.user_id,
                user_name: DEMO_USER,
                device_id: &device_id,
            },
            SystemClock.now(),
        )
        .map_err(|e| e.to_string())?;
    // The demo's throwaway token stays in a file of the demo folder, never in the keyring.
    let row = store
        .account_by_id(account)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the demo account was not stored".to_string())?;
    TokenStore::files(data_dir)
        .save(&row, &session.access_token)
        .await
        .map_err(|e| format!("cannot store the demo sign-in: {e}"))?;
    let client = client.with_session(session.access_token, session.user_id);
    let config = engine_config(&store);
    Ok(Engine::new(
        store,
        account,
        Arc::new(client),
        Arc::new(SystemClock),
        config,
    ))
}

/// The database failed during a worker action: the one sentence the app shows for store
/// trouble (the raw error goes to the log).
fn store_failed(e: impl std::fmt::Display) -> String {
    tracing::warn!(error = %e, "store error");
    super::format::store_trouble(&e.to_string())
}

/// The database at `db` cannot be opened: damaged or from a newer Playmark (set aside and
/// start empty), or in trouble for another reason (said; try again).
fn unusable_database(db: &Path, e: crate::store::StoreError) -> StartError {
    use super::i18n::{gettext, tr};
    tracing::warn!(error = %e, "database not usable");
    let reason = match &e {
        crate::store::StoreError::TooNew { .. } => {
            gettext("it was written by a newer version of Playmark")
        }
        e if e.is_corrupt() => gettext("the file is damaged"),
        _ => {
            return StartError::NoDatabase {
                message: store_failed(e),
                recovery: Recovery::TryAgain,
            }
        }
    };
    StartError::NoDatabase {
        message: tr(
            "Playmark can't use its database, {file}: {reason}. Playmark can set the file aside (renamed, never deleted) and start with an empty database; changes still waiting in it will not be sent, and you sign in again.",
            &[("file", &db.display().to_string()), ("reason", &reason)],
        ),
        recovery: Recovery::SetAside,
    }
}

/// A Plex token whose user cannot be established, on a server that already has an account.
fn unknown_plex_user() -> String {
    super::i18n::gettext(
        "Playmark cannot tell which Plex user this token belongs to, and this server already has an account here. Sign in with `playmark login plex --same-user` (the same person) or `--new-user` (someone else).",
    )
}

/// The account's saved sign-in (token, certificate) could not be read or written.
fn secret_failed(e: &SecretError) -> String {
    tracing::warn!(error = %e, "sign-in store error");
    if let SecretError::Locked = e {
        return super::i18n::gettext(
            "The keyring is locked, so Playmark cannot use the saved sign-in. Unlock it (in Passwords and Keys, or by logging in again) and restart Playmark.",
        );
    }
    super::i18n::gettext(
        "Playmark could not read or save the sign-in on this computer. Check that its data folder can be written, then sign in again.",
    )
}

/// The engine of the account signed in under `data_dir` (token from the secret store).
fn account_engine(
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
) -> Result<(Engine, LibrarySource), String> {
    let store = Store::open(&database_path(data_dir)).map_err(store_failed)?;
    let account = store
        .account()
        .map_err(store_failed)?
        .ok_or_else(|| super::i18n::gettext("No account is signed in. Sign in again."))?;
    // The same engine the command line builds: the account's client (kind, address, token,
    // trusted certificate) and its server id checked at every probe.
    let config = engine_config(&store);
    let engine = runtime
        .block_on(crate::sign_in::account_engine(
            store,
            data_dir,
            &account,
            ClientOptions::default(),
            config,
        ))
        .map_err(|e| match e {
            AccountClientError::SignedOut => {
                super::i18n::gettext("No account is signed in. Sign in again.")
            }
            AccountClientError::Secret(e) => secret_failed(&e),
            AccountClientError::Client(e) => {
                tracing::warn!(detail = %e.detail, "stored account not usable");
                super::i18n::gettext(
                    "The saved server address or certificate can no longer be used. Sign in again.",
                )
            }
        })?;
    let source = LibrarySource::Account {
        again: SignInAgain {
            kind: account.kind,
            url: account.base_url,
            user: account.user_name,
        },
        server_name: account.server_name,
    };
    Ok((engine, source))
}

/// Sleeps until `deadline`; with none, never wakes (a `select!` arm that is off).
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Turn engine events into worker outputs, gathering failures for [`FAILURE_WINDOW`].
async fn forward_events(relay: Relay, mut events: tokio::sync::broadcast::Receiver<SyncEvent>) {
    let engine = relay.engine.clone();
    let out = relay.out.clone();
    let mut burst: HashMap<&'static str, (SyncError, std::collections::BTreeSet<String>)> =
        HashMap::new();
    let mut burst_until: Option<tokio::time::Instant> = None;
    let mut overridden_until: Option<tokio::time::Instant> = None;
    let mut account = engine.account_state();
    loop {
        let deadline = burst_until;
        let event = tokio::select! {
            e = events.recv() => e,
            _ = until(overridden_until) => {
                overridden_until = None;
                relay.overridden(true);
                continue;
            }
            _ = until(deadline) => {
                let pending = engine.counts().map(|c| c.total()).unwrap_or(0);
                let account_id = engine.account();
                for (_, (error, items)) in burst.drain() {
                    // The burst is gathered for a moment; a server that came back meanwhile
                    // makes its "can't be reached" notice stale.
                    if error.kind == ErrorKind::Offline
                        && engine.account_state() != AccountState::Offline
                    {
                        continue;
                    }
                    // A change discarded or delivered meanwhile is no longer one that "couldn't
                    // be saved".
                    let items: Vec<String> = items
                        .into_iter()
                        .filter(|id| {
                            engine.with_store(|s| {
                                s.outbox_row(account_id, id).map_or(true, |r| r.is_some())
                            })
                        })
                        .collect();
                    if items.is_empty() {
                        continue;
                    }
                    let _ = out.send(SyncQueueOutput::Notice {
                        error,
                        items,
                        pending,
                        server: relay.server.clone(),
                    });
                }
                burst_until = None;
                continue;
            }
        };
        match event {
            Ok(SyncEvent::ItemState { item_id, state }) => {
                if matches!(state, ItemSyncState::Synced | ItemSyncState::Discarded) {
                    send_item(&engine, &out, &item_id);
                }
                if state == ItemSyncState::Synced {
                    let _ = out.send(SyncQueueOutput::Synced {
                        at: SystemClock.now(),
                    });
                }
                relay.item_state(item_id, state);
            }
            Ok(SyncEvent::Merged { item_id, outcome }) => {
                send_item(&engine, &out, &item_id);
                // It may have kept another device's value over the person's: the notices are
                // read again once the merges of the moment are done.
                if overridden_until.is_none() {
                    overridden_until = Some(tokio::time::Instant::now() + OVERRIDDEN_WINDOW);
                }
                match merged_badge(&outcome) {
                    Some(state) => relay.item_state(item_id, state),
                    // A merge that left nothing to send (the server already holds it) empties
                    // the row: its "queued" badge must not stay.
                    None => relay.resync_items(&[item_id]),
                }
            }
            // The live connection only changes how fast remote changes arrive; nothing to show.
            Ok(SyncEvent::Live { .. }) => {}
            Ok(SyncEvent::Account { state }) => {
                // Back from offline: the engine flushes the queue at once (its reads make that
                // safe); a pull follows for what other devices changed meanwhile.
                if state == AccountState::Online && account == AccountState::Offline {
                    engine.pull_soon();
                }
                account = state;
                // Persisted, so `playmark status` / `accounts` know it too.
                let status = crate::sign_in::account_status(state);
                let id = engine.account();
                if let Err(e) = engine.with_store(|s| s.set_account_state(id, status)) {
                    tracing::warn!(error = %e, "account state not persisted");
                }
                let _ = out.send(SyncQueueOutput::AccountState { state });
            }
            Ok(SyncEvent::Counts { counts }) => relay.counts(counts),
            Ok(SyncEvent::StoreTrouble { message }) => {
                relay.store_trouble(Trouble::Engine, Some(&message));
            }
            Ok(SyncEvent::StoreRecovered) => relay.store_trouble(Trouble::Engine, None),
            Ok(SyncEvent::Failure { error, items }) => {
                let entry = burst
                    .entry(error.kind.as_str())
                    .or_insert_with(|| (error, Default::default()));
                entry.1.extend(items);
                if burst_until.is_none() {
                    burst_until = Some(tokio::time::Instant::now() + FAILURE_WINDOW);
                }
            }
            Err(RecvError::Lagged(n)) => {
                // Missed events: send the whole picture again, data and states.
                tracing::debug!(missed = n, "event receiver lagged");
                let account = engine.account();
                let items = engine.with_store(|s| s.items(account)).unwrap_or_default();
                for item in items {
                    let _ = out.send(SyncQueueOutput::ItemData { item });
                }
                relay.resync();
                relay.overridden(true);
                if let Ok(counts) = engine.counts() {
                    relay.counts(counts);
                }
                let _ = out.send(SyncQueueOutput::AccountState {
                    state: engine.account_state(),
                });
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// The badge a merge deserves: only when another device's change reached this one.
fn merged_badge(outcome: &Outcome) -> Option<ItemSyncState> {
    let (conflict, kept_server) = match outcome.decision {
        Decision::AdoptedServer => (false, true),
        Decision::Conflict { winner, .. } => (true, winner == Side::Server),
        Decision::Unchanged | Decision::KeptLocal | Decision::Combined => return None,
    };
    Some(ItemSyncState::Merged {
        conflict,
        kept_server,
        position_ms: outcome.result.position_ms,
        played: outcome.result.played,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_pulls_at_the_pull_interval_setting() {
        use crate::store::SettingKey;
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&database_path(dir.path())).unwrap();
        let pull = |store: &Store| engine_config(store).pull.unwrap();
        assert_eq!(pull(&store).interval_ms, 5 * 60_000, "default");
        store.set_setting(SettingKey::PullIntervalS, "120").unwrap();
        assert_eq!(pull(&store).interval_ms, 120_000);
        assert_eq!(pull(&store).max_interval_ms, 60 * 60_000);
        store
            .set_setting(SettingKey::PullIntervalS, "86400")
            .unwrap();
        // Longer than the usual cap: the setting wins, no doubling past it.
        assert_eq!(pull(&store).interval_ms, 86_400_000);
        assert_eq!(pull(&store).max_interval_ms, 86_400_000);
    }

    #[test]
    fn demo_reset_removes_only_the_database_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "playmark.db",
            "playmark.db-wal",
            "token-1",
            "window-state",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        reset_demo_dir(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["notes.txt", "window-state"]);
        // A missing directory is fine (first start).
        reset_demo_dir(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn passwords_never_print() {
        let input = SyncQueueInput::SignIn {
            url: "https://media.local".into(),
            user: "ann".into(),
            password: Password("hunter2".into()),
        };
        let shown = format!("{input:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ann"));
    }
}
