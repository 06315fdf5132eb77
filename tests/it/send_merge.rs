//! Merge at send time (DESIGN.md invariant 6): a push reads what the server holds now and merges
//! before it writes, so the README's scenario table holds **without a refresh before the sync**.
//!
//! Two devices on each demo server kind: the other device writes through the server's HTTP API
//! (its own client and device id); we record a change on a stale base (no pull since the item
//! was agreed on) and sync. Both sides must end at the README's outcome for every policy, and
//! the request log must show the batched read before any write.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;

use common::bin::{expect_code, login, run};
use common::{media_server, policy_table as table, Harness, PolicyRow as Row, Shown};
use playmark::backend::jellyfin::{DeviceInfo, JellyfinClient};
use playmark::backend::MediaServer;
use playmark::clock::Clock;
use playmark::demo::{Fault, RecordedRequest, DEMO_PASSWORD, DEMO_USER};
use playmark::model::{DesiredState, LocalChange, ServerKind, UserData};
use playmark::sync::{Policy, RunOutcome, SyncEvent};

const MIN: i64 = 60_000;

/// The other device: a client of its own (another device id) on the same account.
fn other_device(h: &Harness) -> Arc<dyn MediaServer> {
    media_server(
        h.kind,
        &h.server.url(),
        "other-device",
        &h.token,
        &h.user_id,
    )
}

/// The other device stops at `position_ms`, through the server's API (Jellyfin stamps the
/// date it sends; Plex's timeline moves only the offset).
async fn other_device_moves_to(h: &Harness, ep: &str, position_ms: i64) {
    let desired = DesiredState {
        position_ms,
        played: false,
        play_count: 0,
        last_played: Some(h.clock.now()),
    };
    other_device(h).push_item(ep, &desired).await.unwrap();
}

/// A harness where episode 0 is at 5:00 (unwatched) on both sides, under `policy`.
async fn agreed(kind: ServerKind, policy: Policy) -> (Harness, String) {
    let h = Harness::start(kind).await;
    h.engine
        .with_store(|s| s.set_policy(h.account, policy))
        .unwrap();
    let ep = h.episode(0);
    let start = UserData {
        position_ms: 5 * MIN,
        ..UserData::default()
    };
    h.server.set_user_data(&ep, start);
    h.engine.refresh(50).await.unwrap();
    h.server.clear_requests();
    (h, ep)
}

fn is_read(kind: ServerKind, r: &RecordedRequest) -> bool {
    match kind {
        ServerKind::Plex => r.method == "GET" && r.path.starts_with("/library/metadata/"),
        ServerKind::Jellyfin | ServerKind::Demo => {
            r.method == "GET" && r.path == "/Items" && r.query_value("ids").is_some()
        }
    }
}

/// Sync without a refresh; return (ours, server's) and check the request log: a batched read
/// of the item comes first, and every write after it.
async fn sync_without_refresh(h: &Harness, ep: &str) -> (Shown, Shown) {
    assert_eq!(h.drain_now().await, RunOutcome::Empty, "everything settled");
    let requests = h.server.requests();
    let first_read = requests
        .iter()
        .position(|r| is_read(h.kind, r))
        .unwrap_or_else(|| panic!("no batched read: {requests:?}"));
    let first_write = requests.iter().position(|r| common::is_write(h.kind, r));
    if let Some(w) = first_write {
        assert!(
            first_read < w,
            "the read comes before the write: {requests:?}"
        );
    }
    // No refresh happened: no library listing was asked for.
    assert!(
        !requests
            .iter()
            .any(|r| r.query_value("startIndex").is_some() || r.path.contains("/sections/")),
        "no refresh: {requests:?}"
    );
    let ours = h
        .engine
        .with_store(|s| s.item(h.account, ep))
        .unwrap()
        .unwrap();
    assert_eq!(ours.sync_state, None, "nothing left queued");
    let server = h.server.user_data(ep).unwrap();
    (
        (ours.position_ms, ours.played),
        (server.position_ms, server.played),
    )
}

