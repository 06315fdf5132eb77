//! The `playmark` binary end to end: real processes, a real data dir, the demo server on loopback.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bin::{code, login, run, run_with_stdin, text};

use playmark::demo::DEMO_PASSWORD;
use playmark::model::ItemKind;

fn playmark(data_dir: &Path, args: &[&str]) -> Output {
    run(data_dir, args, None)
}

/// A clean demo server and a data directory (not created yet) inside a temporary one.
async fn start() -> (
    playmark::demo::DemoServer,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (server, dir, data)
}

/// The id of the server's first item of `kind`.
fn first(server: &playmark::demo::DemoServer, kind: ItemKind) -> String {
    server
        .items()
        .into_iter()
        .find(|i| i.kind == kind)
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_mark_then_sync_when_back_with_exit_codes_and_no_leaked_token() {
    let (server, _dir, data) = start().await;
    let episode = first(&server, ItemKind::Episode);

    // Not signed in yet → 2.
    assert_eq!(code(&playmark(&data, &["sync"])), 2);
    // Wrong password → 2, clear words.
    let bad = login(&data, &server.url(), "wrong");
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    // URL without a scheme → 1.
    assert_eq!(code(&login(&data, "127.0.0.1:1", DEMO_PASSWORD)), 1);

    let ok = login(&data, &server.url(), DEMO_PASSWORD);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let mut all_output = text(&ok);
    let refresh = playmark(&data, &["refresh"]);
    assert_eq!(code(&refresh), 0, "{}", text(&refresh));
    all_output += &text(&refresh);

    // Unknown id → 1; negative position → 1; nothing queued by either.
    assert_eq!(code(&playmark(&data, &["mark-watched", "no-such-item"])), 1);
    assert_eq!(code(&playmark(&data, &["progress", &episode, "-5"])), 1);

    server.set_offline(true);
    let mark = playmark(&data, &["mark-watched", &episode]);
    assert_eq!(
        code(&mark),
        0,
        "local commands work offline: {}",
        text(&mark)
    );
    let status = playmark(&data, &["status", "--json"]);
    assert_eq!(code(&status), 0);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["online"], false);
    assert_eq!(doc["counts"]["pending"], 1);
    assert_eq!(doc["items"][0]["item_id"], episode.as_str());
    assert_eq!(doc["items"][0]["state"], "pending");
    all_output += &text(&status);

    let offline_sync = playmark(&data, &["sync"]);
    assert_eq!(code(&offline_sync), 4, "{}", text(&offline_sync));
    all_output += &text(&offline_sync);
    assert!(server
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.path.starts_with("/Users/AuthenticateByName")));

    server.set_offline(false);
    let sync = playmark(&data, &["sync", "--wait", "20"]);
    assert_eq!(code(&sync), 0, "{}", text(&sync));
    all_output += &text(&sync);
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/UserItems/"))
        .collect();
    assert_eq!(writes.len(), 1);
    assert!(server.user_data(&episode).unwrap().played);

    // The token is in a 0600 file and nowhere else: not in the database, not in any output.
    let token_file = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("token-")
        })
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.len() >= 16);
    assert!(
        !all_output.contains(token.trim()),
        "token leaked into output"
    );
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path != token_file {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(token.trim().len())
                    .any(|w| w == token.trim().as_bytes()),
                "token in {path:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn season_id_marks_all_episodes_in_one_call_and_sync_reports_pending_on_404() {
    let (server, _dir, data) = start().await;
    assert_eq!(code(&login(&data, &server.url(), DEMO_PASSWORD)), 0);
    assert_eq!(code(&playmark(&data, &["refresh"])), 0);
    let items = server.items();
    let season = common::first_id(&items, ItemKind::Season);
    let other = items
        .iter()
        .find(|i| i.kind == ItemKind::Movie)
        .unwrap()
        .id
        .clone();
    server.clear_requests();

    assert_eq!(code(&playmark(&data, &["mark-watched", &season])), 0);
    assert_eq!(code(&playmark(&data, &["progress", &other, "0:10"])), 0);
    server.remove_item(&other);
    let sync = playmark(&data, &["sync"]);
    assert_eq!(code(&sync), 3, "{}", text(&sync));
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(writes
        .iter()
        .any(|w| w.path.ends_with(&season) && w.path.starts_with("/UserPlayedItems/")));

    let status = playmark(&data, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["counts"]["needs_attention"], 1);
    assert_eq!(doc["items"][0]["error_kind"], "not_found");
    assert!(doc["items"][0]["error_message"]
        .as_str()
        .unwrap()
        .contains("no longer"));
    assert_eq!(code(&playmark(&data, &["discard", &other])), 0);
    assert_eq!(code(&playmark(&data, &["sync"])), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_login_with_token_on_stdin_then_bulk_season_sync() {
    use playmark::demo::{DemoServer, DEMO_PLEX_TOKEN};
    let server = DemoServer::start_plex(common::clean_config())
        .await
        .unwrap();
    assert_eq!(server.kind(), playmark::demo::DemoKind::Plex);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let login = |token: &str| {
        run_with_stdin(
            &data,
            &["login", "plex", "--server", &server.url()],
            &format!("{token}\n"),
            &[],
        )
    };
    let bad = login("not-the-token");
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    assert_eq!(code(&login("")), 1, "an empty token is refused");
    let ok = login(DEMO_PLEX_TOKEN);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let mut all_output = text(&ok);

    let refresh = playmark(&data, &["refresh"]);
    assert_eq!(code(&refresh), 0, "{}", text(&refresh));
    let season = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Season)
        .unwrap();
    let marked = playmark(&data, &["mark-watched", &season.id]);
    assert_eq!(code(&marked), 0, "{}", text(&marked));
    let sync = playmark(&data, &["sync"]);
    assert_eq!(code(&sync), 0, "{}", text(&sync));
    let status = playmark(&data, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["online"], true, "{json}");
    for o in [&refresh, &marked, &sync, &status] {
        all_output += &text(o);
    }
    assert!(server.user_data(&season.id).unwrap().played);
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/:/"))
        .collect();
    assert_eq!(writes.len(), 1, "one scrobble for the season: {writes:?}");
    assert_eq!(writes[0].query_value("key"), Some(season.id.as_str()));
    assert!(
        !all_output.contains(DEMO_PLEX_TOKEN),
        "token leaked: {all_output}"
    );
    // The token file is private.
    use std::os::unix::fs::PermissionsExt;
    let token_file = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("token-")
        })
        .unwrap();
    let mode = std::fs::metadata(token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn demo_server_kind_plex_serves_identity() {
    use std::io::{Read, Write};
    let port = free_port();
    let child = DemoServerProcess::start("plex", port);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /identity HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    drop(child);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("machineIdentifier"), "{reply}");
    let bad = playmark(
        Path::new("/nonexistent"),
        &["demo-server", "--kind", "emby"],
    );
    assert_eq!(code(&bad), 1, "{}", text(&bad));
}

