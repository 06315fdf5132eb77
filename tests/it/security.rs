//! Secrets and shared data: the access token never leaks (logs at TRACE, output, argv, the
//! SQLite file and its WAL), files are private, and two processes on one data directory do not
//! corrupt it or lose a change they reported as recorded.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::bin::{code, expect_code, login, login_args, run, text};
use playmark::demo::{Fault, DEMO_PASSWORD};
use playmark::model::ItemKind;

fn playmark(data: &Path, args: &[&str]) -> std::process::Output {
    run(data, args, None)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn token_file(data: &Path) -> PathBuf {
    std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("token-")
        })
        .expect("a token file")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_trace_logs_output_status_or_the_database() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let episodes: Vec<String> = server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .map(|i| i.id)
        .take(3)
        .collect();

    // Every run logs at TRACE (common::bin::run); collect stdout + stderr of all of them.
    let mut outputs = Vec::new();
    let mut step = |o: std::process::Output| {
        outputs.push(text(&o));
        o
    };
    expect_code(
        &step(login(
            &dir.path().join("data"),
            &server.url(),
            DEMO_PASSWORD,
        )),
        0,
    );
    expect_code(&step(playmark(&data, &["refresh"])), 0);
    expect_code(&step(playmark(&data, &["mark-watched", &episodes[0]])), 0);
    expect_code(
        &step(playmark(&data, &["progress", &episodes[1], "4:05"])),
        0,
    );
    // Failing syncs: 500s with bodies, a reset, a malformed body, then the server offline.
    // A `sync` without --wait makes one attempt (a read, then the writes) and stops, so how many
    // queued faults it used depends on where it failed: each phase drops what is left and makes
    // the changes due again, so every failure path really runs and none leaks into the recovery.
    for fault in [
        Fault::Status {
            code: 500,
            retry_after: None,
        },
        Fault::Reset,
        Fault::Malformed,
    ] {
        server.fail_next(3, fault);
        expect_code(&step(playmark(&data, &["retry", "--all"])), 0);
        expect_code(&step(playmark(&data, &["sync"])), 3);
        server.clear_faults();
    }
    server.set_offline(true);
    expect_code(&step(playmark(&data, &["sync"])), 4);
    let status_offline = step(playmark(&data, &["status", "--json"]));
    server.set_offline(false);
    expect_code(&step(playmark(&data, &["retry", "--all"])), 0);
    expect_code(&step(playmark(&data, &["sync", "--wait", "20"])), 0);
    // A revoked token: the 401 path.
    server.revoke_tokens();
    expect_code(&step(playmark(&data, &["mark-watched", &episodes[2]])), 0);
    expect_code(&step(playmark(&data, &["sync"])), 2);
    let status = step(playmark(&data, &["status", "--json"]));
    expect_code(&step(playmark(&data, &["items", "--json"])), 0);

    let token_path = token_file(&data);
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.len() >= 16, "a real token");
    // The logs were really at TRACE and really covered requests (else this test proves nothing).
    let all = outputs.join("\n");
    assert!(all.contains("TRACE"), "no TRACE lines captured");
    assert!(
        all.contains("jellyfin request"),
        "no request logging captured"
    );
    assert!(all.contains("/UserItems/"), "no write request logged");
    for path in [
        "HTTP 500",
        "connection failed",
        "truncated JSON",
        "HTTP 401",
    ] {
        assert!(all.contains(path), "the failure path {path:?} never ran");
    }
    assert!(!all.contains(&token), "token in the output of a command");
    for o in [&status_offline, &status] {
        assert!(!contains(&o.stdout, &token), "token in status --json");
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(doc["items"].is_array());
    }
    // Not in the database, nor in its WAL / shared-memory files, nor anywhere but its own file
    // (checked while a connection is open, so the WAL still exists).
    let conn = rusqlite::Connection::open(data.join("playmark.db")).unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; UPDATE meta SET value = value; COMMIT;")
        .unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path != token_path {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(!contains(&bytes, &token), "token in {path:?}");
        }
    }
    assert!(files >= 2, "database and WAL checked");
    assert!(data.join("playmark.db-wal").exists());
    // The server did get it, in the header (so the search above looked for the right thing).
    assert!(server
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/UserItems/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_is_0700_and_token_and_database_files_are_0600() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A directory and database that someone else made world-readable are tightened.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("playmark.db"), b"").unwrap();
    std::fs::set_permissions(
        data.join("playmark.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&token_file(&data)), 0o600);
    assert_eq!(mode(&data.join("playmark.db")), 0o600);
    // SQLite's side files take the database's mode.
    let conn = rusqlite::Connection::open(data.join("playmark.db")).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE; UPDATE meta SET value = value; COMMIT;")
        .unwrap();
    for side in ["playmark.db-wal", "playmark.db-shm"] {
        assert_eq!(mode(&data.join(side)), 0o600, "{side}");
    }
    drop(conn);
    // Logging in again rewrites the token file, still 0600, never through a readable temp.
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    assert_eq!(mode(&token_file(&data)), 0o600);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{path:?}");
    }
}