/// README row "we move to 8:00, then the other device to 12:00" — we never pulled the 12:00.
async fn we_then_other_device(kind: ServerKind) {
    table(
        kind,
        common::mine_or_theirs(
            (8 * MIN, false),
            (12 * MIN, false),
            // A Plex server that dates progress (`lastViewedAt` on every timeline, issue 18)
            // shows the other device's later write: the last writer is found as on Jellyfin.
            (
                (12 * MIN, false),
                if common::clean_config().plex.last_viewed_on_progress {
                    (12 * MIN, false)
                } else {
                    (8 * MIN, false)
                },
            ),
        ),
        |policy| async move {
            let (h, ep) = agreed(kind, policy).await;
            h.clock.advance(1_000);
            h.record_position(&ep, 8 * MIN);
            h.clock.advance(1_000);
            other_device_moves_to(&h, &ep, 12 * MIN).await;
            h.server.clear_requests();
            sync_without_refresh(&h, &ep).await
        },
    )
    .await;
}

/// README row "other device reaches 12:00; an hour later we, not having pulled it, move to
/// 8:00" — the lost update of issue 10 ("What was seen" 1 and 2).
async fn other_device_then_we_an_hour_later(kind: ServerKind) {
    table(
        kind,
        common::mine_or_theirs(
            (8 * MIN, false),
            (12 * MIN, false),
            ((8 * MIN, false), (8 * MIN, false)),
        ),
        |policy| async move {
            let (h, ep) = agreed(kind, policy).await;
            h.clock.advance(1_000);
            other_device_moves_to(&h, &ep, 12 * MIN).await;
            h.clock.advance(60 * MIN);
            h.record_position(&ep, 8 * MIN);
            h.server.clear_requests();
            let mut events = h.engine.subscribe();
            let result = sync_without_refresh(&h, &ep).await;
            if result.1 == (12 * MIN, false) {
                // The server's state won: no write at all, and the UI hears of the merge.
                assert!(h.writes().is_empty(), "no write: {:?}", h.writes());
                let merged = std::iter::from_fn(|| events.try_recv().ok())
                    .any(|e| matches!(e, SyncEvent::Merged { ref item_id, .. } if *item_id == ep));
                assert!(merged, "a Merged event for {ep}");
            }
            result
        },
    )
    .await;
}

/// A season marked watched here while the other device put one episode at 20:00: under
/// prefer-server that episode keeps the server's state, so the group splits into per-item
/// writes; under furthest-progress every merge agrees and it stays one call on the season.
/// Afterwards a pull shows nothing "from another device" (the base holds the server's dates).
async fn season_group_splits_when_merges_differ(kind: ServerKind) {
    for policy in [Policy::PreferServer, Policy::FurthestProgress] {
        let (h, _) = agreed(kind, policy).await;
        let (season, eps) = h.first_season();
        assert!(eps.len() >= 3);
        h.clock.advance(1_000);
        other_device_moves_to(&h, &eps[1].id, 20 * MIN).await;
        h.clock.advance(1_000);
        h.engine.record_bulk(&season, true).unwrap();
        h.server.clear_requests();
        assert_eq!(h.drain_now().await, RunOutcome::Empty);
        let group_write = h.writes().iter().any(|r| h.is_bulk_write(r, &season, true));
        let moved = h.server.user_data(&eps[1].id).unwrap();
        match policy {
            Policy::PreferServer => {
                assert!(!group_write, "{kind:?}: split: {:?}", h.writes());
                assert_eq!((moved.position_ms, moved.played), (20 * MIN, false));
            }
            _ => {
                assert!(
                    group_write,
                    "{kind:?}: one call on the season: {:?}",
                    h.writes()
                );
                assert!(moved.played);
            }
        }
        for ep in eps.iter().filter(|e| e.id != eps[1].id) {
            assert!(h.server.user_data(&ep.id).unwrap().played, "{}", ep.id);
        }
        // What was seen 8: the next pull finds nothing new from another device.
        let mut events = h.engine.subscribe();
        let stats = h.engine.refresh(50).await.unwrap();
        let merged: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, SyncEvent::Merged { .. }))
            .collect();
        assert!(merged.is_empty(), "{kind:?} {policy}: {merged:?} {stats:?}");
    }
}

