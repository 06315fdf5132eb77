//! The engine against each demo server kind (Jellyfin and Plex) over loopback, with a real
//! SQLite file and a fake clock: every scenario runs once per server kind (see [`suite!`] at
//! the end: a new server kind gets the whole suite by adding one line). Every test also checks
//! that each request fits that server's OpenAPI document.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::kind_suite as suite;

use std::time::Duration;

use common::Harness;
use playmark::backend::ErrorKind;
use playmark::clock::Clock;
use playmark::demo::Fault;
use playmark::model::{ItemKind, LocalChange, ServerKind};
use playmark::store::RowState;
use playmark::sync::{AccountState, RunOutcome};

fn row(h: &Harness, item: &str) -> Option<playmark::store::OutboxRow> {
    h.engine
        .with_store(|s| s.outbox_row(h.account, item))
        .unwrap()
}

async fn offline_change_waits_then_is_delivered_exactly_once(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    h.server.go_offline().await;
    h.engine
        .record_change(&ep, LocalChange::MarkWatched)
        .unwrap();
    assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
    assert_eq!(h.engine.account_state(), AccountState::Offline);
    // Several probe rounds while offline: no attempt is counted.
    for _ in 0..3 {
        h.clock.advance(120_000);
        assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
    }
    let r = row(&h, &ep).unwrap();
    assert_eq!((r.state, r.attempts), (RowState::Pending, 0));
    assert!(
        h.engine
            .stats()
            .probes
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3
    );

    h.server.set_offline(false);
    h.clock.advance(120_000);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.engine.account_state(), AccountState::Online);
    let writes = h.writes();
    assert_eq!(writes.len(), 1, "exactly one write: {writes:?}");
    assert!(h.server.user_data(&ep).unwrap().played);
    h.assert_contract();
}

async fn connectivity_hint_flushes_without_waiting_for_the_probe_timer(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(1);
    h.server.go_offline().await;
    h.record_position(&ep, 61_000);
    assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
    h.server.set_offline(false);
    h.engine.connectivity_changed(true);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.server.user_data(&ep).unwrap().position_ms, 61_000);
}

async fn queue_survives_a_restart(kind: ServerKind) {
    let mut h = Harness::start(kind).await;
    let ep = h.episode(2);
    h.record_position(&ep, 754_200);
    h.restart_engine();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.server.user_data(&ep).unwrap().position_ms, 754_200);
    assert_eq!(h.writes().len(), 1);
    h.assert_contract();
}

async fn hundred_position_updates_make_one_write_with_the_last_value(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    for i in 1..=100 {
        h.record_position(&ep, i * 10_000);
    }
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(h.written_position(&writes[0]), Some(1_000_000));
    assert_eq!(h.server.user_data(&ep).unwrap().position_ms, 1_000_000);
    h.assert_contract();
}

async fn toggles_coalesce_and_a_return_to_base_sends_nothing(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let a = h.episode(0);
    let b = h.episode(1);
    h.engine
        .record_change(&a, LocalChange::MarkWatched)
        .unwrap();
    h.engine
        .record_change(&a, LocalChange::MarkUnwatched)
        .unwrap();
    h.engine
        .record_change(&a, LocalChange::MarkWatched)
        .unwrap();
    let base = h.server.user_data(&b).unwrap().position_ms;
    h.record_position(&b, base + 30_000);
    h.record_position(&b, base);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(h.write_target(&writes[0]).as_deref(), Some(a.as_str()));
    h.assert_contract();
}

