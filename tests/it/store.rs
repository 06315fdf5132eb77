//! Store invariants on a real SQLite file.
#![allow(clippy::unwrap_used)]

use playmark::model::{ItemKind, LocalChange, RemoteItem, UserData};
use std::collections::HashMap;

use playmark::store::{
    database_path, Claim, CompleteOutcome, PlannedWrite, RecordOutcome, RowState, Store,
};

fn episode(id: &str, season: &str, n: i64) -> RemoteItem {
    RemoteItem {
        provider_ids: Vec::new(),
        id: id.into(),
        kind: ItemKind::Episode,
        name: format!("Episode {n}"),
        parent_id: Some(season.into()),
        series_id: Some("series".into()),
        season_id: Some(season.into()),
        series_name: Some("Show".into()),
        season_number: Some(1),
        episode_number: Some(n),
        runtime_ms: Some(1_800_000),
        user_data: UserData::default(),
    }
}

fn folder(id: &str, kind: ItemKind, parent: Option<&str>) -> RemoteItem {
    RemoteItem {
        provider_ids: Vec::new(),
        id: id.into(),
        kind,
        name: id.into(),
        parent_id: parent.map(Into::into),
        series_id: None,
        season_id: None,
        series_name: None,
        season_number: None,
        episode_number: None,
        runtime_ms: None,
        user_data: UserData::default(),
    }
}

/// A send-time read that found these items at the default state (0:00, not watched).
fn server_holds(items: &[&str]) -> std::collections::HashMap<String, UserData> {
    items
        .iter()
        .map(|i| (i.to_string(), UserData::default()))
        .collect()
}

/// Records that `item` now stands at `position_ms`, at time `at` (no debounce).
fn record_position(
    store: &mut Store,
    acc: i64,
    item: &str,
    position_ms: i64,
    at: i64,
) -> (UserData, RecordOutcome) {
    store
        .record_change(acc, item, LocalChange::Position { position_ms }, at, 0)
        .unwrap()
}

fn setup(episodes: usize) -> (tempfile::TempDir, Store, i64) {
    let (dir, mut store, acc) = crate::common::store_with_account();
    let mut items = vec![
        folder("series", ItemKind::Series, None),
        folder("season1", ItemKind::Season, Some("series")),
    ];
    for n in 0..episodes {
        items.push(episode(&format!("e{n}"), "season1", n as i64 + 1));
    }
    store.apply_remote_items(acc, &items, 0).unwrap();
    (dir, store, acc)
}

#[test]
fn hundred_position_updates_coalesce_into_one_row_with_last_value() {
    let (_d, mut store, acc) = setup(1);
    for i in 1..=100 {
        record_position(&mut store, acc, "e0", i * 1000, i);
    }
    let rows = store.outbox(acc).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].desired.position_ms, 100_000);
    assert_eq!(store.item(acc, "e0").unwrap().unwrap().position_ms, 100_000);
}

#[test]
fn change_back_to_base_drops_the_row() {
    let (_d, mut store, acc) = setup(1);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    let (_, outcome) = store
        .record_change(acc, "e0", LocalChange::MarkUnwatched, 2, 0)
        .unwrap();
    assert_eq!(outcome, RecordOutcome::Dropped);
    assert!(store.outbox(acc).unwrap().is_empty());
}

#[test]
fn unknown_item_is_refused_and_nothing_written() {
    let (_d, mut store, acc) = setup(1);
    assert!(store
        .record_change(
            acc,
            "nope'; DROP TABLE items;--",
            LocalChange::MarkWatched,
            1,
            0
        )
        .is_err());
    assert!(store.outbox(acc).unwrap().is_empty());
    assert_eq!(store.items(acc).unwrap().len(), 3);
}

#[test]
fn compare_and_delete_keeps_a_change_made_in_flight() {
    let (_d, mut store, acc) = setup(1);
    store
        .record_change(acc, "e0", LocalChange::Position { position_ms: 1000 }, 1, 0)
        .unwrap();
    let claims = store.claim_due(acc, 10, 8, 60_000).unwrap();
    let Claim::Item(sent) = &claims[0] else {
        panic!("expected item claim")
    };
    record_position(&mut store, acc, "e0", 2000, 11);
    assert_eq!(
        store.complete(acc, sent, None, 12).unwrap(),
        CompleteOutcome::Requeued
    );
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(row.state, RowState::Pending);
    assert_eq!(row.desired.position_ms, 2000);
    // base moved to what was delivered
    assert_eq!(store.base(acc, "e0").unwrap().unwrap().position_ms, 1000);
    let claims = store.claim_due(acc, 20, 8, 60_000).unwrap();
    let Claim::Item(sent) = &claims[0] else {
        panic!("expected item claim")
    };
    assert_eq!(
        store.complete(acc, sent, None, 21).unwrap(),
        CompleteOutcome::Delivered
    );
    assert!(store.outbox(acc).unwrap().is_empty());
}

