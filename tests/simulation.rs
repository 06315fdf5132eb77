//! Many devices, one server: seeded, deterministic multi-device simulation (issue 13).
//!
//! Each history: 2–4 devices (real engines, each with its own SQLite file and a fake clock
//! skewed by up to ±10 min) against one demo server (Jellyfin for even seeds, Plex for odd
//! ones) over real HTTP on loopback, 40–60 steps of local changes, syncs, pulls, live
//! messages, time, server faults, partitions, crashes and server restarts; then everything
//! heals, every device pulls, syncs and pulls again, and the checker (`sim/checker.rs`, whose
//! doc states the invariants) judges the history.
//!
//! - CI: as many histories as fit in `PLAYMARK_SIM_SECONDS` (default 180) of this test, from
//!   seed 1 (`PLAYMARK_SIM_FIRST_SEED` to start elsewhere).
//! - Full run: `PLAYMARK_SIM_HISTORIES=10000 cargo test --release --test simulation -- --nocapture`.
//! - Replay one seed (printed with every failure): `PLAYMARK_SIM_SEED=… cargo test --test simulation`.
//! - `PLAYMARK_SIM_WRITE_FAULTS=1`: faults also target writes (the first write, a season
//!   write), with the kinds where the server applied the write and the answer was lost,
//!   crashes while a write is held, engines aborted mid-write and two engines on one data
//!   directory. Off by default (the default mix keeps its histories and hashes);
//!   `write_targeted_faults_hit_applied_writes` runs the mix in CI, and the full run with it
//!   on is in docs/RELIABILITY.md.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::{Duration, Instant};

use playmark::model::ServerKind;
use playmark::sync::Policy;

use sim::history::{Change, FaultKind, LockAt, Op, Target};
use sim::world::Stats;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn replaying() -> Option<u64> {
    env("PLAYMARK_SIM_SEED")
}

fn print_stats(what: &str, s: &Stats, per_kind: &[(ServerKind, u64)], elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{what}: {} histories ({}) in {:.1} s = {:.2} histories/s; {} steps, {} local changes",
        s.histories,
        per_kind
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        secs,
        s.histories as f64 / secs,
        s.steps,
        s.changes,
    );
    let faults: u64 = s.faults.values().sum();
    println!(
        "  faults injected: {faults} ({}); crashes: {} ({} mid-request); held requests (any method) applied after the client gave up: {}; partitions: {}; server restarts: {}; pulls answered after their device's sends: {} ({} items left alone); violations: {}",
        s.faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        s.crashes,
        s.crashes_mid_request,
        s.late_writes_applied,
        s.partitions,
        s.server_restarts,
        s.pulls_during_sync,
        s.stale_left_alone,
        s.violations,
    );
    let fired = fired(s);
    println!(
        "  what the faults hit: {fired} fired: {} on reads, {} on writes not applied, {} on writes applied then the answer lost ({:.1} %); crashes while a write was held: {} ({} applied after the kill); engines aborted: {} ({} while a write was held, {} applied after the abort); two engines on one data directory: {}",
        s.fired_on_reads,
        s.fired_on_writes_not_applied,
        s.fired_on_writes_applied_lost,
        100.0 * s.fired_on_writes_applied_lost as f64 / fired.max(1) as f64,
        s.crashes_holding_write,
        s.crashes_holding_write_applied,
        s.aborts,
        s.aborts_holding_write,
        s.aborts_holding_write_applied,
        s.two_engines,
    );
    if s.store_locks + s.stale_live + s.offline_plays > 0 {
        println!(
            "  databases locked by another program during a sync: {} ({} ran into the lock); delayed live messages: {} ({} older than the server by then; {} items adopted); plays while offline: {}",
            s.store_locks, s.store_locks_hit, s.stale_live, s.stale_live_outdated, s.stale_live_adopted, s.offline_plays,
        );
    }
}

/// Faults that fired (crashes and aborts while a write was held included).
fn fired(s: &Stats) -> u64 {
    s.fired_on_reads
        + s.fired_on_writes_not_applied
        + s.fired_on_writes_applied_lost
        + s.crashes_holding_write
        + s.aborts_holding_write
}

