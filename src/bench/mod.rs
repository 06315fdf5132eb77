//! The `playmark-bench` harness: scenarios run twice in one process — with Playmark's engine and
//! with a naive baseline (one fire-and-forget request per local change, in order, no coalescing,
//! no retries) — against the demo server on loopback with a configurable latency.
//!
//! Figures are printed as a table or JSON; `docs/PERFORMANCE.md` holds a measured run and how
//! to read each figure. Benchmarks never assert timings; the smoke run (`--smoke`) only keeps
//! the code from rotting (and checks that every change reached the server).

mod fixture;
mod mirror;
mod scenarios;
pub mod sys;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use fixture::{Fixture, Naive, ScratchDir};
pub use scenarios::playback_script;

/// A scenario of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// 1. An hour of position reports at 1 Hz on one item, with pauses and seeks.
    Playback,
    /// 2. A 24-episode season marked watched: bulk, then one at a time.
    Binge,
    /// 3. Watched/unwatched clicked 10 times in 2 s on 50 items.
    Indecision,
    /// 4. 5,000 changes over 500 items offline, then reconnect.
    Offline,
    /// 5. Drain throughput of 10,000 pending items.
    Drain,
    /// 6. Latency of recording a local change durably.
    Enqueue,
    /// 7. Wake-ups and CPU of an idle engine.
    Idle,
    /// 8. Start-up, status and a full pull on a big library.
    Scale,
    /// 9. Mirror a Jellyfin and a Plex: initial pass, steady-state pass, live latency.
    Mirror,
}

impl Scenario {
    /// Every scenario, in order.
    pub const ALL: [Scenario; 9] = [
        Scenario::Playback,
        Scenario::Binge,
        Scenario::Indecision,
        Scenario::Offline,
        Scenario::Drain,
        Scenario::Enqueue,
        Scenario::Idle,
        Scenario::Scale,
        Scenario::Mirror,
    ];
}

/// Problem sizes (full run or smoke run).
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Seconds of playback (one report a second).
    pub playback_secs: i64,
    /// Items clicked in the indecision scenario.
    pub indecision_items: usize,
    /// Items changed while offline.
    pub offline_items: usize,
    /// Changes per item while offline.
    pub offline_changes_per_item: usize,
    /// Pending items drained.
    pub drain_items: usize,
    /// Items the baseline sends to measure its (constant) sequential rate.
    pub drain_baseline_sample: usize,
    /// Changes recorded in the enqueue scenario …
    pub enqueue_changes: usize,
    /// … spread over this many items.
    pub enqueue_items: usize,
    /// Idle time watched (seconds in JSON).
    #[serde(serialize_with = "as_secs")]
    pub idle: Duration,
    /// (series, seasons per series, episodes per season, movies) of the big library.
    pub scale_library: (usize, usize, usize, usize),
    /// Pending changes in the big library.
    pub scale_pending: usize,
    /// Items in the paged full pull.
    pub pull_items: usize,
    /// Items of each mirrored library (`--library-size`).
    pub mirror_items: usize,
    /// Pairs whose state differs before the initial mirror.
    pub mirror_differ: usize,
    /// Watched changes timed from Jellyfin to Plex through the live socket.
    pub mirror_live_samples: usize,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Sizes {
    /// The sizes of the issue.
    pub fn full() -> Sizes {
        Sizes {
            playback_secs: 3_600,
            indecision_items: 50,
            offline_items: 500,
            offline_changes_per_item: 10,
            drain_items: 10_000,
            drain_baseline_sample: 2_000,
            enqueue_changes: 100_000,
            enqueue_items: 10_000,
            idle: Duration::from_secs(60),
            // 400 + 2,000 + 96,000 + 1,600 = 100,000 items.
            scale_library: (400, 5, 48, 1_600),
            scale_pending: 10_000,
            pull_items: 10_000,
            mirror_items: 10_000,
            mirror_differ: 1_000,
            mirror_live_samples: 9,
        }
    }

    /// Tiny sizes for CI: seconds, not minutes.
    pub fn smoke() -> Sizes {
        Sizes {
            playback_secs: 120,
            indecision_items: 10,
            offline_items: 20,
            offline_changes_per_item: 10,
            drain_items: 100,
            drain_baseline_sample: 50,
            enqueue_changes: 1_000,
            enqueue_items: 100,
            idle: Duration::from_secs(1),
            scale_library: (5, 2, 10, 10),
            scale_pending: 50,
            pull_items: 450,
            mirror_items: 300,
            mirror_differ: 20,
            mirror_live_samples: 2,
        }
    }
}

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// Problem sizes.
    pub sizes: Sizes,
    /// Latency the server adds to every response.
    pub latency: Duration,
    /// Only these scenarios (all when empty).
    pub only: Vec<Scenario>,
}

