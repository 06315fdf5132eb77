//! Helpers shared by the integration tests (`mod common;` in a test file).
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod bin;
pub mod contract;
#[cfg(feature = "gui")]
pub mod gtk;
pub mod hostile;
#[cfg(feature = "gui")]
pub mod xdo;

use std::sync::Arc;
use std::time::Duration;

use playmark::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use playmark::backend::plex::PlexClient;
use playmark::backend::MediaServer;
use playmark::clock::{Clock, FakeClock};
use playmark::demo::{
    DemoConfig, DemoKind, DemoLibrary, DemoServer, RecordedRequest, DEMO_PASSWORD, DEMO_PLEX_TOKEN,
    DEMO_USER,
};
use playmark::model::{ItemKind, LocalChange, RemoteItem, ServerKind, UserData};
use playmark::store::{database_path, NewAccount, Store};
use playmark::sync::{Engine, EngineConfig, Policy, RunMode, RunOutcome};

/// A demo server of one kind (Jellyfin or Plex), a signed-in account in a real database file,
/// and an engine on a fake clock. Every scenario of `tests/it/sync_suite.rs` runs on both kinds.
pub struct Harness {
    pub kind: ServerKind,
    pub server: DemoServer,
    pub dir: tempfile::TempDir,
    pub clock: FakeClock,
    pub account: i64,
    pub token: String,
    pub user_id: String,
    pub engine: Engine,
}

/// The demo library with no progress: every item unwatched at 0, so each test states what it
/// changes.
///
/// `PLAYMARK_TEST_PLEX_LAST_VIEWED_ON_PROGRESS=1` runs the Plex cases against a server that
/// stamps `lastViewedAt` on every timeline (issue 18: reported of real servers, not verified):
/// the client must be right under both behaviours.
pub fn clean_config() -> DemoConfig {
    DemoConfig {
        library: DemoLibrary::seeded().without_progress(),
        plex: playmark::demo::PlexRules {
            last_viewed_on_progress: std::env::var_os("PLAYMARK_TEST_PLEX_LAST_VIEWED_ON_PROGRESS")
                .is_some_and(|v| v != "0"),
            ..Default::default()
        },
        ..DemoConfig::default()
    }
}

/// A demo server on the clean library.
pub async fn clean_server() -> DemoServer {
    DemoServer::start(clean_config())
        .await
        .expect("demo server starts")
}

pub fn client_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        debounce_ms: 0,
        seed: Some(42),
        ..EngineConfig::default()
    }
}

impl Harness {
    pub async fn start(kind: ServerKind) -> Harness {
        Harness::start_with(kind, clean_config()).await
    }

    pub async fn start_with(kind: ServerKind, config: DemoConfig) -> Harness {
        Harness::start_custom(kind, config, client_options(), engine_config()).await
    }

    /// Full control: the server's library and faults, the client's timeouts, the engine's tunables.
    pub async fn start_custom(
        kind: ServerKind,
        config: DemoConfig,
        options: ClientOptions,
        engine_config: EngineConfig,
    ) -> Harness {
        let clock = FakeClock::new(1_700_000_000_000);
        Harness::start_on(kind, config, options, engine_config, clock).await
    }

    /// The clean library with the server and the engine on one fake clock: the server's
    /// session clock and idle timer (docs/SERVERS.md J1, J2) run on the time the test moves.
    pub async fn start_one_clock(kind: ServerKind) -> Harness {
        let clock = FakeClock::new(1_700_000_000_000);
        let config = DemoConfig {
            clock: playmark::demo::DemoClock(Arc::new(clock.clone())),
            ..clean_config()
        };
        Harness::start_on(kind, config, client_options(), engine_config(), clock).await
    }