#[test]
fn the_password_and_token_are_never_accepted_in_argv() {
    let dir = tempfile::tempdir().unwrap();
    let server = ["--server", "http://127.0.0.1:9", "--user", "u"];
    for extra in [
        &["--password", "pw"][..],
        &["--token", "t"],
        &["--pw", "x"],
        &["--api-key", "x"],
    ] {
        let mut args = vec!["login", "jellyfin"];
        args.extend(server);
        args.extend(extra);
        let out = expect_code(&playmark(dir.path(), &args), 1);
        assert!(out.contains("unexpected argument"), "{args:?}: {out}");
    }
    // The help says where the password comes from instead.
    let help = playmark(dir.path(), &["login", "--help"]);
    assert!(text(&help).contains("password from stdin or PLAYMARK_PASSWORD"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_data_dir_lose_nothing_and_keep_the_database_sound() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episodes: Vec<String> = server
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .map(|i| i.id)
        .collect();
    assert!(episodes.len() >= 40);
    server.set_offline(true);

    // Two writers, 20 commands each on their own items, plus a third process reading status
    // all along.
    let run_writer = |ids: Vec<String>, data: PathBuf| {
        std::thread::spawn(move || {
            ids.iter()
                .enumerate()
                .map(|(n, id)| {
                    let position = format!("{}", 60 + n);
                    let o = run(&data, &["progress", id, &position], None);
                    (id.clone(), (60 + n as i64) * 1000, code(&o), text(&o))
                })
                .collect::<Vec<_>>()
        })
    };
    let a = run_writer(episodes[..20].to_vec(), data.clone());
    let b = run_writer(episodes[20..40].to_vec(), data.clone());
    let reader_data = data.clone();
    let reader = std::thread::spawn(move || {
        (0..10)
            .map(|_| code(&run(&reader_data, &["status", "--json"], None)))
            .collect::<Vec<_>>()
    });
    let mut results = a.join().unwrap();
    results.extend(b.join().unwrap());
    let reader_codes = reader.join().unwrap();

    let items = playmark(&data, &["items", "--json"]);
    let items: Vec<serde_json::Value> = serde_json::from_slice(&items.stdout).unwrap();
    let mut recorded = 0;
    for (id, position_ms, exit, out) in &results {
        assert!(!out.contains("panicked"), "{out}");
        let item = items.iter().find(|i| i["item_id"] == id.as_str()).unwrap();
        if *exit == 0 {
            recorded += 1;
            assert_eq!(
                item["position_ms"], *position_ms,
                "{id} reported recorded: {out}"
            );
            assert_eq!(item["sync_state"], "pending");
        } else {
            // Only an honest "not recorded" is allowed, and then the item is untouched.
            assert!(out.contains("Not recorded"), "{out}");
            assert_eq!(item["position_ms"], 0, "{id}");
        }
    }
    // With the busy timeout and write transactions that take the lock up front, every command
    // gets through.
    assert_eq!(recorded, 40, "{results:?}");
    assert!(reader_codes.iter().all(|c| *c == 0), "{reader_codes:?}");
    let conn = rusqlite::Connection::open(data.join("playmark.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let queued: i64 = conn
        .query_row("SELECT count(*) FROM sync_outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 40);
}

/// The same race without process start-up in between: two connections in two threads, each
/// recording 300 changes as fast as it can. A deferred transaction that reads and then writes
/// fails at once with SQLITE_BUSY when the other connection wrote in between; the store's
/// immediate transactions wait for the lock instead.
#[test]
fn two_connections_recording_at_once_never_fail_busy() {
    use playmark::model::LocalChange;
    use playmark::store::{database_path, Store};
    let (dir, mut store, account) = common::store_with_account();
    let path = database_path(dir.path());
    let items: Vec<playmark::model::RemoteItem> = (0..600)
        .map(|n| playmark::model::RemoteItem {
            provider_ids: Vec::new(),
            id: format!("movie-{n}"),
            kind: ItemKind::Movie,
            name: format!("Movie {n}"),
            parent_id: None,
            series_id: None,
            season_id: None,
            series_name: None,
            season_number: None,
            episode_number: None,
            runtime_ms: Some(7_200_000),
            user_data: Default::default(),
        })
        .collect();
    store.apply_remote_items(account, &items, 1).unwrap();
    drop(store);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let mut errors = Vec::new();
                for n in (w..600).step_by(2) {
                    let change = LocalChange::Position {
                        position_ms: 1_000 * n as i64 + 1,
                    };
                    if let Err(e) =
                        store.record_change(account, &format!("movie-{n}"), change, 2, 0)
                    {
                        errors.push(e.to_string());
                    }
                }
                errors
            })
        })
        .collect();
    for w in writers {
        let errors = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "{} failed: {:?}",
            errors.len(),
            &errors[..1]
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.outbox(account).unwrap().len(), 600);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn plain_http_to_another_host_warns_at_sign_in_and_loopback_does_not() {
    use playmark::backend::transport::plaintext_warning;
    // The decision itself (no traffic to other hosts in tests).
    assert!(plaintext_warning("http://media.example.com:8096").is_some());
    assert!(plaintext_warning("https://media.example.com").is_none());
    assert!(plaintext_warning("http://127.0.0.1:8096").is_none());
    // And the binary shows it before connecting. 0.0.0.0 is not a loopback address, but
    // connecting to it stays on this machine (Linux routes it locally; nothing listens on
    // port 1), so no traffic leaves the test.
    let dir = tempfile::tempdir().unwrap();
    let out = login(dir.path(), "http://0.0.0.0:1", "pw");
    let all = text(&out);
    assert!(
        all.contains("Warning: 0.0.0.0 is reached over plain http://"),
        "{all}"
    );
    assert_ne!(code(&out), 0);
    let out = login(dir.path(), "http://127.0.0.1:9", "pw");
    assert!(!text(&out).contains("plain http://"), "{}", text(&out));
}

/// An HTTPS front for `backend` (the demo server) on 127.0.0.1 with the self-signed test
/// certificate in tests/fixtures/tls: TLS is terminated here and the bytes proxied.
async fn https_front(backend: std::net::SocketAddr) -> String {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let cert =
        rustls::pki_types::CertificateDer::from(std::fs::read(fixtures.join("cert.der")).unwrap());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        std::fs::read(fixtures.join("key.pk8.der")).unwrap().into(),
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to proxy.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_and_a_self_signed_server_needs_its_certificate_trusted_explicitly() {
    let server = common::clean_server().await;
    let backend: std::net::SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();
    let url = https_front(backend).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Verification is on by default: the self-signed server is refused, with the way out.
    let out = expect_code(&login(&data, &url, DEMO_PASSWORD), 1);
    assert!(out.contains("TLS certificate is not trusted"), "{out}");
    assert!(out.contains("--trust-certificate"), "{out}");
    // Trusting some other certificate does not help.
    let with_cert = |file: &str| {
        let file = fixtures.join(file);
        run(
            &data,
            &login_args(&url, &["--trust-certificate", file.to_str().unwrap()]),
            Some(DEMO_PASSWORD),
        )
    };
    let out = expect_code(&with_cert("other-cert.pem"), 1);
    assert!(out.contains("TLS certificate is not trusted"), "{out}");
    // Not a certificate at all: refused before any connection.
    let out = expect_code(&with_cert("README.md"), 1);
    assert!(out.contains("not a PEM certificate"), "{out}");
    assert!(
        server.requests().is_empty(),
        "nothing got through the TLS front yet"
    );

    // The server's own certificate, explicitly: signed in, and remembered for later commands.
    let out = expect_code(&with_cert("cert.pem"), 0);
    assert!(out.contains("Trusting the certificate in"), "{out}");
    let pinned = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".pem"))
        .unwrap();
    assert_eq!(mode(&pinned), 0o600);
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episode = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode)
        .unwrap()
        .id;
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);
    expect_code(&playmark(&data, &["sync"]), 0);
    assert!(server.user_data(&episode).unwrap().played);
    let status = playmark(&data, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["online"], true);

    // The option is for https only.
    let out = expect_code(
        &run(
            &data,
            &login_args(
                &server.url(),
                &[
                    "--trust-certificate",
                    fixtures.join("cert.pem").to_str().unwrap(),
                ],
            ),
            Some(DEMO_PASSWORD),
        ),
        1,
    );
    assert!(out.contains("for https:// addresses only"), "{out}");
}