/// Every history the run can afford holds every invariant; a failure prints the shrunk
/// history and the command that replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_history_keeps_acknowledged_changes_and_converges() {
    if let Some(seed) = replaying() {
        let rbw = env::<u8>("PLAYMARK_SIM_READ_BEFORE_WRITE").unwrap_or(1) != 0;
        let policy = std::env::var("PLAYMARK_SIM_POLICY")
            .ok()
            .and_then(|p| Policy::parse(p.trim()));
        let (params, ops) = sim::plan(seed, rbw, policy);
        let report = sim::run(&params, &ops).await;
        println!("{}", report.log.join("\n"));
        println!("history hash {:016x}", report.hash);
        if !report.violations.is_empty() {
            let text = sim::explain(&params, &ops, report, Duration::from_secs(600)).await;
            panic!("{text}");
        }
        return;
    }
    let fixed: Option<u64> = env("PLAYMARK_SIM_HISTORIES");
    let budget = Duration::from_secs(env("PLAYMARK_SIM_SECONDS").unwrap_or(180));
    let first: u64 = env("PLAYMARK_SIM_FIRST_SEED").unwrap_or(1);
    let started = Instant::now();
    let mut total = Stats::default();
    let mut per_kind = [(ServerKind::Jellyfin, 0u64), (ServerKind::Plex, 0u64)];
    let mut seed = first;
    loop {
        let done = total.histories;
        match fixed {
            Some(n) if done >= n => break,
            None if started.elapsed() >= budget => break,
            _ => {}
        }
        let (params, ops) = sim::plan(seed, true, None);
        let report = sim::run(&params, &ops).await;
        total.absorb(&report.stats);
        let slot = usize::from(params.kind == ServerKind::Plex);
        per_kind[slot].1 += 1;
        if !report.violations.is_empty() {
            print_stats(
                "simulation (stopped at a failure)",
                &total,
                &per_kind,
                started.elapsed(),
            );
            let text = sim::explain(&params, &ops, report, Duration::from_secs(120)).await;
            panic!("{text}");
        }
        seed += 1;
        if fixed.is_some() && total.histories % 500 == 0 {
            print_stats("progress", &total, &per_kind, started.elapsed());
        }
    }
    print_stats("simulation", &total, &per_kind, started.elapsed());
    assert_eq!(total.violations, 0);
    // Across the run every fault kind and every kind of crash happened.
    for name in FaultKind::NAMES {
        assert!(
            total.faults.get(name).copied().unwrap_or(0) > 0,
            "no {name} fault in {} histories: give the run more time",
            total.histories
        );
    }
    assert!(total.crashes_mid_request > 0 && total.crashes > total.crashes_mid_request);
    assert!(total.late_writes_applied > 0);
    assert!(total.partitions > 0 && total.server_restarts > 0);
    assert!(total.pulls_during_sync > 0 && total.stale_left_alone > 0);
    assert!(per_kind.iter().all(|(_, n)| *n > 0));
    if sim::write_faults_on() {
        assert_write_faults_hit_applied_writes(&total);
    }
}

/// The write-targeted mix does what it is for: writes are hit after the server applied them
/// (at least a quarter of the faults that fire), crashes and aborts happen while a write is
/// held, and two engines share a data directory.
fn assert_write_faults_hit_applied_writes(total: &Stats) {
    for name in FaultKind::WRITE_NAMES {
        assert!(
            total.faults.get(name).copied().unwrap_or(0) > 0,
            "no {name} fault in {} histories",
            total.histories
        );
    }
    assert!(
        total.fired_on_writes_applied_lost > 0,
        "no fault hit a write the server applied"
    );
    assert!(
        4 * total.fired_on_writes_applied_lost >= fired(total),
        "only {} of {} faults that fired hit a write the server applied",
        total.fired_on_writes_applied_lost,
        fired(total)
    );
    assert!(total.crashes_holding_write_applied > 0 && total.aborts_holding_write > 0);
    assert!(total.two_engines > 0);
}

