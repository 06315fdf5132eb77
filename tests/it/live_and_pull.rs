//! Live updates over the WebSocket and the periodic pull, against the demo server over
//! loopback (real HTTP, real WebSocket, real SQLite; the engine's timers on a fake clock).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_options, engine_config, Harness};
use playmark::backend::jellyfin::{DeviceInfo, JellyfinClient};
use playmark::backend::MediaServer;
use playmark::demo::{Fault, DEMO_PASSWORD, DEMO_USER};
use playmark::model::ServerKind;
use playmark::model::{DesiredState, LocalChange, UserData};
use playmark::store::{database_path, Store};
use playmark::sync::{Engine, EngineConfig, PullSchedule, SyncEvent};

/// Wait (real time, bounded) until `cond` holds; `tick` runs between checks.
async fn until(what: &str, mut cond: impl FnMut() -> bool, mut tick: impl FnMut()) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tick();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Another device: a second sign-in over real HTTP.
async fn other_device(h: &Harness) -> JellyfinClient {
    let c = JellyfinClient::new(
        &h.server.url(),
        DeviceInfo::playmark("other-device"),
        client_options(),
    )
    .unwrap();
    let s = c.authenticate(DEMO_USER, DEMO_PASSWORD).await.unwrap();
    c.with_session(s.access_token, s.user_id)
}

fn position(h: &Harness, item: &str) -> i64 {
    h.engine
        .with_store(|s| s.item(h.account, item))
        .unwrap()
        .unwrap()
        .position_ms
}

