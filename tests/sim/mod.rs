//! A seeded, deterministic simulation of several devices syncing with one server (issue 13).
//!
//! [`world`] builds the world of one history (a real demo server on loopback, K real engines
//! with their own SQLite files and skewed fake clocks) and executes steps; [`history`]
//! generates the steps from a seed; [`checker`] states what must hold (its module doc defines
//! "superseded" per policy and lists the invariants); this module runs histories, hashes them
//! and shrinks failing ones to a minimal history.

pub mod checker;
pub mod history;
pub mod mirror;
pub mod world;

use std::time::{Duration, Instant};

use playmark::model::ServerKind;
use playmark::sync::Policy;

use history::{Op, Params, Policies};
use world::{Stats, World};

/// The outcome of one history.
pub struct Report {
    pub log: Vec<String>,
    pub violations: Vec<String>,
    pub stats: Stats,
    pub hash: u64,
}

/// FNV-1a, 64 bit, over the history text: stable across runs and Rust versions.
pub fn hash(lines: &[String]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for line in lines {
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Run one history to its end, heal, converge and check.
pub async fn run(params: &Params, ops: &[Op]) -> Report {
    let mut w = World::new(params.clone()).await;
    for (n, op) in ops.iter().enumerate() {
        w.step(n, op).await;
    }
    w.converge().await;
    let end = checker::Ending::of(&w);
    let violations = checker::check(&w, &end);
    w.stats.violations = violations.len() as u64;
    let hash = hash(&w.log);
    Report {
        log: std::mem::take(&mut w.log),
        violations,
        stats: w.stats.clone(),
        hash,
    }
}

/// Whether `PLAYMARK_SIM_WRITE_FAULTS=1` asks for the write-targeted fault mix
/// ([`Params::write_faults`]). Off by default, so the default histories (and their hashes)
/// stay as they were.
pub fn write_faults_on() -> bool {
    std::env::var("PLAYMARK_SIM_WRITE_FAULTS").is_ok_and(|v| v.trim() == "1")
}

/// Whether `PLAYMARK_SIM_LIVE_AS_SENT=1` asks for delayed live messages merged as they say it
/// ([`Params::live_as_sent`]).
pub fn live_as_sent_on() -> bool {
    std::env::var("PLAYMARK_SIM_LIVE_AS_SENT").is_ok_and(|v| v.trim() == "1")
}

/// What a seed runs: the server kind and whether the policies are mixed follow from the seed
/// (even seeds Jellyfin, odd Plex; every fifth pair mixed), so the seed alone replays it. The
/// write-targeted fault mix follows `PLAYMARK_SIM_WRITE_FAULTS` ([`write_faults_on`]).
pub fn plan(seed: u64, read_before_write: bool, policy: Option<Policy>) -> (Params, Vec<Op>) {
    plan_with(seed, read_before_write, policy, write_faults_on())
}

/// [`plan`] with the write-targeted fault mix on or off.
pub fn plan_with(
    seed: u64,
    read_before_write: bool,
    policy: Option<Policy>,
    write_faults: bool,
) -> (Params, Vec<Op>) {
    let kind = if seed.is_multiple_of(2) {
        ServerKind::Jellyfin
    } else {
        ServerKind::Plex
    };
    let mixed = policy.is_none() && seed % 10 >= 8;
    let (mut params, ops) = history::generate(seed, kind, mixed, read_before_write, write_faults);
    if let Some(p) = policy {
        params.policies = Policies::One(p);
    }
    params.live_as_sent = live_as_sent_on();
    (params, ops)
}

/// The command that replays a seed.
pub fn replay_command(params: &Params) -> String {
    let mut env = format!("PLAYMARK_SIM_SEED={}", params.seed);
    if !params.read_before_write {
        env.push_str(" PLAYMARK_SIM_READ_BEFORE_WRITE=0");
    }
    if let Policies::One(p) = &params.policies {
        env.push_str(&format!(" PLAYMARK_SIM_POLICY={p}"));
    }
    if params.write_faults {
        env.push_str(" PLAYMARK_SIM_WRITE_FAULTS=1");
    }
    if params.live_as_sent {
        env.push_str(" PLAYMARK_SIM_LIVE_AS_SENT=1");
    }
    format!("{env} cargo test --test simulation -- --nocapture")
}

/// Shrink a failing history (delta debugging over its steps) until no single chunk can be
/// removed and it still fails, or `budget` is spent. Returns the smallest failing steps found
/// and their report.
pub async fn shrink(
    params: &Params,
    ops: &[Op],
    first: Report,
    budget: Duration,
) -> (Vec<Op>, Report, usize) {
    let started = Instant::now();
    let mut best = ops.to_vec();
    let mut report = first;
    let mut runs = 0;
    let mut n = 2usize;
    while best.len() >= 2 && started.elapsed() < budget {
        let chunk = best.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < best.len() && started.elapsed() < budget {
            let end = (start + chunk).min(best.len());
            let candidate: Vec<Op> = best[..start].iter().chain(&best[end..]).copied().collect();
            runs += 1;
            let r = run(params, &candidate).await;
            if !r.violations.is_empty() {
                best = candidate;
                report = r;
                reduced = true;
                n = n.saturating_sub(1).max(2);
                break;
            }
            start = end;
        }
        if !reduced {
            if chunk <= 1 {
                break;
            }
            n = (n * 2).min(best.len());
        }
    }
    (best, report, runs)
}

/// Print a failing history, shrunk, with the command that replays it.
pub async fn explain(params: &Params, ops: &[Op], report: Report, budget: Duration) -> String {
    let original = ops.len();
    let violations = report.violations.clone();
    let (min, min_report, runs) = shrink(params, ops, report, budget).await;
    let mut out = String::new();
    out.push_str(&format!(
        "\nSIMULATION FAILED: {}\nviolations ({}):\n",
        params.describe(),
        violations.len()
    ));
    for v in &violations {
        out.push_str(&format!("  {v}\n"));
    }
    out.push_str(&format!(
        "\nminimal history ({} of {original} steps, {runs} shrinking runs), violations:\n",
        min.len()
    ));
    for v in &min_report.violations {
        out.push_str(&format!("  {v}\n"));
    }
    out.push_str("steps:\n");
    for (i, op) in min.iter().enumerate() {
        out.push_str(&format!("  {i:>3} {op}\n"));
    }
    out.push_str("its log:\n");
    for line in &min_report.log {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!("\nreplay: {}\n", replay_command(params)));
    out
}
