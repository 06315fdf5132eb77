//! Held bulk changes and their Undo (issue 20, item 2): a season or series marked (un)watched is
//! recorded at once but not sent while the app offers Undo. The engine on a fake clock against
//! each demo server kind over loopback, with a real SQLite file; and the `playmark` binary.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::bin::{code, login, run, text};
use common::Harness;
use playmark::clock::Clock;
use playmark::demo::DEMO_PASSWORD;
use playmark::model::{ItemKind, LocalChange, ServerKind, UserData};
use playmark::store::{database_path, RowState, Store, UndoOutcome, UNDO_HOLD_MS};
use playmark::sync::{RunMode, RunOutcome};

fn local(h: &Harness, item: &str) -> UserData {
    let view = h
        .engine
        .with_store(|s| s.item(h.account, item))
        .unwrap()
        .unwrap();
    UserData {
        position_ms: view.position_ms,
        played: view.played,
        play_count: view.play_count,
        last_played: view.last_played,
    }
}

fn queued(h: &Harness) -> Vec<playmark::store::OutboxRow> {
    h.engine.with_store(|s| s.outbox(h.account)).unwrap()
}

/// A season whose first episode has a resume point at 22:00 and whose second is watched, both
/// on the server (delivered and settled): the history a bulk "unwatched" would erase.
async fn season_with_history(h: &Harness) -> (String, Vec<String>) {
    let (season, eps) = h.first_season();
    let eps: Vec<String> = eps.into_iter().map(|e| e.id).collect();
    h.engine
        .record_change(
            &eps[0],
            LocalChange::Position {
                position_ms: 22 * 60_000,
            },
        )
        .unwrap();
    h.engine
        .record_change(&eps[1], LocalChange::MarkWatched)
        .unwrap();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(
        h.server.user_data(&eps[0]).unwrap().position_ms,
        22 * 60_000
    );
    assert!(h.server.user_data(&eps[1]).unwrap().played);
    h.server.clear_requests();
    (season, eps)
}

/// Claiming skips held rows, whatever asks for a send (the scheduler, `sync_now` as the CLI's
/// `sync` calls it, `retry`), until the hold ends by time (the injectable clock): then the
/// change goes, as one call on the season.
async fn a_held_bulk_change_is_sent_only_when_its_hold_ends(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let start = h.clock.now();
    let batch = h.engine.record_bulk_held(&season, true).unwrap();
    assert_eq!(batch.hold_until, start + UNDO_HOLD_MS);
    assert_eq!(batch.items.len(), eps.len());
    // Recorded at once: every row shows it, every row is queued and held.
    for e in &eps {
        assert!(local(&h, &e.id).played);
    }
    let rows = queued(&h);
    assert_eq!(rows.len(), eps.len());
    assert!(rows.iter().all(|r| r.held_at(h.clock.now())));

    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    h.engine.sync_now().unwrap();
    h.engine.retry(None).unwrap();
    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    h.clock.advance(UNDO_HOLD_MS - 1);
    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    assert!(h.writes().is_empty(), "sent while held: {:?}", h.writes());
    assert!(queued(&h).iter().all(|r| r.state == RowState::Pending));

    h.clock.advance(1);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(h.is_bulk_write(&writes[0], &season, true));
    for e in &eps {
        assert!(h.server.user_data(&e.id).unwrap().played);
    }
    h.assert_contract();
}

