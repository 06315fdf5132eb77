//! The eight scenarios of the benchmark. Each returns its figures; see `docs/PERFORMANCE.md`
//! for what each measures and how to read it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::fixture::{playable, Fixture, Naive, FAKE_START};
use super::sys;
use super::{Figure, Sizes};
use crate::backend::jellyfin::{DeviceInfo, JellyfinClient};
use crate::backend::MAX_READ_IDS;
use crate::clock::{Clock, FakeClock, SystemClock};
use crate::demo::DemoLibrary;
use crate::model::{ItemKind, LocalChange, ServerKind, UserData};
use crate::store::{database_path, NewAccount, Store};
use crate::sync::checkpoint::{Checkpointer, PlaybackEvent};
use crate::sync::{Engine, RunMode, DEFAULT_PAGE_SIZE};

/// Run the engine in the background until the returned guard is stopped.
struct Running {
    engine: Engine,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(engine: &Engine) -> Running {
        let e = engine.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = e.run(RunMode::Forever).await {
                tracing::error!(%error, "benchmark engine stopped");
            }
        });
        Running {
            engine: engine.clone(),
            task,
        }
    }

    async fn stop(self) {
        self.engine.shutdown();
        let _ = self.task.await;
    }
}

/// Move simulated time in 100 ms steps until the queue is empty (at most `max_ms`).
async fn drain_simulated(fx: &Fixture, clock: &FakeClock, max_ms: i64) -> Result<()> {
    let start = clock.now();
    fx.settle(clock).await?;
    while fx.engine.counts()?.total() > 0 {
        if clock.now() - start > max_ms {
            bail!("queue not empty after {max_ms} ms of simulated time");
        }
        clock.advance(100);
        fx.settle(clock).await?;
    }
    Ok(())
}

/// What a player reports during one playback session of `secs` seconds, one report a second:
/// play, a forward seek of 2 min at 1/6, a pause of 1/30 of the session at 1/3 (the player
/// keeps reporting the same position while paused), a 30 s seek back at 2/3, stop at the end.
pub fn playback_script(secs: i64) -> Vec<(PlaybackEvent, i64)> {
    let (seek_fwd, pause_at, seek_back) = (secs / 6, secs / 3, 2 * secs / 3);
    let pause_len = (secs / 30).max(2);
    let mut pos = 0_i64;
    let mut out = Vec::with_capacity(secs as usize);
    for s in 0..secs {
        let paused = s > pause_at && s < pause_at + pause_len;
        let event = if s == secs - 1 {
            pos += 1_000;
            PlaybackEvent::Stop
        } else if s == seek_fwd {
            pos += 120_000;
            PlaybackEvent::Seek
        } else if s == seek_back {
            pos = (pos - 30_000).max(0);
            PlaybackEvent::Seek
        } else if s == pause_at {
            PlaybackEvent::Pause
        } else {
            if !paused {
                pos += 1_000;
            }
            PlaybackEvent::Tick
        };
        out.push((event, pos));
    }
    out
}