    async fn start_on(
        kind: ServerKind,
        config: DemoConfig,
        options: ClientOptions,
        engine_config: EngineConfig,
        clock: FakeClock,
    ) -> Harness {
        let config = DemoConfig {
            kind: demo_kind(kind),
            ..config
        };
        let server = DemoServer::start(config).await.expect("demo server starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&database_path(dir.path())).expect("store opens");
        let device_id = store.device_id().unwrap();
        let (token, user_id, server_id) = match kind {
            ServerKind::Plex => {
                let info = plex_client(&server.url(), &device_id, DEMO_PLEX_TOKEN)
                    .sign_in_check()
                    .await
                    .expect("plex token accepted");
                (
                    DEMO_PLEX_TOKEN.to_string(),
                    "token".to_string(),
                    info.server_id,
                )
            }
            ServerKind::Jellyfin | ServerKind::Demo => {
                let session = JellyfinClient::new(
                    &server.url(),
                    DeviceInfo::playmark(device_id.clone()),
                    client_options(),
                )
                .unwrap()
                .authenticate(DEMO_USER, DEMO_PASSWORD)
                .await
                .expect("sign in");
                (session.access_token, session.user_id, session.server_id)
            }
        };
        let account = store
            .upsert_account(
                &NewAccount {
                    kind,
                    base_url: &server.url(),
                    server_id: &server_id,
                    server_name: "Demo",
                    user_id: &user_id,
                    user_name: DEMO_USER,
                    device_id: &device_id,
                },
                0,
            )
            .unwrap();
        let client = media_server_with(kind, &server.url(), &device_id, &token, &user_id, options);
        let engine = Engine::new(
            store,
            account,
            client,
            Arc::new(clock.clone()),
            engine_config,
        );
        // Fill the library through the real client, in small pages so paging is exercised.
        engine.refresh(50).await.expect("library refresh");
        server.clear_requests();
        Harness {
            kind,
            server,
            dir,
            clock,
            account,
            token,
            user_id,
            engine,
        }
    }

    /// A new engine on the same database file (as after a restart), same clock.
    pub fn restart_engine(&mut self) {
        let store = Store::open(&database_path(self.dir.path())).unwrap();
        let device_id = self.engine.with_store(|s| s.device_id().unwrap());
        let client = media_server(
            self.kind,
            &self.server.url(),
            &device_id,
            &self.token,
            &self.user_id,
        );
        self.engine = Engine::new(
            store,
            self.account,
            client,
            Arc::new(self.clock.clone()),
            engine_config(),
        );
    }

    /// Send everything that is due now; return when nothing more can be sent without time passing.
    pub async fn drain_now(&self) -> RunOutcome {
        let deadline = self.clock.now();
        tokio::time::timeout(
            Duration::from_secs(30),
            self.engine.run(RunMode::UntilIdle { deadline }),
        )
        .await
        .expect("drain finishes")
        .expect("store ok")
    }

    /// Episodes of the first season of the library, in order.
    pub fn first_season(&self) -> (String, Vec<RemoteItem>) {
        let items = self.server.items();
        let season = items
            .iter()
            .find(|i| i.kind == ItemKind::Season)
            .expect("a season")
            .id
            .clone();
        let mut eps: Vec<RemoteItem> = items
            .into_iter()
            .filter(|i| {
                i.kind == ItemKind::Episode && i.season_id.as_deref() == Some(season.as_str())
            })
            .collect();
        eps.sort_by_key(|e| e.episode_number);
        (season, eps)
    }

    pub fn episode(&self, n: usize) -> String {
        self.first_season().1[n].id.clone()
    }

    /// Records, as the player would, that `item` now stands at `position_ms`.
    pub fn record_position(&self, item: &str, position_ms: i64) -> UserData {
        self.engine
            .record_change(item, LocalChange::Position { position_ms })
            .expect("store ok")
    }

    /// Write requests (the ones that change user data) received by the server: Jellyfin's
    /// non-GET calls, Plex's `/:/scrobble`, `/:/unscrobble` and `/:/timeline` (whatever verb).
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| is_write(self.kind, r))
            .collect()
    }

    /// Writes the server answered with success.
    pub fn successful_writes(&self) -> Vec<RecordedRequest> {
        self.writes()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// The item a write is about: Jellyfin's path id, Plex's `key` / `ratingKey` parameter.
    pub fn write_target(&self, r: &RecordedRequest) -> Option<String> {
        match self.kind {
            ServerKind::Plex => r
                .query_value("ratingKey")
                .or_else(|| r.query_value("key"))
                .map(str::to_string),
            ServerKind::Jellyfin | ServerKind::Demo => r
                .path
                .trim_start_matches('/')
                .split('/')
                .nth(1)
                .map(str::to_string),
        }
    }

    /// The position a write sets, in ms: Jellyfin's `PlaybackPositionTicks`, Plex's timeline
    /// `time`.
    pub fn written_position(&self, r: &RecordedRequest) -> Option<i64> {
        match self.kind {
            ServerKind::Plex => (r.path == "/:/timeline")
                .then(|| r.query_value("time")?.parse().ok())
                .flatten(),
            ServerKind::Jellyfin | ServerKind::Demo => r
                .body
                .as_ref()?
                .get("PlaybackPositionTicks")?
                .as_i64()
                .map(|t| t / 10_000),
        }
    }

    /// Whether `r` is the one-call bulk write marking `parent` watched (or not).
    pub fn is_bulk_write(&self, r: &RecordedRequest, parent: &str, played: bool) -> bool {
        match self.kind {
            ServerKind::Plex => {
                let path = if played {
                    "/:/scrobble"
                } else {
                    "/:/unscrobble"
                };
                r.path == path && r.query_value("key") == Some(parent)
            }
            ServerKind::Jellyfin | ServerKind::Demo => {
                let method = if played { "POST" } else { "DELETE" };
                r.method == method && r.path == format!("/UserPlayedItems/{parent}")
            }
        }
    }

    /// Every request the client sent must fit the server's OpenAPI document.
    pub fn assert_contract(&self) {
        match self.kind {
            ServerKind::Plex => {
                let spec = contract::PlexSpec::load();
                for r in self.server.requests() {
                    if let Err(problems) = spec.check_request(&r) {
                        panic!(
                            "{} {} does not fit the Plex API: {problems:?}",
                            r.method, r.path
                        );
                    }
                }
            }
            ServerKind::Jellyfin | ServerKind::Demo => {
                let spec = contract::Spec::jellyfin();
                for r in self.server.requests() {
                    if let Err(problems) =
                        spec.check_request(&r.method, &r.path, &r.query, r.body.as_ref())
                    {
                        panic!(
                            "{} {} does not fit the Jellyfin API: {problems:?}",
                            r.method, r.path
                        );
                    }
                }
            }
        }
    }
}

