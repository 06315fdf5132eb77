//! Mirroring (issue 21) through the real `playmark` binary, against a demo Jellyfin and a demo
//! Plex server on loopback (separate servers: the demo Plex shares one play state between its
//! tokens). A change made "on another device" is the demo server's own `set_user_data`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::bin::{expect_code, login, login_plex, run, text, NO_BUS};

use playmark::demo::{DemoServer, DEMO_PASSWORD, DEMO_PLEX_TOKEN};
use playmark::model::{ItemKind, ServerKind, UserData};

const JF: &str = "1";
const PLEX: &str = "2";

struct Pair {
    jf: DemoServer,
    plex: DemoServer,
    _dir: tempfile::TempDir,
    data: PathBuf,
}

/// Both servers on the clean library, both accounts signed in (Jellyfin = 1, Plex = 2), one
/// group with `extra` options, and its first pass run (the clean libraries agree).
async fn pair(extra: &[&str]) -> Pair {
    let jf = common::clean_server().await;
    let plex = DemoServer::start_plex(common::clean_config())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &jf.url(), DEMO_PASSWORD), 0);
    expect_code(
        &login_plex(&data, &plex.url(), &plex.url(), DEMO_PLEX_TOKEN, &[]),
        0,
    );
    let accounts: serde_json::Value =
        serde_json::from_slice(&run(&data, &["accounts", "--json"], None).stdout).unwrap();
    assert_eq!(accounts[0]["id"], 1);
    assert_eq!(accounts[0]["kind"], "jellyfin");
    assert_eq!(accounts[1]["kind"], "plex");
    let mut args = vec!["mirror", "add", JF, PLEX];
    args.extend_from_slice(extra);
    expect_code(&run(&data, &args, None), 0);
    let p = Pair {
        jf,
        plex,
        _dir: dir,
        data,
    };
    let first = p.mirror(&["run"], 0);
    assert!(first.contains("Nothing to write"), "{first}");
    p
}

impl Pair {
    fn mirror(&self, args: &[&str], code: i32) -> String {
        let mut all = vec!["mirror"];
        all.extend_from_slice(args);
        expect_code(&run(&self.data, &all, None), code)
    }

    fn status(&self) -> serde_json::Value {
        let o = run(&self.data, &["mirror", "status", "--json"], None);
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&o)))[0]
            .clone()
    }

    /// The id of an episode (series, season, episode) on `server`.
    fn episode(server: &DemoServer, series: &str, s: i64, e: i64) -> String {
        common::episode_id(server, series, s, e)
    }

    /// The same episode on both servers: (Jellyfin id, Plex id).
    fn both(&self, series: &str, s: i64, e: i64) -> (String, String) {
        (
            Pair::episode(&self.jf, series, s, e),
            Pair::episode(&self.plex, series, s, e),
        )
    }

    fn writes(server: &DemoServer, kind: ServerKind) -> usize {
        server
            .requests()
            .iter()
            .filter(|r| common::is_write(kind, r))
            .filter(|r| !r.path.starts_with("/Users/AuthenticateByName"))
            .count()
    }

    fn all_writes(&self) -> (usize, usize) {
        (
            Pair::writes(&self.jf, ServerKind::Jellyfin),
            Pair::writes(&self.plex, ServerKind::Plex),
        )
    }
}

use common::watched;

fn at(s: i64) -> UserData {
    UserData {
        position_ms: s * 1000,
        ..UserData::default()
    }
}

/// Watched on Jellyfin → watched on Plex; then unwatched on Plex → unwatched on Jellyfin (the
/// existing tools' most-reported failure); a pass with nothing changed writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_crosses_and_unwatched_comes_back() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Paper Cities", 1, 3);
    p.jf.set_user_data(&j, watched());
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("not watched → watched"), "{out}");
    let on_plex = p.plex.user_data(&x).unwrap();
    assert!(on_plex.played, "{on_plex:?}");
    assert_eq!(on_plex.play_count, 1, "one view, the count is not copied");

    p.plex.set_user_data(&x, UserData::default());
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("watched → not watched"), "{out}");
    assert!(
        !p.jf.user_data(&j).unwrap().played,
        "unwatched crossed back"
    );

    let before = p.all_writes();
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert_eq!(p.all_writes(), before, "a quiet pass writes nothing");
    assert!(p.plex.user_data(&x).map(|u| !u.played).unwrap());
}

