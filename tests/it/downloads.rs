//! Downloads for offline play, against the demo servers over real HTTP on loopback, with a real
//! SQLite file: cut and resumed with Range after a restart, a range the server ignores, 416,
//! a full disk at the write layer, a server that forbids downloads, and the CLI.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::bin;
use common::Harness;
use playmark::clock::SystemClock;
use playmark::demo::{Fault, RecordedRequest};
use playmark::download::{error_kind, DownloadConfig, Downloader, WriteFault};
use playmark::model::ServerKind;
use playmark::store::{database_path, DownloadRow, DownloadState, Store};
use playmark::sync::backoff::Backoff;

fn config(dir: &Path) -> DownloadConfig {
    let mut c = DownloadConfig::new(dir.join("downloads"));
    c.user_name = "demo".into();
    c.backoff = Backoff {
        base_ms: 5,
        cap_ms: 20,
    };
    c.stall_timeout = Duration::from_secs(5);
    c
}

/// A downloader on its own connection to the harness's database (as a new process would).
fn downloader(h: &Harness, config: DownloadConfig) -> Arc<Downloader> {
    let store = Store::open(&database_path(h.dir.path())).unwrap();
    let server = common::media_server(
        h.kind,
        &h.server.url(),
        "downloads-test",
        &h.token,
        &h.user_id,
    );
    Arc::new(Downloader::new(
        store,
        h.account,
        Some(server),
        Arc::new(SystemClock),
        config,
    ))
}

fn row(d: &Downloader, id: &str) -> DownloadRow {
    d.list()
        .unwrap()
        .into_iter()
        .find(|r| r.item_id == id)
        .unwrap()
}

/// Run until `id` has been attempted once (done, failed, or queued again after an error).
async fn run_once(d: &Arc<Downloader>, id: &str) -> DownloadRow {
    let id2 = id.to_string();
    let before = row(d, id).attempts;
    let done = move |rows: &[DownloadRow]| {
        rows.iter().any(|r| {
            r.item_id == id2
                && (matches!(r.state, DownloadState::Done | DownloadState::Failed)
                    || (r.state == DownloadState::Queued && r.attempts > before))
        })
    };
    tokio::time::timeout(Duration::from_secs(60), d.run(Some(&done)))
        .await
        .expect("the download ends")
        .unwrap();
    row(d, id)
}

fn media_requests(h: &Harness) -> Vec<RecordedRequest> {
    h.server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/Download") || r.path.starts_with("/library/parts/"))
        .collect()
}

fn final_path(r: &DownloadRow) -> PathBuf {
    PathBuf::from(&r.path)
}