/// The drain loop stores the writes that finished together in one transaction
/// (`Store::complete_writes`): each keeps its own compare-and-delete on `change_seq` and its own
/// base (the server's answer, else what was sent).
#[test]
fn writes_completed_together_each_compare_and_delete() {
    let (_d, mut store, acc) = setup(3);
    for (n, item) in ["e0", "e1", "e2"].iter().enumerate() {
        record_position(&mut store, acc, item, 1_000 * (n as i64 + 1), 1);
    }
    let claims = store.claim_due(acc, 10, 8, 60_000).unwrap();
    let writes: Vec<PlannedWrite> = claims
        .iter()
        .map(|c| {
            let Claim::Item(row) = c else {
                panic!("expected item claims")
            };
            PlannedWrite::Item {
                row: row.clone(),
                current: None,
            }
        })
        .collect();
    assert_eq!(writes.len(), 3);
    // e1 changes while its write is under way.
    record_position(&mut store, acc, "e1", 2_500, 11);
    let answered = UserData {
        position_ms: 1_000,
        last_played: Some(5),
        ..UserData::default()
    };
    let afters: Vec<HashMap<String, UserData>> = writes
        .iter()
        .map(|w| match w.rows()[0].item_id.as_str() {
            "e0" => HashMap::from([("e0".to_string(), answered)]),
            _ => HashMap::new(),
        })
        .collect();
    let list: Vec<(&PlannedWrite, &HashMap<String, UserData>)> =
        writes.iter().zip(&afters).collect();
    let outcomes = store.complete_writes(acc, &list, 12).unwrap();
    let by_item: HashMap<&str, &Vec<CompleteOutcome>> = writes
        .iter()
        .map(|w| w.rows()[0].item_id.as_str())
        .zip(&outcomes)
        .collect();
    assert_eq!(by_item["e0"], &vec![CompleteOutcome::Delivered]);
    assert_eq!(by_item["e1"], &vec![CompleteOutcome::Requeued]);
    assert_eq!(by_item["e2"], &vec![CompleteOutcome::Delivered]);
    let outbox = store.outbox(acc).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].item_id, "e1");
    assert_eq!(outbox[0].state, RowState::Pending);
    assert_eq!(outbox[0].desired.position_ms, 2_500);
    assert_eq!(store.base(acc, "e0").unwrap().unwrap(), answered);
    assert_eq!(store.base(acc, "e1").unwrap().unwrap().position_ms, 2_000);
    assert_eq!(store.base(acc, "e2").unwrap().unwrap().position_ms, 3_000);
}

#[test]
fn expired_lease_returns_row_to_pending() {
    let (_d, mut store, acc) = setup(1);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    assert_eq!(store.claim_due(acc, 10, 8, 1_000).unwrap().len(), 1);
    assert_eq!(store.recover_expired_leases(500).unwrap(), 0);
    assert!(store.claim_due(acc, 500, 8, 1_000).unwrap().is_empty());
    assert_eq!(store.next_wakeup(acc).unwrap(), Some(1_010));
    assert_eq!(store.recover_expired_leases(1_010).unwrap(), 1);
    assert_eq!(
        store.outbox_row(acc, "e0").unwrap().unwrap().state,
        RowState::Pending
    );
}

#[test]
fn debounce_delays_the_first_claim() {
    let (_d, mut store, acc) = setup(1);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 100, 500)
        .unwrap();
    assert!(store.claim_due(acc, 599, 8, 1_000).unwrap().is_empty());
    assert_eq!(store.next_wakeup(acc).unwrap(), Some(600));
    assert_eq!(store.claim_due(acc, 600, 8, 1_000).unwrap().len(), 1);
}