/// A pull while our send is in flight (here: a claim that never finished, as after a crash
/// mid-request) must not move the base: the retry would then see "nothing changed on the
/// server" and write our 7:00 over the other device's 40:00 (simulation seed 26).
async fn a_pull_during_our_send_does_not_hide_the_other_devices_progress(kind: ServerKind) {
    let (h, ep) = agreed(kind, Policy::FurthestProgress).await;
    h.clock.advance(1_000);
    h.record_position(&ep, 7 * MIN);
    h.clock.advance(60_000);
    let now = h.clock.now();
    let claims = h
        .engine
        .with_store(|s| s.claim_due(h.account, now, 50, 60_000))
        .unwrap();
    let rows: Vec<_> = claims.iter().flat_map(|c| c.rows().to_vec()).collect();
    assert_eq!(rows.len(), 1);
    h.clock.advance(1_000);
    other_device_moves_to(&h, &ep, 40 * MIN).await;
    h.engine.refresh(50).await.unwrap();
    // The send gives up without a write; the row is due again.
    let now = h.clock.now();
    h.engine
        .with_store(|s| s.release_claims(h.account, &rows, now))
        .unwrap();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let server = h.server.user_data(&ep).unwrap();
    assert_eq!(
        server.position_ms,
        40 * MIN,
        "{kind:?}: the further one wins"
    );
    let ours = h
        .engine
        .with_store(|s| s.item(h.account, &ep))
        .unwrap()
        .unwrap();
    assert_eq!(ours.position_ms, 40 * MIN);
}

/// Last-writer-wins compares this device's change time with the server's last-played date, so
/// the server must hold each change's date (simulation seed 1062). On Jellyfin, which keeps the
/// date a client writes:
/// - a season marked watched goes episode by episode, each write carrying its date (the
///   season call sets none); Plex stamps its own dates, so nothing is written for a date alone;
/// - a "watched" the server already holds from an older change is still written, for its date;
/// - another device's newer "watched" on an item the base already had watched beats our older
///   seek (the rewrite is a newer write, though the value did not change).
async fn last_writer_wins_puts_each_changes_date_on_the_server(kind: ServerKind) {
    let jellyfin = kind != ServerKind::Plex;
    let (h, _) = agreed(kind, Policy::LastWriterWins).await;
    let (season, eps) = h.first_season();
    assert!(eps.len() >= 3);

    // The other device marks episode 1 watched; we, not knowing, mark the season later.
    h.clock.advance(1_000);
    let theirs = h.clock.now();
    let watched_then = |at| DesiredState {
        position_ms: 0,
        played: true,
        play_count: 1,
        last_played: Some(at),
    };
    other_device(&h)
        .push_item(&eps[1].id, &watched_then(theirs))
        .await
        .unwrap();
    h.clock.advance(60_000);
    let ours = h.clock.now();
    h.engine.record_bulk(&season, true).unwrap();
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let group_write = h.writes().iter().any(|r| h.is_bulk_write(r, &season, true));
    if jellyfin {
        assert!(!group_write, "item by item: {:?}", h.writes());
    } else {
        // Plex: no date-only write (a scrobble there would add a view, not a date).
        let touched = h
            .writes()
            .iter()
            .any(|r| r.query_value("key") == Some(eps[1].id.as_str()));
        assert!(!touched, "{:?}", h.writes());
        assert_eq!(h.server.user_data(&eps[1].id).unwrap().play_count, 1);
    }
    for ep in &eps {
        let on_server = h.server.user_data(&ep.id).unwrap();
        assert!(on_server.played, "{kind:?} {}", ep.id);
        if jellyfin {
            assert_eq!(on_server.last_played, Some(ours), "{}: our date", ep.id);
        }
    }

    // We seek episode 2 (watched on both sides); the other device then marks it watched
    // again, later. Our older seek loses; the server keeps watched.
    let ep = &eps[2].id;
    h.engine.refresh(50).await.unwrap();
    h.clock.advance(1_000);
    h.record_position(ep, 12 * MIN);
    h.clock.advance(1_000);
    other_device(&h)
        .push_item(ep, &watched_then(h.clock.now()))
        .await
        .unwrap();
    h.server.clear_requests();
    assert_eq!(h.drain_now().await, RunOutcome::Empty);
    let on_server = h.server.user_data(ep).unwrap();
    let shown = h
        .engine
        .with_store(|s| s.item(h.account, ep))
        .unwrap()
        .unwrap();
    if jellyfin {
        assert_eq!(
            (on_server.position_ms, on_server.played),
            (0, true),
            "the newer rewrite stands"
        );
    }
    assert_eq!(
        (shown.position_ms, shown.played),
        (on_server.position_ms, on_server.played),
        "{kind:?}: both sides agree"
    );
}

/// The same result under every policy, on both servers.
fn every_policy(both: Shown) -> [Row; 4] {
    Policy::ALL.map(|p| (p, both, both))
}

/// The person moves `ep` to `position_ms` a second later.
fn move_to(h: &Harness, ep: &str, position_ms: i64) {
    h.clock.advance(1_000);
    h.record_position(ep, position_ms);
}