fn part_of(r: &DownloadRow) -> PathBuf {
    PathBuf::from(format!("{}.part", r.path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_in_half_resumes_after_a_restart_with_range_to_identical_bytes() {
    for kind in [ServerKind::Jellyfin, ServerKind::Plex] {
        let h = Harness::start(kind).await;
        let id = h.episode(0);
        let whole = h.server.media_bytes(&id).unwrap();
        let d = downloader(&h, config(h.dir.path()));
        d.enqueue(std::slice::from_ref(&id)).unwrap();
        // The metadata request passes; the download is cut in the middle of its body.
        h.server.fail_next(1, Fault::Delay(Duration::ZERO));
        h.server.fail_next(1, Fault::Truncated);
        let first = run_once(&d, &id).await;
        assert_eq!(
            first.state,
            DownloadState::Queued,
            "{kind:?}: {first:?} {:#?}",
            h.server.requests()
        );
        assert_eq!(first.error_kind.as_deref(), Some(error_kind::TRANSIENT));
        let kept = std::fs::metadata(part_of(&first)).unwrap().len();
        assert!(
            kept > whole.len() as u64 / 3 && kept <= whole.len() as u64 / 2,
            "{kind:?}: {kept} of {}",
            whole.len()
        );
        assert_eq!(first.bytes, kept);
        assert!(!final_path(&first).exists());
        drop(d);

        // "Restart": a new downloader on a new connection picks the row up and resumes.
        h.server.clear_requests();
        let d = downloader(&h, config(h.dir.path()));
        let done = run_once(&d, &id).await;
        assert_eq!(done.state, DownloadState::Done, "{kind:?}: {done:?}");
        let got = std::fs::read(final_path(&done)).unwrap();
        assert!(
            got == whole,
            "{kind:?}: the file differs from what the server serves"
        );
        assert!(!part_of(&done).exists());
        assert_eq!(done.total_bytes, Some(whole.len() as u64));
        let media = media_requests(&h);
        assert_eq!(media.len(), 1, "{kind:?}: {media:?}");
        assert_eq!(
            media[0].header("range"),
            Some(format!("bytes={kept}-").as_str())
        );
        assert_eq!(media[0].status, 206);
        if kind == ServerKind::Plex {
            assert_eq!(media[0].query_value("download"), Some("1"));
        }
        // The token never travels in the URL.
        assert!(media
            .iter()
            .all(|r| r.query.iter().all(|(_, v)| !v.contains(&h.token))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_range_starts_over_and_416_checks_the_size() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let (a, b) = (h.episode(0), h.episode(1));
    let d = downloader(&h, config(h.dir.path()));
    // One at a time, so each run does exactly one download.
    d.enqueue(std::slice::from_ref(&a)).unwrap();
    std::fs::create_dir_all(h.dir.path().join("downloads")).unwrap();

    // A: a `.part` of 1000 wrong bytes; the server answers the range with 200 (whole file):
    // the download starts over, nothing of the old part survives.
    let ra = row(&d, &a);
    let part_a = PathBuf::from(format!("{}.y4m.part", ra.path));
    std::fs::write(&part_a, vec![0xAA; 1000]).unwrap();
    // B: a complete `.part`: the range asks past the end, 416 says the size, which matches.
    d.with_store(|s| s.pause_downloads(h.account, std::slice::from_ref(&a), 0))
        .unwrap();
    d.enqueue(std::slice::from_ref(&b)).unwrap();
    d.pause(std::slice::from_ref(&b)).unwrap();
    d.resume(std::slice::from_ref(&a)).unwrap();
    let rb = row(&d, &b);
    let whole_b = h.server.media_bytes(&b).unwrap();
    std::fs::write(format!("{}.y4m.part", rb.path), &whole_b).unwrap();

    h.server.set_media_ranges(false);
    let done_a = run_once(&d, &a).await;
    assert_eq!(done_a.state, DownloadState::Done, "{done_a:?}");
    assert!(std::fs::read(final_path(&done_a)).unwrap() == h.server.media_bytes(&a).unwrap());
    let media = media_requests(&h);
    assert_eq!(media[0].header("range"), Some("bytes=1000-"));
    assert_eq!(media[0].status, 200);

    h.server.set_media_ranges(true);
    h.server.clear_requests();
    d.resume(std::slice::from_ref(&b)).unwrap();
    let done_b = run_once(&d, &b).await;
    assert_eq!(done_b.state, DownloadState::Done, "{done_b:?}");
    assert!(std::fs::read(final_path(&done_b)).unwrap() == whole_b);
    let media = media_requests(&h);
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].status, 416);
    assert_eq!(
        media[0].header("range"),
        Some(format!("bytes={}-", whole_b.len()).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_clearly_and_corrupts_nothing() {
    let h = Harness::start(ServerKind::Jellyfin).await;
    let id = h.episode(0);
    let whole = h.server.media_bytes(&id).unwrap();

    // Before starting: not enough free space, nothing is requested.
    let mut c = config(h.dir.path());
    c.free_space_override = Some(1000);
    let d = downloader(&h, c);
    d.enqueue(std::slice::from_ref(&id)).unwrap();
    let r = run_once(&d, &id).await;
    assert_eq!(r.state, DownloadState::Failed);
    assert_eq!(r.error_kind.as_deref(), Some(error_kind::DISK_FULL));
    assert!(r
        .error
        .as_deref()
        .unwrap()
        .contains("Not enough free space"));
    assert!(media_requests(&h).is_empty());
    drop(d);

    // While writing: ENOSPC from the write layer after 100 kB.
    let mut c = config(h.dir.path());
    c.write_fault = Some(WriteFault {
        disk_full_after: 100_000,
    });
    let d = downloader(&h, c);
    d.resume(std::slice::from_ref(&id)).unwrap();
    let r = run_once(&d, &id).await;
    assert_eq!(r.state, DownloadState::Failed, "{r:?}");
    assert_eq!(r.error_kind.as_deref(), Some(error_kind::DISK_FULL));
    let message = r.error.clone().unwrap();
    assert!(message.contains("is full"), "{message}");
    assert!(!final_path(&r).exists(), "no file under the final name");
    let part = std::fs::read(part_of(&r)).unwrap();
    assert_eq!(part.len(), 100_000);
    assert!(
        part[..] == whole[..100_000],
        "the part holds only good bytes"
    );
    drop(d);

    // Space freed: resume finishes the same file.
    let d = downloader(&h, config(h.dir.path()));
    d.resume(std::slice::from_ref(&id)).unwrap();
    let r = run_once(&d, &id).await;
    assert_eq!(r.state, DownloadState::Done, "{r:?}");
    assert!(std::fs::read(final_path(&r)).unwrap() == whole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_forbids_downloads_is_respected_and_says_who_can_change_it() {
    for (kind, who) in [
        (ServerKind::Jellyfin, "administrator"),
        (ServerKind::Plex, "server owner"),
    ] {
        let h = Harness::start(kind).await;
        h.server.set_downloads_allowed(false);
        let id = h.episode(0);
        let d = downloader(&h, config(h.dir.path()));
        d.enqueue(std::slice::from_ref(&id)).unwrap();
        let r = run_once(&d, &id).await;
        assert_eq!(r.state, DownloadState::Failed, "{kind:?}: {r:?}");
        assert_eq!(r.error_kind.as_deref(), Some(error_kind::FORBIDDEN));
        let message = r.error.clone().unwrap();
        assert!(message.contains(who), "{kind:?}: {message}");
        assert_eq!(r.bytes, 0);
        assert!(!part_of(&r).exists() && !final_path(&r).exists());
        assert!(!PathBuf::from(format!("{}.y4m.part", r.path)).exists());
        // No way around it through the streaming endpoint.
        let requests = h.server.requests();
        assert!(
            !requests.iter().any(|q| q.path.contains("/stream")
                || (q.path.starts_with("/library/parts/") && q.query_value("download").is_none())),
            "{requests:?}"
        );
        assert_eq!(media_requests(&h).len(), 1);
        assert_eq!(media_requests(&h)[0].status, 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_download_blocks_until_done_and_lists_json() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    bin::expect_code(&bin::login(dir.path(), &server.url(), "demo"), 0);
    bin::expect_code(&bin::run(dir.path(), &["refresh"], None), 0);
    let season = server
        .items()
        .into_iter()
        .find(|i| i.kind == playmark::model::ItemKind::Season)
        .unwrap();
    let episodes: Vec<_> = server
        .items()
        .into_iter()
        .filter(|i| i.parent_id.as_deref() == Some(season.id.as_str()))
        .collect();
    let data = dir.path().to_path_buf();
    let id = season.id.clone();
    let out = tokio::task::spawn_blocking(move || bin::run(&data, &["download", &id], None))
        .await
        .unwrap();
    let text = bin::expect_code(&out, 0);
    assert!(!text.contains(&server.url().replace("http://", "Token=")));

    let out = bin::run(dir.path(), &["downloads", "--json"], None);
    bin::expect_code(&out, 0);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), episodes.len());
    for e in &episodes {
        let r = rows.iter().find(|r| r["item_id"] == e.id.as_str()).unwrap();
        assert_eq!(r["state"], "done");
        assert_eq!(r["error"], serde_json::Value::Null);
        let path = Path::new(r["path"].as_str().unwrap());
        assert!(path.is_absolute());
        let bytes = server.media_bytes(&e.id).unwrap();
        assert_eq!(r["bytes"], bytes.len() as u64);
        assert_eq!(r["total_bytes"], bytes.len() as u64);
        assert!(std::fs::read(path).unwrap() == bytes);
    }

    // Remove deletes the file; a forbidden download exits 3 with the message.
    let first = rows[0]["item_id"].as_str().unwrap().to_string();
    let path = PathBuf::from(rows[0]["path"].as_str().unwrap());
    bin::expect_code(
        &bin::run(dir.path(), &["download", "--remove", &first], None),
        0,
    );
    assert!(!path.exists());
    server.set_downloads_allowed(false);
    let data = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || bin::run(&data, &["download", &first], None))
        .await
        .unwrap();
    let text = bin::expect_code(&out, 3);
    assert!(text.contains("Allow media downloading"), "{text}");
    let out = bin::run(dir.path(), &["downloads", "--json"], None);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "failed")
        .unwrap();
    assert_eq!(failed["bytes"], 0);
    assert!(failed["error"].as_str().unwrap().contains("administrator"));
}

/// `playmark download` killed with SIGKILL in the middle of a download (no chance to release
/// anything), then run again: the download resumes from its `.part` with `Range` and the file
/// ends byte-identical to what the server serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_with_sigkill_resumes_with_range_after_a_restart() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    bin::expect_code(&bin::login(dir.path(), &server.url(), "demo"), 0);
    bin::expect_code(&bin::run(dir.path(), &["refresh"], None), 0);
    let id = server
        .items()
        .into_iter()
        .find(|i| i.kind == playmark::model::ItemKind::Episode)
        .unwrap()
        .id;
    let whole = server.media_bytes(&id).unwrap();
    // Slow (about 4 s for the file), so the kill lands in the middle.
    server.set_media_rate(Some(whole.len() as u64 / 4));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["download", &id])
        .env_remove("PLAYMARK_DATA_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let downloads = dir.path().join("downloads");
    let part = || -> Option<(PathBuf, u64)> {
        std::fs::read_dir(&downloads)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "part"))
            .and_then(|p| Some((p.clone(), std::fs::metadata(&p).ok()?.len())))
    };
    let start = std::time::Instant::now();
    while part().is_none_or(|(_, n)| n <= whole.len() as u64 / 4) {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    let (part_path, kept) = part().unwrap();
    assert!(kept < whole.len() as u64, "{kept} of {}", whole.len());
    assert_eq!(
        std::fs::read(&part_path).unwrap(),
        whole[..kept as usize],
        "the .part holds the first bytes"
    );

    // A new process: the dead process's lease is recovered and the download goes on.
    server.set_media_rate(None);
    server.clear_requests();
    let data = dir.path().to_path_buf();
    let id2 = id.clone();
    let out = tokio::task::spawn_blocking(move || bin::run(&data, &["download", &id2], None))
        .await
        .unwrap();
    bin::expect_code(&out, 0);
    let ranges: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/Download") && r.method == "GET")
        .filter_map(|r| r.header("range").map(str::to_string))
        .collect();
    let resumed_from: Vec<u64> = ranges
        .iter()
        .filter_map(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .collect();
    assert!(
        resumed_from.len() == 1 && resumed_from[0] > 0 && resumed_from[0] <= kept,
        "resumed with {ranges:?} after keeping {kept}"
    );
    let out = bin::run(dir.path(), &["downloads", "--json"], None);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["state"], "done");
    let path = PathBuf::from(row["path"].as_str().unwrap());
    assert!(std::fs::read(&path).unwrap() == whole, "byte-identical");
    assert!(!part_path.exists());
}

/// `--data-dir` given relative: the paths stored and listed are still absolute, so
/// `downloads --json` means the same file from any directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_data_dir_still_lists_absolute_paths() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let movie = server
        .items()
        .into_iter()
        .find(|i| i.kind == playmark::model::ItemKind::Movie)
        .unwrap();
    let url = server.url();
    let here = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let cli = |args: &[&str], password: Option<&str>| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_playmark"));
            cmd.current_dir(&here)
                .args(["--data-dir", "rel"])
                .args(args)
                .env("DBUS_SESSION_BUS_ADDRESS", bin::NO_BUS)
                .env_remove("PLAYMARK_DATA_DIR")
                .stdin(std::process::Stdio::null());
            match password {
                Some(p) => cmd.env("PLAYMARK_PASSWORD", p),
                None => cmd.env_remove("PLAYMARK_PASSWORD"),
            };
            cmd.output().unwrap()
        };
        let login = ["login", "jellyfin", "--server", &url, "--user", "demo"];
        bin::expect_code(&cli(&login, Some(playmark::demo::DEMO_PASSWORD)), 0);
        bin::expect_code(&cli(&["refresh"], None), 0);
        bin::expect_code(&cli(&["download", &movie.id], None), 0);
        cli(&["downloads", "--json"], None)
    })
    .await
    .unwrap();
    bin::expect_code(&out, 0);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = rows[0]["path"].as_str().unwrap();
    assert!(Path::new(path).is_absolute(), "{path}");
    assert!(
        Path::new(path).starts_with(dir.path().join("rel")),
        "{path}"
    );
    assert!(Path::new(path).exists());
}

/// `playmark download SEASON` lists the season's episodes in episode order, each with its
/// series and number (issue 20: the ids' order, and only the episode's title).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seasons_download_lists_its_episodes_in_order_with_series_and_number() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    bin::expect_code(&bin::login(dir.path(), &server.url(), "demo"), 0);
    bin::expect_code(&bin::run(dir.path(), &["refresh"], None), 0);
    let items = server.items();
    // The season with the most episodes, so that an order by id is unlikely to be right.
    let season = items
        .iter()
        .filter(|i| i.kind == playmark::model::ItemKind::Season)
        .max_by_key(|s| {
            items
                .iter()
                .filter(|e| e.parent_id.as_deref() == Some(s.id.as_str()))
                .count()
        })
        .unwrap();
    let mut episodes: Vec<_> = items
        .iter()
        .filter(|e| e.parent_id.as_deref() == Some(season.id.as_str()))
        .collect();
    assert!(episodes.len() >= 3, "a season of {}", episodes.len());
    episodes.sort_by_key(|e| e.episode_number);
    let data = dir.path().to_path_buf();
    let id = season.id.clone();
    let out = tokio::task::spawn_blocking(move || bin::run(&data, &["download", &id], None))
        .await
        .unwrap();
    bin::expect_code(&out, 0);
    let text = bin::text(&out);
    let done: Vec<&str> = text.lines().filter(|l| l.starts_with('✓')).collect();
    let expected: Vec<String> = episodes
        .iter()
        .map(|e| {
            format!(
                "✓ {} · S{:02}E{:02} · {} → ",
                e.series_name.as_deref().unwrap(),
                e.season_number.unwrap(),
                e.episode_number.unwrap(),
                e.name
            )
        })
        .collect();
    assert_eq!(done.len(), expected.len(), "{text}");
    for (line, want) in done.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start {want:?}\n{text}"
        );
    }
}