async fn change_made_while_in_flight_is_delivered_afterwards(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    h.record_position(&ep, 10_000);
    // The read before the write and the write itself are slow.
    h.server
        .fail_next(2, Fault::Delay(Duration::from_millis(400)));
    let engine = h.engine.clone();
    let deadline = h.clock.now();
    let drain = tokio::spawn(async move {
        engine
            .run(playmark::sync::RunMode::UntilIdle { deadline })
            .await
    });
    // Wait (real time: the request is real HTTP) until the server has the write.
    for _ in 0..400 {
        if !h.writes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(row(&h, &ep).unwrap().state, RowState::InFlight);
    h.record_position(&ep, 20_000);
    assert_eq!(drain.await.unwrap().unwrap(), RunOutcome::Empty);
    assert_eq!(h.writes().len(), 2);
    assert_eq!(h.server.user_data(&ep).unwrap().position_ms, 20_000);
    h.assert_contract();
}

async fn in_flight_row_of_a_crashed_engine_is_retried_at_once_a_live_ones_is_not(kind: ServerKind) {
    let mut h = Harness::start(kind).await;
    let ep = h.episode(3);
    h.engine
        .record_change(&ep, LocalChange::MarkWatched)
        .unwrap();
    // A run claims the row and "crashes" before sending.
    let now = h.clock.now();
    let claimed = h
        .engine
        .with_store(|s| s.claim_due(h.account, now, 8, 60_000))
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // While the engine that holds the lease is alive, another engine on the same file leaves
    // the row alone.
    let holder = h.engine.clone();
    h.restart_engine();
    assert!(
        matches!(h.drain_now().await, RunOutcome::Pending { .. }),
        "lease of a live engine: not stolen"
    );
    assert!(h.writes().is_empty());
    // The holder goes away (an in-process crash): its lease is an orphan, taken back at once,
    // long before it expires.
    drop(holder);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.writes().len(), 1);
    assert!(h.server.user_data(&ep).unwrap().played);
}

async fn transient_failures_back_off_exponentially_with_jitter(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    h.server.fail_next(
        6,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    h.engine
        .record_change(&ep, LocalChange::MarkWatched)
        .unwrap();
    let backoff = playmark::sync::Backoff::default();
    for attempt in 1..=6 {
        let before = h.clock.now();
        assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
        let r = row(&h, &ep).unwrap();
        assert_eq!((r.state, r.attempts), (RowState::Failed, attempt));
        let delay = r.next_attempt_at - before;
        assert!(
            (0..=backoff.ceiling(attempt as u32)).contains(&delay),
            "attempt {attempt}: delay {delay}"
        );
        // Not retried a millisecond early: no request at all.
        let sent = h.server.requests().len();
        if delay > 0 {
            h.clock.advance(delay - 1);
            h.drain_now().await;
            assert_eq!(h.server.requests().len(), sent);
            h.clock.advance(1);
        }
    }
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let failed = h
        .server
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(failed, 6);
    assert_eq!(h.successful_writes().len(), 1);
    assert!(h.server.user_data(&ep).unwrap().played);
    h.assert_contract();
}

async fn retry_after_is_never_violated_for_any_item(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let a = h.episode(0);
    let b = h.episode(1);
    h.server.fail_next(
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(7),
        },
    );
    h.engine
        .record_change(&a, LocalChange::MarkWatched)
        .unwrap();
    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    let r = row(&h, &a).unwrap();
    assert!(r.next_attempt_at - h.clock.now() >= 7_000);
    // Another change during the Retry-After window is held back too.
    h.engine
        .record_change(&b, LocalChange::MarkWatched)
        .unwrap();
    h.clock.advance(6_999);
    h.drain_now().await;
    assert_eq!(
        h.server.requests().len(),
        1,
        "nothing sent before Retry-After expired"
    );
    h.clock.advance(1);
    let _ = h.engine.sync_now();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.successful_writes().len(), 2);
    assert!(h.server.user_data(&a).unwrap().played && h.server.user_data(&b).unwrap().played);
    let first = h.server.requests()[0].at;
    for r in &h.server.requests()[1..] {
        // Real time is much shorter than 7 s here; the fake clock is what the engine obeys, so
        // check the order and count of requests instead.
        assert!(r.at >= first);
    }
}

async fn unauthorized_pauses_the_account_and_keeps_the_queue(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    h.server.revoke_tokens();
    h.engine
        .record_change(&ep, LocalChange::MarkWatched)
        .unwrap();
    assert!(matches!(
        h.drain_now().await,
        RunOutcome::SignInNeeded { .. }
    ));
    assert_eq!(h.engine.account_state(), AccountState::SignInNeeded);
    let r = row(&h, &ep).unwrap();
    assert_eq!(
        (r.state, r.attempts, r.error_kind),
        (RowState::Pending, 0, Some(ErrorKind::Auth))
    );
    // Paused: time passing sends nothing more.
    h.clock.advance(3_600_000);
    h.drain_now().await;
    assert_eq!(h.server.requests().len(), 1);
}