/// The engine running for good sleeps until the hold ends (no spinning on held rows that are
/// otherwise due) and sends then; releasing the hold sends at once.
async fn the_running_engine_wakes_when_the_hold_ends_or_at_once_on_release(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let engine = h.engine.clone();
    let run = tokio::spawn(async move { engine.run(RunMode::Forever).await });
    let batch = h.engine.record_bulk_held(&season, true).unwrap();
    // Settled: asleep until the hold's end.
    let until = batch.hold_until;
    tokio::time::timeout(Duration::from_secs(10), async {
        while h.clock.next_sleeper() != Some(until) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the engine sleeps until the hold ends");
    let wakeups = h.engine.stats().wakeups.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.engine.stats().wakeups.load(Ordering::Relaxed) <= wakeups + 1,
        "the engine spins on held rows"
    );
    assert!(h.writes().is_empty());

    h.engine.release_hold(&batch).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !eps
            .iter()
            .all(|e| h.server.user_data(&e.id).unwrap().played)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("released: sent without waiting for the hold's end");
    assert!(h.clock.now() < until);

    // A second held bulk, never released: sent when its hold ends by time.
    let unwatch = h.engine.record_bulk_held(&season, false).unwrap();
    h.clock.advance(UNDO_HOLD_MS);
    assert!(h.clock.now() >= unwatch.hold_until);
    tokio::time::timeout(Duration::from_secs(10), async {
        while eps
            .iter()
            .any(|e| h.server.user_data(&e.id).unwrap().played)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("sent when the hold ended");
    h.engine.shutdown();
    run.await.unwrap().unwrap();
}

/// "Mark season unwatched" on a season with a 22:00 resume point and a watched episode, then
/// Undo: every row is back as it was, nothing is queued (each state equals the base) and the
/// server never hears of it, even after the hold's time.
async fn undo_restores_every_item_and_sends_nothing(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = season_with_history(&h).await;
    let before: Vec<UserData> = eps.iter().map(|e| local(&h, e)).collect();
    let batch = h.engine.record_bulk_held(&season, false).unwrap();
    assert!(eps.iter().all(|e| {
        let l = local(&h, e);
        !l.played && l.position_ms == 0
    }));
    assert_eq!(
        h.engine.undo(&batch).unwrap(),
        UndoOutcome::Undone {
            restored: eps.len()
        }
    );
    let after: Vec<UserData> = eps.iter().map(|e| local(&h, e)).collect();
    assert_eq!(after, before);
    assert!(queued(&h).is_empty(), "{:?}", queued(&h));
    h.clock.advance(UNDO_HOLD_MS + 1);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert!(h.writes().is_empty(), "{:?}", h.writes());
    assert_eq!(
        h.server.user_data(&eps[0]).unwrap().position_ms,
        22 * 60_000
    );
    assert!(h.server.user_data(&eps[1]).unwrap().played);
    // A second Undo of the same batch changes nothing.
    assert!(matches!(
        h.engine.undo(&batch).unwrap(),
        UndoOutcome::Undone { .. }
    ));
    assert_eq!(eps.iter().map(|e| local(&h, e)).collect::<Vec<_>>(), before);
}

/// An item whose earlier change was not sent yet (offline) gets that change back with Undo,
/// queued again; one the person changed again after the bulk action keeps the newer change.
async fn undo_brings_back_an_unsent_change_and_keeps_a_newer_one(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let (a, b) = (eps[0].id.clone(), eps[1].id.clone());
    h.server.go_offline().await;
    h.engine
        .record_change(
            &a,
            LocalChange::Position {
                position_ms: 600_000,
            },
        )
        .unwrap();
    assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
    let batch = h.engine.record_bulk_held(&season, true).unwrap();
    h.engine
        .record_change(&b, LocalChange::MarkUnwatched)
        .unwrap();
    assert!(matches!(
        h.engine.undo(&batch).unwrap(),
        UndoOutcome::Undone { .. }
    ));
    assert_eq!(local(&h, &a).position_ms, 600_000);
    assert!(!local(&h, &a).played);
    let row = h
        .engine
        .with_store(|s| s.outbox_row(h.account, &a))
        .unwrap()
        .expect("the earlier change is queued again");
    assert_eq!(row.desired.position_ms, 600_000);
    assert!(!row.held_at(h.clock.now()));
    // B: unwatched by the person after the bulk action, i.e. back at the base: no row.
    assert!(!local(&h, &b).played);
    assert!(queued(&h).iter().all(|r| r.item_id == a));

    h.server.set_offline(false);
    h.engine.connectivity_changed(true);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.server.user_data(&a).unwrap().position_ms, 600_000);
    assert!(eps
        .iter()
        .all(|e| !h.server.user_data(&e.id).unwrap().played));
}

/// Once any change of the batch may have been sent (released and delivered), Undo says it
/// cannot and changes nothing.
async fn undo_is_refused_once_something_was_sent(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let batch = h.engine.record_bulk_held(&season, true).unwrap();
    h.engine.release_hold(&batch).unwrap();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert!(matches!(
        h.engine.undo(&batch).unwrap(),
        UndoOutcome::TooLate { sent } if sent == eps.len()
    ));
    assert!(eps.iter().all(|e| local(&h, &e.id).played));
    assert!(queued(&h).is_empty());

    // Expired by time, not yet sent (offline): also too late (it may go at any moment).
    let batch = h.engine.record_bulk_held(&season, false).unwrap();
    h.server.go_offline().await;
    h.clock.advance(UNDO_HOLD_MS);
    assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
    assert!(matches!(
        h.engine.undo(&batch).unwrap(),
        UndoOutcome::TooLate { .. }
    ));
    assert!(eps.iter().all(|e| !local(&h, &e.id).played));
}

/// The app was killed while a hold was active: a new engine on the same file does not send
/// the held change early, and sends it when the hold's time has passed.
async fn a_hold_outlives_a_restart_and_ends_by_time(kind: ServerKind) {
    let mut h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    h.engine.record_bulk_held(&season, true).unwrap();
    h.restart_engine();
    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    assert!(h.writes().is_empty());
    h.clock.advance(UNDO_HOLD_MS);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert!(eps
        .iter()
        .all(|e| h.server.user_data(&e.id).unwrap().played));
}

macro_rules! suite {
    ([$($module:ident => $kind:ident),* $(,)?] $names:tt) => {
        $( suite!(@kind $module $kind $names); )*
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

suite!(
    [jellyfin => Jellyfin, plex => Plex]
    [
        a_held_bulk_change_is_sent_only_when_its_hold_ends,
        the_running_engine_wakes_when_the_hold_ends_or_at_once_on_release,
        undo_restores_every_item_and_sends_nothing,
        undo_brings_back_an_unsent_change_and_keeps_a_newer_one,
        undo_is_refused_once_something_was_sent,
        a_hold_outlives_a_restart_and_ends_by_time,
    ]
);

/// `playmark sync --wait` and `retry` respect a hold the app put on a bulk change (here through
/// the store, as the app's engine does), `status` says it is held, and once the hold's time
/// has passed `sync` sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_respects_a_hold_and_says_so() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(code(&login(&data, &server.url(), DEMO_PASSWORD)), 0);
    assert_eq!(code(&run(&data, &["refresh"], None)), 0);
    let items = server.items();
    let season = common::first_id(&items, ItemKind::Season);
    let episodes: Vec<String> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Episode && i.season_id.as_deref() == Some(&season))
        .map(|i| i.id.clone())
        .collect();
    let hold = |ms: i64| {
        let mut store = Store::open(&database_path(&data)).unwrap();
        let account = store.account().unwrap().unwrap().id;
        let now = playmark::clock::SystemClock.now();
        store
            .record_bulk_held(account, &season, true, now, 0, now + ms)
            .unwrap()
    };
    let batch = hold(60_000);
    server.clear_requests();

    let retry = run(&data, &["retry", "--all"], None);
    assert_eq!(code(&retry), 0, "{}", text(&retry));
    let sync = run(&data, &["sync", "--wait", "1"], None);
    let said = text(&sync);
    assert_eq!(code(&sync), 3, "{said}");
    assert!(
        said.contains("held for Undo"),
        "sync says why nothing went: {said}"
    );
    assert!(
        server.requests().iter().all(|r| !r.is_user_data_write()),
        "a held change was sent: {:?}",
        server.requests()
    );
    assert!(episodes
        .iter()
        .all(|e| !server.user_data(e).unwrap().played));

    let status = run(&data, &["status"], None);
    let said = text(&status);
    assert!(
        said.contains(&format!("{} held for Undo", episodes.len())),
        "{said}"
    );
    assert!(said.contains("[pending, held for Undo]"), "{said}");
    let json = run(&data, &["status", "--json"], None);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["held"], episodes.len());
    assert!(doc["items"][0]["hold_until"].as_i64().is_some());

    // The app let it go (its toast went): `sync` sends it.
    let mut store = Store::open(&database_path(&data)).unwrap();
    store.release_hold(&batch).unwrap();
    drop(store);
    let sync = run(&data, &["sync", "--wait", "20"], None);
    assert_eq!(code(&sync), 0, "{}", text(&sync));
    assert!(episodes.iter().all(|e| server.user_data(e).unwrap().played));

    // A hold whose app is gone ends by time: `sync --wait` longer than the hold sends it then,
    // not before.
    let season_unwatched = {
        let mut store = Store::open(&database_path(&data)).unwrap();
        let account = store.account().unwrap().unwrap().id;
        let now = playmark::clock::SystemClock.now();
        store
            .record_bulk_held(account, &season, false, now, 0, now + 1_500)
            .unwrap();
        now
    };
    server.clear_requests();
    let sync = run(&data, &["sync", "--wait", "20"], None);
    assert_eq!(code(&sync), 0, "{}", text(&sync));
    let first_write = server
        .requests()
        .into_iter()
        .find(|r| r.is_user_data_write())
        .expect("sent after the hold");
    let at = first_write
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        at >= season_unwatched + 1_500,
        "sent {} ms into a 1,500 ms hold",
        at - season_unwatched
    );
    assert!(episodes
        .iter()
        .all(|e| !server.user_data(e).unwrap().played));
}
