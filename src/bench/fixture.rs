//! What every scenario starts from: a demo server on loopback, a signed-in account in a real
//! SQLite file, an engine on the clock the scenario needs, and the naive baseline client.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use crate::backend::MediaServer;
use crate::clock::{Clock, FakeClock};
use crate::demo::{DemoConfig, DemoLibrary, DemoServer, DEMO_PASSWORD, DEMO_USER};
use crate::model::{
    apply_change, AccountId, DesiredState, LocalChange, Millis, RemoteItem, ServerKind, UserData,
};
use crate::store::{database_path, NewAccount, Store};
use crate::sync::{Engine, EngineConfig, DEFAULT_PAGE_SIZE};

/// Start of simulated time (2023-11-14).
pub const FAKE_START: Millis = 1_700_000_000_000;

/// A directory removed when dropped. (The `tempfile` crate is only a dev-dependency; the
/// benchmark lives in the library so it stays buildable without dev-dependencies.)
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new private directory under the system temp dir.
    pub fn new() -> Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "playmark-bench-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Client timeouts for loopback (a wedged request fails in seconds, not half a minute).
pub fn client_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

/// The engine configuration the app uses, with a fixed jitter seed.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        seed: Some(7),
        ..EngineConfig::default()
    }
}

/// A demo server serving `library` (clean: no progress) with `latency` per request, a signed-in
/// account whose library was pulled through the real client, and an engine on `clock`.
pub struct Fixture {
    /// The server (its request log starts empty after the set-up pull).
    pub server: DemoServer,
    /// Holds the database file.
    pub dir: ScratchDir,
    /// The account row.
    pub account: AccountId,
    /// A signed-in client (the engine has a clone; the baseline gets another).
    pub client: JellyfinClient,
    /// The engine under test.
    pub engine: Engine,
}

impl Fixture {
    /// Start everything; the library is pulled with no latency, then `latency` is switched on.
    pub async fn start(
        library: DemoLibrary,
        latency: Duration,
        clock: Arc<dyn Clock>,
        pull: bool,
    ) -> Result<Fixture> {
        let server = DemoServer::start(DemoConfig {
            library: library.without_progress(),
            ..DemoConfig::default()
        })
        .await
        .context("starting the demo server")?;
        let dir = ScratchDir::new()?;
        let mut store = Store::open(&database_path(dir.path()))?;
        let device_id = store.device_id()?;
        let client = JellyfinClient::new(
            &server.url(),
            DeviceInfo::playmark(device_id.clone()),
            client_options(),
        )?;
        let session = client.authenticate(DEMO_USER, DEMO_PASSWORD).await?;
        let account = store.upsert_account(
            &NewAccount {
                kind: ServerKind::Jellyfin,
                base_url: &server.url(),
                server_id: &session.server_id,
                server_name: "Demo",
                user_id: &session.user_id,
                user_name: DEMO_USER,
                device_id: &device_id,
            },
            clock.now(),
        )?;
        let client = client.with_session(session.access_token, session.user_id);
        let engine = Engine::new(
            store,
            account,
            Arc::new(client.clone()),
            clock,
            engine_config(),
        );
        if pull {
            engine.refresh(DEFAULT_PAGE_SIZE).await?;
        }
        server.set_latency(latency);
        server.clear_requests();
        Ok(Fixture {
            server,
            dir,
            account,
            client,
            engine,
        })
    }

    /// Requests that change user data (everything but GET) received by the server so far.
    pub fn writes(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    }

    /// Batched reads (`GET /Items?ids=…`, the read before every write) received so far.
    pub fn reads(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/Items" && r.query_value("ids").is_some())
            .count()
    }

    /// Items (of `ids`) whose user-visible state on the server differs from `expected`.
    pub fn server_mismatches(&self, expected: &[(String, UserData)]) -> usize {
        expected
            .iter()
            .filter(|(id, want)| {
                self.server
                    .user_data(id)
                    .is_none_or(|got| !DesiredState::from_user_data(want).same_as(&got))
            })
            .count()
    }

    /// Local (what the user sees) state of the given items.
    pub fn local_states(&self, ids: &[String]) -> Result<Vec<(String, UserData)>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let view = self
                .engine
                .with_store(|s| s.item(self.account, id))?
                .with_context(|| format!("item {id} missing locally"))?;
            out.push((
                id.clone(),
                UserData {
                    position_ms: view.position_ms,
                    played: view.played,
                    play_count: view.play_count,
                    last_played: view.last_played,
                },
            ));
        }
        Ok(out)
    }

    /// Wait (real time) until the engine has nothing in flight and nothing due at the fake
    /// clock's `now`: simulated time may then move on. Requests take real time; simulated
    /// time stands still meanwhile.
    pub async fn settle(&self, clock: &FakeClock) -> Result<()> {
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            tokio::task::yield_now().await;
            let now = clock.now();
            let (counts, next) = self.engine.with_store(|s| {
                Ok::<_, crate::store::StoreError>((
                    s.counts(self.account)?,
                    s.next_wakeup(self.account)?,
                ))
            })?;
            if counts.in_flight == 0 && next.is_none_or(|t| t > now) {
                return Ok(());
            }
            if Instant::now() > give_up {
                bail!("the engine did not settle within 60 s ({counts:?})");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Playable items of a library, in server order.
pub fn playable(library: &DemoLibrary) -> Vec<RemoteItem> {
    library
        .items()
        .into_iter()
        .filter(|i| i.kind.is_playable())
        .collect()
}

/// What clients do today: one fire-and-forget request per local change, in the order made,
/// sequentially, no coalescing, no retries, no queue. A failed request is simply lost.
pub struct Naive {
    client: JellyfinClient,
    local: std::collections::HashMap<String, UserData>,
    /// Requests attempted.
    pub calls: u64,
    /// Requests that failed (and were dropped).
    pub failed: u64,
}

impl Naive {
    /// A baseline client talking through `client` (signed in).
    pub fn new(client: JellyfinClient) -> Naive {
        Naive {
            client,
            local: std::collections::HashMap::new(),
            calls: 0,
            failed: 0,
        }
    }

    /// Apply a change locally and send the resulting absolute state at once
    /// (`POST /UserItems/{id}/UserData`, the same request the engine sends).
    pub async fn change(&mut self, item: &str, change: LocalChange, now: Millis) {
        let current = self.local.get(item).copied().unwrap_or_default();
        let next = apply_change(&current, change, now);
        self.local.insert(item.to_string(), next);
        self.calls += 1;
        if self
            .client
            .push_item(item, &DesiredState::from_user_data(&next))
            .await
            .is_err()
        {
            self.failed += 1;
        }
    }

    /// A bulk action as clients send it online: one call on the parent.
    pub async fn bulk(&mut self, parent: &str, played: bool) {
        self.calls += 1;
        if self.client.push_group(parent, played).await.is_err() {
            self.failed += 1;
        }
    }
}