/// Watched once, on 6 December 2025 (another device's change, as the mirror tests make it).
pub fn watched() -> UserData {
    UserData {
        position_ms: 0,
        played: true,
        play_count: 1,
        last_played: Some(1_765_000_000_000),
    }
}

/// The id of an episode (series, season, episode) on `server`.
pub fn episode_id(server: &DemoServer, series: &str, s: i64, e: i64) -> String {
    server
        .items()
        .into_iter()
        .find(|i| {
            i.kind == ItemKind::Episode
                && i.series_name.as_deref() == Some(series)
                && i.season_number == Some(s)
                && i.episode_number == Some(e)
        })
        .unwrap_or_else(|| panic!("{series} S{s}E{e} on the server"))
        .id
}

/// The id of the first item of `kind` in `items` (a demo server's library).
pub fn first_id(items: &[RemoteItem], kind: ItemKind) -> String {
    items
        .iter()
        .find(|i| i.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in the library"))
        .id
        .clone()
}

/// What one side shows of an item: (position, watched).
pub type Shown = (i64, bool);

/// One row of a policy table: a policy and the result expected on Jellyfin, then on Plex.
pub type PolicyRow = (Policy, Shown, Shown);

/// The policy table of a scenario where this device's `mine` meets another device's
/// `theirs`, further on: furthest progress and prefer-server end at `theirs`, prefer-local at
/// `mine`, on both kinds; `last_writer` is the last-writer-wins row (Jellyfin, Plex).
pub fn mine_or_theirs(mine: Shown, theirs: Shown, last_writer: (Shown, Shown)) -> [PolicyRow; 4] {
    [
        (Policy::LastWriterWins, last_writer.0, last_writer.1),
        (Policy::FurthestProgress, theirs, theirs),
        (Policy::PreferLocal, mine, mine),
        (Policy::PreferServer, theirs, theirs),
    ]
}

/// Run `scenario` on `kind` under each policy of `rows` and check it ends, on this device and
/// on the server, at the state expected for that kind.
pub async fn policy_table<F, Fut>(kind: ServerKind, rows: [PolicyRow; 4], scenario: F)
where
    F: Fn(Policy) -> Fut,
    Fut: std::future::Future<Output = (Shown, Shown)>,
{
    for (policy, jellyfin, plex) in rows {
        let want = match kind {
            ServerKind::Plex => plex,
            ServerKind::Jellyfin | ServerKind::Demo => jellyfin,
        };
        let (ours, server) = scenario(policy).await;
        assert_eq!(ours, want, "{kind:?} {policy}: this device");
        assert_eq!(server, want, "{kind:?} {policy}: server");
    }
}

/// The id of the first episode `server` lists.
pub fn first_episode(server: &DemoServer) -> String {
    server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode)
        .expect("an episode")
        .id
}

