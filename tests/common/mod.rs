//! Helpers shared by the integration tests (`mod common;` in a test file).
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod bin;
pub mod contract;
pub mod hostile;

use std::sync::Arc;
use std::time::Duration;

use playmark::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use playmark::clock::{Clock, FakeClock};
use playmark::demo::{
    DemoConfig, DemoLibrary, DemoServer, RecordedRequest, DEMO_PASSWORD, DEMO_USER,
};
use playmark::model::{ItemKind, RemoteItem, ServerKind};
use playmark::store::{database_path, NewAccount, Store};
use playmark::sync::{Engine, EngineConfig, RunMode, RunOutcome};

/// A demo server, a signed-in account in a real database file, and an engine on a fake clock.
pub struct Harness {
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
pub fn clean_config() -> DemoConfig {
    DemoConfig {
        library: DemoLibrary::seeded().without_progress(),
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
    pub async fn start() -> Harness {
        Harness::start_with(clean_config()).await
    }

    pub async fn start_with(config: DemoConfig) -> Harness {
        Harness::start_custom(config, client_options(), engine_config()).await
    }

    /// Full control: the server's library and faults, the client's timeouts, the engine's tunables.
    pub async fn start_custom(
        config: DemoConfig,
        options: ClientOptions,
        engine_config: EngineConfig,
    ) -> Harness {
        let server = DemoServer::start(config).await.expect("demo server starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&database_path(dir.path())).expect("store opens");
        let device_id = store.device_id().unwrap();
        let client = JellyfinClient::new(
            &server.url(),
            DeviceInfo::playmark(device_id.clone()),
            options,
        )
        .unwrap();
        let session = client
            .authenticate(DEMO_USER, DEMO_PASSWORD)
            .await
            .expect("sign in");
        let account = store
            .upsert_account(
                &NewAccount {
                    kind: ServerKind::Jellyfin,
                    base_url: &server.url(),
                    server_id: &session.server_id,
                    server_name: "Demo",
                    user_id: &session.user_id,
                    user_name: DEMO_USER,
                    device_id: &device_id,
                },
                0,
            )
            .unwrap();
        let client = client.with_session(session.access_token.clone(), session.user_id.clone());
        let clock = FakeClock::new(1_700_000_000_000);
        let engine = Engine::new(
            store,
            account,
            Arc::new(client),
            Arc::new(clock.clone()),
            engine_config,
        );
        // Fill the library through the real client, in small pages so paging is exercised.
        engine.refresh(50).await.expect("library refresh");
        server.clear_requests();
        Harness {
            server,
            dir,
            clock,
            account,
            token: session.access_token,
            user_id: session.user_id,
            engine,
        }
    }

    /// A new engine on the same database file (as after a restart), same clock.
    pub fn restart_engine(&mut self) {
        let store = Store::open(&database_path(self.dir.path())).unwrap();
        let device_id = self.engine.with_store(|s| s.device_id().unwrap());
        let client = JellyfinClient::new(
            &self.server.url(),
            DeviceInfo::playmark(device_id),
            client_options(),
        )
        .unwrap()
        .with_session(self.token.clone(), self.user_id.clone());
        self.engine = Engine::new(
            store,
            self.account,
            Arc::new(client),
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

    /// Write requests (the ones that change user data) received by the server.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    /// Every request the client sent must fit the OpenAPI document.
    pub fn assert_contract(&self) {
        let spec = contract::Spec::jellyfin();
        for r in self.server.requests() {
            if let Err(problems) = spec.check_request(&r.method, &r.path, &r.query, r.body.as_ref())
            {
                panic!(
                    "{} {} does not fit the Jellyfin API: {problems:?}",
                    r.method, r.path
                );
            }
        }
    }
}
