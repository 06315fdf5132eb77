//! Bundled Jellyfin-compatible demo and test server.
//!
//! A stateful, in-memory server that speaks the part of the Jellyfin 10.11.11 HTTP API that
//! Playmark uses (sign-in, library listing with user data, user-data updates, mark
//! played/unplayed), over real HTTP on 127.0.0.1. It backs the demo library of the app and is
//! the fake server of every test; it can inject faults (offline, latency, error statuses,
//! resets, truncated or malformed bodies) and records every request it receives.
//!
//! Only the header form `Authorization: MediaBrowser …, Token="…"` is accepted for tokens
//! (the legacy `X-Emby-Token` forms are off by default from Jellyfin 12.0 on).
//!
//! The same machinery (listener, offline switch, fault plan, request log, library state) also
//! serves a **Plex**-compatible API ([`DemoKind::Plex`], routes in `plex.rs`): only the routing
//! and the id scheme differ between the two kinds.

#![warn(missing_docs)]

mod faults;
mod home;
mod images;
mod jellyfin_home;
mod library;
mod live;
mod media;
mod plex;
mod plex_browse;
mod plex_xml;
pub use plex::PlexRules;
mod routes;
mod sessions;
mod state;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::AbortHandle;

pub use faults::{Fault, FaultSpec, PathPattern, RandomFaults, RequestMatch};

use crate::clock::{Clock, SystemClock};
pub use library::DemoLibrary;

use faults::FaultPlan;
use state::State;

/// User name of the demo account.
pub const DEMO_USER: &str = "demo";
/// Password of the demo account.
pub const DEMO_PASSWORD: &str = "demo";

/// The access token the Plex demo server accepts (`X-Plex-Token`), until
/// [`DemoServer::revoke_tokens`].
pub const DEMO_PLEX_TOKEN: &str = "playmark-demo-plex-token";

/// Plex demo tokens besides [`DEMO_PLEX_TOKEN`], all accepted by the server:
/// - a second token of the owner (plex.tv account 1, "demo"), e.g. from another device;
/// - the token of a second user (plex.tv account 2, "guest");
/// - a server-local token plex.tv does not know (its user cannot be established).
///
/// The demo server also answers plex.tv's `GET /api/v2/user` for the first three (so a test
/// can point `PLAYMARK_PLEX_TV_URL` at it); the local token gets 401 there, as on plex.tv.
pub const DEMO_PLEX_OWNER_TOKEN_2: &str = "playmark-demo-plex-token-second-device";
/// See [`DEMO_PLEX_OWNER_TOKEN_2`].
pub const DEMO_PLEX_GUEST_TOKEN: &str = "playmark-demo-plex-guest-token";
/// See [`DEMO_PLEX_OWNER_TOKEN_2`].
pub const DEMO_PLEX_LOCAL_TOKEN: &str = "playmark-demo-plex-local-token";

/// Server version the Plex demo server reports in `/identity`.
pub const DEMO_PLEX_VERSION: &str = "1.41.3.9314-a0bfb8370";

/// Which server API a [`DemoServer`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoKind {
    /// Jellyfin 10.11 (ids are 32 hex digits, sign-in with user name and password).
    #[default]
    Jellyfin,
    /// Plex Media Server (ids are numeric `ratingKey` strings, a fixed token
    /// [`DEMO_PLEX_TOKEN`]).
    Plex,
}

impl std::str::FromStr for DemoKind {
    type Err = String;

    /// `jellyfin` or `plex` (case-insensitive).
    fn from_str(s: &str) -> Result<DemoKind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jellyfin" => Ok(DemoKind::Jellyfin),
            "plex" => Ok(DemoKind::Plex),
            other => Err(format!(
                "unknown server kind {other:?}: expected jellyfin or plex"
            )),
        }
    }
}

/// Request bodies larger than this are answered with 413.
const MAX_BODY: usize = 1024 * 1024;

/// How to start a [`DemoServer`].
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Which API the server speaks.
    pub kind: DemoKind,
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Server version reported by `/System/Info/Public` (default "10.11.11"); the Plex kind
    /// reports [`DEMO_PLEX_VERSION`] when this is left at the Jellyfin default.
    pub version: String,
    /// The library served.
    pub library: DemoLibrary,
    /// Faults applied right after start.
    pub faults: Option<FaultSpec>,
    /// Latency added to every response.
    pub latency: Duration,
    /// The clock the server stamps dates with (last played, sign-in dates).
    pub clock: DemoClock,
    /// A Plex server's own rules (played threshold, `lastViewedAt` on progress).
    pub plex: plex::PlexRules,
}