/// A resume point moved back on Jellyfin moves back on Plex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_back_crosses() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Orbital Kitchen", 2, 2);
    p.jf.set_user_data(&j, at(1200));
    p.mirror(&["run"], 0);
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 1_200_000);
    p.jf.set_user_data(&j, at(300));
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("20:00 → 5:00"), "{out}");
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 300_000);
}

/// The mirror's own write to Plex, queued by one pass and delivered by a later one (queued
/// with `--no-sync` here; in the simulation a write that settled only after the pass), is that
/// side's base from then on: when Plex then goes back to what it held before the write (a
/// restart), that is a change and it crosses to Jellyfin; it is not mistaken for Plex lagging
/// behind and overwritten (mirror simulation, seed 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_back_to_the_value_before_our_write_is_a_change() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Orbital Kitchen", 2, 4);
    p.jf.set_user_data(&j, at(900));
    p.mirror(&["run", "--no-sync"], 0);
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 0);
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 900_000);
    p.plex.set_user_data(&x, UserData::default());
    let out = p.mirror(&["run"], 0);
    assert_eq!(
        p.plex.user_data(&x).unwrap().position_ms,
        0,
        "Plex's restart was overwritten: {out}"
    );
    assert_eq!(p.jf.user_data(&j).unwrap().position_ms, 0, "{out}");
}

/// Both sides changed: furthest-progress keeps the further on both, and says what it did not
/// keep; a group preferring Jellyfin keeps Jellyfin's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_changed_the_policy_decides_on_both() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Orbital Kitchen", 2, 3);
    p.jf.set_user_data(&j, at(720));
    p.plex.set_user_data(&x, at(1200));
    p.mirror(&["run"], 0);
    assert_eq!(p.jf.user_data(&j).unwrap().position_ms, 1_200_000);
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 1_200_000);
    let status = p.status();
    let note = status["not_kept"][0]["summary"].as_str().unwrap();
    assert!(
        note.starts_with("Kept Plex Media Server's 20:00 over"),
        "{note}"
    );
    assert!(note.ends_with("'s 12:00"), "{note}");

    let q = pair(&["--prefer", JF]).await;
    let (j, x) = q.both("Orbital Kitchen", 2, 3);
    q.jf.set_user_data(&j, at(720));
    q.plex.set_user_data(&x, at(1200));
    q.mirror(&["run"], 0);
    assert_eq!(q.jf.user_data(&j).unwrap().position_ms, 720_000);
    assert_eq!(q.plex.user_data(&x).unwrap().position_ms, 720_000);
}

/// Plex down for the pass: the change waits in Plex's queue (exit 3) and is delivered by the
/// next pass once Plex is back, as one view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_for_the_pass_catches_up_later_with_no_duplicate_view() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Paper Cities", 1, 4);
    p.jf.set_user_data(&j, watched());
    p.plex.set_offline(true);
    let out = p.mirror(&["run"], 3);
    assert!(out.contains("was not read"), "{out}");
    assert!(out.contains("1 change still queued"), "{out}");
    p.plex.set_offline(false);
    assert!(!p.plex.user_data(&x).unwrap().played);
    p.mirror(&["run"], 0);
    let on_plex = p.plex.user_data(&x).unwrap();
    assert!(on_plex.played);
    assert_eq!(on_plex.play_count, 1);
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert_eq!(
        p.plex.user_data(&x).unwrap().play_count,
        1,
        "no second view"
    );
    assert_eq!(p.status()["pending"], 0);
}