#[test]
fn intact_bulk_group_is_claimed_as_one_and_edit_breaks_it() {
    let (_d, mut store, acc) = setup(5);
    let bulk = store.record_bulk(acc, "season1", true, 1, 0).unwrap();
    assert_eq!(bulk.queued, 5);
    assert!(bulk.group_key.is_some());
    let claims = store.claim_due(acc, 2, 2, 60_000).unwrap();
    assert_eq!(claims.len(), 1);
    let Claim::Group {
        parent_id,
        played,
        rows,
        ..
    } = &claims[0]
    else {
        panic!("expected group")
    };
    assert_eq!(
        (parent_id.as_str(), *played, rows.len()),
        ("season1", true, 5)
    );

    let (_d2, mut store, acc) = setup(5);
    store.record_bulk(acc, "season1", true, 1, 0).unwrap();
    record_position(&mut store, acc, "e2", 5_000, 2);
    let claims = store.claim_due(acc, 3, 100, 60_000).unwrap();
    assert_eq!(claims.len(), 5);
    assert!(claims.iter().all(|c| matches!(c, Claim::Item(_))));
}

#[test]
fn discard_restores_the_server_state() {
    let (_d, mut store, acc) = setup(1);
    record_position(&mut store, acc, "e0", 9_000, 1);
    assert_eq!(store.discard(acc, &["e0".to_string()], 2).unwrap(), 1);
    assert!(store.outbox(acc).unwrap().is_empty());
    assert_eq!(store.item(acc, "e0").unwrap().unwrap().position_ms, 0);
}

#[test]
fn refresh_never_overwrites_a_pending_change() {
    let (_d, mut store, acc) = setup(1);
    record_position(&mut store, acc, "e0", 9_000, 1);
    let mut remote = episode("e0", "season1", 1);
    remote.user_data.position_ms = 4_000;
    let stats = store.apply_remote_items(acc, &[remote.clone()], 5).unwrap();
    assert_eq!(stats.kept_local, 1);
    assert_eq!(store.item(acc, "e0").unwrap().unwrap().position_ms, 9_000);
    assert_eq!(store.base(acc, "e0").unwrap().unwrap().position_ms, 4_000);
    // server already has what we want → row dropped
    remote.user_data.position_ms = 9_000;
    let stats = store.apply_remote_items(acc, &[remote], 6).unwrap();
    assert_eq!(stats.already_on_server, 1);
    assert!(store.outbox(acc).unwrap().is_empty());
}

#[test]
fn transient_failure_counts_attempts_offline_does_not() {
    use playmark::backend::ErrorKind;
    let (_d, mut store, acc) = setup(1);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    let c = store.claim_due(acc, 1, 8, 60_000).unwrap();
    store
        .fail(acc, c[0].rows(), ErrorKind::Offline, "refused", 0, 2)
        .unwrap();
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (RowState::Pending, 0));
    let c = store.claim_due(acc, 3, 8, 60_000).unwrap();
    store
        .fail(acc, c[0].rows(), ErrorKind::Transient, "503", 5_000, 4)
        .unwrap();
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.next_attempt_at),
        (RowState::Failed, 1, 5_000)
    );
    let c = store.claim_due(acc, 5_000, 8, 60_000).unwrap();
    store
        .fail(acc, c[0].rows(), ErrorKind::NotFound, "404", 0, 5_001)
        .unwrap();
    assert_eq!(
        store.outbox_row(acc, "e0").unwrap().unwrap().state,
        RowState::NeedsAttention
    );
    assert_eq!(store.retry(acc, None, 6_000).unwrap(), 1);
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.error_kind),
        (RowState::Pending, 0, None)
    );
}