/// An engine on the harness's database with another configuration.
fn engine_with(h: &Harness, config: EngineConfig) -> Engine {
    let store = Store::open(&database_path(h.dir.path())).unwrap();
    let client = JellyfinClient::new(
        &h.server.url(),
        DeviceInfo::playmark("this-device"),
        client_options(),
    )
    .unwrap()
    .with_session(h.token.clone(), h.user_id.clone());
    Engine::new(
        store,
        h.account,
        Arc::new(client),
        Arc::new(h.clock.clone()),
        config,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_the_server_reaches_the_store_within_seconds_without_a_scan() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let ep = h.episode(2);
    let mut events = h.engine.subscribe();
    let live = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    until("the socket", || h.server.live_connections() == 1, || {}).await;
    let scans = h.engine.stats().scans.load(Ordering::Relaxed);
    h.server.clear_requests();

    let other = other_device(&h).await;
    other
        .push_item(
            &ep,
            &DesiredState {
                position_ms: 7 * 60_000,
                played: false,
                play_count: 0,
                last_played: Some(1_700_000_000_000),
            },
        )
        .await
        .unwrap();
    let written = Instant::now();
    until("the live update", || position(&h, &ep) == 7 * 60_000, || {}).await;
    let latency = written.elapsed();
    println!("live update latency: {latency:?}");
    assert!(
        // A real Jellyfin announces a change 500 ms after the last one (its debounce, which
        // the demo follows), then the engine reads the item by id: two seconds leave room for
        // a loaded machine without hiding a scan (asserted below) or a missed message.
        latency < Duration::from_secs(2),
        "another device's change within seconds: {latency:?}"
    );
    // No scan: the engine did not list the library, and the base moved with it. The message
    // is a hint: the item it names is read by id, once (`Engine::apply_live_hint`).
    assert_eq!(h.engine.stats().scans.load(Ordering::Relaxed), scans);
    let reads: Vec<_> = h
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/Items")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].query_value("ids"), Some(ep.as_str()), "{reads:?}");
    assert!(reads[0].query_value("startIndex").is_none(), "{reads:?}");
    assert_eq!(
        h.engine
            .with_store(|s| s.base(h.account, &ep))
            .unwrap()
            .unwrap()
            .position_ms,
        7 * 60_000
    );
    // The event follows the store write: wait for it rather than race it.
    let merged = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match events.recv().await {
                Ok(SyncEvent::Merged { ref item_id, .. }) if *item_id == ep => return true,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(merged, "a Merged event for the UI");
    h.engine.shutdown();
    tokio::time::timeout(Duration::from_secs(5), live)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_url_holds_no_token() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let live = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    until("the socket", || h.server.live_connections() == 1, || {}).await;
    let socket = h
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/socket")
        .unwrap();
    assert_eq!(socket.status, 101);
    assert!(socket.query.iter().all(|(_, v)| !v.contains(&h.token)));
    assert!(socket.authorization.unwrap().contains(&h.token));
    h.engine.shutdown();
    live.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_reconnects_and_catches_up() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let ep = h.episode(3);
    let live = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    until("the socket", || h.server.live_connections() == 1, || {}).await;
    h.server.close_live_connections();
    // While the socket is down, another device changes the episode.
    h.server.set_user_data(
        &ep,
        UserData {
            position_ms: 9 * 60_000,
            played: false,
            play_count: 0,
            last_played: Some(1_700_000_000_000),
        },
    );
    // The engine waits its reconnect backoff on the (fake) clock.
    until(
        "a reconnect",
        || h.engine.stats().live_connects.load(Ordering::Relaxed) == 2,
        || h.clock.advance(5_000),
    )
    .await;
    // The catch-up scan after the reconnect brings the change made while it was down.
    until("the catch-up", || position(&h, &ep) == 9 * 60_000, || {}).await;
    // And live updates flow again.
    let other = other_device(&h).await;
    other
        .push_item(
            &ep,
            &DesiredState {
                position_ms: 11 * 60_000,
                played: false,
                play_count: 0,
                last_played: Some(1_700_000_100_000),
            },
        )
        .await
        .unwrap();
    until(
        "the live update",
        || position(&h, &ep) == 11 * 60_000,
        || {},
    )
    .await;
    h.engine.shutdown();
    live.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_update_goes_through_the_merge_and_keeps_a_pending_change() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let ep = h.episode(4);
    let live = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    until("the socket", || h.server.live_connections() == 1, || {}).await;
    // We are at 12:00 (not yet sent); another device reports 3:00: under the default
    // furthest-progress policy ours stays, and stays queued.
    h.engine
        .record_change(
            &ep,
            LocalChange::Position {
                position_ms: 12 * 60_000,
            },
        )
        .unwrap();
    h.server.set_user_data(
        &ep,
        UserData {
            position_ms: 3 * 60_000,
            played: false,
            play_count: 0,
            last_played: Some(1_700_000_000_000),
        },
    );
    until(
        "the base to move",
        || {
            h.engine
                .with_store(|s| s.base(h.account, &ep))
                .unwrap()
                .is_some_and(|b| b.position_ms == 3 * 60_000)
        },
        || {},
    )
    .await;
    assert_eq!(position(&h, &ep), 12 * 60_000);
    let row = h
        .engine
        .with_store(|s| s.outbox_row(h.account, &ep))
        .unwrap()
        .unwrap();
    assert_eq!(row.desired.position_ms, 12 * 60_000);
    h.engine.shutdown();
    live.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_socket_the_periodic_pull_brings_changes() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    h.server.set_live_enabled(false);
    let ep = h.episode(5);
    let engine = engine_with(
        &h,
        EngineConfig {
            pull: Some(PullSchedule::default()),
            ..engine_config()
        },
    );
    let live = {
        let e = engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    let pull = {
        let e = engine.clone();
        tokio::spawn(async move { e.run_pull().await })
    };
    until(
        "the first scan",
        || engine.stats().scans.load(Ordering::Relaxed) == 1,
        || {},
    )
    .await;
    h.server.set_user_data(
        &ep,
        UserData {
            position_ms: 4 * 60_000,
            played: false,
            play_count: 0,
            last_played: Some(1_700_000_000_000),
        },
    );
    until(
        "the next scan",
        || engine.stats().scans.load(Ordering::Relaxed) == 2,
        || h.clock.advance(60_000),
    )
    .await;
    until(
        "the change",
        || {
            engine
                .with_store(|s| s.item(h.account, &ep))
                .unwrap()
                .unwrap()
                .position_ms
                == 4 * 60_000
        },
        || {},
    )
    .await;
    assert_eq!(engine.stats().live_connects.load(Ordering::Relaxed), 0);
    engine.shutdown();
    live.await.unwrap();
    pull.await.unwrap();
}

/// An engine with the app's default pull schedule, its pull loop running.
fn pulling_engine(h: &Harness) -> (Engine, tokio::task::JoinHandle<()>) {
    let engine = engine_with(
        h,
        EngineConfig {
            pull: Some(PullSchedule::default()),
            ..engine_config()
        },
    );
    let pull = {
        let e = engine.clone();
        tokio::spawn(async move { e.run_pull().await })
    };
    (engine, pull)
}

/// Wait until the pull loop sleeps (then move time and see whether it scans).
/// [`pulling_engine`] once its first scan is done and the loop sleeps.
async fn after_first_scan(h: &Harness) -> (Engine, tokio::task::JoinHandle<()>) {
    let (engine, pull) = pulling_engine(h);
    let scans = || engine.stats().scans.load(Ordering::Relaxed);
    until("the first scan", || scans() == 1, || {}).await;
    settle(h).await;
    (engine, pull)
}

async fn settle(h: &Harness) {
    until(
        "the pull loop to sleep",
        || h.clock.next_sleeper().is_some(),
        || {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_pull_backs_off_while_nothing_changes_and_resets_on_change() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (engine, pull) = after_first_scan(&h).await;
    let scans = || engine.stats().scans.load(Ordering::Relaxed);
    const MIN: i64 = 60_000;
    // Nothing changed: 5 min → 10 min.
    h.clock.advance(5 * MIN);
    until("scan 2", || scans() == 2, || {}).await;
    settle(&h).await;
    h.clock.advance(5 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scans(), 2, "backed off to 10 minutes");
    h.clock.advance(5 * MIN);
    until("scan 3", || scans() == 3, || {}).await;
    settle(&h).await;
    // Now 20 minutes; a change on the server is found at the next scan...
    h.server.set_user_data(
        &h.episode(6),
        UserData {
            position_ms: 2 * MIN,
            played: false,
            play_count: 0,
            last_played: Some(1_700_000_000_000),
        },
    );
    h.clock.advance(20 * MIN);
    until("scan 4", || scans() == 4, || {}).await;
    settle(&h).await;
    // ... and the interval is back to 5 minutes.
    h.clock.advance(5 * MIN);
    until("scan 5", || scans() == 5, || {}).await;
    engine.shutdown();
    tokio::time::timeout(Duration::from_secs(5), pull)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_pull_sets_no_timer() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    // The default configuration (the CLI's) has no periodic pull: run_pull returns at once.
    tokio::time::timeout(Duration::from_secs(5), h.engine.run_pull())
        .await
        .unwrap();
    assert_eq!(h.clock.next_sleeper(), None);
    assert_eq!(
        h.engine.stats().scans.load(Ordering::Relaxed),
        1,
        "only the harness's"
    );
}

#[test]
fn pull_interval_doubles_to_the_cap_and_resets() {
    let s = PullSchedule::default();
    let mut i = s.interval_ms;
    let mut seen = vec![i];
    for _ in 0..6 {
        i = s.next_interval(i, false);
        seen.push(i);
    }
    assert_eq!(
        seen,
        [5, 10, 20, 40, 60, 60, 60].map(|m| m * 60_000).to_vec()
    );
    assert_eq!(s.next_interval(i, true), 5 * 60_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_the_app_pulls_every_minute_and_at_once_when_asked() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (engine, pull) = after_first_scan(&h).await;
    let scans = || engine.stats().scans.load(Ordering::Relaxed);
    const MIN: i64 = 60_000;
    // The window comes to the front: one minute instead of the idle five.
    engine.set_foreground_pull(Some(MIN));
    settle(&h).await;
    h.clock.advance(MIN);
    until("scan 2 after one minute", || scans() == 2, || {}).await;
    settle(&h).await;
    h.clock.advance(MIN);
    until("scan 3 after another minute", || scans() == 3, || {}).await;
    settle(&h).await;
    // To the back: the idle schedule again (it doubled meanwhile: 10 minutes).
    engine.set_foreground_pull(None);
    settle(&h).await;
    h.clock.advance(MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scans(), 3, "in the back, a minute is not enough");
    // The server came back / "Sync now": a scan at once, no time passing.
    engine.pull_soon();
    until("the scan asked for", || scans() == 4, || {}).await;
    // In front again after a long time in the back: the overdue scan starts at once.
    settle(&h).await;
    h.clock.advance(2 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scans(), 4);
    engine.set_foreground_pull(Some(MIN));
    until("the overdue scan", || scans() == 5, || {}).await;
    engine.shutdown();
    tokio::time::timeout(Duration::from_secs(5), pull)
        .await
        .unwrap()
        .unwrap();
}

/// Preferences: a new pull interval reaches the running pull loop at once (no restart) and
/// starts its schedule afresh; a scan already overdue under it starts at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_pull_interval_applies_to_the_running_loop() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (engine, pull) = after_first_scan(&h).await;
    let scans = || engine.stats().scans.load(Ordering::Relaxed);
    const MIN: i64 = 60_000;
    // Every 2 minutes instead of the default 5.
    engine.set_pull_interval(2 * MIN);
    settle(&h).await;
    h.clock.advance(2 * MIN);
    until("scan 2 after two minutes", || scans() == 2, || {}).await;
    settle(&h).await;
    // Nothing changed on the server: the new interval doubles (4 minutes).
    h.clock.advance(2 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scans(), 2, "doubled to four minutes");
    h.clock.advance(2 * MIN);
    until("scan 3 after four minutes", || scans() == 3, || {}).await;
    settle(&h).await;
    // A day: the default 5 minutes (and the doubled 8) no longer pull.
    engine.set_pull_interval(24 * 60 * MIN);
    settle(&h).await;
    h.clock.advance(10 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scans(), 3, "a day means a day");
    // Back to one minute: ten have passed, so the scan is overdue and starts at once.
    engine.set_pull_interval(MIN);
    until("the overdue scan", || scans() == 4, || {}).await;
    engine.shutdown();
    tokio::time::timeout(Duration::from_secs(5), pull)
        .await
        .unwrap()
        .unwrap();
}

/// The app's pull checks who answers first: another server at the account's address gets no
/// scan (its library would mark every item of ours removed), only the identity request, and
/// the account goes to `ServerChanged`. The account's own server is scanned as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_scans_no_other_server_at_the_address() {
    use playmark::sync::{AccountState, EngineError};
    let h = Harness::start(ServerKind::Jellyfin).await;
    let engine = engine_with(
        &h,
        EngineConfig {
            expected_server_id: Some(h.server.server_id()),
            ..engine_config()
        },
    );
    let known = engine.with_store(|s| s.items(h.account)).unwrap().len();
    assert!(known > 0);
    // Ours: scanned.
    engine.pull(50).await.unwrap();
    assert_eq!(engine.account_state(), AccountState::Online);

    h.server.set_server_id("feedfacefeedfacefeedfacefeedface");
    h.server.clear_requests();
    let err = engine.pull(50).await.unwrap_err();
    assert!(
        matches!(err, EngineError::ServerChanged { ref server_id } if server_id == "feedfacefeedfacefeedfacefeedface"),
        "{err}"
    );
    assert_eq!(engine.account_state(), AccountState::ServerChanged);
    let paths: Vec<String> = h.server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/System/Info/Public"], "only the identity check");
    assert_eq!(
        engine.with_store(|s| s.items(h.account)).unwrap().len(),
        known,
        "nothing marked removed"
    );
}

/// A listing asked for before a write reached the server, answered after the write completed,
/// describes the server as it was: merged as it stands, it would put the old state back on
/// screen as "another device's change" (three episodes marked watched offline came back
/// unwatched in `ui::offline_then_back…`, one run in fifteen). It leaves the item alone; the
/// next pull agrees with the write.
async fn a_listing_older_than_a_completed_write_leaves_it_alone(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(1);
    let mut events = h.engine.subscribe();
    // Every answer of the listing is computed on arrival and held on its way; the first that
    // lists items with user data (Jellyfin: the first; Plex: the episodes, after the sections,
    // series and seasons) says the episode is unwatched.
    h.server.clear_requests();
    h.server.fail_next(1_000, Fault::HoldAnswer);
    let pull = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.refresh(1_000).await })
    };
    loop {
        h.server.until_held(0).await;
        if h.server.requests().pop().unwrap().lists_user_data() {
            break;
        }
        assert!(h.server.release_held(true));
    }
    h.server.clear_faults();
    h.engine
        .record_change(&ep, LocalChange::MarkWatched)
        .unwrap();
    h.drain_now().await;
    assert!(h.server.user_data(&ep).unwrap().played, "the write landed");
    assert!(h.server.release_held(true));
    let stats = pull.await.unwrap().unwrap();
    let item = h
        .engine
        .with_store(|s| s.item(h.account, &ep))
        .unwrap()
        .unwrap();
    assert!(item.played, "the old listing did not undo the write");
    assert_eq!(stats.stale, 1, "{stats:?}");
    let merged_ep = |events: &mut tokio::sync::broadcast::Receiver<SyncEvent>| {
        std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, SyncEvent::Merged { item_id, .. } if *item_id == ep))
            .count()
    };
    assert_eq!(merged_ep(&mut events), 0, "no merge from the old listing");
    // The next listing is newer than the write: it merges, and agrees.
    let stats = h.engine.refresh(1_000).await.unwrap();
    assert_eq!(stats.stale, 0, "{stats:?}");
    let item = h
        .engine
        .with_store(|s| s.item(h.account, &ep))
        .unwrap()
        .unwrap();
    assert!(item.played);
    assert_eq!(merged_ep(&mut events), 0, "nothing to tell the user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_a_listing_older_than_a_completed_write_leaves_it_alone() {
    a_listing_older_than_a_completed_write_leaves_it_alone(ServerKind::Jellyfin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_a_listing_older_than_a_completed_write_leaves_it_alone() {
    a_listing_older_than_a_completed_write_leaves_it_alone(ServerKind::Plex).await;
}

/// Issue 18, "Live updates, honestly": another device playing on Jellyfin. Its progress
/// reports are saved but never announced (`UserDataChangeNotifier` drops `PlaybackProgress`),
/// so its position while it plays arrives at the next pull; its stop and its watched change
/// arrive over the socket after the server's 500 ms debounce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_devices_progress_comes_at_the_pull_its_stop_and_watched_over_the_socket() {
    use playmark::backend::session::{PlaybackServer, ReportKind, SessionReport};
    let h = Harness::start(ServerKind::Jellyfin).await;
    let ep = h.episode(6);
    let runtime = h
        .server
        .items()
        .into_iter()
        .find(|i| i.id == ep)
        .unwrap()
        .runtime_ms
        .unwrap();
    let at = |pct: i64| runtime * pct / 100 / 1_000 * 1_000;
    let live = {
        let e = h.engine.clone();
        tokio::spawn(async move { e.run_live().await })
    };
    until("the socket", || h.server.live_connections() == 1, || {}).await;
    let other = other_device(&h).await;
    let report = |kind, position_ms| SessionReport {
        kind,
        item_id: ep.clone(),
        position_ms,
        duration_ms: Some(runtime),
        paused: false,
        play_session_id: "other-play".into(),
    };
    // The start is announced (500 ms later, with the user data as it is then: a progress
    // saved before that would ride along, as on the real server), so let it arrive first.
    let updates = || h.engine.stats().live_updates.load(Ordering::Relaxed);
    let before = updates();
    other.report(&report(ReportKind::Start, 0)).await.unwrap();
    until("the start over the socket", || updates() > before, || {}).await;
    other
        .report(&report(ReportKind::Progress, at(30)))
        .await
        .unwrap();
    assert_eq!(h.server.user_data(&ep).unwrap().position_ms, at(30));
    // Not over the socket: nothing arrives while it plays.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(position(&h, &ep), 0);
    // The next pull brings it.
    h.engine.refresh(1_000).await.unwrap();
    assert_eq!(position(&h, &ep), at(30));
    // The stop comes over the socket, after the debounce, within seconds.
    other
        .report(&report(ReportKind::Stopped, at(40)))
        .await
        .unwrap();
    let stopped = Instant::now();
    until(
        "the stop over the socket",
        || position(&h, &ep) == at(40),
        || {},
    )
    .await;
    assert!(stopped.elapsed() >= Duration::from_millis(500));
    // So does a watched change.
    other
        .push_item(
            &ep,
            &DesiredState {
                position_ms: 0,
                played: true,
                play_count: 2,
                last_played: Some(1_700_000_100_000),
            },
        )
        .await
        .unwrap();
    until(
        "the watched change over the socket",
        || {
            h.engine
                .with_store(|s| s.item(h.account, &ep))
                .unwrap()
                .unwrap()
                .played
        },
        || {},
    )
    .await;
    h.engine.shutdown();
    live.await.unwrap();
}

/// Issue 20, item 4: a pull that cannot reach the server makes the account offline (the app's
/// button said "Up to date" while the server was down and nothing was queued); with nothing
/// queued the probe still takes over and brings it back online once the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_cannot_reach_the_server_makes_the_account_offline_until_it_answers() {
    use playmark::sync::{AccountState, RunMode};
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (engine, pull) = pulling_engine(&h);
    let run = {
        let e = engine.clone();
        tokio::spawn(async move { e.run(RunMode::Forever).await })
    };
    until(
        "the first scan",
        || engine.stats().scans.load(Ordering::Relaxed) == 1,
        || {},
    )
    .await;
    settle(&h).await;
    assert_eq!(engine.account_state(), AccountState::Online);
    h.server.go_offline().await;
    engine.pull_soon();
    until(
        "offline",
        || engine.account_state() == AccountState::Offline,
        || {},
    )
    .await;
    assert_eq!(engine.counts().unwrap().total(), 0, "nothing queued");
    // Back: the probe (within its first minute of backoff) finds it, with nothing queued.
    h.server.set_offline(false);
    let probes = engine.stats().probes.load(Ordering::Relaxed);
    until(
        "online again",
        || engine.account_state() == AccountState::Online,
        || h.clock.advance(1_000),
    )
    .await;
    assert!(
        engine.stats().probes.load(Ordering::Relaxed) > probes,
        "the probe found it"
    );
    engine.shutdown();
    tokio::time::timeout(Duration::from_secs(5), pull)
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