async fn item_gone_from_server_needs_attention_then_discard(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let ep = h.episode(0);
    h.record_position(&ep, 5_000);
    h.server.remove_item(&ep);
    assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
    let r = row(&h, &ep).unwrap();
    assert_eq!(
        (r.state, r.error_kind),
        (RowState::NeedsAttention, Some(ErrorKind::NotFound))
    );
    let msg = playmark::backend::SyncError::new(ErrorKind::NotFound, "x").message("Demo", 1);
    assert_eq!(msg.action, playmark::backend::error::Action::Discard);
    // Not retried by itself: the read before the write and the refused write, nothing more.
    h.clock.advance(3_600_000);
    h.drain_now().await;
    assert_eq!(h.server.requests().len(), 2);
    assert_eq!(h.engine.discard(std::slice::from_ref(&ep)).unwrap(), 1);
    assert!(row(&h, &ep).is_none());
}

async fn server_errors_and_broken_responses_are_retried_then_delivered(kind: ServerKind) {
    let faults = [
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Starting,
        Fault::Reset,
        Fault::Truncated,
        Fault::Malformed,
    ];
    let h = Harness::start(kind).await;
    for (n, fault) in faults.into_iter().enumerate() {
        let ep = h.episode(n);
        let label = format!("{fault:?}");
        h.server.fail_next(1, fault);
        h.record_position(&ep, 1_000 * (n as i64 + 1));
        assert!(
            matches!(h.drain_now().await, RunOutcome::Pending { .. }),
            "{label}"
        );
        let r = row(&h, &ep).unwrap();
        assert_eq!(
            (r.state, r.error_kind),
            (RowState::Failed, Some(ErrorKind::Transient)),
            "{label}"
        );
        h.clock.advance(600_000);
        assert_eq!(h.drain_now().await, RunOutcome::Empty, "{label}");
        assert_eq!(
            h.server.user_data(&ep).unwrap().position_ms,
            1_000 * (n as i64 + 1),
            "{label}"
        );
    }
    h.assert_contract();
}

/// Whether a recorded request lists `parent`'s episodes (Jellyfin `GET /Items?parentId=…`
/// recursive to episodes, Plex `GET /library/metadata/{parent}/allLeaves`).
fn is_children_listing(
    kind: ServerKind,
    r: &playmark::demo::RecordedRequest,
    parent: &str,
) -> bool {
    r.method == "GET"
        && match kind {
            ServerKind::Plex => r.path == format!("/library/metadata/{parent}/allLeaves"),
            ServerKind::Jellyfin | ServerKind::Demo => {
                r.path == "/Items"
                    && r.query_value("parentId") == Some(parent)
                    && r.query_value("recursive") == Some("true")
                    && r.query_value("includeItemTypes") == Some("Episode")
                    && r.query_value("enableUserData") == Some("true")
            }
        }
}

/// An intact group is one call on the parent, and its read is the parent's listing, which
/// serves as the members' read too: the listing, the call, the read of what the call set
/// (and on Plex, whose answers name no server, `/identity`) — nothing else.
async fn marking_a_season_is_one_call_while_the_group_is_intact(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    assert!(eps.len() >= 3);
    let outcome = h.engine.record_bulk(&season, true).unwrap();
    assert_eq!(outcome.queued, eps.len());
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(h.is_bulk_write(&writes[0], &season, true), "{writes:?}");
    for e in &eps {
        assert!(h.server.user_data(&e.id).unwrap().played);
    }
    let requests: Vec<_> = h
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path != "/identity")
        .collect();
    let shown: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}?{:?}", r.method, r.path, r.query))
        .collect();
    assert_eq!(requests.len(), 3, "{shown:#?}");
    assert!(
        is_children_listing(kind, &requests[0], &season),
        "{shown:#?}"
    );
    assert!(h.is_bulk_write(&requests[1], &season, true), "{shown:#?}");
    h.assert_contract();
}

