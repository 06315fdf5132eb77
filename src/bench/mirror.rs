//! Scenario 9, mirror (issue 21, "Measure"): a demo Jellyfin and a demo Plex (separate
//! servers) with the same generated library of `Sizes::mirror_items` items, both at the
//! run's latency. One person's play state differs on `Sizes::mirror_differ` pairs (half
//! watched on Jellyfin only, half a resume point on Plex only).
//!
//! - **Initial mirror**: one pass with `--first-pass furthest` (carries what is further): the
//!   requests each server saw against the minimum (one paged listing per server at the page
//!   size; one write per pair that differs), and its wall time.
//! - **Steady state**: a second pass with nothing changed: requests (every one a listing page;
//!   no write) and time.
//! - **Live**: [`crate::mirror::watch::watch`] running (the pull interval an hour): an item
//!   marked watched on Jellyfin ("another device"), noticed through Jellyfin's live socket,
//!   until Plex holds it watched; median and worst of `Sizes::mirror_live_samples`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{Figure, ScratchDir, Sizes};
use crate::backend::jellyfin::{DeviceInfo, JellyfinClient};
use crate::backend::plex::PlexClient;
use crate::backend::MediaServer;
use crate::clock::{Clock, SystemClock};
use crate::demo::{
    DemoConfig, DemoKind, DemoLibrary, DemoServer, DEMO_PASSWORD, DEMO_PLEX_TOKEN, DEMO_USER,
};
use crate::mirror::fold::{FirstPass, MirrorPolicy};
use crate::mirror::pass::{run_pass_with, MemberEngines, PassOptions};
use crate::mirror::watch::{watch, Trigger, WatchOptions};
use crate::model::{ServerKind, UserData};
use crate::store::{database_path, Account, NewAccount, Store};
use crate::sync::{Engine, EngineConfig, DEFAULT_PAGE_SIZE};

const S: &str = "9 mirror";

struct Engines(BTreeMap<i64, Arc<dyn MediaServer>>);

#[async_trait::async_trait]
impl MemberEngines for Engines {
    async fn engine(&self, db: &Path, account: &Account) -> Result<Engine, String> {
        let client = self
            .0
            .get(&account.id)
            .cloned()
            .ok_or_else(|| format!("no client for account {}", account.id))?;
        let store = Store::open(db).map_err(|e| e.to_string())?;
        Ok(Engine::new(
            store,
            account.id,
            client,
            Arc::new(SystemClock),
            EngineConfig::default(),
        ))
    }
}

fn requests(s: &DemoServer) -> (usize, usize) {
    let all = s.requests();
    let writes = all.iter().filter(|r| r.is_user_data_write()).count();
    (all.len() - writes, writes)
}

