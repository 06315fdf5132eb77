//! Real playback, measured (docs/PERFORMANCE.md, "Real playback"): a demo server in this
//! process (its request log counts every call), a fresh data directory signed in with the real
//! `playmark` binary, then `playmark play` of a demo movie through a real mpv
//! (`--vo=null --ao=null --speed=S`) for the last `M` minutes of the movie. CPU time is read
//! from `/proc/<pid>/stat` (`utime` + `stime`: the process's own threads, never its children)
//! every 20 ms until the process ends, for `playmark` and, separately, for its mpv child
//! (`/usr/bin/time` would add mpv's CPU to Playmark's: `wait4` counts reaped children).
//!
//! Usage (after `cargo build`): `cargo run --example playback_measure -- MINUTES SPEED [FROM_PCT]`
//! e.g. `-- 60 20` (the last hour of the longest movie in 3 minutes) or `-- 10 1 20` (ten
//! minutes at real speed from 20 % of the movie: mpv's `--length` ends the play, which mpv
//! reports as the end of the file, so the last checkpoint is "watched").
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use playmark::demo::{DemoConfig, DemoLibrary, DemoServer, DEMO_PASSWORD};
use playmark::model::ItemKind;

fn playmark_bin() -> PathBuf {
    // target/<profile>/examples/playback_measure → target/<profile>/playmark
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("playmark")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let minutes: i64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let speed: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let from_pct: Option<i64> = args.get(2).and_then(|a| a.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(DemoServer::start(DemoConfig {
            library: DemoLibrary::seeded().without_progress(),
            ..DemoConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = playmark_bin();
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("PLAYMARK_PASSWORD", DEMO_PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    run(&[
        "login",
        "jellyfin",
        "--server",
        &server.url(),
        "--user",
        "demo",
    ]);
    run(&["refresh"]);
    let movie = server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Movie)
        .filter(|i| i.runtime_ms.unwrap_or(0) >= minutes * 60_000)
        .max_by_key(|i| i.runtime_ms)
        .expect("a movie that long");
    let runtime = movie.runtime_ms.unwrap();
    let start_s = match from_pct {
        Some(pct) => runtime * pct / 100 / 1000,
        None => (runtime - minutes * 60_000) / 1000,
    };
    let length = from_pct.map(|_| format!("--length={}", minutes * 60));
    server.clear_requests();
    let started = std::time::Instant::now();
    let child = Command::new(&bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["play", &movie.id, "--start", &start_s.to_string(), "--"])
        .args([
            "--vo=null",
            "--ao=null",
            &format!("--speed={speed}"),
            "--really-quiet",
        ])
        .args(length)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut own = 0u64;
    let mut mpv: Option<(u32, u64)> = None;
    while let Some(t) = cpu_ticks(pid) {
        own = t;
        if mpv.is_none() {
            mpv = child_pid(pid).map(|p| (p, 0));
        }
        if let Some((p, ticks)) = mpv.as_mut() {
            if let Some(t) = cpu_ticks(*p) {
                *ticks = t;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let hz = clock_ticks_per_second();
    let requests = server.requests();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        let path = if r.path.starts_with("/Videos/") {
            "/Videos/{id}/stream".to_string()
        } else if r.path.starts_with("/UserItems/") {
            "/UserItems/{id}/UserData".to_string()
        } else {
            r.path.clone()
        };
        *by_kind.entry(format!("{} {path}", r.method)).or_default() += 1;
    }
    let media_hours = minutes as f64 / 60.0;
    let media_requests = requests
        .iter()
        .filter(|r| r.path.starts_with("/Videos/"))
        .count();
    let calls = requests.len() - media_requests;
    println!(
        "movie {} ({} min), played {minutes} min from {} at --speed={speed}",
        movie.name,
        runtime / 60_000,
        playmark::player::position::format(start_s * 1000)
    );
    println!("{}", stdout.trim());
    println!("wall {:.1} s", wall.as_secs_f64());
    println!(
        "playmark CPU (utime+stime, own threads): {:.2} s = {:.2} s per hour of media",
        own as f64 / hz,
        own as f64 / hz / media_hours
    );
    if let Some((_, ticks)) = mpv {
        println!(
            "mpv CPU (for comparison, not Playmark's): {:.2} s",
            ticks as f64 / hz
        );
    }
    println!(
        "server calls (media stream requests excluded): {calls} = {:.0} per hour of media",
        calls as f64 / media_hours
    );
    println!("media stream requests (mpv): {media_requests}");
    for (k, n) in by_kind {
        println!("  {n:5}  {k}");
    }
}

/// `utime + stime` of a live process, in clock ticks (`None` once it is gone or a zombie).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // Fields 14 and 15 of the whole line are the 12th and 13th after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The first child process of `pid` (mpv).
fn child_pid(pid: u32) -> Option<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().find_map(|t| {
        std::fs::read_to_string(t.path().join("children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