/// A series is one call too: its listing is every episode of every season (recursive).
async fn marking_a_series_is_one_call_over_its_listed_episodes(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let items = h.server.items();
    let series = items
        .iter()
        .find(|i| i.kind == ItemKind::Series)
        .unwrap()
        .id
        .clone();
    let eps: Vec<_> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Episode && i.series_id.as_deref() == Some(&series))
        .collect();
    let outcome = h.engine.record_bulk(&series, true).unwrap();
    assert!(outcome.group_key.is_some(), "{outcome:?}");
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(h.is_bulk_write(&writes[0], &series, true), "{writes:?}");
    assert!(h
        .server
        .requests()
        .iter()
        .any(|r| is_children_listing(kind, r, &series)));
    assert!(eps.len() >= 6);
    for e in eps {
        let data = h.server.user_data(&e.id).unwrap();
        assert!(data.played && data.play_count == 1, "{} {data:?}", e.name);
    }
    h.assert_contract();
}

/// Issue 17, "What was seen" 4: an episode added on the server after our last refresh, that
/// another device has already started (Jellyfin: 20:00) or watched (Plex: one view). Marking
/// the season watched here must not touch it: the season's listing, read in the same claim,
/// names a child that is not a member, so the members go item by item and it gets no write
/// (invariant 9).
async fn marking_a_season_leaves_an_episode_added_on_the_server_alone(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let outcome = h.engine.record_bulk(&season, true).unwrap();
    assert!(
        outcome.group_key.is_some(),
        "every known episode is a member"
    );
    let other_device = match kind {
        ServerKind::Plex => playmark::model::UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(1_700_000_000_000),
        },
        ServerKind::Jellyfin | ServerKind::Demo => playmark::model::UserData {
            position_ms: 20 * 60_000,
            last_played: Some(1_700_000_000_000),
            ..Default::default()
        },
    };
    let added = h
        .server
        .add_episode(&season, "Late Arrival", 45 * 60_000, other_device)
        .unwrap();
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert!(
        !writes.iter().any(|w| h.is_bulk_write(w, &season, true)),
        "no call on the season: {writes:?}"
    );
    assert!(
        writes
            .iter()
            .all(|w| h.write_target(w).as_deref() != Some(added.as_str())),
        "no write to the added episode: {writes:?}"
    );
    let data = h.server.user_data(&added).unwrap();
    match kind {
        ServerKind::Plex => {
            assert!(data.played);
            assert_eq!(data.play_count, 1, "still one view: {data:?}");
        }
        ServerKind::Jellyfin | ServerKind::Demo => {
            assert!(!data.played, "{data:?}");
            assert_eq!(data.position_ms, 20 * 60_000, "keeps 20:00: {data:?}");
        }
    }
    for e in &eps {
        let data = h.server.user_data(&e.id).unwrap();
        assert!(data.played, "{}", e.name);
        assert_eq!(data.play_count, 1, "{}", e.name);
    }
    // One listing of the season in the claim, no other read of the members before the writes.
    let requests = h.server.requests();
    let listings = requests
        .iter()
        .filter(|r| is_children_listing(kind, r, &season))
        .count();
    assert_eq!(listings, 1, "{requests:?}");
    h.assert_contract();
}

/// The same with "mark unwatched": Jellyfin's `DELETE /UserPlayedItems/{season}` (and Plex's
/// unscrobble) would reset the added episode's 20:00 to 0.
async fn unmarking_a_season_keeps_an_added_episodes_progress(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    h.server.set_user_data(
        &season,
        playmark::model::UserData {
            played: true,
            play_count: 1,
            last_played: Some(1_700_000_000_000),
            ..Default::default()
        },
    );
    h.engine.refresh(50).await.unwrap();
    let outcome = h.engine.record_bulk(&season, false).unwrap();
    assert!(
        outcome.group_key.is_some(),
        "every known episode is a member"
    );
    let twenty = playmark::model::UserData {
        position_ms: 20 * 60_000,
        last_played: Some(1_700_000_000_000),
        ..Default::default()
    };
    let added = h
        .server
        .add_episode(&season, "Late Arrival", 45 * 60_000, twenty)
        .unwrap();
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes();
    assert!(
        !writes.iter().any(|w| h.is_bulk_write(w, &season, false)),
        "no call on the season: {writes:?}"
    );
    let data = h.server.user_data(&added).unwrap();
    assert_eq!(data.position_ms, 20 * 60_000, "keeps 20:00: {data:?}");
    for e in &eps {
        assert!(!h.server.user_data(&e.id).unwrap().played, "{}", e.name);
    }
    h.assert_contract();
}