/// The write-targeted fault mix (`PLAYMARK_SIM_WRITE_FAULTS=1`), in CI while it is off for the
/// main run: the generator aims at writes, and every history holds every invariant (the
/// failing seeds are printed, then the test fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_targeted_faults_hit_applied_writes() {
    if replaying().is_some() {
        return;
    }
    let histories: u64 = env("PLAYMARK_SIM_WRITE_FAULT_HISTORIES").unwrap_or(40);
    // A long run in parts: `PLAYMARK_SIM_FIRST_SEED` starts elsewhere (every seed is run, and
    // the failing ones are listed at the end).
    let first: u64 = env("PLAYMARK_SIM_FIRST_SEED").unwrap_or(1);
    let started = Instant::now();
    let mut total = Stats::default();
    let mut per_kind = [(ServerKind::Jellyfin, 0u64), (ServerKind::Plex, 0u64)];
    let mut failing = Vec::new();
    let mut first_failure = None;
    for seed in first..first + histories {
        let (params, ops) = sim::plan_with(seed, true, None, true);
        let report = sim::run(&params, &ops).await;
        total.absorb(&report.stats);
        per_kind[usize::from(params.kind == ServerKind::Plex)].1 += 1;
        if !report.violations.is_empty() {
            failing.push(seed);
            first_failure.get_or_insert((seed, report.violations.clone()));
        }
    }
    print_stats(
        "write-targeted faults",
        &total,
        &per_kind,
        started.elapsed(),
    );
    println!("  seeds with violations ({}): {failing:?}", failing.len());
    assert_write_faults_hit_applied_writes(&total);
    // With the client remembering what it sent (invariant 8), the write-targeted histories of
    // the CI run hold every invariant (seed 23 broke without it); so do larger runs since the
    // fixes listed in docs/RELIABILITY.md ("The last write-targeted seeds").
    if let Some((seed, violations)) = first_failure {
        panic!(
            "write-targeted faults: violations in seeds {failing:?}; seed {seed}: {violations:#?}\n\
             replay: PLAYMARK_SIM_SEED={seed} PLAYMARK_SIM_WRITE_FAULTS=1 cargo test --test simulation -- --nocapture"
        );
    }
}

