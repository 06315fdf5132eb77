//! Playback through the real mpv (headless: `--vo=null --ao=null`), driven over JSON IPC,
//! against the demo servers: resume, checkpoints, live session reports and their delivery,
//! thresholds at the end, a killed mpv, failed reports, offline play.
//!
//! The media is a generated YUV4MPEG2 file (1 fps, 32×24) as long as the item, in a temporary
//! directory; plays start near the end and run at `--speed=50` so each test takes seconds.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Harness;
use playmark::backend::jellyfin::{DeviceInfo, JellyfinClient};
use playmark::backend::session::PlaybackServer;
use playmark::clock::Clock;
use playmark::demo::Fault;
use playmark::model::{ServerKind, UserData};
use playmark::player::mpv::MpvPlayer;
use playmark::player::session::{self, Recorded, SessionConfig, Summary, Target};
use playmark::player::{EndReason, MediaSource, Player, PlayerEvent, Verdict};
use playmark::sync::checkpoint::PlaybackEvent;

const FAST: &[&str] = &["--vo=null", "--ao=null", "--speed=50"];
const REAL_TIME: &[&str] = &["--vo=null", "--ao=null"];

/// A 1 fps y4m file of `seconds` frames.
fn media_file(dir: &Path, seconds: i64) -> PathBuf {
    let frame_len = 32 * 24 * 3 / 2;
    let mut bytes = b"YUV4MPEG2 W32 H24 F1:1 Ip A1:1 C420jpeg\n".to_vec();
    let mut frame = b"FRAME\n".to_vec();
    frame.extend(std::iter::repeat_n(128u8, frame_len));
    for _ in 0..seconds {
        bytes.extend_from_slice(&frame);
    }
    let path = dir.join(format!("media-{seconds}.y4m"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn mpv(args: &[&str]) -> MpvPlayer {
    MpvPlayer::find(args.iter().map(|s| s.to_string()).collect(), true).expect("mpv installed")
}

fn reporter(h: &Harness) -> Arc<dyn PlaybackServer> {
    let device = h.engine.with_store(|s| s.device_id().unwrap());
    match h.kind {
        ServerKind::Plex => Arc::new(common::plex_client(&h.server.url(), &device, &h.token)),
        _ => Arc::new(
            JellyfinClient::new(
                &h.server.url(),
                DeviceInfo::playmark(device),
                common::client_options(),
            )
            .unwrap()
            .with_session(h.token.clone(), h.user_id.clone()),
        ),
    }
}

/// An episode and its runtime (ms).
fn episode(h: &Harness, n: usize) -> (String, i64) {
    let ep = h.first_season().1[n].clone();
    (ep.id, ep.runtime_ms.expect("runtime"))
}

/// Play `item` from `start_ms` through `session::run`, calling `act` with each recorded
/// checkpoint and the playback's control.
async fn play(
    h: &Harness,
    item: &str,
    runtime_ms: i64,
    start_ms: i64,
    args: &[&str],
    online: bool,
    act: impl Fn(&Recorded, &dyn playmark::player::PlaybackControl) + Send + Sync,
) -> (Summary, u32) {
    let media = MediaSource::file(&media_file(h.dir.path(), runtime_ms / 1000));
    let playback = mpv(args).play(&media, start_ms).await.expect("mpv starts");
    let pid = playback.control.pid().expect("pid");
    let control = playback.control.clone();
    let target = Target {
        item_id: item.to_string(),
        kind: h.kind,
        runtime_ms: Some(runtime_ms),
        start_ms,
    };
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        session::run(
            &h.engine,
            clock,
            online.then(|| reporter(h)),
            playback,
            &target,
            &SessionConfig::default(),
            |r| act(r, control.as_ref()),
        ),
    )
    .await
    .expect("the play ends");
    (summary, pid)
}

fn events(s: &Summary) -> Vec<PlaybackEvent> {
    s.recorded.iter().map(|r| r.checkpoint.event).collect()
}

fn server_data(h: &Harness, item: &str) -> UserData {
    h.server.user_data(item).expect("item on the server")
}

#[tokio::test]
async fn resume_at_12_00_reads_time_pos_12_00_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    const SECRET: &str = "tok-5f3e9a1c-never-in-argv";
    let mut media = MediaSource::file(&media_file(dir.path(), 1_800));
    media.headers = vec![format!("Authorization: MediaBrowser Token=\"{SECRET}\"")];
    assert!(
        !format!("{media:?}").contains(SECRET),
        "Debug redacts headers"
    );
    let mut playback = mpv(&["--vo=null", "--ao=null", "--pause"])
        .play(&media, 720_000)
        .await
        .unwrap();
    // The token reached mpv over IPC only: not in its command line, not in its environment.
    let pid = playback.control.pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("--input-ipc-server="), "{cmdline}");
    assert!(!cmdline.contains(SECRET), "{cmdline}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains(SECRET));
    // The IPC socket lives in a private directory.
    let socket = cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--input-ipc-server="))
        .unwrap()
        .to_string();
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(Path::new(&socket).parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o700);
    let mut position = None;
    let first = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = playback.events.recv().await {
            match e {
                PlayerEvent::Position(p) => position = Some(p),
                PlayerEvent::Restarted(at) => return at,
                PlayerEvent::Ended(r) => panic!("ended: {r:?}"),
                _ => {}
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(first, Some(720_000));
    playback.control.stop();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = playback.events.recv().await {
            if let PlayerEvent::Ended(r) = e {
                return r;
            }
        }
        EndReason::Gone("no end".into())
    })
    .await
    .unwrap();
    assert_eq!(end, EndReason::Quit);
}

async fn play_to_the_end_is_one_play(kind: ServerKind) {
    let h = Harness::start(kind).await;
    let (item, runtime) = episode(&h, 0);
    let before = server_data(&h, &item);
    let (summary, pid) = play(&h, &item, runtime, runtime - 60_000, FAST, true, |_, _| {}).await;
    assert_eq!(summary.end, EndReason::Eof);
    assert_eq!(summary.reports_failed, 0);
    assert_eq!(summary.last().unwrap().checkpoint.verdict, Verdict::Watched);
    let after = server_data(&h, &item);
    assert!(after.played, "{after:?}");
    assert_eq!(after.position_ms, 0);
    assert_eq!(
        after.play_count,
        before.play_count + 1,
        "one play, one count"
    );
    // The reports delivered everything: nothing queued, nothing written twice.
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    let writes: Vec<String> = h.writes().iter().map(|r| r.path.clone()).collect();
    assert!(
        writes
            .iter()
            .all(|p| !p.contains("UserData") && p != "/:/scrobble"),
        "the outbox wrote too: {writes:?}"
    );
    // The local state equals the server's, and the next pull sees no other device.
    let local = h
        .engine
        .with_store(|s| s.item(h.account, &item).unwrap().unwrap());
    assert_eq!(
        (local.played, local.position_ms, local.play_count),
        (true, 0, after.play_count)
    );
    let stats = h.engine.refresh(200).await.unwrap();
    assert_eq!(
        (stats.adopted, stats.conflicts),
        (0, 0),
        "phantom change: {stats:?}"
    );
    h.assert_contract();
    // mpv was gone when the play returned.
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(true)
}

#[tokio::test]
async fn play_to_the_end_is_one_play_and_watched_on_jellyfin() {
    play_to_the_end_is_one_play(ServerKind::Jellyfin).await;
}

#[tokio::test]
async fn play_to_the_end_is_one_play_and_watched_on_plex() {
    play_to_the_end_is_one_play(ServerKind::Plex).await;
}

#[tokio::test]
async fn pause_and_seek_each_record_a_checkpoint_and_report_it() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (item, runtime) = episode(&h, 1);
    let seek_to = runtime / 2;
    let (summary, _) = play(
        &h,
        &item,
        runtime,
        runtime / 4,
        REAL_TIME,
        true,
        |r, c| match r.checkpoint.event {
            PlaybackEvent::Tick => c.set_paused(true),
            PlaybackEvent::Pause => c.seek(seek_to),
            PlaybackEvent::Seek => c.stop(),
            PlaybackEvent::Stop => {}
        },
    )
    .await;
    assert_eq!(
        events(&summary),
        vec![
            PlaybackEvent::Tick,
            PlaybackEvent::Pause,
            PlaybackEvent::Seek,
            PlaybackEvent::Stop
        ]
    );
    assert_eq!(summary.recorded[2].checkpoint.position_ms, seek_to);
    assert_eq!(summary.end, EndReason::Quit);
    let after = server_data(&h, &item);
    assert_eq!(after.position_ms, seek_to);
    assert!(!after.played);
    let paths: Vec<String> = h.writes().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            "/Sessions/Playing",
            "/Sessions/Playing/Progress",
            "/Sessions/Playing/Progress",
            "/Sessions/Playing/Progress",
            "/Sessions/Playing/Stopped"
        ]
    );
    let paused: Vec<bool> = h
        .writes()
        .iter()
        .filter_map(|r| r.body.as_ref()?.get("IsPaused")?.as_bool())
        .collect();
    assert_eq!(paused, vec![false, false, true, true]);
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    h.assert_contract();
}

