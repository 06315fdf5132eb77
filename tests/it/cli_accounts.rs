//! Accounts end to end through the real `playmark` binary and the demo servers on loopback:
//! sign-in selects the account of (server, user); Plex users come from plex.tv (the demo server
//! plays it); another server at an account's address gets no write; output survives a closed
//! pipe and a routine offline `sync` is one sentence.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::bin::{expect_code, login, login_plex, run, text};

use playmark::demo::{
    DemoConfig, DemoServer, DEMO_PASSWORD, DEMO_PLEX_GUEST_TOKEN, DEMO_PLEX_LOCAL_TOKEN,
    DEMO_PLEX_OWNER_TOKEN_2, DEMO_PLEX_TOKEN,
};
use playmark::model::ItemKind;

fn playmark(data_dir: &Path, args: &[&str]) -> Output {
    run(data_dir, args, None)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn first_episode(server: &DemoServer) -> String {
    server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode)
        .unwrap()
        .id
}

fn writes(server: &DemoServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" || r.path.starts_with("/:/"))
        .filter(|r| !r.path.starts_with("/Users/AuthenticateByName"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Sign in as A, then as B, then as A again: the third sign-in acts as A — A's queue is the
/// one shown and sent — and `--account` reaches B's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_then_b_then_a_again_acts_as_a() {
    let a_server = common::clean_server().await;
    let b_server = common::clean_server().await;
    b_server.set_server_id("0123456789abcdef0123456789abcdef");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    expect_code(&login(&data, &a_server.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episode = first_episode(&a_server);
    expect_code(&playmark(&data, &["progress", &episode, "0:42"]), 0);
    let a = json(&playmark(&data, &["status", "--json"]))["account"].clone();

    expect_code(&login(&data, &b_server.url(), DEMO_PASSWORD), 0);
    let status_b = json(&playmark(&data, &["status", "--json"]));
    assert_ne!(status_b["account"], a);
    assert_eq!(status_b["counts"]["pending"], 0, "{status_b}");

    let again = expect_code(&login(&data, &a_server.url(), DEMO_PASSWORD), 0);
    assert!(again.contains("1 queued change of this account"), "{again}");
    let status = json(&playmark(&data, &["status", "--json"]));
    assert_eq!(status["account"], a, "{status}");
    assert_eq!(
        status["counts"]["pending"], 1,
        "A's queue is shown: {status}"
    );
    assert_eq!(status["items"][0]["item_id"], episode.as_str());
    expect_code(&playmark(&data, &["sync"]), 0);
    assert_eq!(
        a_server.user_data(&episode).unwrap().position_ms,
        42_000,
        "A's change went to A's server"
    );
    assert!(writes(&b_server).is_empty(), "{:?}", writes(&b_server));

    let list = json(&playmark(&data, &["accounts", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let b = list.iter().find(|x| x["id"] != a).unwrap();
    assert_eq!(b["current"], false);
    assert_eq!(b["kind"], "jellyfin");
    assert_eq!(b["user"], "demo");
    assert_eq!(b["state"], "online");
    assert_eq!(b["queued"], 0);
    let human = expect_code(&playmark(&data, &["accounts"]), 0);
    assert_eq!(human.lines().count(), 2, "{human}");
    // --account picks B for one command; the current account stays A.
    let b_id = b["id"].to_string();
    let via_flag = json(&playmark(&data, &["--account", &b_id, "status", "--json"]));
    assert_eq!(via_flag["account"].to_string(), b_id);
    assert_eq!(json(&playmark(&data, &["status", "--json"]))["account"], a);
    let unknown = expect_code(&playmark(&data, &["--account", "999", "status"]), 1);
    assert!(unknown.contains("playmark accounts"), "{unknown}");

    // One server under two addresses is one account.
    let other_address = a_server.url().replace("127.0.0.1", "localhost");
    expect_code(&login(&data, &other_address, DEMO_PASSWORD), 0);
    let list = json(&playmark(&data, &["accounts", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(json(&playmark(&data, &["status", "--json"]))["account"], a);
}

/// Two tokens of the same plex.tv user are one account; another user's token is another
/// account; a token whose user cannot be established needs `--same-user` or `--new-user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_tokens_are_accounts_of_the_users_behind_them() {
    let server = DemoServer::start_plex(common::clean_config())
        .await
        .unwrap();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let current = || json(&playmark(&data, &["status", "--json"]))["account"].clone();

    let out = expect_code(&login_plex(&data, &url, &url, DEMO_PLEX_TOKEN, &[]), 0);
    assert!(out.contains("as demo"), "{out}");
    let owner = current();
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episode = first_episode(&server);
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);

    // The owner's second token (another device): the same account, queue included.
    let out = expect_code(
        &login_plex(&data, &url, &url, DEMO_PLEX_OWNER_TOKEN_2, &[]),
        0,
    );
    assert!(out.contains("1 queued change of this account"), "{out}");
    assert_eq!(current(), owner);

    // Another user: another account, with nothing queued.
    let out = expect_code(
        &login_plex(&data, &url, &url, DEMO_PLEX_GUEST_TOKEN, &[]),
        0,
    );
    assert!(out.contains("as guest"), "{out}");
    let guest = current();
    assert_ne!(guest, owner);
    assert_eq!(
        json(&playmark(&data, &["status", "--json"]))["counts"]["pending"],
        0
    );

    // A token plex.tv does not know: the person must say whose it is.
    let out = expect_code(
        &login_plex(&data, &url, &url, DEMO_PLEX_LOCAL_TOKEN, &[]),
        1,
    );
    assert!(
        out.contains("--same-user") && out.contains("--new-user"),
        "{out}"
    );
    assert_eq!(current(), guest, "a refused sign-in changes nothing");
    expect_code(
        &login_plex(&data, &url, &url, DEMO_PLEX_LOCAL_TOKEN, &["--same-user"]),
        0,
    );
    assert_eq!(current(), guest, "--same-user: the server's last account");
    expect_code(
        &login_plex(&data, &url, &url, DEMO_PLEX_LOCAL_TOKEN, &["--new-user"]),
        0,
    );
    let stranger = current();
    assert!(stranger != guest && stranger != owner);
    let list = json(&playmark(&data, &["accounts", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    // No token in any output or in the database.
    for token in [
        DEMO_PLEX_TOKEN,
        DEMO_PLEX_GUEST_TOKEN,
        DEMO_PLEX_LOCAL_TOKEN,
    ] {
        assert!(!list.to_string().contains(token));
        let db = std::fs::read(data.join("playmark.db")).unwrap();
        assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

/// Another server answers at the account's address (the demo server restarted on the same
/// port as another server): no write reaches it, `status` and `accounts` say
/// `server_changed`, `sync` exits 5; signing in there makes a new account and the old queue
/// stays visible for discard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_server_at_the_address_gets_no_write_and_sync_exits_5() {
    let first = common::clean_server().await;
    let port = first.port();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &first.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episode = first_episode(&first);
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);
    let old = json(&playmark(&data, &["status", "--json"]))["account"].clone();
    drop(first);

    let mut second = None;
    for _ in 0..50 {
        match DemoServer::start(DemoConfig {
            port,
            ..common::clean_config()
        })
        .await
        {
            Ok(s) => {
                second = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let second = second.expect("the port is free again");
    second.set_server_id("feedfacefeedfacefeedfacefeedface");

    let out = expect_code(&playmark(&data, &["sync"]), 5);
    assert!(out.contains("Another server"), "{out}");
    let out = expect_code(&playmark(&data, &["refresh"]), 5);
    assert!(out.contains("nothing was sent"), "{out}");
    assert!(writes(&second).is_empty(), "{:?}", writes(&second));
    assert!(
        second
            .requests()
            .iter()
            .all(|r| r.path == "/System/Info/Public"),
        "only the identity check reached it: {:?}",
        second.requests()
    );
    let status = json(&playmark(&data, &["status", "--json"]));
    assert_eq!(status["account_state"], "server_changed", "{status}");
    assert_eq!(status["counts"]["pending"], 1);
    let list = json(&playmark(&data, &["accounts", "--json"]));
    assert_eq!(list[0]["state"], "server_changed", "{list}");
    // Persisted: still known while nothing answers.
    second.set_offline(true);
    let status = json(&playmark(&data, &["status", "--json"]));
    assert_eq!(status["account_state"], "server_changed", "{status}");
    second.set_offline(false);

    // Signing in there is a new account; the old queue is still there to discard.
    expect_code(&login(&data, &second.url(), DEMO_PASSWORD), 0);
    let new = json(&playmark(&data, &["status", "--json"]));
    assert_ne!(new["account"], old);
    assert_eq!(new["account_state"], "online");
    assert_eq!(new["counts"]["pending"], 0);
    let old_id = old.to_string();
    let old_status = json(&playmark(
        &data,
        &["--account", &old_id, "status", "--json"],
    ));
    assert_eq!(old_status["counts"]["pending"], 1, "{old_status}");
    expect_code(
        &playmark(&data, &["--account", &old_id, "discard", &episode]),
        0,
    );
    let old_status = json(&playmark(
        &data,
        &["--account", &old_id, "status", "--json"],
    ));
    assert_eq!(old_status["counts"]["pending"], 0, "{old_status}");
    assert!(writes(&second).is_empty(), "{:?}", writes(&second));
}

/// Run the binary the way a person does: no PLAYMARK_LOG, no -v.
fn quiet(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playmark"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PLAYMARK_LOG")
        .env_remove("PLAYMARK_DATA_DIR")
        .env_remove("PLAYMARK_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// `playmark items | head -1`: the reader goes away; the command exits 0 with nothing on
/// stderr (no broken-pipe panic). A routine offline `sync` is one human sentence: no log
/// lines, no colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_pipe_and_offline_sync_are_quiet() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);

    // The shell's way.
    let piped = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --data-dir '{}' items | head -1",
            env!("CARGO_BIN_EXE_playmark"),
            data.display()
        ))
        .env_remove("PLAYMARK_LOG")
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped));
    assert!(piped.stderr.is_empty(), "{}", text(&piped));
    assert_eq!(String::from_utf8_lossy(&piped.stdout).lines().count(), 1);
    // The reader is gone before the first line is written.
    for args in [
        &["items"][..],
        &["items", "--json"],
        &["status"],
        &["accounts"],
    ] {
        let mut child = quiet(&data, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out));
    }

    let episode = first_episode(&server);
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);
    server.set_offline(true);
    let out = quiet(&data, &["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let all = text(&out);
    assert_eq!(all.trim().lines().count(), 1, "one sentence: {all}");
    assert!(!all.contains("WARN") && !all.contains('\u{1b}'), "{all}");
    assert!(all.contains("can't be reached"), "{all}");
    // -v brings the logs back.
    let out = quiet(&data, &["-v", "sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(!out.stderr.is_empty(), "{}", text(&out));
}

/// The engine CLI and app build for an account (`playmark::account::session::account_engine`) knows the
/// account's server id: while it runs, the server goes away and another one comes up at the
/// same address; the engine's probe finds the other id and the run ends in `ServerChanged`
/// with no write sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_engine_sends_nothing_to_another_server_after_a_probe() {
    use playmark::backend::jellyfin::ClientOptions;
    use playmark::clock::{Clock, SystemClock};
    use playmark::sync::{AccountState, Backoff, EngineConfig, RunMode, RunOutcome, SyncEvent};
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    expect_code(&login(&data, &server.url(), DEMO_PASSWORD), 0);
    expect_code(&playmark(&data, &["refresh"]), 0);
    let episode = first_episode(&server);
    expect_code(&playmark(&data, &["mark-watched", &episode]), 0);
    server.set_offline(true);

    let store = playmark::store::Store::open(&playmark::store::database_path(&data)).unwrap();
    let account = store.account().unwrap().unwrap();
    let config = EngineConfig {
        debounce_ms: 0,
        seed: Some(7),
        probe_backoff: Backoff {
            base_ms: 20,
            cap_ms: 100,
        },
        ..EngineConfig::default()
    };
    let engine = playmark::account::session::account_engine(
        store,
        &data,
        &account,
        ClientOptions::default(),
        config,
    )
    .await
    .unwrap();
    let mut events = engine.subscribe();
    engine.sync_now().unwrap();
    let runner = engine.clone();
    let run = tokio::spawn(async move {
        let deadline = SystemClock.now() + 30_000;
        runner.run(RunMode::UntilIdle { deadline }).await
    });
    loop {
        match events.recv().await.unwrap() {
            SyncEvent::Account {
                state: AccountState::Offline,
            } => break,
            _ => continue,
        }
    }
    server.clear_requests();
    server.set_server_id("feedfacefeedfacefeedfacefeedface");
    server.set_offline(false);
    let outcome = run.await.unwrap().unwrap();
    assert!(
        matches!(outcome, RunOutcome::ServerChanged { .. }),
        "{outcome:?}"
    );
    assert_eq!(engine.account_state(), AccountState::ServerChanged);
    assert!(writes(&server).is_empty(), "{:?}", writes(&server));
}