/// The clock of a [`DemoServer`]: the wall clock by default, a fake one in simulations (so the
/// dates a server stamps are as deterministic as the rest of the run).
#[derive(Clone)]
pub struct DemoClock(pub Arc<dyn Clock>);

impl Default for DemoClock {
    fn default() -> DemoClock {
        DemoClock(Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for DemoClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoClock")
    }
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig {
            kind: DemoKind::Jellyfin,
            port: 0,
            version: "10.11.11".to_string(),
            library: DemoLibrary::seeded(),
            faults: None,
            latency: Duration::ZERO,
            clock: DemoClock::default(),
            plex: plex::PlexRules::default(),
        }
    }
}

impl DemoConfig {
    /// The default configuration for a Plex-compatible server.
    pub fn plex() -> DemoConfig {
        DemoConfig {
            kind: DemoKind::Plex,
            version: DEMO_PLEX_VERSION.to_string(),
            ..DemoConfig::default()
        }
    }
}

/// One request the server received (including those answered with a fault).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. "POST".
    pub method: String,
    /// Path as sent (not decoded), e.g. "/UserPlayedItems/abc…".
    pub path: String,
    /// Query parameters, URL-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Every request header as (lower-case name, value), for the Plex `X-Plex-*` headers.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, if it is JSON.
    pub body: Option<serde_json::Value>,
    /// The raw body bytes.
    pub raw_body: Vec<u8>,
    /// Response status; 0 if the connection was reset without a response (or the response is
    /// still pending).
    pub status: u16,
    /// The fault applied, in [`FaultSpec`] notation (e.g. "503", "429:7", "reset").
    pub fault: Option<String>,
    /// When the request arrived.
    pub at: SystemTime,
}

impl RecordedRequest {
    /// Whether this call changes the user's play state ([`RequestMatch::user_data_writes`]).
    pub fn is_user_data_write(&self) -> bool {
        RequestMatch::user_data_writes().matches(&self.method, &self.path, &self.query)
    }

    /// Whether this asks for items with their user data: Jellyfin's `GET /Items` (a listing or
    /// items by id), or a Plex section listing of episodes (`type=4`) or movies (`type=1`).
    pub fn lists_user_data(&self) -> bool {
        self.path == "/Items" || matches!(self.query_value("type"), Some("4" | "1"))
    }

    /// The value of a request header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a query parameter (name compared case-insensitively).
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running demo server. Cheap to clone; the server stops when the last clone is dropped or
/// [`DemoServer::shutdown`] is called.
#[derive(Clone)]
pub struct DemoServer {
    inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for DemoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoServer")
            .field("url", &self.url())
            .finish()
    }
}

/// Stops the server when the last handle goes away.
struct Guard(Arc<Inner>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.timers.stop();
        self.0.go_offline(true);
    }
}

struct Conn {
    abort: AbortHandle,
    socket: Option<socket2::Socket>,
}

struct Net {
    offline: bool,
    /// `/socket` answers (default); `false` makes it 404, as behind a proxy without WebSockets.
    live_enabled: bool,
    /// Open WebSocket connections (their tasks own the upgraded streams).
    live: HashMap<u64, AbortHandle>,
    shut_down: bool,
    /// The accept task and a duplicate of the listening socket (to stop it synchronously).
    listener: Option<(AbortHandle, Option<socket2::Socket>)>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
}

impl Default for Net {
    fn default() -> Net {
        Net {
            offline: false,
            live_enabled: true,
            live: HashMap::new(),
            shut_down: false,
            listener: None,
            conns: HashMap::new(),
            next_conn: 0,
        }
    }
}

struct Inner {
    kind: DemoKind,
    port: u16,
    /// `UserDataChanged` messages for every open WebSocket.
    live: tokio::sync::broadcast::Sender<Arc<str>>,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    plan: Mutex<FaultPlan>,
    latency: Mutex<Duration>,
    log: Mutex<Vec<(u64, RecordedRequest)>>,
    next_request: AtomicU64,
    net: Mutex<Net>,
    media: Mutex<media::MediaSettings>,
    /// Requests held by [`Fault::Hold`] or [`Fault::HoldAnswer`], waiting for
    /// [`DemoServer::release_held`].
    held: Mutex<Vec<Held>>,
    /// The number of held requests, for waiters.
    held_count: tokio::sync::watch::Sender<usize>,
    /// The server's own timers (`live.rs`).
    timers: live::Timers,
}

