//! The scenario table of the README ("Conflicts and merge"), row by row, under every policy,
//! against each demo server kind (Jellyfin and Plex, see [`suite!`] at the end) over loopback
//! with a real SQLite file.
//!
//! Two devices: our engine (this device), and the "other device" writing straight to the
//! server (`DemoServer::set_user_data`), holding what that server kind would hold after the
//! other device's call (see [`other_device_moves_to`]). Each scenario starts from an item both
//! sides agree on (pulled once), then both act, then we pull (refresh) and push (drain), and
//! the test checks what each side holds. Expected results are given per kind: where Plex's
//! differ, the README explains why.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::kind_suite as suite;

use std::sync::Arc;

use common::{policy_table as table, Harness, Shown};
use playmark::backend::{MediaServer, SyncError};
use playmark::clock::Clock;
use playmark::model::{LocalChange, Millis, RemoteItem, ServerKind, UserData};
use playmark::store::{RowState, REMOVED_DETAIL};
use playmark::sync::{Decision, Policy, RunOutcome, Side, SyncEvent};

const MIN: i64 = 60_000;

fn at(position_ms: i64, last_played: Millis) -> UserData {
    UserData {
        position_ms,
        played: false,
        play_count: 0,
        last_played: Some(last_played),
    }
}

fn watched(last_played: Millis) -> UserData {
    UserData {
        position_ms: 0,
        played: true,
        play_count: 1,
        last_played: Some(last_played),
    }
}

/// Not watched, at `position_ms`, as `kind` holds it: Jellyfin keeps the date of the last
/// progress report; Plex has a date only for a completed view (`lastViewedAt`), and an item
/// that is not watched (`viewCount` 0) has had none, or had it removed by unscrobble.
fn started(kind: ServerKind, position_ms: i64) -> UserData {
    match kind {
        ServerKind::Plex => UserData {
            position_ms,
            ..UserData::default()
        },
        ServerKind::Jellyfin | ServerKind::Demo => at(position_ms, 1_000),
    }
}

/// The other device plays on to `position_ms` (without finishing), as its server records it:
/// Jellyfin stamps `LastPlayedDate` with every progress report; Plex's timeline moves only
/// `viewOffset` (`lastViewedAt` and `viewCount` stay as they were: a position has no server
/// time on Plex).
fn other_device_moves_to(h: &Harness, ep: &str, position_ms: i64) {
    let now = h.server.user_data(ep).unwrap();
    let data = match h.kind {
        ServerKind::Plex => UserData { position_ms, ..now },
        ServerKind::Jellyfin | ServerKind::Demo => UserData {
            position_ms,
            last_played: Some(h.clock.now()),
            ..now
        },
    };
    h.server.set_user_data(ep, data);
}

/// A harness of `kind` on `policy` where episode 0 is at `start` on both sides.
async fn agreed(kind: ServerKind, policy: Policy, start: UserData) -> (Harness, String) {
    let h = Harness::start(kind).await;
    h.engine
        .with_store(|s| s.set_policy(h.account, policy))
        .unwrap();
    let ep = h.episode(0);
    h.server.set_user_data(&ep, start);
    h.engine.refresh(50).await.unwrap();
    let local = h
        .engine
        .with_store(|s| s.item(h.account, &ep))
        .unwrap()
        .unwrap();
    assert_eq!(
        (local.position_ms, local.played),
        (start.position_ms, start.played)
    );
    h.server.clear_requests();
    (h, ep)
}

