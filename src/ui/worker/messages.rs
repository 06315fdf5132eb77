//! The worker's messages: how it starts ([`SyncQueueInit`]), what the app asks of it
//! ([`SyncQueueInput`]) and what it tells the screen ([`SyncQueueOutput`]), with the small types they
//! carry.

use super::*;

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
pub(super) enum StartError {
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
        action: crate::ui::downloads::DownloadAction,
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
        storage: crate::ui::sign_in::TokenStorage,
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
        state: crate::ui::preferences::PreferencesState,
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