/// A request held by [`Fault::Hold`] or [`Fault::HoldAnswer`]: what it still needs, and where its
/// answer goes (nowhere when the client is gone).
struct Held {
    work: HeldWork,
    seq: u64,
    /// The id of the armed fault that holds it ([`DemoServer::fail_matching`]).
    armed: Option<u64>,
    reply: tokio::sync::oneshot::Sender<Response<Body>>,
}

/// What a held request still needs.
enum HeldWork {
    /// [`Fault::Hold`]: the request, not yet applied.
    Unapplied {
        parts: Box<axum::http::request::Parts>,
        query: Vec<(String, String)>,
        raw: Vec<u8>,
        too_large: bool,
    },
    /// [`Fault::HoldAnswer`]: applied when it arrived; only its answer waits.
    Answered(routes::Reply),
}

/// Lock, recovering from a poisoned mutex (a panicking test thread must not wedge the server).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error a service returns to make hyper drop the connection without a response.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("demo server: injected connection reset")
    }
}

impl std::error::Error for ResetConnection {}

fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(1024)
}

impl DemoServer {
    /// Start serving on 127.0.0.1 (must be called inside a tokio runtime).
    pub async fn start(config: DemoConfig) -> io::Result<DemoServer> {
        let listener = bind(config.port)?;
        let port = listener.local_addr()?.port();
        let mut state = match config.kind {
            DemoKind::Jellyfin => State::new(config.library, config.version),
            DemoKind::Plex => {
                let version = if config.version == DemoConfig::default().version {
                    DEMO_PLEX_VERSION.to_string()
                } else {
                    config.version
                };
                plex::new_state(config.library, version)
            }
        };
        state.clock = config.clock.0.clone();
        state.plex = config.plex;
        state.jellyfin_rules = config.kind == DemoKind::Jellyfin;
        let inner = Arc::new(Inner {
            kind: config.kind,
            port,
            live: tokio::sync::broadcast::channel(1024).0,
            runtime: tokio::runtime::Handle::current(),
            state: Mutex::new(state),
            plan: Mutex::new(FaultPlan::default()),
            latency: Mutex::new(config.latency),
            log: Mutex::new(Vec::new()),
            next_request: AtomicU64::new(0),
            net: Mutex::new(Net::default()),
            media: Mutex::new(media::MediaSettings::default()),
            held: Mutex::new(Vec::new()),
            held_count: tokio::sync::watch::channel(0).0,
            timers: live::Timers::default(),
        });
        inner.start_timers();
        inner.install_listener(listener);
        let server = DemoServer {
            _guard: Arc::new(Guard(inner.clone())),
            inner,
        };
        if let Some(spec) = &config.faults {
            server.apply_spec(spec);
        }
        Ok(server)
    }

    /// Start a Plex-compatible server: `config` with its kind set to [`DemoKind::Plex`].
    pub async fn start_plex(config: DemoConfig) -> io::Result<DemoServer> {
        DemoServer::start(DemoConfig {
            kind: DemoKind::Plex,
            ..config
        })
        .await
    }

    /// Which API this server speaks.
    pub fn kind(&self) -> DemoKind {
        self.inner.kind
    }