/// The client the app builds for an account ([`playmark::account_client`], also the CLI's)
/// trusts the certificate chosen at sign-in with `--trust-certificate`: without it every change
/// of such an account would fail the TLS handshake and land in "needs attention".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_client_of_the_app_and_cli_uses_the_trusted_certificate() {
    use playmark::backend::jellyfin::ClientOptions;
    let server = common::clean_server().await;
    let backend: std::net::SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();
    let url = https_front(backend).await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cert = fixtures.join("cert.pem");
    let args = login_args(&url, &["--trust-certificate", cert.to_str().unwrap()]);
    expect_code(&run(&data, &args, Some(DEMO_PASSWORD)), 0);

    let store = playmark::store::Store::open(&playmark::store::database_path(&data)).unwrap();
    let account = store.account().unwrap().unwrap();
    let client = playmark::account_client(&data, &account, ClientOptions::default())
        .await
        .unwrap();
    let info = client
        .probe()
        .await
        .expect("the trusted certificate is used");
    assert_eq!(info.server_id, account.server_id);
    let page = client
        .fetch_items(0, 5)
        .await
        .expect("signed-in read over TLS");
    assert!(!page.items.is_empty());
    // The same account without its certificate is refused: the certificate is what works.
    let token = playmark::account::session::account_token(&data, &account)
        .await
        .unwrap()
        .unwrap();
    let bare =
        playmark::account::session::client_for(&account, token, ClientOptions::default()).unwrap();
    let e = bare.probe().await.unwrap_err();
    assert!(e.detail.contains("certificate"), "{e:?}");
}