#[test]
fn lease_of_a_dead_process_is_recovered_at_once_a_live_one_is_not() {
    let (dir, mut store, acc) = setup(2);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    store
        .record_change(acc, "e1", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    assert_eq!(store.claim_due(acc, 10, 8, 600_000).unwrap().len(), 2);
    // Another connection says e0 is held by a process that has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let raw = rusqlite::Connection::open(database_path(dir.path())).unwrap();
    raw.execute(
        "UPDATE sync_outbox SET lease_owner = ?1 WHERE item_id = 'e0'",
        [format!("{dead_pid}:123")],
    )
    .unwrap();
    // e1's owner is this (live) process.
    assert_eq!(store.recover_orphaned_leases(20).unwrap(), 1);
    assert_eq!(
        store.outbox_row(acc, "e0").unwrap().unwrap().state,
        RowState::Pending
    );
    assert_eq!(
        store.outbox_row(acc, "e1").unwrap().unwrap().state,
        RowState::InFlight
    );
}

#[test]
fn after_a_request_with_unknown_outcome_a_return_to_base_is_still_sent() {
    use playmark::backend::ErrorKind;
    let (_d, mut store, acc) = setup(1);
    record_position(&mut store, acc, "e0", 60_000, 1);
    let c = store.claim_due(acc, 2, 8, 60_000).unwrap();
    // The send-time read found the server at 0 and planned the write of 60 s.
    let plan = store
        .merge_claims(acc, &c, &server_holds(&["e0"]), 2)
        .unwrap();
    assert_eq!(plan.writes.len(), 1);
    // e.g. a timeout: the server may have applied 60 s.
    store
        .fail(acc, c[0].rows(), ErrorKind::Transient, "timeout", 10, 3)
        .unwrap();
    let (_, outcome) = store
        .record_change(acc, "e0", LocalChange::Position { position_ms: 0 }, 4, 0)
        .unwrap();
    assert!(
        matches!(outcome, RecordOutcome::Queued { .. }),
        "must send 0 to be sure"
    );
    assert_eq!(
        store
            .outbox_row(acc, "e0")
            .unwrap()
            .unwrap()
            .desired
            .position_ms,
        0
    );
    // A definite answer (here a refresh) makes the base certain again.
    store
        .apply_remote_items(acc, &[episode("e0", "season1", 1)], 5)
        .unwrap();
    assert!(
        store.outbox(acc).unwrap().is_empty(),
        "server holds 0: nothing left to send"
    );
}

#[test]
fn debounce_is_trailing_within_its_hold_limit() {
    let (_d, mut store, acc) = setup(1);
    // Created at 100: due at 600 …
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 100, 500)
        .unwrap();
    // … an edit at 400 moves it to 900 (a debounce after the last edit of the burst) …
    store
        .record_change(
            acc,
            "e0",
            LocalChange::Position { position_ms: 7 },
            400,
            500,
        )
        .unwrap();
    assert!(store.claim_due(acc, 899, 8, 1_000).unwrap().is_empty());
    assert_eq!(store.next_wakeup(acc).unwrap(), Some(900));
    // … and a steady stream of edits cannot hold it past creation + 10 debounces (5,100).
    for t in (500..6_000).step_by(300) {
        store
            .record_change(acc, "e0", LocalChange::Position { position_ms: t }, t, 500)
            .unwrap();
    }
    assert_eq!(store.next_wakeup(acc).unwrap(), Some(5_100));
    assert_eq!(store.claim_due(acc, 5_100, 8, 1_000).unwrap().len(), 1);
}

/// Issue 10 §5: `fail` compares on `change_seq`. A change made while a request was in flight is
/// not what failed: it must not inherit the old request's 404 (needs attention) — it is queued.
#[test]
fn a_newer_change_does_not_inherit_an_old_requests_failure() {
    use playmark::backend::ErrorKind;
    let (_d, mut store, acc) = setup(1);
    record_position(&mut store, acc, "e0", 10_000, 1);
    let claimed = store.claim_due(acc, 1, 8, 60_000).unwrap();
    record_position(&mut store, acc, "e0", 20_000, 2);
    store
        .fail(acc, claimed[0].rows(), ErrorKind::NotFound, "404", 0, 3)
        .unwrap();
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(
        (row.state, row.error_kind, row.desired.position_ms),
        (RowState::Pending, None, 20_000)
    );
}

/// Issue 10 §5: a discard racing a send is not undone by the send's completion. The request
/// landed after all, so the server holds the discarded change: the row stays queued with the
/// state the user went back to, and the next send writes it back.
#[test]
fn a_discard_racing_a_send_is_not_undone_by_the_completion() {
    let (_d, mut store, acc) = setup(1);
    record_position(&mut store, acc, "e0", 10_000, 1);
    let claimed = store.claim_due(acc, 1, 8, 60_000).unwrap();
    let sent = claimed[0].rows()[0].clone();
    assert_eq!(store.discard(acc, &["e0".to_string()], 2).unwrap(), 1);
    let outcome = store
        .complete(acc, &sent, Some(sent.desired.to_user_data()), 3)
        .unwrap();
    assert_eq!(outcome, CompleteOutcome::Requeued);
    let row = store.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!((row.state, row.desired.position_ms), (RowState::Pending, 0));
    assert_eq!(store.item(acc, "e0").unwrap().unwrap().position_ms, 0);
    assert_eq!(store.base(acc, "e0").unwrap().unwrap().position_ms, 10_000);
}

