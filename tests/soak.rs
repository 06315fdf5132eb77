//! Fault soak: many changes over many items against a server that fails 30 % of requests
//! (500/502/503, 429 with Retry-After, timeouts, resets, truncated and malformed bodies) with a
//! 30 s outage in the middle. Time is the engine's fake clock; HTTP is real.
//!
//! CI runs a reduced size. The full run (10,000 changes over 2,000 items):
//! `PLAYMARK_SOAK_CHANGES=10000 PLAYMARK_SOAK_ITEMS=2000 cargo test --release --test soak -- --nocapture`
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Harness;
use playmark::backend::jellyfin::ClientOptions;
use playmark::clock::Clock;
use playmark::demo::{DemoConfig, DemoLibrary, Fault};
use playmark::model::{ItemKind, LocalChange};
use playmark::sync::{EngineConfig, RunOutcome};
use rand::{Rng, SeedableRng};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_delivered_through_faults_and_an_outage_without_breaking_retry_after() {
    let changes = env_num("PLAYMARK_SOAK_CHANGES", 2_000);
    let items_wanted = env_num("PLAYMARK_SOAK_ITEMS", 400);
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    // series × 4 seasons × 25 episodes ≈ the number of items asked for.
    let series = items_wanted.div_ceil(100).max(1);
    let library = DemoLibrary::generated(series, 4, 25, 0).without_progress();
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    };
    let engine_config = EngineConfig {
        debounce_ms: 0,
        concurrency: 8,
        seed: Some(11),
        ..EngineConfig::default()
    };
    let h = Harness::start_custom(
        playmark::model::ServerKind::Jellyfin,
        DemoConfig {
            library,
            ..DemoConfig::default()
        },
        options,
        engine_config,
    )
    .await;
    let items: Vec<(String, i64)> = h
        .server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .take(items_wanted)
        .map(|i| (i.id, i.runtime_ms.unwrap_or(1_800_000)))
        .collect();

    h.server.fail_fraction(
        0.3,
        vec![
            Fault::Status {
                code: 500,
                retry_after: None,
            },
            Fault::Status {
                code: 502,
                retry_after: None,
            },
            Fault::Status {
                code: 503,
                retry_after: Some(2),
            },
            Fault::Status {
                code: 429,
                retry_after: Some(5),
            },
            Fault::Delay(Duration::from_millis(700)), // longer than the client timeout
            Fault::Reset,
            Fault::Truncated,
            Fault::Malformed,
        ],
        99,
    );

    // The fake time at which each request was sent: every request of one drain step is sent at
    // the step's fake time.
    let mut sent_at: Vec<i64> = Vec::new();
    let note_requests = |h: &Harness, sent_at: &mut Vec<i64>| {
        let n = h.server.requests().len();
        let now = h.clock.now();
        sent_at.resize(n, now);
    };

    let batch = 50;
    let outage_at = changes / 2;
    let mut step = 0;
    for chunk_start in (0..changes).step_by(batch) {
        if chunk_start >= outage_at && chunk_start < outage_at + batch {
            // A 30 s outage: the server refuses connections, changes keep being recorded.
            h.server.set_offline(true);
            for _ in 0..30 {
                let (id, _) = &items[rng.gen_range(0..items.len())];
                h.engine
                    .record_change(id, LocalChange::MarkWatched)
                    .unwrap();
                h.drain_now().await;
                note_requests(&h, &mut sent_at);
                h.clock.advance(1_000);
            }
            h.server.set_offline(false);
        }
        for _ in chunk_start..(chunk_start + batch).min(changes) {
            let (id, runtime) = &items[rng.gen_range(0..items.len())];
            let change = match rng.gen_range(0..10) {
                0..=5 => LocalChange::Position {
                    position_ms: rng.gen_range(0..*runtime),
                },
                6..=8 => LocalChange::MarkWatched,
                _ => LocalChange::MarkUnwatched,
            };
            h.engine.record_change(id, change).unwrap();
        }
        h.drain_now().await;
        note_requests(&h, &mut sent_at);
        h.clock.advance(rng.gen_range(0..3_000));
        step += 1;
    }
    // Let the retries run out: keep time moving until the queue is empty.
    let mut rounds = 0;
    loop {
        h.engine.connectivity_changed(true);
        let outcome = h.drain_now().await;
        note_requests(&h, &mut sent_at);
        if outcome == RunOutcome::Empty {
            break;
        }
        rounds += 1;
        assert!(rounds < 2_000, "queue never drained: {outcome:?}");
        h.clock.advance(5_000);
    }

    // Everything the user intended is on the server.
    let mut delivered = 0;
    for (id, _) in &items {
        let local = h
            .engine
            .with_store(|s| s.item(h.account, id))
            .unwrap()
            .unwrap();
        let remote = h.server.user_data(id).unwrap();
        assert_eq!(
            (remote.position_ms, remote.played),
            (local.position_ms, local.played),
            "{id}"
        );
        delivered += 1;
    }

    // No request was sent before a Retry-After it had been given expired.
    let requests = h.server.requests();
    // Requests of one drain step share its fake time; a throttle answered in one step binds the
    // steps after it (requests already in flight in the same step were sent before the answer).
    let mut violations = 0;
    let mut active_until = i64::MIN;
    let mut step_until = i64::MIN;
    let mut step_time = i64::MIN;
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, r) in requests.iter().enumerate() {
        *by_status.entry(r.status).or_default() += 1;
        let t = sent_at[i];
        if t != step_time {
            active_until = active_until.max(step_until);
            step_time = t;
        }
        if t < active_until {
            violations += 1;
        }
        if let Some(secs) = r
            .fault
            .as_deref()
            .and_then(|f| f.split(':').nth(1))
            .and_then(|s| s.parse::<i64>().ok())
        {
            step_until = step_until.max(t + secs * 1_000);
        }
    }
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    println!(
        "soak: {changes} changes over {} items in {step} steps; delivered {delivered}/{} items' final state; \
         {writes} write requests ({:.2} per change), {} requests in all by status {by_status:?}; \
         Retry-After violations {violations}; peak RSS {} KiB; {:.1} s",
        items.len(),
        items.len(),
        writes as f64 / changes as f64,
        requests.len(),
        peak_rss_kib().unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(violations, 0);
    assert_eq!(delivered, items.len());
}