/// Our write of `position_ms` meets `fault` (armed on the write, not on the read before it):
/// the engine cannot know whether it landed. The row is retrying and its outcome is unknown.
async fn write_meets(h: &Harness, ep: &str, position_ms: i64, fault: Fault) {
    move_to(h, ep, position_ms);
    h.server
        .fail_matching(playmark::demo::RequestMatch::user_data_writes(), fault);
    let outcome = h.drain_now().await;
    assert!(
        matches!(outcome, RunOutcome::Pending { .. }),
        "the write is retrying: {outcome:?}"
    );
    assert_eq!(h.server.armed_faults(), 0, "the write met the fault");
    assert!(h
        .engine
        .with_store(|s| s.has_unknown_outcome(h.account, ep))
        .unwrap());
    h.server.clear_requests();
}

/// Our write of `position_ms` reaches the server, which applies it, and its answer is cut
/// mid-body (`Fault::Truncated`).
async fn write_lands_answer_lost(h: &Harness, ep: &str, position_ms: i64) {
    write_meets(h, ep, position_ms, Fault::Truncated).await;
    assert_eq!(h.server.user_data(ep).unwrap().position_ms, position_ms);
}

/// Our write of `position_ms` is answered 502 by a proxy before the server saw it.
async fn write_refused_unapplied(h: &Harness, ep: &str, position_ms: i64) {
    let before = h.server.user_data(ep).unwrap().position_ms;
    let refused = Fault::Status {
        code: 502,
        retry_after: None,
    };
    write_meets(h, ep, position_ms, refused).await;
    assert_eq!(h.server.user_data(ep).unwrap().position_ms, before);
}

/// Send what is queued now (backoff skipped) and report (ours, server's).
async fn sync_again(h: &Harness, ep: &str) -> (Shown, Shown) {
    h.engine.sync_now().unwrap();
    let result = sync_without_refresh(h, ep).await;
    assert!(
        !h.engine
            .with_store(|s| s.has_unknown_outcome(h.account, ep))
            .unwrap(),
        "the outcome is settled"
    );
    result
}

/// Decision table row 1, "the server holds what we sent: ours landed": after the lost answer
/// the person goes back from 20:00 to 10:00; 10:00 is an ordinary change of theirs and is sent
/// under every policy (before the sent record, the send-time read took the server's 20:00 for
/// another device's and furthest-progress kept it: issue 17, "What was seen" 1).
async fn unknown_outcome_row1_ours_landed(kind: ServerKind) {
    let ten = (10 * MIN, false);
    table(kind, every_policy(ten), |policy| async move {
        let (h, ep) = agreed(kind, policy).await;
        write_lands_answer_lost(&h, &ep, 20 * MIN).await;
        move_to(&h, &ep, 10 * MIN);
        sync_again(&h, &ep).await
    })
    .await;
}

/// Decision table row 2, "the server holds the old base: ours did not land": the write was
/// refused before the server processed it (a reset); the person goes back to the old 5:00.
/// That change equals the base but is queued, not dropped (the outcome was unknown), and the
/// read settles it with no write: the server keeps 5:00 under every policy. Without a change
/// back, the retry sends 20:00 again.
async fn unknown_outcome_row2_did_not_land(kind: ServerKind) {
    let five = (5 * MIN, false);
    table(kind, every_policy(five), |policy| async move {
        let (h, ep) = agreed(kind, policy).await;
        write_refused_unapplied(&h, &ep, 20 * MIN).await;
        move_to(&h, &ep, 5 * MIN);
        assert!(
            h.engine
                .with_store(|s| s.desired(h.account, &ep))
                .unwrap()
                .is_some(),
            "a change back to the base is queued while the outcome is unknown"
        );
        h.server.clear_requests();
        let result = sync_again(&h, &ep).await;
        // Last-writer-wins on a server that keeps dates writes the newer date of a change
        // that agrees with the server (see `merge_on`); nothing else writes at all.
        let dated = policy == Policy::LastWriterWins && kind != ServerKind::Plex;
        assert_eq!(h.writes().len(), usize::from(dated), "{:?}", h.writes());
        result
    })
    .await;
    // Nothing changed by the person after the failure: the retry writes 20:00.
    let (h, ep) = agreed(kind, Policy::FurthestProgress).await;
    write_refused_unapplied(&h, &ep, 20 * MIN).await;
    assert_eq!(
        sync_again(&h, &ep).await,
        ((20 * MIN, false), (20 * MIN, false))
    );
    assert_eq!(h.writes().len(), 1, "{:?}", h.writes());
}