/// Pull, then push; return (ours, server's) and check a second pull changes nothing.
async fn pull_push(h: &Harness, ep: &str) -> (Shown, Shown) {
    h.engine.refresh(50).await.unwrap();
    assert_eq!(
        h.drain_now().await,
        RunOutcome::Empty,
        "everything delivered"
    );
    let ours = h
        .engine
        .with_store(|s| s.item(h.account, ep))
        .unwrap()
        .unwrap();
    let server = h.server.user_data(ep).unwrap();
    // Idempotence end to end: pulling the same server state again changes nothing.
    let again = h.engine.refresh(50).await.unwrap();
    assert_eq!((again.adopted, again.conflicts), (0, 0));
    let still = h
        .engine
        .with_store(|s| s.item(h.account, ep))
        .unwrap()
        .unwrap();
    assert_eq!(
        (still.position_ms, still.played, still.sync_state),
        (ours.position_ms, ours.played, None)
    );
    h.assert_contract();
    (
        (ours.position_ms, ours.played),
        (server.position_ms, server.played),
    )
}

async fn other_device_advances_we_are_idle_we_adopt_it(kind: ServerKind) {
    table(
        kind,
        [
            (Policy::LastWriterWins, (12 * MIN, false), (12 * MIN, false)),
            (
                Policy::FurthestProgress,
                (12 * MIN, false),
                (12 * MIN, false),
            ),
            (Policy::PreferLocal, (12 * MIN, false), (12 * MIN, false)),
            (Policy::PreferServer, (12 * MIN, false), (12 * MIN, false)),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
            let mut events = h.engine.subscribe();
            other_device_moves_to(&h, &ep, 12 * MIN);
            let result = pull_push(&h, &ep).await;
            assert!(h.writes().is_empty(), "nothing to send: {:?}", h.writes());
            let merged = std::iter::from_fn(|| events.try_recv().ok()).find_map(|e| match e {
                SyncEvent::Merged { item_id, outcome } if item_id == ep => Some(outcome),
                _ => None,
            });
            assert_eq!(merged.unwrap().decision, Decision::AdoptedServer);
            result
        },
    )
    .await;
}

async fn we_advance_offline_other_device_idle_ours_reaches_the_server(kind: ServerKind) {
    table(
        kind,
        [
            (Policy::LastWriterWins, (8 * MIN, false), (8 * MIN, false)),
            (Policy::FurthestProgress, (8 * MIN, false), (8 * MIN, false)),
            (Policy::PreferLocal, (8 * MIN, false), (8 * MIN, false)),
            (Policy::PreferServer, (8 * MIN, false), (8 * MIN, false)),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
            h.server.go_offline().await;
            h.record_position(&ep, 8 * MIN);
            assert!(matches!(h.drain_now().await, RunOutcome::Offline { .. }));
            h.server.set_offline(false);
            h.engine.connectivity_changed(true);
            pull_push(&h, &ep).await
        },
    )
    .await;
}

/// We move to 8:00 first; the other device later moves to 12:00. Plex, last-writer-wins: the
/// other device's position has no server time, so it counts as older than our dated change.
async fn both_advance_other_device_later_and_further(kind: ServerKind) {
    table(
        kind,
        common::mine_or_theirs(
            (8 * MIN, false),
            (12 * MIN, false),
            ((12 * MIN, false), (8 * MIN, false)),
        ),
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
            h.record_position(&ep, 8 * MIN);
            h.clock.advance(60_000);
            other_device_moves_to(&h, &ep, 12 * MIN);
            pull_push(&h, &ep).await
        },
    )
    .await;
}

/// The other device reached 12:00 an hour ago; we then went back to 8:00 (not to the start).
async fn both_advance_we_are_later_but_behind(kind: ServerKind) {
    table(
        kind,
        common::mine_or_theirs(
            (8 * MIN, false),
            (12 * MIN, false),
            ((8 * MIN, false), (8 * MIN, false)),
        ),
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
            other_device_moves_to(&h, &ep, 12 * MIN);
            h.clock.advance(3_600_000);
            h.record_position(&ep, 8 * MIN);
            let result = pull_push(&h, &ep).await;
            let (_, decision, summary) = h
                .engine
                .with_store(|s| s.last_merge(h.account, &ep))
                .unwrap()
                .unwrap();
            assert_eq!(decision, "conflict");
            let expected = if result.0 .0 == 8 * MIN {
                "your change (8:00) replaced the server's 12:00"
            } else {
                "kept the server's 12:00 from another device"
            };
            assert!(summary.starts_with(expected), "{summary}");
            result
        },
    )
    .await;
}