/// mpv killed with SIGKILL mid-play, while the server fails the report: the last position is
/// recorded, queued and delivered by the outbox; the play counts once.
#[tokio::test]
async fn sigkill_of_mpv_queues_the_last_checkpoint_and_the_outbox_delivers_it() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (item, runtime) = episode(&h, 2);
    let before = server_data(&h, &item);
    let killed = Mutex::new(false);
    let server = h.server.clone();
    let (summary, _) = play(&h, &item, runtime, runtime / 3, REAL_TIME, true, |r, c| {
        if r.checkpoint.event == PlaybackEvent::Tick && !*killed.lock().unwrap() {
            *killed.lock().unwrap() = true;
            // The stop report will fail.
            server.set_offline(true);
            let pid = c.pid().unwrap();
            std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
        }
    })
    .await;
    assert!(
        matches!(summary.end, EndReason::Gone(ref why) if why.contains("signal 9")),
        "{:?}",
        summary.end
    );
    let last = summary.last().unwrap();
    assert!(last.checkpoint.last);
    assert!(summary.reports_failed >= 1);
    // Queued…
    let row = h
        .engine
        .with_store(|s| s.outbox_row(h.account, &item).unwrap())
        .expect("the last checkpoint is queued");
    assert_eq!(row.desired.position_ms, last.state.position_ms);
    // …and delivered.
    h.server.set_offline(false);
    h.clock.advance(1_000);
    h.engine.connectivity_changed(true);
    h.drain_now().await;
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    let after = server_data(&h, &item);
    assert_eq!(after.position_ms, last.checkpoint.position_ms);
    assert!(after.position_ms >= runtime / 3);
    assert_eq!(after.play_count, before.play_count + 1);
}

