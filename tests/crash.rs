//! Crash safety with real processes: `playmark` commands are SIGKILLed at random moments
//! (first start / migration, mark and progress bursts, mid-sync against a slow, faulty server)
//! and restarted. Afterwards every change a command reported as recorded is on the server, the
//! server holds exactly the local intended state, play counts were not inflated and the database
//! passes `PRAGMA integrity_check`.
//!
//! CI runs 25 kills. The full run: `PLAYMARK_CRASH_KILLS=300 cargo test --test crash -- --nocapture`
//! (`PLAYMARK_CRASH_SEED` picks another random sequence).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use playmark::demo::{Fault, DEMO_PASSWORD};
use playmark::model::{apply_change, ItemKind, LocalChange, UserData};
use playmark::store::{database_path, Store};
use rand::{Rng, SeedableRng};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_playmark"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Ok,
    Killed,
    Failed(i32),
}

/// Run a command and SIGKILL it after `kill_after` if it is still running.
async fn run_and_maybe_kill(mut c: Command, kill_after: Duration) -> End {
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return match status.code() {
                Some(0) => End::Ok,
                Some(code) => End::Failed(code),
                None => End::Killed,
            };
        }
        if start.elapsed() >= kill_after {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return End::Killed;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The visible part of a state, as compared between local and server.
fn visible(u: &UserData) -> (i64, bool) {
    (u.position_ms, u.played)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let kills_wanted = env_num("PLAYMARK_CRASH_KILLS", 25);
    let seed = env_num("PLAYMARK_CRASH_SEED", 20261124);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Phase 1: kill the very first start (database creation + migrations) a few times.
    let mut kills = 0u64;
    let first_start_kills = (kills_wanted / 10).max(2);
    for _ in 0..first_start_kills {
        let delay = Duration::from_micros(rng.gen_range(0..15_000));
        if run_and_maybe_kill(cmd(&data, &["status"]), delay).await == End::Killed {
            kills += 1;
        }
    }
    {
        let store =
            Store::open(&database_path(&data)).expect("database usable after killed first starts");
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    let login = cmd(&data, &common::bin::login_args(&server.url(), &[]))
        .env("PLAYMARK_PASSWORD", DEMO_PASSWORD)
        .status()
        .unwrap();
    assert!(login.success());
    assert!(cmd(&data, &["refresh"]).status().unwrap().success());
    let episodes: Vec<(String, i64)> = server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .take(10)
        .map(|i| (i.id, i.runtime_ms.unwrap_or(1_200_000)))
        .collect();

    // A slow, unreliable server: every request takes 30–70 ms, a fifth fail.
    server.set_latency(Duration::from_millis(30));
    server.fail_fraction(
        0.2,
        vec![
            Fault::Status {
                code: 503,
                retry_after: None,
            },
            Fault::Status {
                code: 500,
                retry_after: None,
            },
            Fault::Status {
                code: 429,
                retry_after: Some(1),
            },
            Fault::Reset,
            Fault::Truncated,
            Fault::Delay(Duration::from_millis(40)),
        ],
        seed,
    );

    // Phase 2: bursts of local changes and syncs, killed at random.
    // Possible local states per item: a killed command may or may not have committed.
    let mut possible: BTreeMap<String, HashSet<(i64, bool)>> = episodes
        .iter()
        .map(|(id, _)| (id.clone(), HashSet::from([(0, false)])))
        .collect();
    let mut reported_recorded = 0u64;
    let mut ends: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut now_ms = 1_000_000; // only positions matter for the comparison, not dates
    while kills < kills_wanted {
        let (id, runtime) = episodes[rng.gen_range(0..episodes.len())].clone();
        let roll = rng.gen_range(0..100);
        let (args, change): (Vec<String>, Option<LocalChange>) = if roll < 40 {
            let secs = rng.gen_range(0..runtime / 1000);
            (
                vec!["progress".into(), id.clone(), secs.to_string()],
                Some(LocalChange::Position {
                    position_ms: secs * 1000,
                }),
            )
        } else if roll < 55 {
            (
                vec!["mark-watched".into(), id.clone()],
                Some(LocalChange::MarkWatched),
            )
        } else if roll < 65 {
            (
                vec!["mark-unwatched".into(), id.clone()],
                Some(LocalChange::MarkUnwatched),
            )
        } else {
            (vec!["sync".into(), "--wait".into(), "2".into()], None)
        };
        // Local commands take ~5–20 ms; syncs up to seconds. Kill within a window that hits
        // every phase of both.
        let kill_after = if change.is_some() {
            Duration::from_micros(rng.gen_range(0..60_000))
        } else {
            Duration::from_millis(rng.gen_range(0..300))
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let end = run_and_maybe_kill(cmd(&data, &refs), kill_after).await;
        *ends
            .entry(match (change.is_some(), end) {
                (true, End::Ok) => "change recorded",
                (true, End::Killed) => "change killed",
                (true, End::Failed(_)) => "change failed",
                (false, End::Ok) => "sync finished",
                (false, End::Killed) => "sync killed",
                (false, End::Failed(_)) => "sync incomplete",
            })
            .or_default() += 1;
        if end == End::Killed {
            kills += 1;
        }
        if let Some(change) = change {
            now_ms += 1;
            let set = possible.get_mut(&id).unwrap();
            let applied: HashSet<(i64, bool)> = set
                .iter()
                .map(|&(position_ms, played)| {
                    let cur = UserData {
                        position_ms,
                        played,
                        play_count: 0,
                        last_played: None,
                    };
                    visible(&apply_change(&cur, change, now_ms))
                })
                .collect();
            match end {
                End::Ok => {
                    reported_recorded += 1;
                    *set = applied;
                }
                End::Killed => set.extend(applied),
                End::Failed(code) => {
                    panic!("{args:?} failed with exit code {code} without being killed")
                }
            }
        }
    }

    // Phase 3: the server recovers; one clean sync must deliver everything.
    server.clear_faults();
    server.set_latency(Duration::ZERO);
    let before = server.requests().len();
    let final_sync = cmd(&data, &["sync", "--wait", "60"]).status().unwrap();
    assert_eq!(
        final_sync.code(),
        Some(0),
        "final sync must empty the queue"
    );
    let final_requests = server.requests().len() - before;

    let mut store = Store::open(&database_path(&data)).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let account = store.account().unwrap().unwrap();
    assert_eq!(store.counts(account.id).unwrap().total(), 0);
    for (id, _) in &episodes {
        let local = store.item(account.id, id).unwrap().unwrap();
        let local_state = (local.position_ms, local.played);
        assert!(
            possible[id].contains(&local_state),
            "{id}: local {local_state:?} is not a state the commands could have produced: {:?}",
            possible[id]
        );
        let remote = server.user_data(id).unwrap();
        assert_eq!(
            visible(&remote),
            local_state,
            "{id}: server differs from the local intended state"
        );
        // Absolute writes: no play count was inflated by replays.
        assert_eq!(remote.play_count, local.play_count, "{id}: play count");
        let _ = store.base(account.id, id).unwrap();
    }
    let total_requests = server.requests().len();
    println!(
        "crash run: seed {seed}, {kills} SIGKILLs ({first_start_kills} during first start), {reported_recorded} changes reported recorded, \
         outcomes {ends:?}, {total_requests} requests to the server, final sync {final_requests} requests, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