/// A loopback port nothing listens on (just now).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `playmark demo-server --kind KIND --port PORT` as a process of its own, killed when dropped
/// (also when a test fails half-way).
struct DemoServerProcess(std::process::Child);

impl DemoServerProcess {
    /// Started and ready: its first line ("Demo Jellyfin server at …") printed.
    fn start(kind: &str, port: u16) -> DemoServerProcess {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_playmark"))
            .args(["demo-server", "--kind", kind, "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let name = if kind == "plex" { "Plex" } else { "Jellyfin" };
        assert!(
            first.starts_with(&format!("Demo {name} server at")),
            "{first}"
        );
        DemoServerProcess(child)
    }
}

impl Drop for DemoServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README's "Try the CLI" walkthrough with the offline path, as a person runs it: the
/// demo server is a process of its own, killed and started again. Changes made while it is
/// away stay queued (`sync` exits 4); the restarted server has forgotten its sign-ins (it
/// keeps them in memory), so `sync` says to sign in (exit 2); after `login` the queue that
/// survived all of it is delivered, which a second device then sees.
#[test]
fn the_readme_walkthrough_survives_a_stopped_and_restarted_demo_server() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let server = DemoServerProcess::start("jellyfin", port);
    assert_eq!(code(&login(&data, &url, DEMO_PASSWORD)), 0);
    assert_eq!(code(&run(&data, &["refresh"], None)), 0);
    let items = run(&data, &["items", "--json"], None);
    let items: serde_json::Value = serde_json::from_slice(&items.stdout).unwrap();
    let episode = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Episode")
        .unwrap()["item_id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(server);
    assert_eq!(code(&run(&data, &["mark-watched", &episode], None)), 0);
    assert_eq!(code(&run(&data, &["progress", &episode, "12:34"], None)), 0);
    let status = text(&run(&data, &["status"], None));
    assert!(status.contains("1 pending"), "one row per item: {status}");
    let offline = run(&data, &["sync"], None);
    assert_eq!(code(&offline), 4, "{}", text(&offline));

    let server = DemoServerProcess::start("jellyfin", port);
    let signed_out = run(&data, &["sync"], None);
    assert_eq!(code(&signed_out), 2, "{}", text(&signed_out));
    assert!(
        text(&signed_out).contains("Sign in to Playmark Demo again"),
        "{}",
        text(&signed_out)
    );
    assert_eq!(code(&login(&data, &url, DEMO_PASSWORD)), 0);
    let synced = run(&data, &["sync", "--wait", "30"], None);
    assert_eq!(code(&synced), 0, "{}", text(&synced));

    // Another device sees it on the server.
    let other = dir.path().join("b");
    assert_eq!(code(&login(&other, &url, DEMO_PASSWORD)), 0);
    assert_eq!(code(&run(&other, &["refresh"], None)), 0);
    let seen = run(&other, &["items", "--json"], None);
    let seen: serde_json::Value = serde_json::from_slice(&seen.stdout).unwrap();
    let row = seen
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == episode.as_str())
        .unwrap()
        .clone();
    drop(server);
    assert_eq!(row["position_ms"], 754_000, "{row}");
}

/// A busy server through the CLI: `429 Too Many Requests` with `Retry-After: 2` on the first
/// write. `sync --wait 30` waits it out — no request reaches the server before the two seconds
/// are over — and then delivers, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_wait_honours_retry_after_then_delivers() {
    use playmark::demo::Fault;
    let (server, _dir, data) = start().await;
    let episode = first(&server, ItemKind::Episode);
    let (url, d) = (server.url(), data.clone());
    let ep = episode.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(code(&login(&d, &url, DEMO_PASSWORD)), 0);
        assert_eq!(code(&playmark(&d, &["refresh"])), 0);
        assert_eq!(code(&playmark(&d, &["mark-watched", &ep])), 0);
    })
    .await
    .unwrap();
    let before = server.requests().len();
    server.fail_next(
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(2),
        },
    );
    let d = data.clone();
    let sync = tokio::task::spawn_blocking(move || playmark(&d, &["sync", "--wait", "30"]))
        .await
        .unwrap();
    assert_eq!(code(&sync), 0, "{}", text(&sync));
    assert!(server.user_data(&episode).unwrap().played);
    let seen = server.requests().split_off(before);
    let busy = seen
        .iter()
        .position(|r| r.status == 429)
        .expect("the 429 was answered");
    let next = seen.get(busy + 1).expect("a request after the 429");
    let waited = next
        .at
        .duration_since(seen[busy].at)
        .unwrap_or_default()
        .as_secs_f64();
    let trail: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    assert!(
        waited >= 2.0,
        "next request {waited:.2} s after the 429: {trail:#?}"
    );
}