/// The start report fails: the play's count reaches the server through the outbox (absolute
/// write), and the end is still watched, counted once.
#[tokio::test]
async fn a_failed_start_report_still_ends_watched_and_counted_once() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (item, runtime) = episode(&h, 3);
    let before = server_data(&h, &item);
    h.server.fail_next(
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let (summary, _) = play(&h, &item, runtime, runtime - 60_000, FAST, true, |_, _| {}).await;
    assert_eq!(summary.end, EndReason::Eof);
    assert_eq!(summary.reports_failed, 1);
    h.clock.advance(30_000);
    h.drain_now().await;
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    let after = server_data(&h, &item);
    assert!(after.played);
    assert_eq!(after.position_ms, 0);
    assert_eq!(after.play_count, before.play_count + 1);
    let stats = h.engine.refresh(200).await.unwrap();
    assert_eq!((stats.adopted, stats.conflicts), (0, 0), "{stats:?}");
}

/// Offline: a local copy plays with the server unreachable; both plays queue and reach the
/// server exactly once when it is back, and another device's change to another item is kept.
#[tokio::test]
async fn offline_plays_queue_and_reach_the_server_once_when_it_is_back() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (a, runtime_a) = episode(&h, 4);
    let (b, runtime_b) = episode(&h, 5);
    let (other, _) = episode(&h, 6);
    let before_a = server_data(&h, &a);
    let before_b = server_data(&h, &b);
    h.server.go_offline().await;
    let (sa, _) = play(
        &h,
        &a,
        runtime_a,
        runtime_a - 60_000,
        FAST,
        false,
        |_, _| {},
    )
    .await;
    assert_eq!(sa.last().unwrap().checkpoint.verdict, Verdict::Watched);
    // The other one to 20:00: pause, seek there and stop.
    let (sb, _) = play(
        &h,
        &b,
        runtime_b,
        600_000,
        REAL_TIME,
        false,
        |r, c| match r.checkpoint.event {
            PlaybackEvent::Tick => c.set_paused(true),
            PlaybackEvent::Pause => c.seek(1_200_000),
            PlaybackEvent::Seek => c.stop(),
            PlaybackEvent::Stop => {}
        },
    )
    .await;
    assert_eq!(sb.last().unwrap().state.position_ms, 1_200_000);
    assert_eq!(h.engine.counts().unwrap().total(), 2);
    // Meanwhile another device marks a third episode watched.
    h.server.set_offline(false);
    let mut theirs = server_data(&h, &other);
    theirs.played = true;
    theirs.play_count += 1;
    h.server.set_user_data(&other, theirs);
    h.server.clear_requests();
    h.clock.advance(60_000);
    h.engine.connectivity_changed(true);
    h.drain_now().await;
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    let (da, db) = (server_data(&h, &a), server_data(&h, &b));
    assert!(da.played && da.position_ms == 0, "{da:?}");
    assert_eq!(da.play_count, before_a.play_count + 1);
    assert_eq!((db.position_ms, db.played), (1_200_000, false));
    assert_eq!(db.play_count, before_b.play_count + 1);
    // Exactly once: one write per item.
    let mut targets: Vec<String> = h
        .successful_writes()
        .iter()
        .filter_map(|r| h.write_target(r))
        .collect();
    targets.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(targets, expected);
    assert!(
        server_data(&h, &other).played,
        "another device's change kept"
    );
}