/// 1. An hour of playback on one item, position reported every second.
pub async fn playback(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let lib = DemoLibrary::generated(0, 0, 0, 1);
    let item = playable(&lib)
        .first()
        .map(|i| i.id.clone())
        .context("empty library")?;
    let script = playback_script(sizes.playback_secs);
    let final_pos = script.last().map(|e| e.1).unwrap_or(0);

    let clock = FakeClock::new(FAKE_START);
    let fx = Fixture::start(lib.clone(), latency, Arc::new(clock.clone()), true).await?;
    let running = Running::start(&fx.engine);
    let mut checkpointer = Checkpointer::default();
    let mut checkpoints = 0;
    let mut max_behind_ms = 0_i64;
    let mut last_save_at = clock.now();
    for (i, &(event, pos)) in script.iter().enumerate() {
        if checkpointer.should_record(&item, pos, event, clock.now()) {
            fx.engine
                .record_change(&item, LocalChange::Position { position_ms: pos })?;
            checkpoints += 1;
            last_save_at = clock.now();
        }
        if i + 1 == script.len() {
            break;
        }
        clock.advance(1_000);
        fx.settle(&clock).await?;
        let on_server = fx.server.user_data(&item).map_or(0, |u| u.position_ms);
        max_behind_ms = max_behind_ms.max((pos - on_server).abs());
    }
    // The last save (stop): how long until the server holds it, in 50 ms steps.
    let mut lag_ms = 0;
    loop {
        fx.settle(&clock).await?;
        if fx.server.user_data(&item).map(|u| u.position_ms) == Some(final_pos) {
            break;
        }
        if lag_ms > 120_000 {
            bail!("the last position never reached the server");
        }
        clock.advance(50);
        lag_ms += 50;
    }
    let lag_ms = clock.now() - last_save_at;
    let ours = fx.writes();
    let ours_reads = fx.reads();
    running.stop().await;

    let fx_b = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    let mut naive = Naive::new(fx_b.client.clone());
    for &(_, pos) in &script {
        naive
            .change(
                &item,
                LocalChange::Position { position_ms: pos },
                SystemClock.now(),
            )
            .await;
    }
    let baseline = fx_b.writes();

    Ok(vec![
        Figure::calls("1 playback hour", "server calls", ours, baseline, 1),
        reads_figure("1 playback hour", ours_reads, 1),
        Figure::ours_only(
            "1 playback hour",
            "checkpoints recorded",
            checkpoints as f64,
            "n",
        ),
        Figure::ours_only(
            "1 playback hour",
            "server behind player, max while playing",
            max_behind_ms as f64 / 1000.0,
            "s",
        ),
        Figure::ours_only(
            "1 playback hour",
            "server has the last save after",
            lag_ms as f64 / 1000.0,
            "s",
        ),
    ])
}

/// 2. A 24-episode season marked watched: as one bulk action, then one episode at a time.
pub async fn binge(_sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let lib = DemoLibrary::generated(1, 1, 24, 0);
    let season = lib
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Season)
        .map(|i| i.id)
        .context("no season")?;
    let episodes: Vec<String> = playable(&lib).into_iter().map(|i| i.id).collect();
    let n = episodes.len();
    let watched: Vec<(String, UserData)> = episodes
        .iter()
        .map(|id| {
            (
                id.clone(),
                UserData {
                    played: true,
                    ..UserData::default()
                },
            )
        })
        .collect();

    // Ours, bulk.
    let clock = FakeClock::new(FAKE_START);
    let fx = Fixture::start(lib.clone(), latency, Arc::new(clock.clone()), true).await?;
    let running = Running::start(&fx.engine);
    fx.engine.record_bulk(&season, true)?;
    drain_simulated(&fx, &clock, 60_000).await?;
    let ours_bulk = fx.writes();
    let ours_bulk_reads = fx.reads();
    let wrong_bulk = fx.server_mismatches(&watched);
    running.stop().await;

    // Ours, one at a time (a click a second).
    let clock = FakeClock::new(FAKE_START);
    let fx = Fixture::start(lib.clone(), latency, Arc::new(clock.clone()), true).await?;
    let running = Running::start(&fx.engine);
    for id in &episodes {
        fx.engine.record_change(id, LocalChange::MarkWatched)?;
        clock.advance(1_000);
        fx.settle(&clock).await?;
    }
    drain_simulated(&fx, &clock, 60_000).await?;
    let ours_each = fx.writes();
    let ours_each_reads = fx.reads();
    let wrong_each = fx.server_mismatches(&watched);
    running.stop().await;
    if wrong_bulk + wrong_each > 0 {
        bail!("season binge: {wrong_bulk} + {wrong_each} episodes not watched on the server");
    }

    // Baseline.
    let fx_b = Fixture::start(lib.clone(), latency, Arc::new(SystemClock), true).await?;
    let mut naive = Naive::new(fx_b.client.clone());
    naive.bulk(&season, true).await;
    let base_bulk = fx_b.writes();
    let fx_b = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    let mut naive = Naive::new(fx_b.client.clone());
    for id in &episodes {
        naive
            .change(id, LocalChange::MarkWatched, SystemClock.now())
            .await;
    }
    let base_each = fx_b.writes();

    Ok(vec![
        Figure::calls(
            "2 season binge",
            "calls, bulk action",
            ours_bulk,
            base_bulk,
            1,
        ),
        Figure {
            note: Some("one read before the season call, one after it (the server's dates)".into()),
            ..reads_figure("2 season binge", ours_bulk_reads, 1)
        },
        Figure::calls(
            "2 season binge",
            "calls, one episode at a time",
            ours_each,
            base_each,
            n,
        ),
        reads_figure("2 season binge", ours_each_reads, n.div_ceil(MAX_READ_IDS)),
    ])
}