/// The queue counts are kept incrementally (triggers); they always equal a full count.
#[test]
fn incremental_counts_equal_a_full_count() {
    use playmark::backend::ErrorKind;
    let (_d, mut store, acc) = setup(6);
    for n in 0..6 {
        store
            .record_change(acc, &format!("e{n}"), LocalChange::MarkWatched, 1, 0)
            .unwrap();
    }
    let claimed = store.claim_due(acc, 1, 3, 60_000).unwrap();
    let rows: Vec<_> = claimed.iter().flat_map(|c| c.rows().to_vec()).collect();
    store.complete(acc, &rows[0], None, 2).unwrap();
    store
        .fail(acc, &rows[1..2], ErrorKind::Transient, "503", 99, 2)
        .unwrap();
    store
        .fail(acc, &rows[2..3], ErrorKind::NotFound, "404", 0, 2)
        .unwrap();
    store.discard(acc, &["e5".to_string()], 3).unwrap();
    store.claim_due(acc, 3, 1, 60_000).unwrap();
    let full = store.outbox(acc).unwrap();
    let by = |s: RowState| full.iter().filter(|r| r.state == s).count();
    let counts = store.counts(acc).unwrap();
    assert_eq!(
        (
            counts.pending,
            counts.in_flight,
            counts.failed,
            counts.needs_attention
        ),
        (
            by(RowState::Pending),
            by(RowState::InFlight),
            by(RowState::Failed),
            by(RowState::NeedsAttention)
        )
    );
    assert_eq!(counts.total(), 4, "{counts:?}");
}

/// A listing asked for before a base was recorded (see `ReadMark`) leaves the item alone; one
/// asked for after it merges. Both ways a base is recorded count: a completed write, and a
/// failed one whose outcome is unknown (the base becomes uncertain).
#[test]
fn a_listing_older_than_the_base_leaves_the_item_alone() {
    use playmark::backend::ErrorKind;
    use playmark::store::ReadMark;
    let (_d, mut store, acc) = setup(2);
    let mut stale = [episode("e0", "season1", 1), episode("e1", "season1", 2)];
    stale[0].user_data.position_ms = 1_000;
    stale[1].user_data.position_ms = 1_000;
    // A mark taken before anything happened: nothing is newer, both merge.
    let early = store.read_mark().unwrap();
    let report = store.merge_remote_items(acc, &stale, early, 1).unwrap();
    assert_eq!((report.stats.updated_local, report.stats.stale), (2, 0));

    // e0: a write completes after the mark.
    let before_write = store.read_mark().unwrap();
    assert!(before_write > early);
    store
        .record_change(acc, "e0", LocalChange::MarkWatched, 2, 0)
        .unwrap();
    let c = store.claim_due(acc, 2, 8, 60_000).unwrap();
    let Claim::Item(row) = &c[0] else {
        panic!("one item")
    };
    assert_eq!(
        store.complete(acc, row, None, 3).unwrap(),
        CompleteOutcome::Delivered
    );
    // e1: a write fails with an unknown outcome after the mark.
    store
        .record_change(acc, "e1", LocalChange::MarkWatched, 4, 0)
        .unwrap();
    let c = store.claim_due(acc, 4, 8, 60_000).unwrap();
    // The send-time read found e1 as the listing had it (1 s).
    let mut read = server_holds(&["e1"]);
    read.insert("e1".into(), stale[1].user_data);
    let plan = store.merge_claims(acc, &c, &read, 4).unwrap();
    assert_eq!(plan.writes.len(), 1);
    store
        .fail(acc, c[0].rows(), ErrorKind::Transient, "reset", 9_000, 5)
        .unwrap();

    let report = store
        .merge_remote_items(acc, &stale, before_write, 6)
        .unwrap();
    assert_eq!(report.stats.stale, 2, "{:?}", report.stats);
    assert!(report.merges.is_empty());
    let e0 = store.item(acc, "e0").unwrap().unwrap();
    assert!(e0.played && e0.position_ms == 0, "{e0:?}");
    assert!(store.outbox_row(acc, "e1").unwrap().unwrap().desired.played);
    assert!(store.base(acc, "e0").unwrap().unwrap().played);

    // A listing asked for now is newer than both: it merges (the server went back to 1 s for
    // e0: another device's change).
    let after = store.read_mark().unwrap();
    let report = store.merge_remote_items(acc, &stale, after, 7).unwrap();
    assert_eq!(report.stats.stale, 0, "{:?}", report.stats);
    assert_eq!(store.base(acc, "e0").unwrap().unwrap().position_ms, 1_000);
    // `LATEST` skips nothing.
    let report = store
        .merge_remote_items(acc, &stale, ReadMark::LATEST, 8)
        .unwrap();
    assert_eq!(report.stats.stale, 0);
}