/// Issue 17's minimal histories with the write-targeted mix, as the shrinker printed them
/// (docs/RELIABILITY.md, "Known gaps" of before): each failed until its fix.
/// - 233 and 227 (Plex): a scrobble the server held past the client's timeout was read as
///   "did not land" and sent again before the held one was applied: two views. Fixed in the
///   engine: after a write with an unknown outcome the item is not read again before twice as
///   long as the write was waited for (`drain.rs`, `LATE_WRITE_FACTOR`).
/// - 320 (Jellyfin) and 279 (Plex): no client can tell these from "nothing moved" (ABA, see
///   `sim/checker.rs`): the checker was corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimal_histories_of_issue_17_hold_every_invariant() {
    if replaying().is_some() {
        return;
    }
    let change = |dev, item, change| Op::Change { dev, item, change };
    let fault = |kind| Op::Fault {
        kind,
        target: Target::Write,
    };
    let cases: Vec<(u64, Vec<Op>)> = vec![
        (
            233,
            vec![
                Op::Crash {
                    dev: 1,
                    mid_request: Some(true),
                    target: Target::Write,
                },
                change(1, 5, Change::Watched),
                Op::Advance { ms: 5000 },
                change(1, 2, Change::Position { permille: 419 }),
                fault(FaultKind::AppliedTimeout),
                Op::Sync { dev: 1, now: false },
            ],
        ),
        (
            227,
            vec![
                fault(FaultKind::LateWrite),
                Op::Fault {
                    kind: FaultKind::TooMany(64),
                    target: Target::Next,
                },
                Op::ServerRestart,
                change(1, 5, Change::Position { permille: 805 }),
                Op::Bulk {
                    dev: 0,
                    played: true,
                },
                fault(FaultKind::LateWrite),
                Op::PullDuringSync { dev: 1 },
                change(0, 4, Change::Watched),
                Op::Advance { ms: 30_000 },
                Op::Sync { dev: 1, now: false },
                Op::Sync { dev: 0, now: false },
            ],
        ),
        (
            320,
            vec![
                Op::Bulk {
                    dev: 1,
                    played: true,
                },
                Op::StoreLocked {
                    dev: 1,
                    at: LockAt::Write,
                },
                change(0, 2, Change::Position { permille: 236 }),
                Op::Bulk {
                    dev: 1,
                    played: false,
                },
                Op::OfflinePlay {
                    dev: 1,
                    item: 4,
                    checkpoints: 1,
                    finish: false,
                },
                Op::Sync { dev: 0, now: false },
                Op::Bulk {
                    dev: 0,
                    played: true,
                },
            ],
        ),
        // Seed 5106 (Jellyfin, furthest-progress) failed with a first version of the fix of
        // the offline play (README, "Policies"), which took every dated unwatch on the server
        // for a play: d0's season unwatch, written through `POST /UserItems/{id}/UserData`
        // (which keeps the date), lost to d1's seek inside the watched item.
        (
            5106,
            vec![
                change(1, 3, Change::Watched),
                Op::OfflinePlay {
                    dev: 1,
                    item: 5,
                    checkpoints: 3,
                    finish: false,
                },
                Op::Live { dev: 0, item: 3 },
                change(1, 3, Change::Position { permille: 722 }),
                Op::Bulk {
                    dev: 0,
                    played: false,
                },
            ],
        ),
        // Seed 770 (Jellyfin, furthest-progress): seed 320's case, where the ABA device's
        // first sync after its change failed (a 500) and its write came at a later one.
        (
            770,
            vec![
                change(1, 3, Change::Position { permille: 869 }),
                Op::Fault {
                    kind: FaultKind::Status5xx(500),
                    target: Target::Next,
                },
                change(2, 3, Change::Position { permille: 4 }),
                Op::OfflinePlay {
                    dev: 1,
                    item: 0,
                    checkpoints: 2,
                    finish: false,
                },
                Op::OfflinePlay {
                    dev: 0,
                    item: 5,
                    checkpoints: 2,
                    finish: false,
                },
                Op::Sync { dev: 2, now: false },
                Op::Bulk {
                    dev: 2,
                    played: false,
                },
                Op::Sync { dev: 2, now: true },
                Op::Sync { dev: 1, now: false },
                change(1, 3, Change::Position { permille: 960 }),
            ],
        ),
        // Seed 3106 (Jellyfin, furthest-progress): seed 279's case, judged by invariant 4.
        (
            3106,
            vec![
                change(2, 2, Change::Position { permille: 418 }),
                Op::Advance { ms: 30_000 },
                fault(FaultKind::ResetMidBody),
                Op::Sync { dev: 2, now: false },
                Op::Pull { dev: 1 },
                Op::Bulk {
                    dev: 1,
                    played: false,
                },
            ],
        ),
        // Seed 717 (Plex): three scrobbles held in a row (a late write and two crashes whose
        // holds found no request of their own), the clock moved a timeout each time; the first
        // one's retry was due before the server applied it, read the episode unwatched and
        // scrobbled again (two views). Fixed in the engine: a write held now defers every item
        // whose outcome is still unknown (`Store::defer_unknown_outcomes`).
        (
            717,
            vec![
                fault(FaultKind::LateWrite),
                Op::Crash {
                    dev: 2,
                    mid_request: Some(true),
                    target: Target::Write,
                },
                Op::Crash {
                    dev: 2,
                    mid_request: Some(true),
                    target: Target::Write,
                },
                Op::Bulk {
                    dev: 1,
                    played: true,
                },
                change(1, 2, Change::Position { permille: 668 }),
                Op::Sync { dev: 1, now: true },
            ],
        ),
        // Seed 351 (Plex): d0's "watched at 0" over the server's watched item with an offset
        // is unscrobble + scrobble; the unscrobble was held and applied late, and the next
        // read found "unwatched at 0", which no one chose, and kept it as another device's
        // change. Fixed in the classification: a state our write of several calls passes
        // through is a part of ours (`Landed::Partly`), and the rest is sent again.
        (
            351,
            vec![
                change(1, 1, Change::Watched),
                change(1, 1, Change::Position { permille: 299 }),
                Op::Sync { dev: 1, now: true },
                Op::Crash {
                    dev: 1,
                    mid_request: Some(true),
                    target: Target::Write,
                },
                Op::OfflinePlay {
                    dev: 0,
                    item: 1,
                    checkpoints: 2,
                    finish: true,
                },
            ],
        ),
        // Seed 6316 (Jellyfin, prefer-local): d1's sync failed at its read (503 "starting"),
        // and the checker took d0, which then pulled the initial 0s, to know d1's unwatch to
        // 0s. A sync the server answered nothing of is no send.
        (
            6316,
            vec![
                fault(FaultKind::Status5xx(500)),
                change(1, 2, Change::Position { permille: 248 }),
                Op::StoreLocked {
                    dev: 1,
                    at: LockAt::Start,
                },
                Op::Sync { dev: 1, now: false },
                Op::Advance { ms: 600_000 },
                Op::Bulk {
                    dev: 1,
                    played: false,
                },
                Op::ServerRestart,
                Op::Sync { dev: 1, now: false },
                Op::PullDuringSync { dev: 0 },
                change(0, 2, Change::Position { permille: 87 }),
            ],
        ),
        // Seed 1060 (Jellyfin, furthest-progress): d2's ABA write (7s over d1's restart to
        // 0s, d2's base) hid the restart, and d3's "watched" then beat 7s. The checker excuses
        // the restart ("ABA, then a third device's change beat the ABA write").
        (
            1060,
            vec![
                change(1, 1, Change::Position { permille: 854 }),
                Op::OfflinePlay {
                    dev: 1,
                    item: 3,
                    checkpoints: 2,
                    finish: true,
                },
                Op::Fault {
                    kind: FaultKind::TooMany(60),
                    target: Target::Next,
                },
                change(2, 1, Change::Position { permille: 6 }),
                Op::Sync { dev: 2, now: true },
                Op::PullDuringSync { dev: 3 },
                change(1, 1, Change::Unwatched),
                Op::Bulk {
                    dev: 3,
                    played: true,
                },
            ],
        ),
        // Seed 7450 (Jellyfin, last-writer-wins, skewed clocks): d1's season unwatch, written
        // per item through `POST /UserItems/{id}/UserData`, kept the date of d0's seek (d0's
        // clock 10 minutes ahead), and beat d2's later "watched" by that date. A server change
        // that carries the base's own date brought none of its own: it is an undated server
        // change (`merge::server_change_date`).
        (
            7450,
            vec![
                change(0, 0, Change::Position { permille: 767 }),
                Op::Sync { dev: 0, now: true },
                Op::PullDuringSync { dev: 1 },
                Op::Bulk {
                    dev: 1,
                    played: false,
                },
                Op::Pull { dev: 2 },
                Op::Bulk {
                    dev: 2,
                    played: true,
                },
            ],
        ),
        // Seed 1962 (Jellyfin, last-writer-wins, skewed clocks): d2's pull found d0's older
        // "watched" and kept d2's "watched" queued for its newer date; d3's seek, older than
        // d2's change by the clocks, then landed, and d2's merge took it for the only change
        // of progress. A change queued for its date is a rewrite of that state and competes
        // by date (`merge_on`, `local_rewrote`).
        (
            1962,
            vec![
                Op::Bulk {
                    dev: 0,
                    played: true,
                },
                Op::Advance { ms: 30_000 },
                Op::Sync { dev: 0, now: false },
                Op::Advance { ms: 600_000 },
                Op::Bulk {
                    dev: 2,
                    played: true,
                },
                change(3, 2, Change::Position { permille: 428 }),
                Op::Pull { dev: 2 },
                Op::Crash {
                    dev: 3,
                    mid_request: Some(true),
                    target: Target::Write,
                },
            ],
        ),
        // Seed 5771 (Plex, furthest-progress): d1's unscrobble was applied with its answer lost;
        // d0 saw the unwatch and played the item to the end. The simulation's client did not
        // pass the read's `Date` on (`SimClient::read_user_data`), so d1's sent record had no
        // read date, the dated row could not tell "overwritten after", and the unscrobble was
        // sent again over d0's play.
        (
            5771,
            vec![
                Op::Bulk {
                    dev: 1,
                    played: true,
                },
                fault(FaultKind::ResetMidBody),
                Op::Sync { dev: 1, now: true },
                change(1, 0, Change::Unwatched),
                fault(FaultKind::AppliedTimeout),
                Op::OfflinePlay {
                    dev: 1,
                    item: 4,
                    checkpoints: 3,
                    finish: false,
                },
                Op::Pull { dev: 0 },
                Op::OfflinePlay {
                    dev: 0,
                    item: 0,
                    checkpoints: 4,
                    finish: true,
                },
            ],
        ),
        (
            279,
            vec![
                Op::Crash {
                    dev: 1,
                    mid_request: Some(false),
                    target: Target::Write,
                },
                change(1, 2, Change::Position { permille: 768 }),
                fault(FaultKind::ResetMidBody),
                change(1, 5, Change::Watched),
                Op::Sync { dev: 1, now: true },
                Op::Pull { dev: 0 },
                change(0, 5, Change::Unwatched),
            ],
        ),
    ];
    let mut failed = Vec::new();
    for (seed, ops) in cases {
        let (params, _) = sim::plan_with(seed, true, None, true);
        let report = sim::run(&params, &ops).await;
        if !report.violations.is_empty() {
            println!(
                "seed {seed}: {:#?}\n{}",
                report.violations,
                report.log.join("\n")
            );
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "violations in the minimal histories of seeds {failed:?}"
    );
}