/// An item deleted on the server while a change to it is queued, through the CLI: `refresh`
/// marks it removed, the change is not dropped but needs attention ("no longer on the
/// server", in `status`), `sync` does not send it, and `discard` lets it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_an_item_deleted_on_the_server_needs_attention_not_silence() {
    let (server, _dir, data) = start().await;
    let movie = first(&server, ItemKind::Movie);
    let (url, d, m) = (server.url(), data.clone(), movie.clone());
    tokio::task::spawn_blocking(move || {
        assert_eq!(code(&login(&d, &url, DEMO_PASSWORD)), 0);
        assert_eq!(code(&playmark(&d, &["refresh"])), 0);
        // Recorded locally only (`mark-watched` never sends).
        let mark = playmark(&d, &["mark-watched", &m]);
        assert_eq!(code(&mark), 0, "{}", text(&mark));
    })
    .await
    .unwrap();
    server.remove_item(&movie);
    let d = data.clone();
    let (status, items) = tokio::task::spawn_blocking(move || {
        let refresh = playmark(&d, &["refresh"]);
        assert_eq!(code(&refresh), 0, "{}", text(&refresh));
        let status = playmark(&d, &["status", "--json"]);
        assert_eq!(code(&status), 0, "{}", text(&status));
        let items = playmark(&d, &["items", "--json"]);
        (status, items)
    })
    .await
    .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["counts"]["needs_attention"], 1, "{doc}");
    let row = &doc["items"][0];
    assert_eq!(row["item_id"], movie.as_str(), "{doc}");
    assert!(
        row.to_string().contains("no longer on the server"),
        "the reason in words: {row}"
    );
    let listed: serde_json::Value = serde_json::from_slice(&items.stdout).unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["item_id"] == movie.as_str()),
        "removed from the library"
    );
    let before = server.requests().len();
    let d = data.clone();
    let m = movie.clone();
    tokio::task::spawn_blocking(move || {
        playmark(&d, &["sync"]);
        let discard = playmark(&d, &["discard", &m]);
        assert_eq!(code(&discard), 0, "{}", text(&discard));
        let status = playmark(&d, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(doc["counts"]["needs_attention"], 0, "{doc}");
    })
    .await
    .unwrap();
    assert!(
        !server
            .requests()
            .split_off(before)
            .iter()
            .any(|r| r.method == "POST" && r.path.contains(&movie)),
        "nothing sent for the removed item"
    );
}