    /// Base URL, e.g. "http://127.0.0.1:8096".
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.inner.port)
    }

    /// The TCP port (stays the same across offline/online).
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// The demo user's id (32 lowercase hex digits; "1" for Plex, the server owner).
    pub fn user_id(&self) -> String {
        lock(&self.inner.state).user_id.clone()
    }

    /// The server's id, as in `/System/Info/Public` (Plex: `machineIdentifier`).
    pub fn server_id(&self) -> String {
        lock(&self.inner.state).server_id.clone()
    }

    /// Answer as another server from now on: `id` becomes the server id (`/System/Info/Public`
    /// `Id`, Plex `machineIdentifier`), as after a reinstall or when another server takes over
    /// the address.
    pub fn set_server_id(&self, id: &str) {
        lock(&self.inner.state).server_id = id.to_string();
    }

    /// `true`: stop listening and abort every open connection (keep-alive ones too), so
    /// clients get "connection refused". `false`: listen again on the same port.
    ///
    /// The listening socket and the open connections are shut down synchronously, before this
    /// returns. See [`DemoServer::go_offline`] for clients on a current-thread runtime.
    pub fn set_offline(&self, offline: bool) {
        if offline {
            self.inner.go_offline(false);
        } else {
            self.inner.go_online();
        }
    }

    /// `set_offline(true)`, then a short pause (10 ms) so that clients running in the same
    /// runtime notice their keep-alive connections were closed.
    ///
    /// Prefer this in tests on a current-thread runtime: there a client's connection task only
    /// sees the close when it next runs, so a request sent right after `set_offline(true)` can
    /// still go out on the dead connection and fail as "connection closed before message
    /// completed" instead of "connection refused".
    pub async fn go_offline(&self) {
        self.set_offline(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Whether the server is currently offline.
    pub fn is_offline(&self) -> bool {
        lock(&self.inner.net).offline
    }

    /// The next `n` requests (of any kind) are answered with `fault`. Calls queue up in order,
    /// together with [`DemoServer::fail_matching`]'s: a request takes the earliest armed fault
    /// that matches it.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        lock(&self.inner.plan).push_next(n, fault);
    }

    /// The next `n` requests (of any kind) are answered with `fault`, **instead of** what
    /// earlier [`DemoServer::fail_next`] calls (or `--faults next=`) left armed: "next 5 fail
    /// with 500" after two of "next 5 gone (404)" were used means five 500s, not three 404s
    /// first. Faults armed by [`DemoServer::fail_matching`] stay. The app's developer controls
    /// arm faults this way.
    pub fn replace_next(&self, n: usize, fault: Fault) {
        lock(&self.inner.plan).replace_next(n, fault);
    }

    /// The next request matching `when` (e.g. the first write:
    /// [`RequestMatch::user_data_writes`]) is answered with `fault`; other requests pass by
    /// it. Returns the armed fault's id, which [`DemoServer::held_armed`] reports while the
    /// request it holds waits. Faults armed earlier (here or by [`DemoServer::fail_next`])
    /// that also match the request go first.
    pub fn fail_matching(&self, when: RequestMatch, fault: Fault) -> u64 {
        lock(&self.inner.plan).push_matching(when, fault)
    }

    /// For each held request, oldest first (the order [`DemoServer::release_held`] releases
    /// them): the id [`DemoServer::fail_matching`] returned for the fault that holds it
    /// (`None` when armed by [`DemoServer::fail_next`] or `--faults`).
    pub fn held_armed(&self) -> Vec<Option<u64>> {
        lock(&self.inner.held).iter().map(|h| h.armed).collect()
    }

    /// Faults queued by [`DemoServer::fail_next`] or [`DemoServer::fail_matching`] that no
    /// request has met yet.
    pub fn armed_faults(&self) -> usize {
        lock(&self.inner.plan).armed()
    }

    /// A random `fraction` (0..1) of requests gets a fault picked uniformly from `faults`,
    /// using a deterministic generator seeded with `seed`. Replaces an earlier fraction.
    pub fn fail_fraction(&self, fraction: f64, faults: Vec<Fault>, seed: u64) {
        lock(&self.inner.plan).set_random(fraction, faults, seed);
    }

    /// Latency added to every response from now on.
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.inner.latency) = d;
    }

    /// Requests held by [`Fault::Hold`] or [`Fault::HoldAnswer`] right now.
    pub fn held_requests(&self) -> usize {
        lock(&self.inner.held).len()
    }

    /// Wait until more than `n` requests are held by [`Fault::Hold`] or [`Fault::HoldAnswer`].
    pub async fn until_held(&self, n: usize) {
        let mut rx = self.inner.held_count.subscribe();
        // The sender lives as long as the server; an error cannot happen while `self` exists.
        let _ = rx.wait_for(|held| *held > n).await;
    }

    /// Release the oldest held request: `apply` = the server processes it now (its effects land
    /// although the client may have given up long ago; a [`Fault::HoldAnswer`] request was
    /// processed when it came) and answers whoever still listens; otherwise its connection is
    /// reset (a [`Fault::Hold`] request unprocessed). `false` when none is held.
    pub fn release_held(&self, apply: bool) -> bool {
        let next = {
            let mut held = lock(&self.inner.held);
            let next = (!held.is_empty()).then(|| held.remove(0));
            self.inner.held_count.send_replace(held.len());
            next
        };
        let Some(h) = next else {
            return false;
        };
        if apply {
            let reply = match h.work {
                HeldWork::Unapplied {
                    parts,
                    query,
                    raw,
                    too_large,
                } => self.inner.route(&parts, &query, &raw, too_large),
                HeldWork::Answered(reply) => reply,
            };
            self.inner.set_status(h.seq, reply.status);
            // The client may be gone: nobody to answer is fine.
            let _ = h
                .reply
                .send(respond(reply.status, reply.content_type, reply.body));
        }
        true
    }

    /// Remove queued and random faults and the latency (does not change offline).
    pub fn clear_faults(&self) {
        lock(&self.inner.plan).clear();
        *lock(&self.inner.latency) = Duration::ZERO;
        lock(&self.inner.media).rate = None;
    }

    /// Apply a parsed `--faults` spec on top of the current faults.
    pub fn apply_spec(&self, spec: &FaultSpec) {
        if let Some(l) = spec.latency {
            self.set_latency(l);
        }
        if let Some(r) = spec.media_rate {
            self.set_media_rate(Some(r));
        }
        if let Some(r) = &spec.random {
            self.fail_fraction(r.fraction, r.faults.clone(), r.seed);
        }
        for (n, f) in &spec.next {
            self.fail_next(*n, f.clone());
        }
        if spec.offline {
            self.set_offline(true);
        }
    }

    /// Whether the demo user may download media: `false` makes Jellyfin's
    /// `/Items/{id}/Download` answer 403 (its `Download` policy, `EnableContentDownloading`
    /// false) and Plex's part URL with `download=1` answer 403 "server owner has forbidden
    /// download of media" (`allowSync` false). Streaming stays allowed, as on the real servers.
    pub fn set_downloads_allowed(&self, allowed: bool) {
        lock(&self.inner.state).downloads_allowed = allowed;
    }

    /// `false`: media requests ignore `Range` and get 200 with the whole file (as behind a
    /// proxy that strips ranges); `true` (the default): 206/416 as usual.
    pub fn set_media_ranges(&self, honour: bool) {
        lock(&self.inner.media).ranges = honour;
    }

    /// Throttle media response bodies to `bytes_per_second` (`None`: full speed).
    pub fn set_media_rate(&self, bytes_per_second: Option<u64>) {
        lock(&self.inner.media).rate = bytes_per_second.filter(|r| *r > 0);
    }

    /// The complete media file the server serves for a playable item (what a download must
    /// end up byte-identical to), or `None` for folders and unknown ids.
    pub fn media_bytes(&self, item_id: &str) -> Option<Vec<u8>> {
        let id = self.inner.normalize_id(item_id)?;
        let state = lock(&self.inner.state);
        let m = media::Media::of(state.get(&id)?)?;
        Some(m.read(0, m.len()))
    }

    /// Invalidate every issued access token: further calls with them get 401.
    pub fn revoke_tokens(&self) {
        lock(&self.inner.state).tokens.clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.log)
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// The demo user's data for an item (ids with or without dashes). Folders report the
    /// aggregate: played when every episode is, last played = latest of the episodes.
    pub fn user_data(&self, item_id: &str) -> Option<crate::model::UserData> {
        let id = self.inner.normalize_id(item_id)?;
        let mut state = lock(&self.inner.state);
        self.inner.catch_up(&mut state);
        let data = state.user_data(&id)?;
        Some(match self.inner.kind {
            DemoKind::Jellyfin => data,
            DemoKind::Plex => plex::reported_user_data(data),
        })
    }

    /// Set an item's user data directly, as another device would. On a series or season it
    /// sets every episode under it. Unknown ids are ignored.
    pub fn set_user_data(&self, item_id: &str, data: crate::model::UserData) {
        if let Some(id) = self.inner.normalize_id(item_id) {
            let data = match self.inner.kind {
                DemoKind::Jellyfin => data,
                DemoKind::Plex => plex::stored_user_data(data),
            };
            let mut state = lock(&self.inner.state);
            state.set_user_data(&id, &data);
            self.inner.publish(&mut state);
        }
    }

    /// Who is playing what now, from live session reports: (item id, position ms, paused) per
    /// playing device. On Jellyfin the position is the session clock's (advanced since the
    /// last report on the demo's clock) and sessions silent too long are stopped first.
    pub fn now_playing(&self) -> Vec<(String, i64, bool)> {
        let mut state = lock(&self.inner.state);
        self.inner.catch_up(&mut state);
        state.sessions.now_playing(state.clock.now())
    }

    /// Close every open WebSocket (clients see the connection drop; HTTP is unaffected).
    pub fn close_live_connections(&self) {
        for (_, task) in lock(&self.inner.net).live.drain() {
            task.abort();
        }
    }

    /// `false`: `/socket` answers 404 (and open sockets are closed), as behind a proxy that
    /// does not pass WebSockets; `true` (the default): sockets work.
    pub fn set_live_enabled(&self, enabled: bool) {
        lock(&self.inner.net).live_enabled = enabled;
        if !enabled {
            self.close_live_connections();
        }
    }

    /// WebSocket connections currently open.
    pub fn live_connections(&self) -> usize {
        lock(&self.inner.net).live.len()
    }

    /// Delete an item (and everything under it) from the library: it then answers 404.
    pub fn remove_item(&self, item_id: &str) {
        if let Some(id) = self.inner.normalize_id(item_id) {
            lock(&self.inner.state).remove_item(&id);
        }
    }

    /// Add an episode at the end of a season, as a library scan on the server that found a
    /// new file would (another device may then set its user data: `data`). Returns the new
    /// item's id (a `ratingKey` on Plex); `None` when `season_id` is not a season.
    pub fn add_episode(
        &self,
        season_id: &str,
        name: &str,
        runtime_ms: i64,
        data: crate::model::UserData,
    ) -> Option<String> {
        let id = self.inner.normalize_id(season_id)?;
        let (data, numeric) = match self.inner.kind {
            DemoKind::Jellyfin => (data, false),
            DemoKind::Plex => (plex::stored_user_data(data), true),
        };
        let mut state = lock(&self.inner.state);
        state.add_episode(&id, name, runtime_ms, &data, numeric)
    }

    /// Snapshot of the library in server order, with the demo user's data (for Plex as
    /// [`DemoServer::user_data`] reports it: `lastViewedAt` has whole seconds).
    pub fn items(&self) -> Vec<crate::model::RemoteItem> {
        let mut items = {
            let mut state = lock(&self.inner.state);
            self.inner.catch_up(&mut state);
            state.remote_items()
        };
        if self.inner.kind == DemoKind::Plex {
            for i in &mut items {
                i.user_data = plex::reported_user_data(i.user_data);
            }
        }
        items
    }

    /// Stop the server: the port is closed and every connection aborted.
    pub async fn shutdown(self) {
        self.inner.go_offline(true);
        tokio::task::yield_now().await;
    }

    /// Serve until Ctrl-C (for the `demo-server` command).
    pub async fn run_until_ctrl_c(self) -> io::Result<()> {
        tokio::signal::ctrl_c().await?;
        self.shutdown().await;
        Ok(())
    }
}