/// The episode was watched; we mark it not watched; then the other device starts it again and
/// is at 12:00. Plex, last-writer-wins: the server's only date is the earlier completed view
/// (a rewatch in progress does not move `lastViewedAt`), older than our unwatch.
async fn we_unwatch_while_the_other_device_is_mid_episode(kind: ServerKind) {
    table(
        kind,
        [
            (Policy::LastWriterWins, (12 * MIN, true), (0, false)),
            (Policy::FurthestProgress, (0, false), (0, false)),
            (Policy::PreferLocal, (0, false), (0, false)),
            (Policy::PreferServer, (12 * MIN, true), (12 * MIN, true)),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy, watched(1_000)).await;
            h.engine
                .record_change(&ep, LocalChange::MarkUnwatched)
                .unwrap();
            h.clock.advance(60_000);
            other_device_moves_to(&h, &ep, 12 * MIN);
            pull_push(&h, &ep).await
        },
    )
    .await;
}

/// We were at 15:00 and rewind to 0 to watch again; the other device, idle since before our
/// rewind, last reported 16:00.
async fn we_rewind_to_zero_to_rewatch(kind: ServerKind) {
    table(
        kind,
        [
            (Policy::LastWriterWins, (0, false), (0, false)),
            (Policy::FurthestProgress, (0, false), (0, false)),
            (Policy::PreferLocal, (0, false), (0, false)),
            (Policy::PreferServer, (16 * MIN, false), (16 * MIN, false)),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 15 * MIN)).await;
            other_device_moves_to(&h, &ep, 16 * MIN);
            h.clock.advance(60_000);
            h.record_position(&ep, 0);
            pull_push(&h, &ep).await
        },
    )
    .await;
}

/// We hold 8:00 (not sent yet); the server marks the episode watched (position back to 0; on
/// Plex a scrobble, which does stamp `lastViewedAt`).
async fn server_marks_watched_while_we_hold_a_position(kind: ServerKind) {
    table(
        kind,
        [
            (Policy::LastWriterWins, (0, true), (0, true)),
            (Policy::FurthestProgress, (0, true), (0, true)),
            (Policy::PreferLocal, (8 * MIN, false), (8 * MIN, false)),
            (Policy::PreferServer, (0, true), (0, true)),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
            h.record_position(&ep, 8 * MIN);
            h.clock.advance(60_000);
            h.server.set_user_data(&ep, watched(h.clock.now()));
            let mut events = h.engine.subscribe();
            let result = pull_push(&h, &ep).await;
            let winner = std::iter::from_fn(|| events.try_recv().ok()).find_map(|e| match e {
                SyncEvent::Merged { item_id, outcome } if item_id == ep => match outcome.decision {
                    Decision::Conflict { winner, .. } => Some(winner),
                    _ => None,
                },
                _ => None,
            });
            let expect = if policy == Policy::PreferLocal {
                Side::Local
            } else {
                Side::Server
            };
            assert_eq!(winner, Some(expect), "{policy}");
            result
        },
    )
    .await;
}

