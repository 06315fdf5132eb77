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

// ---- A fake player on the server's clock: sessions that survive a suspend (issue 18, item 4) ----

const MIN: i64 = 60_000;

/// A player the test drives, on the clock the demo server and the engine share. Each step
/// moves the clock and then reports the position, as mpv would at that moment; the steps are
/// the ones that make a checkpoint (every 15 s of play, the stop), each awaited until its live
/// reports are delivered, so the session reads the time the step set.
struct FakePlayer {
    events: tokio::sync::mpsc::UnboundedSender<PlayerEvent>,
    recorded: tokio::sync::mpsc::UnboundedReceiver<Recorded>,
    position_ms: i64,
    run: tokio::task::JoinHandle<Summary>,
    /// The server is reachable: each checkpoint's reports are awaited.
    online: bool,
}

struct FakeControl;

impl playmark::player::PlaybackControl for FakeControl {
    fn stop(&self) {}
    fn set_paused(&self, _: bool) {}
    fn seek(&self, _: i64) {}
    fn pid(&self) -> Option<u32> {
        None
    }
}

impl FakePlayer {
    /// Start playing `item` at `start_ms`: playback begins at once (the first checkpoint).
    async fn start(h: &Harness, item: &str, runtime_ms: i64, start_ms: i64) -> FakePlayer {
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        let (to_test, recorded) = tokio::sync::mpsc::unbounded_channel();
        let playback = playmark::player::Playback {
            events: rx,
            control: Arc::new(FakeControl),
        };
        let target = Target {
            item_id: item.to_string(),
            kind: h.kind,
            runtime_ms: Some(runtime_ms),
            start_ms,
        };
        let (engine, clock, server) = (h.engine.clone(), h.clock.clone(), reporter(h));
        let run = tokio::spawn(async move {
            session::run(
                &engine,
                Arc::new(clock),
                Some(server),
                playback,
                &target,
                &SessionConfig::default(),
                move |r| {
                    let _ = to_test.send(r.clone());
                },
            )
            .await
        });
        let mut p = FakePlayer {
            events,
            recorded,
            position_ms: start_ms,
            run,
            online: true,
        };
        p.send(h, PlayerEvent::Restarted(Some(start_ms))).await;
        p
    }

    /// Send one event that makes a checkpoint; wait until its reports are delivered (online).
    async fn send(&mut self, h: &Harness, event: PlayerEvent) -> Recorded {
        self.events.send(event).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), self.recorded.recv())
            .await
            .expect("a checkpoint")
            .expect("the session runs");
        if !self.online {
            return r;
        }
        // Delivered: the report completed the checkpoint's outbox row (nothing else sends it:
        // the engine's drain loop does not run here).
        tokio::time::timeout(Duration::from_secs(10), async {
            while h.engine.counts().unwrap().total() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the live reports are delivered");
        r
    }

    /// Play on for `ms` (a multiple of 15 s): one checkpoint every 15 s.
    async fn play(&mut self, h: &Harness, ms: i64) {
        assert_eq!(ms % 15_000, 0);
        for _ in 0..ms / 15_000 {
            h.clock.advance(15_000);
            self.position_ms += 15_000;
            let r = self.send(h, PlayerEvent::Position(self.position_ms)).await;
            assert_eq!(r.checkpoint.event, PlaybackEvent::Tick);
        }
    }

    /// The laptop sleeps `ms`: time passes, the player says nothing and does not move.
    fn suspend(&self, h: &Harness, ms: i64) {
        h.clock.advance(ms);
    }

    /// Awake: the player's first position, `ms` of play later (the first checkpoint after
    /// the gap).
    async fn resume(&mut self, h: &Harness, ms: i64) -> Recorded {
        h.clock.advance(ms);
        self.position_ms += ms;
        self.send(h, PlayerEvent::Position(self.position_ms)).await
    }

    /// Play on to `at_ms` and quit there.
    async fn stop_at(self, h: &Harness, at_ms: i64) -> Summary {
        h.clock.advance(at_ms - self.position_ms);
        self.events.send(PlayerEvent::Position(at_ms)).unwrap();
        self.events
            .send(PlayerEvent::Ended(EndReason::Quit))
            .unwrap();
        drop(self.events);
        tokio::time::timeout(Duration::from_secs(10), self.run)
            .await
            .expect("the play ends")
            .unwrap()
    }
}