/// Compare-and-set on the lease (issue 17, "What to build" 5): after our lease expired and
/// another process (a second store on the same file) claimed the row, our late
/// `release_claims` leaves that claim alone (without the check it went back to pending, to be
/// sent twice at once).
#[test]
fn release_claims_leaves_another_owners_claim_alone() {
    let (dir, mut ours, acc) = setup(1);
    ours.record_change(acc, "e0", LocalChange::MarkWatched, 1, 0)
        .unwrap();
    let claimed = ours.claim_due(acc, 1, 10, 100).unwrap();
    assert_eq!(claimed.len(), 1);
    let rows = claimed[0].rows().to_vec();
    let mut other = Store::open(&database_path(dir.path())).unwrap();
    assert_eq!(other.recover_expired_leases(500).unwrap(), 1);
    assert_eq!(other.claim_due(acc, 500, 10, 100_000).unwrap().len(), 1);
    ours.release_claims(acc, &rows, 600).unwrap();
    let row = other.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(
        row.state,
        RowState::InFlight,
        "still the other process's claim"
    );
    // Our own claim is ours to give back.
    other.release_claims(acc, &rows, 700).unwrap();
    let row = other.outbox_row(acc, "e0").unwrap().unwrap();
    assert_eq!(row.state, RowState::Pending);
}

/// Compare-and-delete in `deliver_report` (issue 17, "What to build" 5): a live report that
/// carried the row's change does not delete the row while a write of it is in flight (that
/// write's completion decides); without the check the row vanished under the write.
#[test]
fn a_delivered_report_never_deletes_a_row_in_flight() {
    let (_dir, mut store, acc) = setup(1);
    let change = LocalChange::Position {
        position_ms: 60_000,
    };
    let (_, outcome) = store.record_change(acc, "e0", change, 1, 0).unwrap();
    let RecordOutcome::Queued { change_seq } = outcome else {
        panic!("queued");
    };
    assert_eq!(store.claim_due(acc, 1, 10, 100_000).unwrap().len(), 1);
    store
        .deliver_report(acc, "e0", change, Some(change_seq), None, 2)
        .unwrap();
    let row = store.outbox_row(acc, "e0").unwrap();
    assert_eq!(row.map(|r| r.state), Some(RowState::InFlight));
    // Not in flight: the report's delivery completes it.
    let (_dir, mut store, acc) = setup(1);
    let (_, outcome) = store.record_change(acc, "e0", change, 1, 0).unwrap();
    let RecordOutcome::Queued { change_seq } = outcome else {
        panic!("queued");
    };
    store
        .deliver_report(acc, "e0", change, Some(change_seq), None, 2)
        .unwrap();
    assert_eq!(store.outbox_row(acc, "e0").unwrap(), None);
}

/// Provider ids are kept per item with their provider; a listing without any keeps those
/// known; a listing with others replaces them.
#[test]
fn provider_ids_are_kept_from_listings() {
    use playmark::model::ProviderId;
    let (_dir, mut store, acc) = setup(2);
    let ids = |v: &[&str]| -> Vec<ProviderId> {
        v.iter().map(|s| ProviderId::parse(s).unwrap()).collect()
    };
    let mut e0 = episode("e0", "season1", 1);
    e0.provider_ids = ids(&["imdb:tt1", "tvdb:65"]);
    store.apply_remote_items(acc, &[e0.clone()], 1).unwrap();
    let known = store.provider_ids(acc).unwrap();
    assert_eq!(known.get("e0"), Some(&ids(&["imdb:tt1", "tvdb:65"])));
    assert_eq!(known.get("e1"), None);
    // A read that did not ask for ids leaves them.
    store
        .apply_remote_items(acc, &[episode("e0", "season1", 1)], 2)
        .unwrap();
    assert_eq!(
        store.provider_ids(acc).unwrap().get("e0"),
        Some(&ids(&["imdb:tt1", "tvdb:65"]))
    );
    e0.provider_ids = ids(&["tmdb:65"]);
    store.apply_remote_items(acc, &[e0], 3).unwrap();
    assert_eq!(
        store.provider_ids(acc).unwrap().get("e0"),
        Some(&ids(&["tmdb:65"]))
    );
}
