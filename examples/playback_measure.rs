//! Real playback, measured (docs/PERFORMANCE.md, "Real playback"): a demo server in this
//! process (its request log counts every call), a fresh data directory signed in with the real
//! `playmark` binary, then `playmark play` of a demo movie through a real mpv
//! (`--vo=null --ao=null --speed=S`) for the last `M` minutes of the movie, under
//! `/usr/bin/time` for Playmark's own CPU time (mpv is a child of `playmark`, but `time`
//! reports only the process it waited for and the children it reaped: mpv is not reaped by
//! `time`, see the note printed).
//!
//! Usage (after `cargo build`): `cargo run --example playback_measure -- MINUTES SPEED`
//! e.g. `-- 60 20` (an hour of media in 3 minutes) or `-- 10 1` (ten minutes at real speed).
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
    let start_s = (runtime - minutes * 60_000) / 1000;
    server.clear_requests();
    let started = std::time::Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "TIME user=%U sys=%S wall=%e maxrss_kb=%M"])
        .arg(&bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["play", &movie.id, "--start", &start_s.to_string(), "--"])
        .args([
            "--vo=null",
            "--ao=null",
            &format!("--speed={speed}"),
            "--really-quiet",
        ])
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
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
        "movie {} ({} min), played the last {minutes} min at --speed={speed}",
        movie.name,
        runtime / 60_000
    );
    println!("{}", stdout.trim());
    for line in stderr.lines().filter(|l| l.starts_with("TIME")) {
        println!("{line}");
    }
    println!("wall {:.1} s", wall.as_secs_f64());
    println!(
        "server calls (media stream requests excluded): {calls} = {:.0} per hour of media",
        calls as f64 / media_hours
    );
    println!("media stream requests (mpv): {media_requests}");
    for (k, n) in by_kind {
        println!("  {n:5}  {k}");
    }
    println!("(CPU is playmark's own: mpv is its child and is not reaped by `time`.)");
}