pub async fn mirror(sizes: &Sizes, latency: Duration) -> Result<Vec<Figure>> {
    let library = || DemoLibrary::sized(sizes.mirror_items).without_progress();
    let jf = DemoServer::start(DemoConfig {
        library: library(),
        ..DemoConfig::default()
    })
    .await
    .context("starting the demo Jellyfin")?;
    let plex = DemoServer::start(DemoConfig {
        kind: DemoKind::Plex,
        library: library(),
        ..DemoConfig::plex()
    })
    .await
    .context("starting the demo Plex")?;
    let items = |s: &DemoServer| -> Vec<String> {
        s.items()
            .into_iter()
            .filter(|i| i.kind.is_playable())
            .map(|i| i.id)
            .collect()
    };
    let (jf_items, plex_items) = (items(&jf), items(&plex));
    if jf_items.len() != plex_items.len() {
        bail!("the two libraries differ");
    }
    let playable = jf_items.len();
    // Spread the differing pairs over the library.
    let step = (playable / sizes.mirror_differ.max(1)).max(1);
    let mut differ = 0;
    for (n, k) in (0..playable).step_by(step).enumerate() {
        if differ == sizes.mirror_differ {
            break;
        }
        if n % 2 == 0 {
            jf.set_user_data(
                &jf_items[k],
                UserData {
                    played: true,
                    play_count: 1,
                    last_played: Some(SystemClock.now()),
                    ..UserData::default()
                },
            );
        } else {
            plex.set_user_data(
                &plex_items[k],
                UserData {
                    position_ms: 600_000,
                    ..UserData::default()
                },
            );
        }
        differ += 1;
    }

    // The mirror's data directory: both accounts, one group.
    let dir = ScratchDir::new()?;
    let db = database_path(dir.path());
    let mut store = Store::open(&db)?;
    let device_id = store.device_id()?;
    let mut clients: BTreeMap<i64, Arc<dyn MediaServer>> = BTreeMap::new();
    let options = super::fixture::client_options();
    let c = JellyfinClient::new(
        &jf.url(),
        DeviceInfo::playmark(device_id.clone()),
        options.clone(),
    )?;
    let session = c.authenticate(DEMO_USER, DEMO_PASSWORD).await?;
    let jf_account = store.upsert_account(
        &NewAccount {
            kind: ServerKind::Jellyfin,
            base_url: &jf.url(),
            server_id: &session.server_id,
            server_name: "Jellyfin",
            user_id: &session.user_id,
            user_name: DEMO_USER,
            device_id: &device_id,
        },
        SystemClock.now(),
    )?;
    clients.insert(
        jf_account,
        Arc::new(c.with_session(session.access_token, session.user_id)),
    );
    let p = PlexClient::new(&plex.url(), PlexClient::device(&device_id), options)?
        .with_token(DEMO_PLEX_TOKEN.to_string());
    let info = p.sign_in_check().await?;
    let plex_account = store.upsert_account(
        &NewAccount {
            kind: ServerKind::Plex,
            base_url: &plex.url(),
            server_id: &info.server_id,
            server_name: "Plex",
            user_id: "1",
            user_name: DEMO_USER,
            device_id: &device_id,
        },
        SystemClock.now(),
    )?;
    clients.insert(plex_account, Arc::new(p));
    let group = store.create_mirror_group(
        &[jf_account, plex_account],
        &MirrorPolicy::FurthestProgress.as_string(),
        &FirstPass::Furthest.as_string(),
        SystemClock.now(),
    )?;
    drop(store);
    let engines = Engines(clients);
    jf.set_latency(latency);
    plex.set_latency(latency);
    jf.clear_requests();
    plex.clear_requests();

    // Initial mirror.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = PassOptions {
        sync: true,
        ..PassOptions::default()
    };
    let t = Instant::now();
    let first = run_pass_with(&db, group, options, clock.clone(), &engines).await?;
    let first_s = t.elapsed().as_secs_f64();
    if !first.errors.is_empty() || first.undelivered > 0 {
        bail!(
            "initial pass: {:?}, {} undelivered",
            first.errors,
            first.undelivered
        );
    }
    let ((jr, jw), (pr, pw)) = (requests(&jf), requests(&plex));
    let pages = playable.div_ceil(DEFAULT_PAGE_SIZE as usize);
    let mut out = vec![
        Figure {
            minimum: Some(differ as f64),
            note: Some(format!(
                "{} items per server ({playable} playable), {differ} pairs differ; `--first-pass furthest`",
                sizes.mirror_items
            )),
            ..Figure::ours_only(S, "initial: writes", (jw + pw) as f64, "n")
        },
        Figure {
            minimum: Some((2 * pages) as f64),
            note: Some(format!(
                "minimum: one paged listing per server ({pages} pages of {DEFAULT_PAGE_SIZE}); \
                 ours also reads each written item before writing it (the send-time read)"
            )),
            ..Figure::ours_only(S, "initial: reads", (jr + pr) as f64, "n")
        },
        Figure::ours_only(S, "initial: wall time", first_s, "s"),
    ];
    let mismatched = jf_items
        .iter()
        .zip(&plex_items)
        .filter(|(j, p)| {
            let (a, b) = (
                jf.user_data(j).unwrap_or_default(),
                plex.user_data(p).unwrap_or_default(),
            );
            a.played != b.played || (!a.played && a.position_ms / 1000 != b.position_ms / 1000)
        })
        .count();
    // The pairs left are titles the pass did not match (ambiguous or unmatched: listed, never
    // written); anything more is a failure.
    if mismatched > 2 * first.ambiguous + first.unmatched {
        bail!(
            "{mismatched} pairs still differ after the initial mirror ({} ambiguous, {} unmatched)",
            first.ambiguous,
            first.unmatched
        );
    }
    let writable = differ - mismatched;
    out[0].minimum = Some(writable as f64);
    out[0].note = Some(format!(
        "{} items per server ({playable} playable; {} titles matched, {} ambiguous, {} unmatched); {differ} pairs differ, {mismatched} of them in titles not matched (listed, never written); `--first-pass furthest`",
        sizes.mirror_items, first.matched, first.ambiguous, first.unmatched
    ));

    // Steady state.
    jf.clear_requests();
    plex.clear_requests();
    let t = Instant::now();
    let quiet = run_pass_with(&db, group, options, clock.clone(), &engines).await?;
    let quiet_s = t.elapsed().as_secs_f64();
    let ((jr, jw), (pr, pw)) = (requests(&jf), requests(&plex));
    let kinds = {
        let mut k: BTreeMap<String, usize> = BTreeMap::new();
        for r in jf.requests().iter().chain(plex.requests().iter()) {
            *k.entry(format!("{} {}", r.method, r.path)).or_default() += 1;
        }
        k.iter()
            .map(|(p, n)| format!("{n}× `{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !quiet.writes.is_empty() || jw + pw > 0 {
        bail!("the quiet pass wrote {} items", quiet.writes.len());
    }
    out.push(Figure {
        minimum: Some((2 * pages) as f64),
        note: Some(format!("no write; the requests: {kinds}")),
        ..Figure::ours_only(S, "steady-state pass: requests", (jr + pr) as f64, "n")
    });
    out.push(Figure::ours_only(
        S,
        "steady-state pass: wall time",
        quiet_s,
        "s",
    ));

    // Live: Jellyfin → Plex through the socket.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Trigger>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let groups = [group];
    let watcher = watch(
        &db,
        &groups,
        WatchOptions {
            interval: Duration::from_secs(3600),
            ..WatchOptions::default()
        },
        clock.clone(),
        &engines,
        async {
            let _ = stop_rx.await;
        },
        move |trigger, _, _| {
            let _ = tx.send(trigger);
        },
    );
    let samples = sizes.mirror_live_samples;
    let measure = async {
        // The start pass, then the socket.
        match tokio::time::timeout(Duration::from_secs(600), rx.recv()).await {
            Ok(Some(_)) => {}
            _ => bail!("the watch loop did not run its first pass"),
        }
        let give_up = Instant::now() + Duration::from_secs(30);
        while jf.live_connections() == 0 {
            if Instant::now() > give_up {
                bail!("no live socket to the demo Jellyfin");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut latencies = Vec::new();
        let mut passes = 0usize;
        for n in 0..samples {
            while rx.try_recv().is_ok() {
                passes += 1;
            }
            let before = passes;
            let k = (n * 7919 + 1) % playable;
            let already = plex.user_data(&plex_items[k]).unwrap_or_default().played;
            if already {
                continue;
            }
            let t = Instant::now();
            jf.set_user_data(
                &jf_items[k],
                UserData {
                    played: true,
                    play_count: 1,
                    last_played: Some(SystemClock.now()),
                    ..UserData::default()
                },
            );
            let give_up = t + Duration::from_secs(300);
            while !plex.user_data(&plex_items[k]).unwrap_or_default().played {
                if Instant::now() > give_up {
                    bail!("a watched change did not cross within 300 s");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies.push(t.elapsed().as_secs_f64());
            // Let the pass that carried it finish before the next sample.
            while rx.try_recv().is_ok() {
                passes += 1;
            }
            if passes == before
                && tokio::time::timeout(Duration::from_secs(300), rx.recv())
                    .await
                    .is_err()
            {
                bail!("the pass that carried a live change did not end");
            }
        }
        Ok(latencies)
    };
    let (_, latencies) = tokio::join!(watcher, async {
        let r = measure.await;
        let _ = stop_tx.send(());
        r
    });
    let mut latencies = latencies?;
    if latencies.is_empty() {
        bail!("no live sample");
    }
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    let worst = latencies[latencies.len() - 1];
    out.push(Figure {
        note: Some(format!(
            "marked watched on Jellyfin until Plex holds it, through the live socket (pull interval 1 h); median of {} samples; each live change runs a full pass (one listing per server)",
            latencies.len()
        )),
        ..Figure::ours_only(S, "live Jellyfin → Plex: median", median, "s")
    });
    out.push(Figure::ours_only(
        S,
        "live Jellyfin → Plex: worst",
        worst,
        "s",
    ));
    jf.shutdown().await;
    plex.shutdown().await;
    Ok(out)
}