/// 3. Watched/unwatched clicked 10 times within 2 s on each of `n` items.
pub async fn indecision(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let n = sizes.indecision_items;
    let lib = DemoLibrary::generated(1, 1, n, 0);
    let items: Vec<String> = playable(&lib).into_iter().map(|i| i.id).collect();
    // Round-robin: click k on every item, then click k + 1 … Each click sets watched or
    // unwatched at random (seeded), so some items end where they started and some do not.
    let mut rng = SmallRng::seed_from_u64(3);
    let clicks: Vec<(usize, bool)> = (0..10)
        .flat_map(|_| (0..n).collect::<Vec<_>>())
        .map(|i| (i, rng.gen_bool(0.5)))
        .collect();
    let step_ms = 2_000 / clicks.len().max(1) as i64;
    let change = |played: bool| {
        if played {
            LocalChange::MarkWatched
        } else {
            LocalChange::MarkUnwatched
        }
    };
    let mut last = vec![false; n];
    for &(i, played) in &clicks {
        last[i] = played;
    }
    // The server starts with every item unwatched at 0.
    let minimum = last.iter().filter(|&&played| played).count();

    let clock = FakeClock::new(FAKE_START);
    let fx = Fixture::start(lib.clone(), latency, Arc::new(clock.clone()), true).await?;
    let running = Running::start(&fx.engine);
    for &(i, played) in &clicks {
        fx.engine.record_change(&items[i], change(played))?;
        clock.advance(step_ms);
        fx.settle(&clock).await?;
    }
    drain_simulated(&fx, &clock, 60_000).await?;
    let ours = fx.writes();
    let ours_reads = fx.reads();
    let wrong = fx.server_mismatches(&fx.local_states(&items)?);
    running.stop().await;
    if wrong > 0 {
        bail!("indecision: {wrong} items differ between the server and the device");
    }

    let fx_b = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    let mut naive = Naive::new(fx_b.client.clone());
    for &(i, played) in &clicks {
        naive
            .change(&items[i], change(played), SystemClock.now())
            .await;
    }
    let baseline = fx_b.writes();
    Ok(vec![
        Figure::calls(
            "3 indecision",
            &format!("calls ({n} items x 10 clicks in 2 s)"),
            ours,
            baseline,
            minimum,
        ),
        reads_figure("3 indecision", ours_reads, minimum.div_ceil(MAX_READ_IDS)),
    ])
}