/// An episode only Plex has is listed as unmatched; nothing is written for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_episode_on_one_side_only_is_unmatched_and_nothing_is_written() {
    let p = pair(&[]).await;
    let season = p
        .plex
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Season && i.series_name.as_deref() == Some("Paper Cities"))
        .unwrap()
        .id;
    let new = p
        .plex
        .add_episode(&season, "Only Here", 1_800_000, watched())
        .unwrap();
    let before = p.all_writes();
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert_eq!(p.all_writes(), before);
    let status = p.status();
    let listed = status["health"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["kind"] == "unmatched" && h["items"][0]["item_id"] == new.as_str());
    assert!(listed, "{status}");
}

/// Two Plex items carry the same ids (the demo Plex's Paper Cities S2E8 and S2E9): the title
/// is ambiguous, listed with its reason, and neither is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_items_with_the_same_ids_are_ambiguous_and_nothing_is_written() {
    let p = pair(&[]).await;
    let (j, x8) = p.both("Paper Cities", 2, 8);
    let x9 = Pair::episode(&p.plex, "Paper Cities", 2, 9);
    p.jf.set_user_data(&j, watched());
    let before = p.all_writes();
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert_eq!(p.all_writes(), before);
    assert!(!p.plex.user_data(&x8).unwrap().played);
    assert!(!p.plex.user_data(&x9).unwrap().played);
    let status = p.status();
    let entry = status["health"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "ambiguous" && h["items"].as_array().unwrap().len() == 3)
        .cloned()
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        entry["reason"].as_str().unwrap().contains("same ids"),
        "{entry}"
    );
}

/// `--dry-run` prints every write and writes nothing: no request, no queued change, no stored
/// state; the real run then makes exactly those writes. A first pass whose sides differ writes
/// nothing under agree-only, and `--first-pass from ACCOUNT` takes that side's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_first_pass_modes() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Paper Cities", 1, 5);
    p.jf.set_user_data(&j, watched());
    let before = p.all_writes();
    let out = p.mirror(&["run", "--dry-run"], 0);
    assert!(out.contains("Would write"), "{out}");
    assert!(out.contains("Paper Cities S1E5"), "{out}");
    assert_eq!(p.all_writes(), before);
    let queued = run(&p.data, &["--account", PLEX, "status", "--json"], None);
    let queued: serde_json::Value = serde_json::from_slice(&queued.stdout).unwrap();
    assert_eq!(queued["counts"]["pending"], 0, "{queued}");
    assert!(!p.plex.user_data(&x).unwrap().played);
    p.mirror(&["run"], 0);
    assert!(p.plex.user_data(&x).unwrap().played);

    // A second group over the same accounts starts with no agreed state: the sides differ on
    // one title (set now), so agree-only writes nothing there.
    let (j2, x2) = p.both("Paper Cities", 1, 6);
    p.jf.set_user_data(&j2, watched());
    expect_code(&run(&p.data, &["mirror", "remove", "1"], None), 0);
    expect_code(&run(&p.data, &["mirror", "add", JF, PLEX], None), 0);
    let out = p.mirror(&["run"], 0);
    assert!(out.contains("Nothing to write"), "{out}");
    assert!(!p.plex.user_data(&x2).unwrap().played);
    let status = p.status();
    assert_eq!(status["waiting"], 1, "{status}");
    let out = p.mirror(&["run", "--first-pass", "from", PLEX], 0);
    assert!(out.contains("watched → not watched"), "{out}");
    assert!(
        !p.jf.user_data(&j2).unwrap().played,
        "from Plex: unwatched on Jellyfin"
    );
}