/// A real database file in a new temporary directory with one Jellyfin account (at an address
/// where nothing listens) and nothing else: (the directory, the store, the account's id).
pub fn store_with_account() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&database_path(dir.path())).unwrap();
    let acc = store
        .upsert_account(
            &NewAccount {
                kind: ServerKind::Jellyfin,
                base_url: "http://127.0.0.1:1",
                server_id: "s",
                server_name: "Test",
                user_id: "u",
                user_name: "demo",
                device_id: "d",
            },
            0,
        )
        .unwrap();
    (dir, store, acc)
}

/// One module per server kind, each with one `#[tokio::test]` per scenario:
/// `kind_suite!([jellyfin => Jellyfin, plex => Plex] [scenario_a, scenario_b])` runs
/// `scenario_a(ServerKind::Jellyfin)` as `jellyfin::scenario_a`, and so on.
#[macro_export]
macro_rules! kind_suite {
    ([$($module:ident => $kind:ident),* $(,)?] $names:tt) => {
        $( $crate::kind_suite!(@kind $module $kind $names); )*
    };
    (@kind $module:ident $kind:ident [$($name:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(playmark::model::ServerKind::$kind).await;
                }
            )*
        }
    };
}

/// The demo server kind for a server kind (`Demo` accounts are Jellyfin-compatible).
pub fn demo_kind(kind: ServerKind) -> DemoKind {
    match kind {
        ServerKind::Plex => DemoKind::Plex,
        ServerKind::Jellyfin | ServerKind::Demo => DemoKind::Jellyfin,
    }
}

/// Whether a recorded request changes user data.
pub fn is_write(kind: ServerKind, r: &RecordedRequest) -> bool {
    match kind {
        ServerKind::Plex => r.path.starts_with("/:/"),
        ServerKind::Jellyfin | ServerKind::Demo => r.method != "GET",
    }
}

/// A signed-in Plex client for the test server.
pub fn plex_client(url: &str, device_id: &str, token: &str) -> PlexClient {
    plex_client_with(url, device_id, token, client_options())
}

fn plex_client_with(url: &str, device_id: &str, token: &str, options: ClientOptions) -> PlexClient {
    PlexClient::new(url, PlexClient::device(device_id), options)
        .unwrap()
        .with_token(token.to_string())
}

/// The signed-in client of `kind`, as the engine uses it.
pub fn media_server(
    kind: ServerKind,
    url: &str,
    device_id: &str,
    token: &str,
    user_id: &str,
) -> Arc<dyn MediaServer> {
    media_server_with(kind, url, device_id, token, user_id, client_options())
}

/// [`media_server`] with chosen timeouts.
pub fn media_server_with(
    kind: ServerKind,
    url: &str,
    device_id: &str,
    token: &str,
    user_id: &str,
    options: ClientOptions,
) -> Arc<dyn MediaServer> {
    match kind {
        ServerKind::Plex => Arc::new(plex_client_with(url, device_id, token, options)),
        ServerKind::Jellyfin | ServerKind::Demo => Arc::new(
            JellyfinClient::new(url, DeviceInfo::playmark(device_id), options)
                .unwrap()
                .with_session(token.to_string(), user_id.to_string()),
        ),
    }
}