/// The same seed gives the same history, byte for byte (its hash), on both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_gives_the_same_history() {
    if replaying().is_some() {
        return;
    }
    // The default mix, then the write-targeted one (its locked databases, delayed live
    // messages and offline plays must replay as exactly).
    for (seed, write_faults) in [(2, false), (3, false), (2, true), (3, true)] {
        let plan = |seed| {
            if write_faults {
                sim::plan_with(seed, true, None, true)
            } else {
                sim::plan(seed, true, None)
            }
        };
        let (params, ops) = plan(seed);
        let a = sim::run(&params, &ops).await;
        let b = sim::run(&params, &ops).await;
        if a.hash != b.hash {
            let diff = a
                .log
                .iter()
                .zip(&b.log)
                .position(|(x, y)| x != y)
                .unwrap_or(a.log.len().min(b.log.len()));
            panic!(
                "seed {seed} (write-targeted: {write_faults}): histories differ from line {diff}:\n{:?}\n{:?}",
                a.log.get(diff),
                b.log.get(diff)
            );
        }
        assert!(a.log.len() > 40, "{}", a.log.len());
        let (params, ops) = plan(seed + 2);
        assert_ne!(
            sim::run(&params, &ops).await.hash,
            a.hash,
            "another seed, another history"
        );
    }
}

/// Prove the checker can fail: with read-before-write switched off (the engine pushes its
/// change without looking at what the server holds), it finds the lost update and prints the
/// shrunk history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_read_before_write_the_checker_finds_the_lost_update() {
    if replaying().is_some() {
        return;
    }
    let started = Instant::now();
    for seed in 1000.. {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no lost update found in seeds 1000..{seed}"
        );
        let (params, ops) = sim::plan(seed, false, Some(Policy::FurthestProgress));
        let report = sim::run(&params, &ops).await;
        if report
            .violations
            .iter()
            .any(|v| v.starts_with("lost update"))
        {
            let text = sim::explain(&params, &ops, report, Duration::from_secs(45)).await;
            println!("{text}");
            assert!(text.contains("lost update"), "{text}");
            assert!(text.contains("PLAYMARK_SIM_SEED="), "{text}");
            return;
        }
    }
}