/// One measured figure: ours, the baseline's (when the baseline does that at all) and the
/// least possible (for call counts).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Scenario label, e.g. "1 playback hour".
    pub scenario: String,
    /// What is measured.
    pub name: String,
    /// Unit ("n" for counts).
    pub unit: String,
    /// Playmark's engine.
    pub ours: f64,
    /// The naive baseline, when it applies.
    pub baseline: Option<f64>,
    /// The least possible, for call counts.
    pub minimum: Option<f64>,
    /// How to read it.
    pub note: Option<String>,
}

impl Figure {
    /// A call count with baseline and minimum.
    pub fn calls(
        scenario: &str,
        name: &str,
        ours: usize,
        baseline: usize,
        minimum: usize,
    ) -> Figure {
        Figure {
            minimum: Some(minimum as f64),
            ..Figure::both(scenario, name, ours as f64, baseline as f64, "n")
        }
    }

    /// A figure with a baseline.
    pub fn both(scenario: &str, name: &str, ours: f64, baseline: f64, unit: &str) -> Figure {
        Figure {
            baseline: Some(baseline),
            ..Figure::ours_only(scenario, name, ours, unit)
        }
    }

    /// A figure the baseline has no counterpart for.
    pub fn ours_only(scenario: &str, name: &str, ours: f64, unit: &str) -> Figure {
        Figure {
            scenario: scenario.to_string(),
            name: name.to_string(),
            unit: unit.to_string(),
            ours,
            baseline: None,
            minimum: None,
            note: None,
        }
    }

    /// ours / baseline.
    pub fn vs_baseline(&self) -> Option<f64> {
        self.baseline.filter(|b| *b > 0.0).map(|b| self.ours / b)
    }

    /// ours / minimum.
    pub fn vs_minimum(&self) -> Option<f64> {
        self.minimum.filter(|m| *m > 0.0).map(|m| self.ours / m)
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Server latency per request, ms.
    pub latency_ms: u64,
    /// Sizes used.
    pub sizes: Sizes,
    /// Every figure, scenario by scenario.
    pub figures: Vec<Figure>,
    /// Wall time of the whole run, s.
    pub elapsed_s: f64,
}

/// Run the selected scenarios in order.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut figures = Vec::new();
    let (s, l) = (&options.sizes, options.latency);
    for scenario in Scenario::ALL {
        if !options.only.is_empty() && !options.only.contains(&scenario) {
            continue;
        }
        let t = Instant::now();
        let result = match scenario {
            Scenario::Playback => scenarios::playback(s, l).await,
            Scenario::Binge => scenarios::binge(s, l).await,
            Scenario::Indecision => scenarios::indecision(s, l).await,
            Scenario::Offline => scenarios::offline(s, l).await,
            Scenario::Drain => scenarios::drain(s, l).await,
            Scenario::Enqueue => scenarios::enqueue(s, l).await,
            Scenario::Idle => scenarios::idle(s, l).await,
            Scenario::Scale => scenarios::scale(s, l).await,
            Scenario::Mirror => mirror::mirror(s, l).await,
        };
        let found = result.map_err(|e| e.context(format!("scenario {scenario:?}")))?;
        tracing::info!(?scenario, secs = t.elapsed().as_secs_f64(), "scenario done");
        figures.extend(found);
    }
    Ok(Report {
        latency_ms: options.latency.as_millis() as u64,
        sizes: options.sizes.clone(),
        figures,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn number(v: f64) -> String {
    if (v == v.trunc() && v.abs() < 1e9) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 0.1 => format!("{r:.2}x"),
        Some(r) => format!("{r:.4}x"),
        None => "-".to_string(),
    }
}

impl Report {
    /// The table, as Markdown (so it pastes into `docs/PERFORMANCE.md` as is), then the notes.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| scenario | figure | unit | ours | baseline | minimum | ours/baseline | ours/minimum |\n\
             | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n",
        );
        let mut notes = Vec::new();
        for f in &self.figures {
            let opt = |v: Option<f64>| v.map(number).unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                f.scenario,
                f.name,
                f.unit,
                number(f.ours),
                opt(f.baseline),
                opt(f.minimum),
                ratio(f.vs_baseline()),
                ratio(f.vs_minimum()),
            ));
            if let Some(n) = &f.note {
                notes.push(format!("- {} / {}: {n}", f.scenario, f.name));
            }
        }
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
        out.push_str(&format!(
            "\nServer latency {} ms per request; whole run {:.1} s.\n",
            self.latency_ms, self.elapsed_s
        ));
        out
    }
}