/// One call on the season changes every episode on the server; on Plex each scrobble adds a
/// view. An episode already watched is not a member, so the season goes item by item and the
/// watched one is left alone (its play count stays 1).
async fn marking_a_season_adds_no_view_to_an_episode_already_watched(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    h.engine
        .record_change(&eps[0].id, LocalChange::MarkWatched)
        .unwrap();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    assert_eq!(h.server.user_data(&eps[0].id).unwrap().play_count, 1);
    let before = h.writes().len();
    let outcome = h.engine.record_bulk(&season, true).unwrap();
    assert_eq!(outcome.queued, eps.len() - 1);
    assert_eq!(outcome.group_key, None, "not every episode is a member");
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let writes = h.writes().split_off(before);
    assert!(
        !writes.iter().any(|w| h.is_bulk_write(w, &season, true)),
        "{writes:?}"
    );
    for e in &eps {
        let data = h.server.user_data(&e.id).unwrap();
        assert!(data.played, "{}", e.name);
        assert_eq!(data.play_count, 1, "{}", e.name);
    }
    h.assert_contract();
}

/// Simulation seed 5027: another device left an episode watched *with a position under the
/// flag* (watched, then re-watched part way); this device pulls it and marks the season
/// watched, so that episode is a member too (its position goes back to 0). On Plex a season
/// scrobble would add a second view to it: the bulk goes item by item there. Every episode
/// ends watched with one play.
async fn marking_a_season_adds_no_view_to_an_episode_watched_with_a_position(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    let rewatching = playmark::model::UserData {
        position_ms: 42_000,
        played: true,
        play_count: 1,
        last_played: Some(1_700_000_000_000),
    };
    h.server.set_user_data(&eps[0].id, rewatching);
    h.engine.refresh(7).await.unwrap();
    let outcome = h.engine.record_bulk(&season, true).unwrap();
    assert_eq!(outcome.queued, eps.len(), "the watched one moves back to 0");
    assert!(outcome.group_key.is_some(), "every episode is a member");
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    for e in &eps {
        let data = h.server.user_data(&e.id).unwrap();
        assert!(data.played, "{}", e.name);
        assert_eq!(data.play_count, 1, "{}", e.name);
    }
    h.assert_contract();
}

async fn editing_one_episode_breaks_the_group_into_per_item_writes(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (season, eps) = h.first_season();
    h.engine.record_bulk(&season, true).unwrap();
    h.record_position(&eps[0].id, 42_000);
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    // Per-item writes, one or more per episode (Plex: scrobble, then the timeline for the
    // edited one), never the season.
    let writes = h.writes();
    let mut targets: Vec<String> = writes.iter().filter_map(|w| h.write_target(w)).collect();
    assert_eq!(targets.len(), writes.len(), "{writes:?}");
    targets.sort();
    targets.dedup();
    let mut ids: Vec<String> = eps.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    assert_eq!(targets, ids);
    assert_eq!(h.server.user_data(&eps[0].id).unwrap().position_ms, 42_000);
    assert!(eps[1..]
        .iter()
        .all(|e| h.server.user_data(&e.id).unwrap().played));
    h.assert_contract();
}

async fn refresh_brings_remote_changes_and_the_whole_tree_but_keeps_queued_local_ones(
    kind: ServerKind,
) {
    let h = Harness::start(kind).await;
    // Under prefer-local a queued change survives any remote one (the other policies are the
    // merge scenario table's business: tests/it/merge_scenarios.rs).
    h.engine
        .with_store(|s| s.set_policy(h.account, playmark::sync::Policy::PreferLocal))
        .unwrap();
    let (a, b) = (h.episode(0), h.episode(1));
    // Another device moves `a` and marks `b` watched; `b` also has a local change queued.
    let remote_a = playmark::model::UserData {
        position_ms: 300_000,
        ..Default::default()
    };
    h.server.set_user_data(&a, remote_a);
    h.record_position(&b, 42_000);
    h.server.set_user_data(
        &b,
        playmark::model::UserData {
            played: true,
            play_count: 1,
            last_played: Some(1_700_000_000_000),
            ..Default::default()
        },
    );
    h.engine.refresh(7).await.unwrap();
    let local = |id: &str| {
        h.engine
            .with_store(|s| s.item(h.account, id))
            .unwrap()
            .unwrap()
    };
    assert_eq!(local(&a).position_ms, 300_000);
    assert_eq!(
        local(&b).position_ms,
        42_000,
        "a queued change is not overwritten"
    );
    assert_eq!(local(&b).sync_state, Some(RowState::Pending));
    // Series, seasons, episodes and movies arrive with the links bulk actions rely on.
    for item in h.server.items() {
        let l = local(&item.id);
        assert_eq!(
            (l.kind, &l.parent_id, &l.series_id, &l.season_id),
            (item.kind, &item.parent_id, &item.series_id, &item.season_id),
            "{}",
            item.name
        );
    }
    h.assert_contract();
}