/// 4. A day offline: `changes` changes over `items` items, then the server comes back.
pub async fn offline(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let (n, per_item) = (sizes.offline_items, sizes.offline_changes_per_item);
    let lib = DemoLibrary::generated(0, 0, 0, n);
    let items: Vec<String> = playable(&lib).into_iter().map(|i| i.id).collect();
    let changes: Vec<(usize, LocalChange)> = (0..per_item)
        .flat_map(|k| {
            (0..n).map(move |i| {
                let change = if k + 1 == per_item && i % 5 == 0 {
                    LocalChange::MarkWatched
                } else {
                    LocalChange::Position {
                        position_ms: (k as i64 + 1) * 60_000 + i as i64,
                    }
                };
                (i, change)
            })
        })
        .collect();

    let fx = Fixture::start(lib.clone(), latency, Arc::new(SystemClock), true).await?;
    let running = Running::start(&fx.engine);
    fx.server.go_offline().await;
    for &(i, change) in &changes {
        fx.engine.record_change(&items[i], change)?;
    }
    // Let the engine find out the server is gone before it comes back.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let attempts_offline = fx
        .engine
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    fx.server.set_offline(false);
    fx.engine.connectivity_changed(true);
    while fx.engine.counts()?.total() > 0 {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("offline day: queue not empty 300 s after reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drain = started.elapsed();
    let ours = fx.writes();
    let ours_reads = fx.reads();
    let expected = fx.local_states(&items)?;
    let wrong = fx.server_mismatches(&expected);
    running.stop().await;

    let fx_b = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    fx_b.server.go_offline().await;
    let mut naive = Naive::new(fx_b.client.clone());
    for &(i, change) in &changes {
        naive.change(&items[i], change, SystemClock.now()).await;
    }
    fx_b.server.set_offline(false);
    let baseline_sent = naive.calls;
    let baseline_delivered = fx_b.writes();
    let baseline_wrong = fx_b.server_mismatches(&expected);

    let scenario = "4 offline day";
    Ok(vec![
        Figure::calls(
            scenario,
            "calls the server received after reconnecting",
            ours,
            baseline_delivered,
            n,
        ),
        reads_figure(scenario, ours_reads, n.div_ceil(MAX_READ_IDS)),
        Figure {
            note: Some(format!(
                "ours tried {attempts_offline} while offline (refused); baseline: every change lost"
            )),
            ..Figure::both(
                scenario,
                "requests attempted",
                (attempts_offline as usize + ours) as f64,
                baseline_sent as f64,
                "n",
            )
        },
        Figure::both(
            scenario,
            "items right on the server",
            (n - wrong) as f64,
            (n - baseline_wrong) as f64,
            "n",
        ),
        Figure::ours_only(
            scenario,
            "reconnect until queue empty",
            drain.as_secs_f64(),
            "s",
        ),
    ])
}

/// 5. Drain throughput: `n` distinct pending items, every one due.
pub async fn drain(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let n = sizes.drain_items;
    let lib = DemoLibrary::generated(0, 0, 0, n);
    let items: Vec<String> = playable(&lib).into_iter().map(|i| i.id).collect();

    let fx = Fixture::start(lib.clone(), latency, Arc::new(SystemClock), true).await?;
    for (i, id) in items.iter().enumerate() {
        fx.engine.record_change(
            id,
            LocalChange::Position {
                position_ms: 1_000 + i as i64,
            },
        )?;
    }
    fx.engine.sync_now()?;
    let started = Instant::now();
    let outcome = fx
        .engine
        .run(RunMode::UntilIdle {
            deadline: SystemClock.now(),
        })
        .await?;
    let ours_s = started.elapsed().as_secs_f64();
    if fx.engine.counts()?.total() > 0 {
        bail!("drain: queue not empty ({outcome:?})");
    }
    let ours_calls = fx.writes();
    let ours_reads = fx.reads();
    let concurrency = super::fixture::engine_config().concurrency;

    let sample = n.min(sizes.drain_baseline_sample);
    let fx_b = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    let mut naive = Naive::new(fx_b.client.clone());
    let started = Instant::now();
    for (i, id) in items.iter().take(sample).enumerate() {
        naive
            .change(
                id,
                LocalChange::Position {
                    position_ms: 1_000 + i as i64,
                },
                SystemClock.now(),
            )
            .await;
    }
    let base_s = started.elapsed().as_secs_f64();

    let scenario = "5 drain throughput";
    Ok(vec![
        Figure {
            note: Some(format!(
                "{n} items, {ours_calls} calls; baseline timed on the first {sample} (sequential sends run at a constant rate)"
            )),
            ..Figure::both(
                scenario,
                "items per second",
                n as f64 / ours_s,
                sample as f64 / base_s,
                "items/s",
            )
        },
        Figure {
            note: Some(format!(
                "concurrency {concurrency} / latency {} ms: no engine can send faster",
                latency.as_millis()
            )),
            ..Figure::ours_only(
                scenario,
                "ceiling (concurrency / latency)",
                concurrency as f64 / latency.as_secs_f64().max(1e-3),
                "items/s",
            )
        },
        reads_figure(scenario, ours_reads, n.div_ceil(MAX_READ_IDS)),
        Figure::both(
            scenario,
            &format!("time to send {n} items"),
            ours_s,
            base_s * n as f64 / sample.max(1) as f64,
            "s",
        ),
    ])
}

/// The batched reads a scenario made (one before every batch of writes, DESIGN.md invariant 6)
/// against the least possible (one per 50 items). The naive baseline never reads, which is why
/// it overwrites other devices' progress.
fn reads_figure(scenario: &str, ours: usize, minimum: usize) -> Figure {
    Figure::calls(scenario, "reads before writes", ours, 0, minimum)
}

/// Percentile (0..=100) of sorted durations, in microseconds.
fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

/// 6. Enqueue cost: `Engine::record_change` (play_state + outbox in one transaction, events).
pub async fn enqueue(sizes: &Sizes, _latency: Duration) -> Result<Vec<Figure>> {
    let (n, spread) = (sizes.enqueue_changes, sizes.enqueue_items);
    let lib = DemoLibrary::generated(0, 0, 0, spread);
    let items: Vec<String> = playable(&lib).into_iter().map(|i| i.id).collect();
    let fx = Fixture::start(lib, Duration::ZERO, Arc::new(SystemClock), true).await?;
    // The app's SyncQueue worker listens to every event; so does this task.
    let mut events = fx.engine.subscribe();
    let listener = tokio::spawn(async move {
        let mut seen = 0_u64;
        loop {
            match events.recv().await {
                Ok(_) => seen += 1,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => seen += k,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        seen
    });
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let id = &items[i % items.len()];
        let position_ms = (i / items.len()) as i64 * 1_000 + 1_000;
        let t = Instant::now();
        fx.engine
            .record_change(id, LocalChange::Position { position_ms })?;
        lat.push(t.elapsed());
        if i % 1024 == 0 {
            // Let the listener run, as it would on another thread of the app.
            tokio::task::yield_now().await;
        }
    }
    let total = started.elapsed();
    listener.abort();
    lat.sort_unstable();

    // Where the time goes: the store transaction alone, and the queue count that the engine
    // runs after every change to publish `SyncEvent::Counts`.
    let probe = (n / 10).clamp(1, 10_000);
    let mut tx_lat = Vec::with_capacity(probe);
    for i in 0..probe {
        let id = &items[i % items.len()];
        let position_ms = 900_000 + i as i64;
        let t = Instant::now();
        fx.engine.with_store(|s| {
            s.record_change(
                fx.account,
                id,
                LocalChange::Position { position_ms },
                SystemClock.now(),
                500,
            )
        })?;
        tx_lat.push(t.elapsed());
    }
    tx_lat.sort_unstable();
    let mut count_lat = Vec::with_capacity(1_000);
    let queued = fx.engine.counts()?.total();
    for _ in 0..1_000 {
        let t = Instant::now();
        fx.engine.counts()?;
        count_lat.push(t.elapsed());
    }
    count_lat.sort_unstable();
    let scenario = "6 enqueue cost";
    let note = format!("{n} changes over {spread} items, SQLite WAL, synchronous=NORMAL");
    Ok(vec![
        Figure {
            note: Some(note),
            ..Figure::ours_only(scenario, "p50 latency", percentile_us(&lat, 50.0), "us")
        },
        Figure::ours_only(scenario, "p99 latency", percentile_us(&lat, 99.0), "us"),
        Figure::ours_only(scenario, "max latency", percentile_us(&lat, 100.0), "us"),
        Figure::ours_only(
            scenario,
            "changes per second",
            n as f64 / total.as_secs_f64(),
            "1/s",
        ),
        Figure {
            note: Some(format!(
                "Store::record_change without the engine, {probe} changes"
            )),
            ..Figure::ours_only(
                scenario,
                "p50, store transaction alone",
                percentile_us(&tx_lat, 50.0),
                "us",
            )
        },
        Figure::ours_only(
            scenario,
            "p99, store transaction alone",
            percentile_us(&tx_lat, 99.0),
            "us",
        ),
        Figure {
            note: Some("through the engine (a listener subscribed) / store alone".into()),
            ..Figure::ours_only(
                scenario,
                "p50 ratio, engine / store alone",
                percentile_us(&lat, 50.0) / percentile_us(&tx_lat, 50.0).max(f64::MIN_POSITIVE),
                "x",
            )
        },
        Figure::ours_only(
            scenario,
            "p99 ratio, engine / store alone",
            percentile_us(&lat, 99.0) / percentile_us(&tx_lat, 99.0).max(f64::MIN_POSITIVE),
            "x",
        ),
        Figure {
            note: Some(format!(
                "Store::counts with {queued} rows queued, run after every change"
            )),
            ..Figure::ours_only(
                scenario,
                "p50, queue count",
                percentile_us(&count_lat, 50.0),
                "us",
            )
        },
    ])
}

/// 7. Idle cost: engine running, queue empty, server online, for `idle` of real time.
pub async fn idle(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let lib = DemoLibrary::generated(1, 1, 10, 0);
    let fx = Fixture::start(lib, latency, Arc::new(SystemClock), true).await?;
    let running = Running::start(&fx.engine);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = fx.engine.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (w0, r0, p0) = (
        load(&stats.wakeups),
        load(&stats.requests),
        load(&stats.probes),
    );
    let served0 = fx.server.requests().len();
    let cpu0 = sys::cpu_time();
    let cs0 = sys::context_switches();
    tokio::time::sleep(sizes.idle).await;
    let cpu = sys::cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let cs = sys::context_switches()
        .zip(cs0)
        .map(|(b, a)| b.saturating_sub(a));
    let wakeups = load(&stats.wakeups) - w0;
    let requests = load(&stats.requests) - r0 + load(&stats.probes) - p0
        + (fx.server.requests().len() - served0) as u64;
    running.stop().await;
    let scenario = "7 idle cost";
    let secs = sizes.idle.as_secs_f64();
    let mut figures = vec![
        Figure {
            note: Some(format!("over {secs} s of real time")),
            ..Figure::ours_only(scenario, "engine wake-ups", wakeups as f64, "n")
        },
        Figure::ours_only(
            scenario,
            "requests (writes, probes, pulls)",
            requests as f64,
            "n",
        ),
    ];
    if let Some(cpu) = cpu {
        figures.push(Figure::ours_only(
            scenario,
            "CPU time, whole process",
            cpu.as_secs_f64() * 1000.0,
            "ms",
        ));
    }
    if let Some(cs) = cs {
        figures.push(Figure {
            note: Some("every thread, demo server and tokio runtime included".into()),
            ..Figure::ours_only(scenario, "context switches", cs as f64, "n")
        });
    }
    Ok(figures)
}

/// 8. Scale: start-up and `status` on a big library with many pending changes; a full pull.
pub async fn scale(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let (series, seasons, episodes, movies) = sizes.scale_library;
    let lib = DemoLibrary::generated(series, seasons, episodes, movies);
    let total = lib.len();
    let remote = lib.items();
    let dir = super::fixture::ScratchDir::new()?;
    let path = database_path(dir.path());
    let now = SystemClock.now();
    let fill_started = Instant::now();
    let account = {
        let mut store = Store::open(&path)?;
        let device_id = store.device_id()?;
        let account = store.upsert_account(
            &NewAccount {
                kind: ServerKind::Jellyfin,
                base_url: "http://127.0.0.1:9",
                server_id: "bench",
                server_name: "Bench",
                user_id: "bench",
                user_name: "bench",
                device_id: &device_id,
            },
            now,
        )?;
        for chunk in remote.chunks(1_000) {
            store.apply_remote_items(account, chunk, now)?;
        }
        let pending = remote
            .iter()
            .filter(|i| i.kind.is_playable())
            .take(sizes.scale_pending);
        for (i, item) in pending.enumerate() {
            store.record_change(
                account,
                &item.id,
                LocalChange::Position {
                    position_ms: 1_000 + i as i64,
                },
                now,
                0,
            )?;
        }
        account
    };
    let fill = fill_started.elapsed();
    drop(remote);
    drop(lib);

    let rss_before = sys::rss();
    let reset = sys::reset_peak_rss();
    let started = Instant::now();
    let store = Store::open(&path)?;
    let device_id = "bench".to_string();
    let client = JellyfinClient::new(
        "http://127.0.0.1:9",
        DeviceInfo::playmark(device_id),
        super::fixture::client_options(),
    )?;
    let engine = Engine::new(
        store,
        account,
        Arc::new(client),
        Arc::new(SystemClock),
        super::fixture::engine_config(),
    );
    engine.with_store(|s| s.recover_expired_leases(SystemClock.now()))?;
    let startup = started.elapsed();
    let started = Instant::now();
    let (counts, rows) = engine.with_store(|s| {
        Ok::<_, crate::store::StoreError>((s.counts(account)?, s.outbox(account)?))
    })?;
    let status = started.elapsed();
    if counts.total() != sizes.scale_pending || rows.len() != sizes.scale_pending {
        bail!(
            "scale: expected {} pending, found {}",
            sizes.scale_pending,
            counts.total()
        );
    }
    let peak = if reset { sys::peak_rss() } else { None };
    drop(engine);

    // A full pull, paged.
    let pull_lib = DemoLibrary::generated(0, 0, 0, sizes.pull_items);
    let fx = Fixture::start(pull_lib, latency, Arc::new(SystemClock), false).await?;
    let started = Instant::now();
    let stats = fx.engine.refresh(DEFAULT_PAGE_SIZE).await?;
    let pull = started.elapsed();
    let pages = fx.server.requests().len();

    let scenario = "8 scale";
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut figures = vec![
        Figure {
            note: Some(format!(
                "{total} items, {} pending; filling the database took {:.1} s",
                sizes.scale_pending,
                fill.as_secs_f64()
            )),
            ..Figure::ours_only(
                scenario,
                "engine start-up",
                startup.as_secs_f64() * 1000.0,
                "ms",
            )
        },
        Figure::ours_only(
            scenario,
            "first status answer (counts + every queued row)",
            status.as_secs_f64() * 1000.0,
            "ms",
        ),
    ];
    if let Some(peak) = peak {
        figures.push(Figure {
            note: rss_before.map(|b| {
                format!(
                    "RSS before start-up {:.1} MiB (whole benchmark process)",
                    mib(b)
                )
            }),
            ..Figure::ours_only(
                scenario,
                "peak RSS during start-up + status (whole process)",
                mib(peak),
                "MiB",
            )
        });
    }
    figures.push(Figure {
        note: Some(format!(
            "{} items, page size {DEFAULT_PAGE_SIZE}",
            stats.seen
        )),
        ..Figure::ours_only(scenario, "full pull, time", pull.as_secs_f64(), "s")
    });
    figures.push(Figure::ours_only(
        scenario,
        "full pull, requests",
        pages as f64,
        "n",
    ));
    Ok(figures)
}