impl Inner {
    /// An item id as this kind of server spells it, or `None` if it cannot be one.
    fn normalize_id(&self, id: &str) -> Option<String> {
        match self.kind {
            DemoKind::Jellyfin => routes::normalize_id(id),
            DemoKind::Plex => Some(id.trim().to_string()).filter(|s| !s.is_empty()),
        }
    }

    fn install_listener(self: &Arc<Self>, listener: TcpListener) {
        let mut net = lock(&self.net);
        let dup = socket2::SockRef::from(&listener).try_clone().ok();
        let weak = Arc::downgrade(self);
        let task = self.runtime.spawn(accept_loop(listener, weak));
        net.listener = Some((task.abort_handle(), dup));
        net.offline = false;
    }

    fn go_offline(&self, shut_down: bool) {
        let mut net = lock(&self.net);
        net.offline = true;
        net.shut_down |= shut_down;
        if let Some((task, socket)) = net.listener.take() {
            if let Some(s) = socket {
                // Stops listening at once (new connects are refused), before the task is gone.
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            task.abort();
        }
        for (_, task) in net.live.drain() {
            task.abort();
        }
        for (_, c) in net.conns.drain() {
            if let Some(s) = c.socket {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            c.abort.abort();
        }
    }

    fn go_online(self: &Arc<Self>) {
        {
            let net = lock(&self.net);
            if net.shut_down || !net.offline {
                return;
            }
        }
        let _enter = self.runtime.enter();
        let mut last_err = None;
        for _ in 0..50 {
            match bind(self.port) {
                Ok(l) => {
                    self.install_listener(l);
                    return;
                }
                Err(e) => {
                    last_err = Some(e);
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        tracing::warn!(port = self.port, error = ?last_err, "demo server could not listen again");
    }

    fn serve(self: &Arc<Self>, stream: TcpStream) {
        let mut net = lock(&self.net);
        if net.offline {
            return;
        }
        let id = net.next_conn;
        net.next_conn += 1;
        let socket = socket2::SockRef::from(&stream).try_clone().ok();
        let inner = self.clone();
        let task = self.runtime.spawn(async move {
            let svc_inner = inner.clone();
            let svc = service_fn(move |req| {
                let inner = svc_inner.clone();
                async move {
                    let mut answer = inner.clone().handle(req).await;
                    if let Ok(response) = &mut answer {
                        // Like any HTTP server, the demo says what time it is (RFC 9110 `Date`),
                        // on its own clock: the one it stamps last-played dates with.
                        let now = lock(&inner.state).now();
                        let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                        if let Ok(v) = HeaderValue::from_str(&date) {
                            response.headers_mut().insert(header::DATE, v);
                        }
                    }
                    answer
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
            lock(&inner.net).conns.remove(&id);
        });
        net.conns.insert(
            id,
            Conn {
                abort: task.abort_handle(),
                socket,
            },
        );
    }

    fn record(&self, r: RecordedRequest) -> u64 {
        let seq = self.next_request.fetch_add(1, Ordering::Relaxed);
        lock(&self.log).push((seq, r));
        seq
    }

    fn set_status(&self, seq: u64, status: u16) {
        if let Some((_, r)) = lock(&self.log).iter_mut().rev().find(|(s, _)| *s == seq) {
            r.status = status;
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ResetConnection> {
        if req.uri().path().eq_ignore_ascii_case("/socket") {
            let query: Vec<(String, String)> = req
                .uri()
                .query()
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            let seq = self.record(RecordedRequest {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                query: query.clone(),
                authorization: req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                headers: req
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect(),
                body: None,
                raw_body: Vec::new(),
                status: 0,
                fault: None,
                at: SystemTime::now(),
            });
            let (status, response) = self.websocket(req, &query);
            self.set_status(seq, status);
            return Ok(response);
        }
        let (parts, body) = req.into_parts();
        let mut raw = Vec::new();
        let mut too_large = false;
        let mut stream = Body::new(body).into_data_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) if raw.len() + c.len() > MAX_BODY => {
                    too_large = true;
                    break;
                }
                Ok(c) => raw.extend_from_slice(&c),
                Err(_) => break,
            }
        }
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let (fault, armed) = if images::is_image_path(parts.uri.path()) {
            (None, None)
        } else {
            match lock(&self.plan).take(parts.method.as_str(), parts.uri.path(), &query) {
                Some((f, id)) => (Some(f), id),
                None => (None, None),
            }
        };
        let seq = self.record(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: query.clone(),
            authorization: parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: if raw.is_empty() {
                None
            } else {
                serde_json::from_slice(&raw).ok()
            },
            raw_body: raw.clone(),
            status: 0,
            fault: fault.as_ref().map(Fault::to_string),
            at: SystemTime::now(),
        });

        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }

        // Media (streamed bodies): the faults that answer instead of the route apply as below;
        // `truncated` cuts the body in the middle, `delay` waits first.
        if matches!(fault, None | Some(Fault::Truncated) | Some(Fault::Delay(_))) {
            if let Some(served) = self.media_route(&parts, &query) {
                if let Some(Fault::Delay(d)) = fault {
                    tokio::time::sleep(d).await;
                }
                let (status, response) = match served {
                    Ok(served) => {
                        let range = parts
                            .headers
                            .get(header::RANGE)
                            .and_then(|v| v.to_str().ok());
                        let settings = *lock(&self.media);
                        media::respond(
                            served,
                            range,
                            settings,
                            matches!(fault, Some(Fault::Truncated)),
                        )
                    }
                    Err(reply) => (
                        reply.status,
                        respond(reply.status, reply.content_type, reply.body),
                    ),
                };
                self.set_status(seq, status);
                return Ok(response);
            }
        }

        let (status, response) = match fault {
            Some(Fault::Reset) => return Err(ResetConnection),
            Some(Fault::AppliedReset) => {
                // The request is processed; its answer never leaves (recorded status 0).
                let _ = self.route(&parts, &query, &raw, too_large);
                return Err(ResetConnection);
            }
            Some(fault @ (Fault::Hold | Fault::HoldAnswer)) => {
                let work = if fault == Fault::Hold {
                    HeldWork::Unapplied {
                        parts: Box::new(parts),
                        query,
                        raw,
                        too_large,
                    }
                } else {
                    HeldWork::Answered(self.route(&parts, &query, &raw, too_large))
                };
                let (reply, answer) = tokio::sync::oneshot::channel();
                {
                    let mut held = lock(&self.held);
                    held.push(Held {
                        work,
                        seq,
                        armed,
                        reply,
                    });
                    self.held_count.send_replace(held.len());
                }
                // Released without being applied: the connection is reset, like a timeout.
                return answer.await.map_err(|_| ResetConnection);
            }
            Some(Fault::Status { code, retry_after }) => {
                let body = if matches!(code, 401 | 403) {
                    Vec::new()
                } else {
                    StatusCode::from_u16(code)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Error")
                        .as_bytes()
                        .to_vec()
                };
                let mut r = respond(code, (!body.is_empty()).then_some("text/plain"), body);
                if let Some(s) = retry_after {
                    if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                        r.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                }
                (code, r)
            }
            Some(Fault::Starting) => (
                503,
                respond(
                    503,
                    Some("text/html"),
                    b"<!DOCTYPE html><html><head><title>Jellyfin</title></head><body>\
                      Jellyfin Server is loading. Please try again shortly.</body></html>"
                        .to_vec(),
                ),
            ),
            Some(Fault::Ignored) => (200, respond(200, None, Vec::new())),
            Some(Fault::Html) => (
                200,
                respond(
                    200,
                    Some("text/html; charset=utf-8"),
                    b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>502 \
                      Bad Gateway</h1><p>The upstream server is not responding.</p></body></html>"
                        .to_vec(),
                ),
            ),
            Some(Fault::Malformed) => (
                200,
                respond(
                    200,
                    Some("application/json; charset=utf-8"),
                    br#"{"Items":[{"Name":"Episode 1","Id":"#.to_vec(),
                ),
            ),
            Some(Fault::Truncated) => {
                // The request is processed; only the response is cut short.
                let reply = self.route(&parts, &query, &raw, too_large);
                let mut full = reply.body;
                if full.len() < 64 {
                    full = format!(
                        r#"{{"Items":[],"TotalRecordCount":0,"StartIndex":0,"Padding":"{}"}}"#,
                        "x".repeat(64)
                    )
                    .into_bytes();
                }
                let len = full.len();
                let part = Bytes::from(full).slice(..len / 2);
                // Send the head and half the body, give them time to leave, then fail the
                // body so hyper closes the connection short of Content-Length.
                let first = futures::stream::once(async move { Ok::<Bytes, io::Error>(part) });
                let fail = futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    Err(io::Error::other("demo server: injected truncated body"))
                });
                let mut r = Response::new(Body::from_stream(first.chain(fail)));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                (200, r)
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                let reply = self.route(&parts, &query, &raw, too_large);
                (
                    reply.status,
                    respond(reply.status, reply.content_type, reply.body),
                )
            }
            None => {
                let reply = self.route(&parts, &query, &raw, too_large);
                (
                    reply.status,
                    respond(reply.status, reply.content_type, reply.body),
                )
            }
        };
        self.set_status(seq, status);
        Ok(response)
    }

    /// A media request (`None`: not a media path): what to stream, or the error reply.
    fn media_route(
        &self,
        parts: &axum::http::request::Parts,
        query: &[(String, String)],
    ) -> Option<Result<media::Served, routes::Reply>> {
        let req = routes::Req {
            method: &parts.method,
            path: parts.uri.path(),
            query,
            headers: &parts.headers,
            body: &[],
            local_address: format!("http://127.0.0.1:{}", self.port),
        };
        let state = lock(&self.state);
        match self.kind {
            DemoKind::Jellyfin => media::jellyfin(&state, &req),
            DemoKind::Plex => media::plex(&state, &req),
        }
    }

    fn route(
        &self,
        parts: &axum::http::request::Parts,
        query: &[(String, String)],
        raw: &[u8],
        too_large: bool,
    ) -> routes::Reply {
        if too_large {
            return routes::Reply {
                status: 413,
                content_type: None,
                body: Vec::new(),
            };
        }
        let req = routes::Req {
            method: &parts.method,
            path: parts.uri.path(),
            query,
            headers: &parts.headers,
            body: raw,
            local_address: format!("http://127.0.0.1:{}", self.port),
        };
        let mut state = lock(&self.state);
        self.catch_up(&mut state);
        let reply = match self.kind {
            DemoKind::Jellyfin => routes::handle(&mut state, &req),
            DemoKind::Plex => plex::handle(&mut state, &req),
        };
        self.publish(&mut state);
        reply
    }
}

fn respond(code: u16, content_type: Option<&'static str>, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    r
}

async fn accept_loop(listener: TcpListener, inner: Weak<Inner>) {
    loop {
        let accepted = listener.accept().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match accepted {
            Ok((stream, _)) => inner.serve(stream),
            Err(_) => {
                if lock(&inner.net).offline {
                    return;
                }
                drop(inner);
                // e.g. too many open files: back off a little.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