suite!(
    [jellyfin => Jellyfin, plex => Plex]
    [
        offline_change_waits_then_is_delivered_exactly_once,
        connectivity_hint_flushes_without_waiting_for_the_probe_timer,
        queue_survives_a_restart,
        hundred_position_updates_make_one_write_with_the_last_value,
        toggles_coalesce_and_a_return_to_base_sends_nothing,
        change_made_while_in_flight_is_delivered_afterwards,
        in_flight_row_of_a_crashed_engine_is_retried_at_once_a_live_ones_is_not,
        transient_failures_back_off_exponentially_with_jitter,
        retry_after_is_never_violated_for_any_item,
        unauthorized_pauses_the_account_and_keeps_the_queue,
        item_gone_from_server_needs_attention_then_discard,
        server_errors_and_broken_responses_are_retried_then_delivered,
        marking_a_season_is_one_call_while_the_group_is_intact,
        marking_a_series_is_one_call_over_its_listed_episodes,
        marking_a_season_leaves_an_episode_added_on_the_server_alone,
        unmarking_a_season_keeps_an_added_episodes_progress,
        marking_a_season_adds_no_view_to_an_episode_already_watched,
        marking_a_season_adds_no_view_to_an_episode_watched_with_a_position,
        editing_one_episode_breaks_the_group_into_per_item_writes,
        refresh_brings_remote_changes_and_the_whole_tree_but_keeps_queued_local_ones,
    ]
);

/// Retrying a change that needs attention publishes its badge (queued) as an event: the
/// app's worker shows it from the engine, without re-reading the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_publishes_the_retried_changes_badge() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (ep, other) = (h.episode(0), h.episode(1));
    h.record_position(&ep, 5_000);
    h.server.remove_item(&ep);
    h.drain_now().await;
    assert_eq!(row(&h, &ep).unwrap().state, RowState::NeedsAttention);
    let mut events = h.engine.subscribe();
    assert_eq!(h.engine.retry(Some(&[ep.clone(), other])).unwrap(), 1);
    let mut states = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let playmark::sync::SyncEvent::ItemState { item_id, state } = event {
            states.push((item_id, state));
        }
    }
    assert_eq!(states, [(ep, playmark::sync::ItemSyncState::Queued)]);
}

/// Plex only (DESIGN.md invariant 10): a Plex write's answer carries no state, so a claim's
/// Plex writes are verified by one read of what the server holds.
mod plex_verify {
    use super::*;
    use playmark::demo::{PathPattern, RequestMatch};

    fn metadata_reads(h: &Harness) -> usize {
        h.server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/library/metadata/"))
            .count()
    }

    fn playable(h: &Harness, n: usize) -> Vec<String> {
        let mut items: Vec<_> = h
            .server
            .items()
            .into_iter()
            .filter(|i| i.kind.is_playable() && i.runtime_ms.is_some_and(|r| r > 20 * 60_000))
            .map(|i| i.id)
            .collect();
        items.sort();
        assert!(items.len() >= n, "{} playable items", items.len());
        items.truncate(n);
        items
    }