/// Decision table row 3, "anything else: ours landed, someone changed it after": after our
/// lost answer (20:00 applied), the other device, having seen 20:00, goes back to 3:00. The
/// person changed nothing since: under every policy the server's 3:00 is adopted with no write
/// (before the sent record, the retry wrote 20:00 over it: "What was seen" 2), and the person's
/// 20:00 is kept for "Use mine".
async fn unknown_outcome_row3_overwritten_after(kind: ServerKind) {
    let three = (3 * MIN, false);
    table(kind, every_policy(three), |policy| async move {
        let (h, ep) = agreed(kind, policy).await;
        write_lands_answer_lost(&h, &ep, 20 * MIN).await;
        h.clock.advance(1_000);
        other_device_moves_to(&h, &ep, 3 * MIN).await;
        h.server.clear_requests();
        let result = sync_again(&h, &ep).await;
        assert!(h.writes().is_empty(), "no write: {:?}", h.writes());
        let kept = h
            .engine
            .with_store(|s| s.overridden(h.account, h.clock.now()))
            .unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].item_id, ep);
        assert_eq!(
            (kept[0].yours.position_ms, kept[0].kept.position_ms),
            (20 * MIN, 3 * MIN)
        );
        result
    })
    .await;
}

/// Decision table row 3 when the person changed the item again after sending (20:00, lost
/// answer, then 25:00) and the other device went to 3:00 meanwhile: an ordinary conflict of
/// 25:00 against 3:00 over base = 20:00, decided by the policy. Last-writer-wins compares
/// dates: the person's change is the newer one on Jellyfin (which keeps the dates written);
/// a Plex timeline moves no date, so the person's dated change wins there too.
async fn unknown_outcome_row3_then_a_conflict(kind: ServerKind) {
    let ours = (25 * MIN, false);
    let theirs = (3 * MIN, false);
    table(
        kind,
        [
            (Policy::LastWriterWins, ours, ours),
            (Policy::FurthestProgress, ours, ours),
            (Policy::PreferLocal, ours, ours),
            (Policy::PreferServer, theirs, theirs),
        ],
        |policy| async move {
            let (h, ep) = agreed(kind, policy).await;
            write_lands_answer_lost(&h, &ep, 20 * MIN).await;
            h.clock.advance(1_000);
            other_device_moves_to(&h, &ep, 3 * MIN).await;
            move_to(&h, &ep, 25 * MIN);
            h.server.clear_requests();
            sync_again(&h, &ep).await
        },
    )
    .await;
}

/// Decision table, the dated row (Jellyfin, which keeps the `LastPlayedDate` a client writes):
/// after our lost answer (20:00 applied), the other device plays from 5:00 again and reports
/// 5:00 — the old base's position, but dated after the server's clock at our read (its `Date`
/// header). Ours landed and someone went back: under every policy the server's 5:00 is taken
/// with no write. Without the date, the read would count as "did not land" and write 20:00
/// over the other device's 5:00.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcome_dated_row_back_to_the_base_after_our_read() {
    let kind = ServerKind::Jellyfin;
    let five = (5 * MIN, false);
    table(kind, every_policy(five), |policy| async move {
        let (h, ep) = agreed(kind, policy).await;
        write_lands_answer_lost(&h, &ep, 20 * MIN).await;
        // The demo server's clock is the wall clock: the other device's report is later
        // than the `Date` of our read.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let desired = DesiredState {
            position_ms: 5 * MIN,
            played: false,
            play_count: 0,
            last_played: Some(chrono::Utc::now().timestamp_millis()),
        };
        other_device(&h).push_item(&ep, &desired).await.unwrap();
        h.server.clear_requests();
        let result = sync_again(&h, &ep).await;
        assert!(h.writes().is_empty(), "no write: {:?}", h.writes());
        result
    })
    .await;
}