/// Through the binary, as a person does it: download an episode, lose the server, `play` it
/// from the downloaded file in a real mpv (headless), then `sync` once the server is back: the
/// server ends with the play. Without a download, offline play exits 4 and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_plays_a_download_offline_and_the_play_reaches_the_server_when_it_is_back() {
    use common::bin;
    let (server, dir, episodes) = cli_signed_in().await;
    let (ep, other) = (episodes[0].clone(), episodes[1].clone());
    let runtime_s = ep.runtime_ms.unwrap() / 1000;
    let data = dir.path().to_path_buf();
    let id = ep.id.clone();
    let out = tokio::task::spawn_blocking(move || bin::run(&data, &["download", &id], None))
        .await
        .unwrap();
    bin::expect_code(&out, 0);

    server.go_offline().await;
    let start = format!("{}:{:02}", (runtime_s - 20) / 60, (runtime_s - 20) % 60);
    let data = dir.path().to_path_buf();
    let id = ep.id.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin::run(
            &data,
            &[
                "play",
                &id,
                "--start",
                &start,
                "--",
                "--vo=null",
                "--ao=null",
                "--speed=50",
            ],
            None,
        )
    })
    .await
    .unwrap();
    let text = bin::expect_code(&out, 0);
    assert!(
        !server_data_played(&server, &ep.id),
        "offline: nothing reached the server"
    );
    // The last words are true: the play is queued, not "on Playmark Demo" (issue 20, item 4).
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.ends_with(
            ": watched; 1 change queued, sent when Playmark Demo is reachable (`playmark sync`)."
        ),
        "{text}"
    );
    let status = bin::run(dir.path(), &["status", "--json"], None);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item_id"] == ep.id.as_str()),
        "the play is queued: {doc} {text}"
    );
    // Not downloaded: nothing to play offline, exit 4 with the way out.
    let data = dir.path().to_path_buf();
    let id = other.id.clone();
    let out = tokio::task::spawn_blocking(move || {
        bin::run(&data, &["play", &id, "--", "--vo=null", "--ao=null"], None)
    })
    .await
    .unwrap();
    let text = bin::expect_code(&out, 4);
    assert!(text.contains("playmark download"), "{text}");

    server.set_offline(false);
    bin::expect_code(&bin::run(dir.path(), &["sync", "--wait", "20"], None), 0);
    assert!(
        server_data_played(&server, &ep.id),
        "the play reached the server"
    );
    assert_eq!(server.user_data(&ep.id).unwrap().play_count, 1);
}

/// A demo server, a data dir signed in and refreshed through the binary, and the episodes in
/// id order.
async fn cli_signed_in() -> (
    playmark::demo::DemoServer,
    tempfile::TempDir,
    Vec<playmark::model::RemoteItem>,
) {
    use common::bin;
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    bin::expect_code(&bin::login(dir.path(), &server.url(), "demo"), 0);
    bin::expect_code(&bin::run(dir.path(), &["refresh"], None), 0);
    let mut episodes: Vec<_> = server
        .items()
        .into_iter()
        .filter(|i| i.kind == playmark::model::ItemKind::Episode)
        .collect();
    episodes.sort_by(|a, b| a.id.cmp(&b.id));
    (server, dir, episodes)
}

fn server_data_played(server: &playmark::demo::DemoServer, id: &str) -> bool {
    server.user_data(id).is_some_and(|u| u.played)
}

/// `playmark settings max_resume_pct 50` changes what `play` records: a play started at
/// 60 % is a resume point under the default 90 % and watched under 50 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_play_uses_the_watched_thresholds_from_settings() {
    use common::bin;
    let (_server, dir, episodes) = cli_signed_in().await;
    let first_line = |ep: &playmark::model::RemoteItem| {
        let runtime_s = ep.runtime_ms.unwrap() / 1000;
        let at = runtime_s * 6 / 10;
        let start = format!("{}:{:02}", at / 60, at % 60);
        let out = bin::run(
            dir.path(),
            &[
                "play",
                &ep.id,
                "--start",
                &start,
                "--",
                "--vo=null",
                "--ao=null",
                "--speed=100",
            ],
            None,
        );
        let text = bin::expect_code(&out, 0);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("Recorded"))
            .unwrap_or_else(|| panic!("no checkpoint printed: {text}"))
            .to_string()
    };
    let default = first_line(&episodes[0]);
    assert!(default.starts_with("Recorded resume at"), "{default}");
    bin::expect_code(
        &bin::run(dir.path(), &["settings", "max_resume_pct", "50"], None),
        0,
    );
    let changed = first_line(&episodes[1]);
    assert!(changed.starts_with("Recorded watched"), "{changed}");
}
