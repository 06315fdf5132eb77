//! Bad input from the server and from the person: no panic, a clear error, nothing lost.
//!
//! Server side over real HTTP on loopback (a hostile fake in `common::hostile`, or raw sockets
//! for byte-level misbehaviour); user side through the real `playmark` binary and a real data
//! directory. See docs/RELIABILITY.md for the table of cases.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::bin::{code, expect_code, login, run, text};
use common::hostile::{episode, page, percent_decode, Hostile, Reply};
use playmark::backend::jellyfin::{ClientOptions, DeviceInfo, JellyfinClient};
use playmark::backend::{ErrorKind, MediaServer};
use playmark::demo::{DemoConfig, DEMO_PASSWORD};
use playmark::model::{DesiredState, ItemKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn playmark(data: &Path, args: &[&str]) -> std::process::Output {
    run(data, args, None)
}

fn client(base: &str, timeout: Duration) -> JellyfinClient {
    JellyfinClient::new(
        base,
        DeviceInfo::playmark("bad-input-test"),
        ClientOptions {
            timeout,
            connect_timeout: Duration::from_secs(2),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// A raw TCP server: for each connection, read the request, then run `reply` on the socket.
async fn raw_server<F, Fut>(reply: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reply = std::sync::Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                reply(socket).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Fail the test instead of hanging when a bad server stalls the client.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the client gave up on its own")
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn slowloris_body_and_headers_are_cut_by_the_request_timeout() {
    // Headers at once, then the body one byte every 100 ms (would take 100 s).
    let body_drip = raw_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            .await;
        for _ in 0..1000 {
            if s.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    // The status line and headers themselves one byte every 100 ms.
    let header_drip = raw_server(|mut s| async move {
        for b in b"HTTP/1.1 200 OK\r\nX-Padding: "
            .iter()
            .chain([b'a'; 1000].iter())
        {
            if s.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    for base in [body_drip, header_drip] {
        let e = bounded(client(&base, Duration::from_millis(800)).probe())
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{base}: {}", e.detail);
        assert!(e.detail.contains("timed out"), "{}", e.detail);
    }
}

#[tokio::test]
async fn invalid_utf8_in_json_and_in_error_bodies_is_a_clear_transient_error() {
    let base = raw_server(|mut s| async move {
        let body: &[u8] = b"{\"Id\":\"\xff\xfe\xfd\",\"Version\":\"10.11.0\"}";
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(body).await;
    })
    .await;
    let e = bounded(client(&base, Duration::from_secs(5)).probe())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{}", e.detail);
    assert!(
        e.detail
            .starts_with("unexpected response from server: invalid JSON"),
        "{}",
        e.detail
    );

    let error_page = raw_server(|mut s| async move {
        let body: &[u8] = b"\xff\xfe<html>\xc3\x28 proxy \xe2\x82 error</html>";
        let head = format!(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(body).await;
    })
    .await;
    let e = bounded(client(&error_page, Duration::from_secs(5)).probe())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{}", e.detail);
    assert_eq!(e.status, Some(502));
    assert!(
        e.detail.starts_with("HTTP 502 Bad Gateway: "),
        "{}",
        e.detail
    );
    assert!(e.detail.contains("proxy"), "{}", e.detail);
}

#[tokio::test]
async fn redirect_to_another_host_name_or_port_never_carries_the_token() {
    // Another listener (another port) and the same listener under another host name
    // (127.0.0.1 → localhost): both are other origins.
    let other = Hostile::start(Reply::json(page(vec![]))).await;
    let main = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let other_url = other.url.clone();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, bool)>::new()));
        let log = seen.clone();
        let router = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap| {
                let log = log.clone();
                let other_url = other_url.clone();
                async move {
                    use axum::response::IntoResponse;
                    let host = headers
                        .get("host")
                        .map(|h| h.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    let token = headers
                        .get("authorization")
                        .is_some_and(|a| a.to_str().unwrap().contains("SECRET-TOKEN"));
                    log.lock().unwrap().push((host.clone(), token));
                    let target = if uri.path().starts_with("/UserItems/") {
                        // A write: 307 keeps the method and body.
                        format!("{other_url}{}", uri.path())
                    } else {
                        format!("http://localhost:{port}{}", uri.path())
                    };
                    let status = if method == axum::http::Method::POST {
                        axum::http::StatusCode::TEMPORARY_REDIRECT
                    } else {
                        axum::http::StatusCode::FOUND
                    };
                    (status, [("Location", target)]).into_response()
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (format!("http://127.0.0.1:{port}"), seen)
    };
    let (base, seen) = main;
    let c = client(&base, Duration::from_secs(5))
        .with_session("SECRET-TOKEN-abc123".into(), "user-1".into());

    let e = bounded(c.me()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{}", e.detail);
    assert!(e.detail.contains("http://localhost:"), "{}", e.detail);
    let d = DesiredState {
        position_ms: 1_000,
        played: false,
        play_count: 0,
        last_played: None,
    };
    let e = bounded(c.push_item("item-1", &d)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{}", e.detail);
    assert_eq!(e.status, Some(307));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter().all(|(host, _)| host.starts_with("127.0.0.1:")),
        "a request reached the other host name: {seen:?}"
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_library_responses_fail_refresh_clearly_and_keep_queued_changes() {
    let weird_ids = [
        "it's \"quoted\"",
        "'); DROP TABLE items; --",
        "épisode-✓-日本語",
        "a/b?c=d#e %41",
    ];
    let mut items: Vec<serde_json::Value> = weird_ids
        .iter()
        .enumerate()
        .map(|(i, id)| episode(id, &format!("Episode {i}"), i as i64 + 1))
        .collect();
    // Missing fields and wrong types in single items: skipped, the rest of the page is used.
    items.push(serde_json::json!({"Id": "no-user-data", "Type": "Episode", "Name": "x"}));
    items.push(serde_json::json!({"Id": 12, "Type": "Episode", "UserData": {}}));
    items.push(serde_json::json!({"Id": "bad-ticks", "Type": "Movie", "RunTimeTicks": "long", "UserData": {}}));
    items.push(serde_json::json!("not an object"));
    let hostile = Hostile::start(Reply::json(page(items))).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &hostile.url, "any"), 0);
    let out = expect_code(&playmark(&data, &["refresh"]), 0);
    assert!(out.contains("Fetched 4 items"), "{out}");
    for id in weird_ids {
        expect_code(&playmark(&data, &["mark-watched", id]), 0);
    }

    let bad_pages = [
        Reply::json(serde_json::json!({"Items": 5})),
        Reply::json(serde_json::json!([1, 2, 3])),
        Reply::json(serde_json::json!({"Items": [], "TotalRecordCount": "many"})),
        Reply::raw(200, "text/html", "<html><body>Captive portal: please log in</body></html>"),
        Reply::raw(
            502,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>",
        ),
        Reply::raw(200, "application/json", b"{\"Items\":[{\"Id\":\"\xff\xfe\"}]}".to_vec()),
        Reply::raw(200, "application/json", ""),
        Reply::raw(200, "application/json", "{\"Items\":[{\"Id\":\"x\""),
    ];
    for reply in bad_pages {
        let shown = String::from_utf8_lossy(&reply.body).into_owned();
        hostile.set_items(reply);
        // `-v`: the raw detail follows the sentence.
        let out = expect_code(&playmark(&data, &["-v", "refresh"]), 1);
        assert!(
            out.contains("Could not fetch the library from Hostile"),
            "{shown}: {out}"
        );
        assert!(
            out.contains("unexpected response") || out.contains("HTTP 502"),
            "{shown}: {out}"
        );
        // Nothing lost: the four queued changes are still there.
        let status = playmark(&data, &["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(doc["counts"]["pending"], 4, "{shown}");
    }

    // A server that ignores paging would hand out the same page forever: refused.
    let endless: Vec<serde_json::Value> = (0..DEFAULT_PAGE as usize)
        .map(|i| episode(&format!("loop-{i}"), "Loop", 1))
        .collect();
    hostile.set_paging(false);
    hostile.set_items(Reply::json(serde_json::json!({
        "Items": endless, "TotalRecordCount": 1_000_000_000_000_i64, "StartIndex": 0
    })));
    let out = expect_code(&playmark(&data, &["refresh"]), 1);
    assert!(out.contains("ignored paging"), "{out}");
    let fetches = hostile
        .requests()
        .iter()
        .filter(|r| r.path == "/Items")
        .count();
    assert!(fetches < 20, "{fetches} pages fetched");

    // The weird ids go out percent-encoded in the path, each exactly as the server sent it.
    expect_code(&playmark(&data, &["sync"]), 0);
    let mut written: Vec<String> = hostile
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/UserItems/"))
        .map(|r| {
            assert!(r.had_token);
            let id = r
                .path
                .trim_start_matches("/UserItems/")
                .trim_end_matches("/UserData");
            assert!(!id.contains('/') && !id.contains('?'), "{}", r.path);
            percent_decode(id)
        })
        .collect();
    written.sort();
    let mut expected: Vec<String> = weird_ids.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(written, expected);
}

const DEFAULT_PAGE: u64 = playmark::sync::DEFAULT_PAGE_SIZE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_claiming_an_old_version_is_refused_at_sign_in() {
    let server = playmark::demo::DemoServer::start(DemoConfig {
        version: "10.8.13".to_string(),
        ..common::clean_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 1);
    assert!(
        out.contains("Jellyfin 10.8.13 is too old: Playmark needs 10.9 or newer"),
        "{out}"
    );
    // Refused before the password was sent; nothing stored.
    assert!(server
        .requests()
        .iter()
        .all(|r| !r.path.contains("Authenticate")));
    let out = expect_code(&playmark(&data, &["status"]), 0);
    assert!(out.contains("Not signed in"), "{out}");
    assert!(!token_files(&data));

    let hostile = Hostile::start(Reply::json(page(vec![]))).await;
    for (version, words) in [
        // No version at all: it does not answer as Jellyfin does.
        (
            "",
            "is not a Jellyfin server. Check the address and the server type.",
        ),
        (
            "banana",
            "This server is not supported: unrecognized Jellyfin version",
        ),
        (
            "9.1.0",
            "This server is not supported: Jellyfin 9.1.0 is too old",
        ),
    ] {
        hostile.set_version(version);
        let out = expect_code(&login(&data, &hostile.url, "pw"), 1);
        assert!(out.contains(words), "{version}: {out}");
    }
    assert!(!token_files(&data));
}

fn token_files(data: &Path) -> bool {
    std::fs::read_dir(data)
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("token-"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// User side
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_addresses_unreachable_hosts_and_wrong_passwords_are_explained() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cases: &[(&str, i32, &str)] = &[
        (
            "127.0.0.1:8096",
            1,
            "add http:// or https:// to the start of \"127.0.0.1:8096\"",
        ),
        (
            "media.local",
            1,
            "add http:// or https:// to the start of \"media.local\"",
        ),
        ("http://media local:8096", 1, "contains spaces"),
        ("ftp://127.0.0.1", 1, "must start with http:// or https://"),
        (
            "http://user:pw@127.0.0.1",
            1,
            "must not contain a user name or password",
        ),
        ("", 1, "is empty"),
    ];
    for (url, expected, words) in cases {
        let out = expect_code(&login(&data, url, DEMO_PASSWORD), *expected);
        assert!(out.contains(words), "{url}: {out}");
    }
    // A closed port on this machine: unreachable, exit 4.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = expect_code(
        &login(&data, &format!("http://127.0.0.1:{closed}"), DEMO_PASSWORD),
        4,
    );
    assert!(
        out.contains("Can't reach a server at http://127.0.0.1:"),
        "{out}"
    );
    // Wrong password: exit 2, said plainly.
    let out = expect_code(&login(&data, &server.url(), "not-the-password"), 2);
    assert!(out.contains("Wrong user name or password."), "{out}");
    assert!(!token_files(&data));
}

/// Sign in to a clean demo server and fetch its library.
async fn signed_in() -> (
    playmark::demo::DemoServer,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);
    (server, dir, data)
}

fn first_episode(server: &playmark::demo::DemoServer) -> (String, i64) {
    let e = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode)
        .unwrap();
    (e.id, e.runtime_ms.unwrap())
}

fn pending(data: &Path) -> i64 {
    let status = playmark(data, &["status", "--json"]);
    assert_eq!(code(&status), 0, "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    doc["counts"]["pending"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_absurd_and_malformed_positions_are_refused_and_nothing_is_queued() {
    let (server, _dir, data) = signed_in().await;
    let (episode, runtime_ms) = first_episode(&server);
    let past_end = format!("{}", runtime_ms / 1000 + 60);
    let cases: &[(&str, &str)] = &[
        ("-5", "is negative"),
        ("-0:01", "is negative"),
        ("1e12", "not a plausible position"),
        ("99999999999", "not a plausible position"),
        ("NaN", "not a position"),
        ("inf", "not a position"),
        ("1:75", "not a position"),
        ("1:2:3:4", "not a position"),
        ("", "not a position"),
        ("12 34", "not a position"),
        ("٣", "not a position"),
        (&past_end, "past the end"),
    ];
    for (position, words) in cases {
        let out = expect_code(&playmark(&data, &["progress", &episode, position]), 1);
        assert!(out.contains(words), "{position:?}: {out}");
    }
    // A season has no position.
    let season = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Season)
        .unwrap()
        .id;
    let out = expect_code(&playmark(&data, &["progress", &season, "10"]), 1);
    assert!(
        out.contains("a position needs an episode or movie"),
        "{out}"
    );
    assert_eq!(pending(&data), 0);
    // The good one still works.
    expect_code(&playmark(&data, &["progress", &episode, "0:42"]), 0);
    assert_eq!(pending(&data), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_hostile_item_ids_are_unknown_items_and_the_database_is_intact() {
    let (server, _dir, data) = signed_in().await;
    let before = playmark(&data, &["items", "--json"]).stdout;
    for id in [
        "no-such-item",
        "'; DROP TABLE items; --",
        "\" OR 1=1 --",
        "%' OR item_id LIKE '%",
        "日本語-✓-\u{202e}evil",
        "../../etc/passwd",
        "a\tb",
    ] {
        for args in [
            vec!["mark-watched", id],
            vec!["mark-unwatched", id],
            vec!["progress", id, "10"],
        ] {
            let out = expect_code(&playmark(&data, &args), 1);
            assert!(out.contains("Not recorded: Unknown item"), "{id:?}: {out}");
        }
        // Retry and discard of an unknown id change nothing and say so.
        let out = expect_code(&playmark(&data, &["discard", id]), 0);
        assert!(
            out.contains("Nothing to discard: no change of those items is queued."),
            "{out}"
        );
    }
    assert_eq!(playmark(&data, &["items", "--json"]).stdout, before);
    assert_eq!(pending(&data), 0);
    let conn = rusqlite::Connection::open(data.join("playmark.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let items: i64 = conn
        .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(items as usize, server.items().len());
}

/// Mount a fresh tmpfs of `size_kib` at `dir` (root only). False when this machine does not
/// allow it (not root, or no mount permission in a container).
fn mount_tmpfs(dir: &Path, size_kib: u32) -> bool {
    std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size_kib}k,mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let ok = std::process::Command::new("umount")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "umount {dir:?}");
}

/// Unmounts on drop, so a failing test does not leave a mount behind in /tmp.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Copy every file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Remount `dir` read-only (root), or drop its write permission (others). Returns how, or
/// None when neither is possible here.
fn make_read_only(dir: &Path) -> Option<&'static str> {
    let mount = |args: &[&str]| {
        std::process::Command::new("mount")
            .args(args)
            .arg(dir)
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    if mount(&["--bind"]) {
        let ok = std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some("read-only bind mount");
        }
        umount(dir);
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores permission bits: check that the directory really refuses writes.
    if std::fs::write(dir.join("probe"), b"x").is_err() {
        return Some("mode 0500");
    }
    let _ = std::fs::remove_file(dir.join("probe"));
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_data_dir_reports_not_recorded_and_loses_nothing() {
    let (server, dir, data) = signed_in().await;
    let (episode, _) = first_episode(&server);
    expect_code(&playmark(&data, &["progress", &episode, "1:00"]), 0);
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    copy_dir(&data, &ro);
    let Some(how) = make_read_only(&ro) else {
        eprintln!("SKIPPED: cannot make a directory read-only on this machine");
        return;
    };
    let mounted = how.contains("mount").then(|| Mounted(ro.clone()));
    let out = expect_code(&playmark(&ro, &["progress", &episode, "2:00"]), 1);
    assert!(
        out.contains("Not recorded: The data directory"),
        "{how}: {out}"
    );
    assert!(out.contains("is not writable"), "{out}");
    let out = expect_code(&playmark(&ro, &["mark-watched", &episode]), 1);
    assert!(out.contains("Not recorded"), "{out}");
    let out = expect_code(&playmark(&ro, &["status"]), 1);
    assert!(out.contains("is not writable"), "{out}");
    // `play` says the same, not "database error: unable to open database file" (issue 20,
    // item 5).
    let out = expect_code(&playmark(&ro, &["play", &episode]), 1);
    assert!(
        out.contains(&format!(
            "The data directory {} is not writable: Playmark keeps its database there.",
            ro.display()
        )),
        "{out}"
    );
    assert!(!out.contains("database error"), "{out}");
    let out = expect_code(&playmark(&ro.join("new"), &["status"]), 1);
    assert!(out.contains("cannot be created"), "{out}");
    if let Some(mounted) = mounted {
        drop(mounted);
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // Writable again: the earlier change is there, the refused ones are not.
    let status = playmark(&ro, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["counts"]["pending"], 1);
    assert_eq!(doc["items"][0]["desired"]["position_ms"], 60_000);
    assert_eq!(doc["items"][0]["desired"]["played"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_reports_not_recorded_and_recovers_when_space_is_back() {
    let (server, dir, data) = signed_in().await;
    let (episode, _) = first_episode(&server);
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    if !mount_tmpfs(&full, 512) {
        // The same condition without root is the unit test
        // `store::tests::full_database_rolls_back_the_change_that_does_not_fit`.
        eprintln!("SKIPPED: cannot mount a tmpfs here; see the max_page_count unit test");
        return;
    }
    let mounted = Mounted(full.clone());
    copy_dir(&data, &full);
    let used: u64 = std::fs::read_dir(&full)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().div_ceil(4096) * 4096)
        .sum();
    // Leave `free` KiB: first a little (SQLite cannot even map its shared-memory file), then
    // enough for that but not for the write-ahead log.
    for free_kib in [8_u64, 40] {
        let fill = full.join("fill");
        std::fs::write(
            &fill,
            vec![0u8; (512 * 1024 - used - free_kib * 1024) as usize],
        )
        .unwrap();
        let out = expect_code(&playmark(&full, &["progress", &episode, "3:00"]), 1);
        assert!(out.contains("Not recorded"), "free {free_kib} KiB: {out}");
        assert!(
            out.contains("disk holding the Playmark database is full")
                || out.contains("the disk may be full"),
            "free {free_kib} KiB: {out}"
        );
        std::fs::remove_file(&fill).unwrap();
        // Space is back: the refused change was not recorded, and writing works again.
        assert_eq!(pending(&full), 0, "free {free_kib} KiB");
    }
    expect_code(&playmark(&full, &["progress", &episode, "3:00"]), 0);
    assert_eq!(pending(&full), 1);
    let conn = rusqlite::Connection::open(full.join("playmark.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    drop(mounted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_database_is_refused_then_moved_aside_on_request_never_deleted() {
    let (server, dir, data) = signed_in().await;
    let (episode, _) = first_episode(&server);
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);
    let db = data.join("playmark.db");
    let healthy = std::fs::read(&db).unwrap();

    // A healthy database is never reset.
    let out = expect_code(&playmark(&data, &["reset-database"]), 1);
    assert!(out.contains("is healthy: nothing was changed"), "{out}");

    let damage: [(&str, Vec<u8>); 3] = [
        ("truncated", healthy[..healthy.len() / 2].to_vec()),
        ("garbage", vec![0x5a; healthy.len()]),
        ("header only", healthy[..100].to_vec()),
    ];
    for (what, bytes) in damage {
        std::fs::write(&db, &bytes).unwrap();
        for args in [
            vec!["status"],
            vec!["items"],
            vec!["mark-watched", &episode],
        ] {
            let out = expect_code(&playmark(&data, &args), 1);
            assert!(out.contains("damaged"), "{what} {args:?}: {out}");
            assert!(out.contains("playmark reset-database"), "{what}: {out}");
            assert_eq!(std::fs::read(&db).unwrap(), bytes, "{what}: file changed");
        }
        let out = expect_code(&playmark(&data, &["reset-database"]), 0);
        assert!(out.contains("kept, not deleted"), "{out}");
        let moved = out
            .split("moved to ")
            .nth(1)
            .and_then(|rest| rest.split(" (kept").next())
            .unwrap();
        assert!(moved.contains("playmark.db.corrupt-"), "{moved}");
        assert_eq!(
            std::fs::read(moved).unwrap(),
            bytes,
            "{what}: set-aside copy"
        );
        // A fresh, empty, working database in its place.
        let out = expect_code(&playmark(&data, &["status"]), 0);
        assert!(out.contains("Not signed in"), "{out}");
    }
    let kept = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .count();
    assert_eq!(kept, 3);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_from_a_newer_version_is_refused_and_left_alone() {
    let (_server, _dir, data) = signed_in().await;
    let db = data.join("playmark.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    for args in [vec!["status"], vec!["refresh"], vec!["sync"]] {
        let out = expect_code(&playmark(&data, &args), 1);
        assert!(
            out.contains("was written by a newer Playmark (schema 99"),
            "{args:?}: {out}"
        );
        assert!(out.contains("please update Playmark"), "{out}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
}