/// Issue 17's suspicion, proven and fixed: this device plays a Jellyfin episode it had seen
/// watched (while offline: the player's first checkpoint records what Jellyfin's playback
/// start does — un-watched, a position, dated, one more play); meanwhile another device plays
/// it to its end again (still watched, a new `LastPlayedDate`). Under furthest-progress the
/// play's un-watch counted as an explicit unwatch, and the server as unchanged (same played and
/// position), so our 0:15 was written over the other device's later "watched". A play is no
/// unwatch the person chose: the other device's finished play is a change, watched is further
/// along, and our play is kept for "Use mine".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_play_of_a_watched_item_does_not_unwatch_another_devices_later_rewatch() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    h.engine
        .with_store(|s| s.set_policy(h.account, Policy::FurthestProgress))
        .unwrap();
    let ep = h.episode(0);
    let watched_at = h.clock.now() - 60 * MIN;
    h.server.set_user_data(
        &ep,
        UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(watched_at),
        },
    );
    h.engine.refresh(50).await.unwrap();
    h.clock.advance(MIN);
    h.engine
        .record_change(
            &ep,
            LocalChange::Playback {
                position_ms: 15_000,
                watched: false,
                add_play: true,
                unwatch: true,
            },
        )
        .unwrap();
    // Ten minutes later the other device finishes its own play of the episode.
    h.clock.advance(10 * MIN);
    let rewatched = DesiredState {
        position_ms: 0,
        played: true,
        play_count: 2,
        last_played: Some(h.clock.now()),
    };
    other_device(&h).push_item(&ep, &rewatched).await.unwrap();
    h.server.clear_requests();
    h.engine.sync_now().unwrap();
    let (ours, server) = sync_without_refresh(&h, &ep).await;
    assert!(
        server.1,
        "the other device's later watched stands: {server:?}"
    );
    assert_eq!(ours, server);
    assert!(h.writes().is_empty(), "no write: {:?}", h.writes());
    let kept = h
        .engine
        .with_store(|s| s.overridden(h.account, h.clock.now()))
        .unwrap();
    assert!(
        kept.iter()
            .any(|o| o.item_id == ep && o.yours.position_ms == 15_000 && !o.yours.played),
        "our play is listed for Use mine: {kept:?}"
    );
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod jellyfin {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(playmark::model::ServerKind::Jellyfin).await;
                }
            )*
        }
        mod plex {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(playmark::model::ServerKind::Plex).await;
                }
            )*
        }
    };
}

suite!(
    we_then_other_device,
    other_device_then_we_an_hour_later,
    season_group_splits_when_merges_differ,
    a_pull_during_our_send_does_not_hide_the_other_devices_progress,
    last_writer_wins_puts_each_changes_date_on_the_server,
    unknown_outcome_row1_ours_landed,
    unknown_outcome_row2_did_not_land,
    unknown_outcome_row3_overwritten_after,
    unknown_outcome_row3_then_a_conflict,
);

/// The same lost update through the binary: `login`, `refresh`; the other device moves an
/// episode to 20:00; `progress ID 0:30` on the stale base; `sync` (no refresh) leaves the
/// server's 20:00 (furthest-progress, the default) and reads before it would write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_progress_then_sync_keeps_the_other_devices_progress() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ep = common::first_episode(&server);
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&run(&data, &["refresh"], None), 0);

    let other = JellyfinClient::new(
        &server.url(),
        DeviceInfo::playmark("other-device"),
        common::client_options(),
    )
    .unwrap();
    let session = other.authenticate(DEMO_USER, DEMO_PASSWORD).await.unwrap();
    let other = other.with_session(session.access_token, session.user_id);
    let now = chrono::Utc::now().timestamp_millis();
    other
        .push_item(
            &ep,
            &DesiredState {
                position_ms: 20 * MIN,
                played: false,
                play_count: 0,
                last_played: Some(now),
            },
        )
        .await
        .unwrap();
    server.clear_requests();

    expect_code(&run(&data, &["progress", &ep, "0:30"], None), 0);
    expect_code(&run(&data, &["sync"], None), 0);
    let held = server.user_data(&ep).unwrap();
    assert_eq!((held.position_ms, held.played), (20 * MIN, false));
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/Items" && r.query_value("ids") == Some(ep.as_str())),
        "the batched read: {requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.method != "GET"),
        "no write: the server's 20:00 wins: {requests:?}"
    );
    let status = run(&data, &["status", "--json"], None);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["counts"]["pending"], 0, "{doc}");
}

/// Issue 17's cases 1–3 through the binary, on both demo servers: the server applies our
/// write and the answer never comes.
mod cli_unknown_outcome {
    use std::path::Path;
    use std::process::{Command, Output, Stdio};

    use super::common::bin::{expect_code, text, NO_BUS};
    use super::MIN;
    use playmark::demo::{
        DemoServer, Fault, RequestMatch, DEMO_PASSWORD, DEMO_PLEX_TOKEN, DEMO_USER,
    };
    use playmark::model::UserData;