/// Starts (`/Sessions/Playing`) the server received.
fn starts(h: &Harness) -> usize {
    h.writes()
        .iter()
        .filter(|r| r.path == "/Sessions/Playing")
        .count()
}

/// A merge that took the server's value as another device's: any `Merged` event for `item`
/// that adopted or kept the server's value.
fn another_device(
    events: &mut tokio::sync::broadcast::Receiver<playmark::sync::SyncEvent>,
    item: &str,
) -> Vec<String> {
    use playmark::merge::{Decision, Side};
    let mut found = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let playmark::sync::SyncEvent::Merged { item_id, outcome } = e {
            let theirs = matches!(
                outcome.decision,
                Decision::AdoptedServer
                    | Decision::Conflict {
                        winner: Side::Server,
                        ..
                    }
            );
            if item_id == item && theirs {
                found.push(outcome.summary());
            }
        }
    }
    found
}

fn local(h: &Harness, item: &str) -> UserData {
    let i = h
        .engine
        .with_store(|s| s.item(h.account, item).unwrap().unwrap());
    UserData {
        position_ms: i.position_ms,
        played: i.played,
        play_count: i.play_count,
        last_played: None,
    }
}

/// Play from `start_ms` for a minute, suspend 10 minutes (the server stops the session at
/// its advanced position, J2: `idle` is what it then holds), pull on waking, resume and stop
/// `resume_to_ms` after the suspend point. The server ends with the position reached,
/// unwatched, two plays (the start and the start again: Jellyfin's start adds a play and
/// un-watches), and nothing was taken for another device's change.
async fn suspend_and_resume(
    start_ms: impl Fn(i64) -> i64,
    idle: impl Fn(i64, &UserData),
    resume_to_ms: i64,
) {
    let h = Harness::start_one_clock(ServerKind::Jellyfin).await;
    let (item, runtime) = episode(&h, 0);
    assert!(runtime >= 40 * MIN, "a long episode");
    let start_ms = start_ms(runtime);
    let mut events = h.engine.subscribe();
    let mut p = FakePlayer::start(&h, &item, runtime, start_ms).await;
    p.play(&h, MIN).await;
    let reached = start_ms + MIN;
    assert_eq!(h.server.now_playing(), vec![(item.clone(), reached, false)]);
    assert_eq!(server_data(&h, &item).position_ms, reached);

    p.suspend(&h, 10 * MIN);
    // The server's idle timer stopped the silent session (at its second tick, 9 minutes after
    // the last report) at the position its session clock had reached.
    assert!(h.server.now_playing().is_empty());
    idle(reached + 9 * MIN, &server_data(&h, &item));
    // The app's pull runs on waking, before the player's first report: the server's value is
    // what our own open session explains, not another device's change.
    let stats = h.engine.refresh(200).await.unwrap();
    assert_eq!((stats.adopted, stats.conflicts), (0, 0), "{stats:?}");
    assert_eq!(local(&h, &item).position_ms, reached, "the row stays put");
    // The same through the live path: the stop's UserDataChanged names the item, read by id.
    let stats = h
        .engine
        .apply_live_hint(&[(item.clone(), server_data(&h, &item))])
        .await
        .unwrap();
    assert_eq!((stats.adopted, stats.conflicts), (0, 0), "{stats:?}");

    // Awake 5 s later: the session starts again where the person is.
    let again = p.resume(&h, 5_000).await;
    assert_eq!(
        again.checkpoint.reports,
        vec![
            playmark::backend::session::ReportKind::Start,
            playmark::backend::session::ReportKind::Progress
        ]
    );
    assert_eq!(starts(&h), 2);
    assert_eq!(
        h.server.now_playing(),
        vec![(item.clone(), reached + 5_000, false)]
    );
    p.play(&h, (resume_to_ms - 5_000) / 15_000 * 15_000).await;
    let end = reached + resume_to_ms;
    let summary = p.stop_at(&h, end).await;
    assert_eq!(summary.reports_failed, 0);
    assert_eq!(summary.end, EndReason::Quit);

    let server = server_data(&h, &item);
    assert_eq!(
        (server.position_ms, server.played, server.play_count),
        (end, false, 2),
        "{server:?}"
    );
    assert!(h.server.now_playing().is_empty());
    let mine = local(&h, &item);
    assert_eq!(
        (mine.position_ms, mine.played, mine.play_count),
        (end, false, 2)
    );
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    // No "another device" notice: no merge took the server's value, nothing overridden.
    let stats = h.engine.refresh(200).await.unwrap();
    assert_eq!((stats.adopted, stats.conflicts), (0, 0), "{stats:?}");
    assert_eq!(another_device(&mut events, &item), Vec::<String>::new());
    assert!(h.engine.overridden().unwrap().is_empty());
    h.assert_contract();
}