/// `playmark mirror watch`: a watched change on Jellyfin, reported by its live socket, crosses
/// to Plex within seconds (the pull interval is an hour here, so only the socket can have
/// triggered the pass); Ctrl-C ends it with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_passes_on_a_live_change_and_stops_on_ctrl_c() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let p = pair(&[]).await;
    let (j, x) = p.both("Paper Cities", 1, 5);
    let mut child = Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(&p.data)
        .args(["mirror", "watch", "--interval", "3600"])
        .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
        .env_remove("PLAYMARK_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_line = |want: &str, limit: Duration| {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(want);
                seen.push(l);
                if hit {
                    return true;
                }
            }
        }
        false
    };
    let kill = |child: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
    };
    if !wait_line("Nothing to write", Duration::from_secs(30)) {
        kill(&mut child);
        panic!("no first pass: {seen:?}");
    }
    let until = Instant::now() + Duration::from_secs(10);
    while p.jf.live_connections() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(p.jf.live_connections() > 0, "no live socket: {seen:?}");
    let started = Instant::now();
    p.jf.set_user_data(&j, watched());
    let until = started + Duration::from_secs(15);
    while !p.plex.user_data(&x).unwrap().played && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let crossed = p.plex.user_data(&x).unwrap().played;
    let latency = started.elapsed();
    kill(&mut child);
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > until {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(l);
    }
    let out = seen.join("\n");
    assert!(crossed, "watched did not cross within 15 s: {out}");
    assert!(latency < Duration::from_secs(10), "{latency:?}: {out}");
    assert!(out.contains("Pass (live change)"), "{out}");
    assert!(out.contains("not watched → watched"), "{out}");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{out}");
    assert!(out.contains("Stopped."), "{out}");
    assert_eq!(p.plex.user_data(&x).unwrap().play_count, 1);
}

/// `mirror run ID` and `mirror watch ID` with an ID that is no group: the usage error, word for
/// word on stderr, exit 1, nothing on stdout, and no request to either server (the other
/// group is not run instead). With no group at all, the message says how to make one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_group_is_a_usage_error_and_runs_nothing() {
    let p = pair(&[]).await;
    let (j, _) = p.both("Paper Cities", 1, 5);
    p.jf.set_user_data(&j, watched());
    let requests = (p.jf.requests().len(), p.plex.requests().len());
    for command in ["run", "watch"] {
        let o = run(&p.data, &["mirror", command, "7"], None);
        expect_code(&o, 1);
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "no mirror group 7 (see `playmark mirror list`)\n",
            "mirror {command} 7"
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), "", "mirror {command} 7");
    }
    assert_eq!(
        (p.jf.requests().len(), p.plex.requests().len()),
        requests,
        "an unknown group reads and writes nothing"
    );

    expect_code(&run(&p.data, &["mirror", "remove", "1"], None), 0);
    for command in ["run", "watch"] {
        let o = run(&p.data, &["mirror", command], None);
        expect_code(&o, 1);
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "No mirror groups: `playmark mirror add ACCOUNT ACCOUNT` makes one.\n",
            "mirror {command}"
        );
    }
}

/// A write queued by one pass and delivered outside any pass (`mirror run --no-sync`, then
/// `playmark --account 2 sync`; a pass killed between delivering and confirming is the same,
/// mirror simulation seed 199): Plex then moves its position back from our 15:00 to 10:00. The
/// next pass must see a move back from 15:00 (carried to Jellyfin), not a move forward from
/// Plex's 0:00 before our write that the agreed 15:00 beats (written back over the person's
/// 10:00).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_moved_back_after_a_write_delivered_outside_a_pass_crosses() {
    let p = pair(&[]).await;
    let (j, x) = p.both("Orbital Kitchen", 2, 4);
    p.jf.set_user_data(&j, at(900));
    p.mirror(&["run", "--no-sync"], 0);
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 0);
    expect_code(&run(&p.data, &["--account", PLEX, "sync"], None), 0);
    assert_eq!(p.plex.user_data(&x).unwrap().position_ms, 900_000);
    p.plex.set_user_data(&x, at(600));
    let out = p.mirror(&["run"], 0);
    assert_eq!(
        p.plex.user_data(&x).unwrap().position_ms,
        600_000,
        "Plex's move back was overwritten: {out}"
    );
    assert_eq!(p.jf.user_data(&j).unwrap().position_ms, 600_000, "{out}");
}