    fn command(data: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_playmark"));
        cmd.arg("--data-dir")
            .arg(data)
            .args(args)
            .env_remove("PLAYMARK_DATA_DIR")
            .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
            .stdin(Stdio::null());
        cmd
    }

    fn run(data: &Path, args: &[&str]) -> Output {
        command(data, args).output().unwrap()
    }

    /// A demo server of `kind`, signed in and refreshed; the first episode is at 5:00.
    async fn signed_in(kind: &str) -> (DemoServer, tempfile::TempDir, std::path::PathBuf, String) {
        let config = super::common::clean_config();
        let server = match kind {
            "plex" => DemoServer::start_plex(config).await.unwrap(),
            _ => DemoServer::start(config).await.unwrap(),
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let url = server.url();
        let login = match kind {
            "plex" => command(&data, &["login", "plex", "--server", &url])
                .env("PLAYMARK_TOKEN", DEMO_PLEX_TOKEN)
                .output()
                .unwrap(),
            _ => command(
                &data,
                &["login", "jellyfin", "--server", &url, "--user", DEMO_USER],
            )
            .env("PLAYMARK_PASSWORD", DEMO_PASSWORD)
            .output()
            .unwrap(),
        };
        expect_code(&login, 0);
        let ep = super::common::first_episode(&server);
        server.set_user_data(
            &ep,
            UserData {
                position_ms: 5 * MIN,
                ..UserData::default()
            },
        );
        expect_code(&run(&data, &["refresh"]), 0);
        (server, dir, data, ep)
    }

    /// `progress EP 20:00`, then a `sync` whose write the server applies and whose answer is
    /// cut mid-body: exit 3, retrying; the server holds 20:00.
    fn lost_answer(server: &DemoServer, data: &Path, ep: &str) {
        expect_code(&run(data, &["progress", ep, "20:00"]), 0);
        server.fail_matching(RequestMatch::user_data_writes(), Fault::Truncated);
        let sync = run(data, &["sync"]);
        let out = expect_code(&sync, 3);
        assert!(out.contains("retrying"), "{out}");
        assert_eq!(server.armed_faults(), 0, "the write met the fault");
        assert_eq!(server.user_data(ep).unwrap().position_ms, 20 * MIN);
    }

    /// Our position of `ep` in `items --json`.
    fn ours(data: &Path, ep: &str) -> (i64, bool) {
        let items = run(data, &["items", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&items.stdout).unwrap();
        let item = doc
            .as_array()
            .or_else(|| doc["items"].as_array())
            .unwrap()
            .iter()
            .find(|i| i["item_id"] == ep)
            .unwrap()
            .clone();
        (
            item["position_ms"].as_i64().unwrap(),
            item["played"].as_bool().unwrap(),
        )
    }

    fn server_at(server: &DemoServer, ep: &str) -> (i64, bool) {
        let u = server.user_data(ep).unwrap();
        (u.position_ms, u.played)
    }

    /// Case 1: the person's last change (back to 10:00) reaches the server; before the sent
    /// record, `sync --wait` said "All changes are on …" and both sides kept 20:00.
    async fn last_change_after_a_lost_answer_is_sent(kind: &str) {
        let (server, _dir, data, ep) = signed_in(kind).await;
        lost_answer(&server, &data, &ep);
        expect_code(&run(&data, &["progress", &ep, "10:00"]), 0);
        expect_code(&run(&data, &["sync", "--wait", "20"]), 0);
        assert_eq!(server_at(&server, &ep), (10 * MIN, false), "{kind}");
        assert_eq!(ours(&data, &ep), (10 * MIN, false), "{kind}");
    }

    /// Case 2: another device, having seen our 20:00, goes back to 3:00; our retry does not
    /// write 20:00 over it. The person's 20:00 is listed by `status` and `use-mine` sends it.
    async fn applied_write_is_not_replayed_over_a_later_change(kind: &str) {
        let (server, _dir, data, ep) = signed_in(kind).await;
        lost_answer(&server, &data, &ep);
        server.set_user_data(
            &ep,
            UserData {
                position_ms: 3 * MIN,
                ..UserData::default()
            },
        );
        expect_code(&run(&data, &["sync", "--wait", "20"]), 0);
        assert_eq!(server_at(&server, &ep), (3 * MIN, false), "{kind}");
        assert_eq!(ours(&data, &ep), (3 * MIN, false), "{kind}");
        let status = run(&data, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let kept = &doc["overridden"][0];
        assert_eq!(kept["item_id"], ep.as_str(), "{doc}");
        assert_eq!(kept["yours"]["position_ms"], 20 * MIN, "{doc}");
        assert_eq!(kept["kept"]["position_ms"], 3 * MIN, "{doc}");
        assert!(kept["why"].as_str().is_some_and(|w| !w.is_empty()), "{doc}");
        assert!(kept["at"].as_i64().is_some(), "{doc}");
        let human = text(&run(&data, &["status"]));
        assert!(human.contains("use-mine"), "{human}");
        expect_code(&run(&data, &["use-mine", &ep]), 0);
        expect_code(&run(&data, &["sync", "--wait", "20"]), 0);
        assert_eq!(server_at(&server, &ep), (20 * MIN, false), "{kind}");
        // Used: no longer listed, and a second use-mine says so.
        expect_code(&run(&data, &["use-mine", &ep]), 1);
    }

    /// Case 3: the sync is killed while the server holds our write, which it then applies;
    /// offline, the person goes back to the old 5:00. The change equals the base but is
    /// queued, not dropped, and reaches the server when it is back.
    async fn change_back_after_a_kill_mid_write_is_sent(kind: &str) {
        let (server, _dir, data, ep) = signed_in(kind).await;
        expect_code(&run(&data, &["progress", &ep, "20:00"]), 0);
        server.fail_matching(RequestMatch::user_data_writes(), Fault::Hold);
        let mut child = command(&data, &["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while server.held_requests() == 0 {
            assert!(std::time::Instant::now() < deadline, "the write never came");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            server.release_held(true),
            "the server applies the held write"
        );
        assert_eq!(server_at(&server, &ep), (20 * MIN, false));
        server.set_offline(true);
        expect_code(&run(&data, &["progress", &ep, "5:00"]), 0);
        let status = run(&data, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        // Queued, not dropped (still marked in flight: the killed process's claim is taken
        // back by the next run).
        assert_eq!(doc["items"][0]["item_id"], ep.as_str(), "{doc}");
        assert_eq!(doc["items"][0]["desired"]["position_ms"], 5 * MIN, "{doc}");
        server.set_offline(false);
        expect_code(&run(&data, &["sync", "--wait", "20"]), 0);
        assert_eq!(server_at(&server, &ep), (5 * MIN, false), "{kind}");
        assert_eq!(ours(&data, &ep), (5 * MIN, false), "{kind}");
    }

    /// Case 4: a season marked watched, then an episode added on the server by another
    /// device (at 20:00 on Jellyfin; watched with one view on Plex) before our `sync`: the
    /// season call would change an episode we never read. The sync lists the season's children
    /// first and, finding one not in the group, writes the known episodes one by one: the new
    /// episode keeps what the other device set.
    async fn a_season_call_never_touches_an_episode_we_did_not_read(kind: &str) {
        let (server, _dir, data, ep) = signed_in(kind).await;
        let season = server
            .items()
            .into_iter()
            .find(|i| i.id == ep)
            .and_then(|i| i.season_id)
            .unwrap();
        let known: Vec<String> = server
            .items()
            .into_iter()
            .filter(|i| i.season_id.as_deref() == Some(season.as_str()))
            .map(|i| i.id)
            .collect();
        expect_code(&run(&data, &["mark-watched", &season]), 0);
        let theirs = if kind == "plex" {
            UserData {
                played: true,
                play_count: 1,
                ..UserData::default()
            }
        } else {
            UserData {
                position_ms: 20 * MIN,
                ..UserData::default()
            }
        };
        let added = server
            .add_episode(&season, "Added elsewhere", 30 * MIN, theirs)
            .unwrap();
        expect_code(&run(&data, &["sync", "--wait", "20"]), 0);
        let after = server.user_data(&added).unwrap();
        assert_eq!(
            (after.position_ms, after.played, after.play_count),
            (theirs.position_ms, theirs.played, theirs.play_count),
            "{kind}: the episode we never read keeps the other device's state"
        );
        for id in &known {
            assert!(server.user_data(id).unwrap().played, "{kind}: {id} watched");
        }
    }

    macro_rules! both {
        ($($name:ident),*) => {
            mod jellyfin {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name("jellyfin").await;
                    }
                )*
            }
            mod plex {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name("plex").await;
                    }
                )*
            }
        };
    }

    both!(
        last_change_after_a_lost_answer_is_sent,
        applied_write_is_not_replayed_over_a_later_change,
        change_back_after_a_kill_mid_write_is_sent,
        a_season_call_never_touches_an_episode_we_did_not_read
    );
}