/// The case: to 20:00, 10 minutes asleep (the server stops the session at 29:00),
/// awake, stop at 25:00 → the server holds 25:00, unwatched, 2 plays.
#[tokio::test]
async fn a_suspend_longer_than_the_servers_timeout_starts_the_session_again() {
    suspend_and_resume(
        |_| 19 * MIN,
        |advanced, u| {
            assert_eq!((u.position_ms, u.played), (advanced, false), "{u:?}");
        },
        5 * MIN,
    )
    .await;
}

/// Asleep near the end: the server's idle stop passes 90 % and marks the episode watched
/// (position 0); a progress report would never un-watch it (`UpdatePlayState`), the start
/// again does: the server ends unwatched where the person stopped.
#[tokio::test]
async fn a_suspend_the_server_ends_as_watched_is_unwatched_by_the_start_again() {
    // 5 minutes before 90 % when the suspend begins: the server's 9 minutes pass it, the
    // person's 2 minutes after waking do not.
    suspend_and_resume(
        |runtime| (runtime * 9 / 10 - 6 * MIN) / 1000 * 1000,
        |_, u| {
            assert_eq!((u.position_ms, u.played), (0, true), "{u:?}");
        },
        2 * MIN,
    )
    .await;
}

/// Awake without a network (Wi-Fi comes back after the play): the start again cannot reach
/// the server, the play's checkpoints queue, and the outbox delivers them once the server is
/// back, over the server's idle stop at 29:00: the server ends with 25:00, and nothing is
/// taken for another device's change (the send-time read meets what our own session left).
#[tokio::test]
async fn a_suspend_that_wakes_offline_ends_with_the_persons_position_once_back() {
    let h = Harness::start_one_clock(ServerKind::Jellyfin).await;
    let (item, runtime) = episode(&h, 0);
    let mut events = h.engine.subscribe();
    let mut p = FakePlayer::start(&h, &item, runtime, 19 * MIN).await;
    p.play(&h, MIN).await;
    p.suspend(&h, 10 * MIN);
    assert_eq!(server_data(&h, &item).position_ms, 29 * MIN);
    h.server.go_offline().await;
    p.online = false;
    let again = p.resume(&h, 5_000).await;
    assert!(again.checkpoint.restarted_after_ms.is_some());
    p.play(&h, 285_000).await;
    let summary = p.stop_at(&h, 25 * MIN).await;
    assert!(summary.reports_failed >= 1);
    assert_eq!(h.engine.counts().unwrap().total(), 1, "queued");
    h.server.set_offline(false);
    h.clock.advance(1_000);
    h.engine.connectivity_changed(true);
    h.drain_now().await;
    assert_eq!(h.engine.counts().unwrap().total(), 0);
    let server = server_data(&h, &item);
    assert_eq!(
        (server.position_ms, server.played, server.play_count),
        (25 * MIN, false, 2),
        "{server:?}"
    );
    let mine = local(&h, &item);
    assert_eq!(
        (mine.position_ms, mine.played, mine.play_count),
        (25 * MIN, false, 2)
    );
    assert_eq!(another_device(&mut events, &item), Vec::<String>::new());
    assert!(h.engine.overridden().unwrap().is_empty());
    let stats = h.engine.refresh(200).await.unwrap();
    assert_eq!((stats.adopted, stats.conflicts), (0, 0), "{stats:?}");
}