/// The item is deleted on the server while we hold a change for it, and another item with no
/// change is deleted too. Same under every policy: both are marked removed locally; the change
/// needs attention ("no longer on the server") instead of vanishing, until the user discards it.
async fn item_deleted_on_the_server(kind: ServerKind) {
    for policy in Policy::ALL {
        let (h, ep) = agreed(kind, policy, started(kind, 5 * MIN)).await;
        let idle = h.episode(1);
        h.server.go_offline().await;
        h.record_position(&ep, 8 * MIN);
        h.server.set_offline(false);
        h.server.remove_item(&ep);
        h.server.remove_item(&idle);
        let stats = h.engine.refresh(50).await.unwrap();
        assert_eq!(stats.removed, 2, "{policy}");
        let items = h.engine.with_store(|s| s.items(h.account)).unwrap();
        assert!(items.iter().all(|i| i.item_id != ep && i.item_id != idle));
        let row = h
            .engine
            .with_store(|s| s.outbox_row(h.account, &ep))
            .unwrap()
            .expect("the change is kept");
        assert_eq!(row.state, RowState::NeedsAttention);
        assert_eq!(row.error_detail.as_deref(), Some(REMOVED_DETAIL));
        assert_eq!(row.desired.position_ms, 8 * MIN);
        // Nothing is sent for it, and it stays until the user decides.
        assert!(matches!(h.drain_now().await, RunOutcome::Pending { .. }));
        assert!(h.writes().is_empty());
        assert_eq!(h.engine.discard(std::slice::from_ref(&ep)).unwrap(), 1);
        assert_eq!(h.drain_now().await, RunOutcome::Empty);
        h.assert_contract();
    }
}

/// A server whose scan skips one item (as paging can when the sort order shifts mid-scan).
struct SkippingServer {
    inner: Arc<dyn MediaServer>,
    skip: String,
}

#[async_trait::async_trait]
impl MediaServer for SkippingServer {
    fn kind(&self) -> ServerKind {
        self.inner.kind()
    }
    async fn probe(&self) -> Result<playmark::backend::ServerInfo, SyncError> {
        self.inner.probe().await
    }
    async fn push_item(
        &self,
        item_id: &str,
        desired: &playmark::model::DesiredState,
    ) -> Result<Option<UserData>, SyncError> {
        self.inner.push_item(item_id, desired).await
    }
    async fn push_group(&self, parent_id: &str, played: bool) -> Result<(), SyncError> {
        self.inner.push_group(parent_id, played).await
    }
    async fn fetch_items(
        &self,
        start: u64,
        limit: u64,
    ) -> Result<playmark::model::ItemsPage, SyncError> {
        let mut page = self.inner.fetch_items(start, limit).await?;
        page.items.retain(|i| i.id != self.skip);
        Ok(page)
    }
    async fn fetch_by_ids(&self, ids: &[String]) -> Result<Vec<RemoteItem>, SyncError> {
        self.inner.fetch_by_ids(ids).await
    }
}

/// An item a scan skipped is asked for by id before it is marked removed: it stays.
async fn an_item_skipped_by_a_scan_is_confirmed_not_removed(kind: ServerKind) {
    let (h, ep) = agreed(kind, Policy::FurthestProgress, started(kind, 5 * MIN)).await;
    let device_id = h.engine.with_store(|s| s.device_id().unwrap());
    let client = common::media_server(kind, &h.server.url(), &device_id, &h.token, &h.user_id);
    let engine = playmark::sync::Engine::new(
        playmark::store::Store::open(&playmark::store::database_path(h.dir.path())).unwrap(),
        h.account,
        Arc::new(SkippingServer {
            inner: client,
            skip: ep.clone(),
        }),
        Arc::new(h.clock.clone()),
        common::engine_config(),
    );
    // Meanwhile another device moved it: the confirmation brings that too.
    other_device_moves_to(&h, &ep, 7 * MIN);
    let stats = engine.refresh(50).await.unwrap();
    assert_eq!(stats.removed, 0);
    let item = engine.with_store(|s| s.item(h.account, &ep)).unwrap();
    assert_eq!(item.map(|i| i.position_ms), Some(7 * MIN));
    h.assert_contract();
}

suite!(
    [jellyfin => Jellyfin, plex => Plex]
    [
        other_device_advances_we_are_idle_we_adopt_it,
        we_advance_offline_other_device_idle_ours_reaches_the_server,
        both_advance_other_device_later_and_further,
        both_advance_we_are_later_but_behind,
        we_unwatch_while_the_other_device_is_mid_episode,
        we_rewind_to_zero_to_rewatch,
        server_marks_watched_while_we_hold_a_position,
        item_deleted_on_the_server,
        an_item_skipped_by_a_scan_is_confirmed_not_removed,
    ]
);