/// stdout of a run that must succeed, as text.
fn stdout_ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Issue 20, item 4: the counts are true and read as words. `refresh` says what changed (not
/// "56 updated" every time), and no sentence says "change(s)" or "0 change(s) queued".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_true_and_use_real_plural_forms() {
    let (server, _dir, data) = start().await;
    let episodes: Vec<String> = server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .map(|i| i.id)
        .collect();
    let total = server.items().len();
    assert_eq!(code(&login(&data, &server.url(), DEMO_PASSWORD)), 0);
    let mut all = String::new();

    let first = stdout_ok(&playmark(&data, &["refresh"]));
    assert!(
        first.starts_with(&format!("Fetched {total} items from Playmark Demo: ")),
        "{first}"
    );
    all += &first;
    // Nothing changed on the server: the second refresh says so.
    let again = stdout_ok(&playmark(&data, &["refresh"]));
    assert_eq!(
        again,
        format!("Fetched {total} items from Playmark Demo: nothing changed.\n")
    );
    // Another device watches one episode: one item updated, in the singular.
    server.set_user_data(
        &episodes[0],
        playmark::model::UserData {
            position_ms: 0,
            played: true,
            play_count: 1,
            last_played: Some(1_700_000_000_000),
        },
    );
    let one = stdout_ok(&playmark(&data, &["refresh"]));
    assert_eq!(
        one,
        format!(
            "Fetched {total} items from Playmark Demo: 1 updated.\n\
             1 item changed on another device.\n"
        )
    );

    // One change queued, in the singular; two in the plural.
    let marked = stdout_ok(&playmark(&data, &["mark-watched", &episodes[1]]));
    assert!(
        marked.ends_with("\n1 change queued; run `playmark sync` to send it now.\n"),
        "{marked}"
    );
    all += &marked;
    let two = stdout_ok(&playmark(&data, &["progress", &episodes[2], "1:00"]));
    assert!(
        two.ends_with("\n2 changes queued; run `playmark sync` to send them now.\n"),
        "{two}"
    );
    // Back to what the server has: nothing queued for it, and not "1 change(s) queued".
    let back = stdout_ok(&playmark(&data, &["mark-unwatched", &episodes[1]]));
    assert!(
        back.ends_with("\n1 change queued; run `playmark sync` to send it now.\n"),
        "{back}"
    );
    let none = stdout_ok(&playmark(&data, &["progress", &episodes[2], "0"]));
    assert!(
        none.ends_with("\nNothing to send: Playmark Demo already has this.\n"),
        "{none}"
    );
    all += &back;
    all += &none;
    all += &stdout_ok(&playmark(&data, &["retry", "--all"]));
    all += &stdout_ok(&playmark(&data, &["discard", &episodes[3]]));
    all += &stdout_ok(&playmark(&data, &["status"]));
    all += &stdout_ok(&playmark(&data, &["logout"]));
    assert!(!all.contains("(s)"), "{all}");
    assert!(all.contains("0 need attention"), "{all}");
    assert!(all.contains("Nothing to retry"), "{all}");
    assert!(all.contains("Nothing to discard"), "{all}");
    assert!(
        all.contains("Signed out of Playmark Demo. 0 queued changes kept"),
        "{all}"
    );
}