    /// A sync of `n` position changes: the claim's read, `n` timelines, one verify read.
    async fn one_verify_read_per_claim(n: usize) {
        let h = Harness::start(ServerKind::Plex).await;
        let items = playable(&h, n);
        for (i, item) in items.iter().enumerate() {
            h.record_position(item, 61_000 + i as i64 * 1_000);
        }
        h.server.clear_requests();
        assert_eq!(h.drain_now().await, RunOutcome::Empty);
        let requests = h.server.requests();
        let shown: Vec<String> = requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        eprintln!("{n} item(s): {} requests: {shown:#?}", requests.len());
        assert_eq!(h.writes().len(), n, "{shown:#?}");
        assert_eq!(
            metadata_reads(&h),
            2,
            "the claim's read and one verify: {shown:#?}"
        );
        let last_read = requests
            .iter()
            .rposition(|r| r.path.starts_with("/library/metadata/"))
            .unwrap();
        let last_write = requests.iter().rposition(|r| h.writes().contains(r));
        assert!(
            last_write < Some(last_read),
            "verified after the writes: {shown:#?}"
        );
        assert_eq!(
            h.engine
                .stats()
                .verifies
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        for (i, item) in items.iter().enumerate() {
            let want = 61_000 + i as i64 * 1_000;
            assert_eq!(h.server.user_data(item).unwrap().position_ms, want);
            let base = h.engine.with_store(|s| s.base(h.account, item)).unwrap();
            assert_eq!(base.unwrap().position_ms, want);
            assert!(!h
                .engine
                .with_store(|s| s.has_unknown_outcome(h.account, item))
                .unwrap());
        }
        h.assert_contract();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sync_of_one_item_is_verified_by_one_read() {
        one_verify_read_per_claim(1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sync_of_ten_items_is_verified_by_one_read() {
        one_verify_read_per_claim(10).await;
    }

    /// The server answers the timeline with 200 and does nothing: the row needs attention
    /// with a clear message, and the base is not moved to the value the server does not hold.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_plex_ignores_needs_attention_and_keeps_the_base() {
        let h = Harness::start(ServerKind::Plex).await;
        let ep = h.episode(1);
        let before = h.server.user_data(&ep).unwrap();
        h.server
            .fail_matching(RequestMatch::user_data_writes(), Fault::Ignored);
        h.record_position(&ep, 754_000);
        h.drain_now().await;
        assert_eq!(h.writes().len(), 1);
        assert_eq!(h.server.user_data(&ep).unwrap(), before, "ignored");
        let r = row(&h, &ep).expect("the change is kept");
        assert_eq!(r.state, RowState::NeedsAttention);
        assert_eq!(
            r.error_detail.as_deref(),
            Some("Plex did not apply the new resume point")
        );
        let base = h.engine.with_store(|s| s.base(h.account, &ep)).unwrap();
        assert_ne!(base.map(|b| b.position_ms), Some(754_000), "{base:?}");
        assert_eq!(base.map(|b| b.position_ms), Some(before.position_ms));
    }

    /// The verify read fails: the write's outcome stays unknown (its sent record is kept) and
    /// the row is retried; the next read finds ours and completes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_verify_read_keeps_the_sent_record() {
        let h = Harness::start(ServerKind::Plex).await;
        let ep = h.episode(1);
        let reads = RequestMatch::request(
            Some("GET"),
            PathPattern::Prefix("/library/metadata/".into()),
        );
        // The claim's read passes; the next read (the verify) gets a 500.
        h.server
            .fail_matching(reads.clone(), Fault::Delay(Duration::ZERO));
        h.server.fail_matching(
            reads,
            Fault::Status {
                code: 500,
                retry_after: None,
            },
        );
        h.record_position(&ep, 754_000);
        h.drain_now().await;
        assert_eq!(h.server.armed_faults(), 0, "both reads were sent");
        assert_eq!(h.server.user_data(&ep).unwrap().position_ms, 754_000);
        assert!(h
            .engine
            .with_store(|s| s.has_unknown_outcome(h.account, &ep))
            .unwrap());
        let r = row(&h, &ep).expect("retried");
        assert_eq!(r.state, RowState::Failed);
        // Later, the next read settles it as ours: no second write.
        h.clock.advance(3_600_000);
        assert_eq!(h.drain_now().await, RunOutcome::Empty);
        assert_eq!(h.writes().len(), 1, "ours landed: not sent again");
        assert!(!h
            .engine
            .with_store(|s| s.has_unknown_outcome(h.account, &ep))
            .unwrap());
        let base = h.engine.with_store(|s| s.base(h.account, &ep)).unwrap();
        assert_eq!(base.map(|b| b.position_ms), Some(754_000));
    }
}