/// `playmark --data-dir DIR ARGS…` as a person runs it: no logging asked for, no stdin, the
/// given environment (password, token).
fn plain(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PLAYMARK_LOG")
        .env_remove("PLAYMARK_PASSWORD")
        .env_remove("PLAYMARK_TOKEN")
        .env_remove("PLAYMARK_DATA_DIR")
        .env("DBUS_SESSION_BUS_ADDRESS", common::bin::NO_BUS)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The exit code and stderr of a failed run, which must print nothing on stdout.
fn failed(o: &Output) -> (i32, String) {
    assert!(o.stdout.is_empty(), "{}", text(o));
    (code(o), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A plain HTTP file server (`python3 -m http.server`) on a free port, stopped when dropped.
struct FileServer(std::process::Child, String);

impl FileServer {
    fn start(dir: &Path) -> FileServer {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "http.server started");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 20, item 5: what `login` and `refresh` print when they fail is one sentence a person
/// can read (the app's sign-in words), with the documented exit code; the raw detail only with
/// `-v`. Before: "Sign in to … again — your changes are kept" for a wrong password, a raw HTML
/// page for a file server, raw 401 HTML at a Plex server, "This item is no longer on …" for Plex
/// at a Jellyfin server, and "tcp connect error: Connection refused (os error 111)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_and_an_offline_refresh_are_one_readable_sentence() {
    use playmark::demo::{DemoServer, DEMO_PLEX_TOKEN};
    let (jellyfin, dir, data) = start().await;
    let plex = DemoServer::start_plex(common::clean_config())
        .await
        .unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "<html><body>files</body></html>").unwrap();
    let files = FileServer::start(&www);
    let jf = |url: &str, password: &str| {
        plain(
            &data,
            &["login", "jellyfin", "--server", url, "--user", "demo"],
            &[("PLAYMARK_PASSWORD", password)],
        )
    };
    let px = |url: &str, token: &str| {
        plain(
            &data,
            &["login", "plex", "--server", url],
            &[("PLAYMARK_TOKEN", token)],
        )
    };

    // Wrong password: exit 2, and it says so.
    assert_eq!(
        failed(&jf(&jellyfin.url(), "not-the-password")),
        (2, "Wrong user name or password.\n".to_string())
    );
    // A plain file server: not a Jellyfin server (no HTML), and not a Plex server.
    let not = |url: &str, kind: &str| {
        format!(
            "The server at {url} is not a {kind} server. Check the address and the server type.\n"
        )
    };
    let (c, err) = failed(&jf(&files.1, DEMO_PASSWORD));
    assert_eq!((c, err.as_str()), (1, not(&files.1, "Jellyfin").as_str()));
    let (c, err) = failed(&px(&files.1, DEMO_PLEX_TOKEN));
    assert_eq!((c, err.as_str()), (1, not(&files.1, "Plex").as_str()));
    // Each kind of demo server, signed in to as the other kind.
    let (c, err) = failed(&jf(&plex.url(), DEMO_PASSWORD));
    assert_eq!(
        (c, err.as_str()),
        (1, not(&plex.url(), "Jellyfin").as_str())
    );
    let (c, err) = failed(&px(&jellyfin.url(), DEMO_PLEX_TOKEN));
    assert_eq!(
        (c, err.as_str()),
        (1, not(&jellyfin.url(), "Plex").as_str())
    );
    // With -v the raw detail follows, on a line of its own.
    let verbose = plain(
        &data,
        &[
            "-v", "login", "jellyfin", "--server", &files.1, "--user", "demo",
        ],
        &[("PLAYMARK_PASSWORD", DEMO_PASSWORD)],
    );
    assert!(
        text(&verbose).contains(&format!(
            "{}  (HTTP 404 Not Found",
            not(&files.1, "Jellyfin")
        )),
        "{}",
        text(&verbose)
    );

    // Refresh with the server gone: one sentence, exit 4.
    assert_eq!(code(&jf(&jellyfin.url(), DEMO_PASSWORD)), 0);
    jellyfin.go_offline().await;
    assert_eq!(
        failed(&plain(&data, &["refresh"], &[])),
        (4, "Playmark Demo can't be reached\n".to_string())
    );
}

/// Issue 20, item 5: the password typed at a terminal is not echoed. `login` runs on a
/// pseudo-terminal (util-linux `script`); what is typed there must not come back out of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_typed_at_a_terminal_is_not_echoed() {
    use std::io::Write;
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `script` to give the command a terminal");
        return;
    }
    let (server, _dir, data) = start().await;
    let command = format!(
        "{} --data-dir {} login jellyfin --server {} --user demo",
        env!("CARGO_BIN_EXE_playmark"),
        data.display(),
        server.url()
    );
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("PLAYMARK_LOG")
            .env_remove("PLAYMARK_PASSWORD")
            .env("DBUS_SESSION_BUS_ADDRESS", common::bin::NO_BUS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Typed once the prompt is up; the terminal stays open until the command is done.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(b"typed-secret-demo\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3000));
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let all = text(&out);
    assert!(all.contains("Password:"), "{all}");
    assert!(all.contains("Wrong user name or password."), "{all}");
    assert!(!all.contains("typed-secret-demo"), "echoed: {all}");
}

/// An address without `http://` or `https://` gets one plain line that says what to type, for
/// Jellyfin and Plex alike (the app's sign-in dialog shows the same sentence), and exit 1.
#[test]
fn an_address_without_http_says_to_add_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As a person runs it: no log filter (the stderr is the message alone).
    let login = |args: &[&str], secret: (&str, &str)| {
        Command::new(env!("CARGO_BIN_EXE_playmark"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("PLAYMARK_LOG")
            .env_remove("RUST_LOG")
            .env("DBUS_SESSION_BUS_ADDRESS", common::bin::NO_BUS)
            .env(secret.0, secret.1)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let jellyfin = login(
        &[
            "login",
            "jellyfin",
            "--server",
            "media.local",
            "--user",
            "demo",
        ],
        ("PLAYMARK_PASSWORD", DEMO_PASSWORD),
    );
    let plex = login(
        &["login", "plex", "--server", "192.168.1.5:32400"],
        ("PLAYMARK_TOKEN", "some-token"),
    );
    for (out, address) in [(&jellyfin, "media.local"), (&plex, "192.168.1.5:32400")] {
        assert_eq!(code(out), 1, "{}", text(out));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "That server address doesn't look right: add http:// or https:// to the start of \"{address}\"\n"
            ),
        );
        assert!(out.stdout.is_empty(), "{}", text(out));
    }
}

/// The README's Plex walkthrough, as a person runs it: `demo-server --kind plex` says how to
/// make it stand in for plex.tv, and `login plex` with that `PLAYMARK_PLEX_TV_URL` learns the
/// token's user from the demo server (a verified user, not an "unverified" one): the demo
/// token is never sent to the real plex.tv.
#[test]
fn the_readme_plex_walkthrough_asks_the_demo_server_not_plex_tv() {
    use std::io::{BufRead, BufReader};
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_playmark"))
        .args(["demo-server", "--kind", "plex", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let server = DemoServerProcess(child);
    let mut printed = String::new();
    while !printed.contains("Press Ctrl+C") {
        assert_ne!(stdout.read_line(&mut printed).unwrap(), 0, "{printed}");
    }
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        printed.contains(&format!("export PLAYMARK_PLEX_TV_URL={url} ")),
        "{printed}"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let login = common::bin::login_plex(&data, &url, &url, "playmark-demo-plex-token", &[]);
    assert_eq!(code(&login), 0, "{}", text(&login));
    let accounts = playmark(&data, &["accounts", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&accounts.stdout).unwrap();
    let user_id = list[0]["user_id"].as_str().unwrap().to_string();
    assert!(
        user_id.starts_with("plex.tv:") && !user_id.contains("unverified"),
        "the demo server named the token's user: {list}"
    );
    drop(server);
}
