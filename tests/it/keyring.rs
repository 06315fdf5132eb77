//! Tokens in the Secret Service, against a real `gnome-keyring-daemon` on a private bus.
//!
//! Each test re-runs itself in a child process under `dbus-run-session` (its own session bus:
//! the app is single-instance on a session bus, and the person's keyring must never be
//! touched), with a fresh `HOME` and `gnome-keyring-daemon --unlock --components=secrets`
//! started there with a password on stdin (headless, no prompt). The child drives the real
//! `playmark` binary against an in-process demo server and looks into the keyring with `oo7`.
//!
//! Without `dbus-run-session` or `gnome-keyring-daemon` (`scripts/install-deps.sh` installs
//! them) these tests fail when `CI` is set, and are skipped with a message otherwise.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oo7::dbus::Service;
use playmark::demo::DEMO_PASSWORD;
use playmark::store::tokens::APPLICATION;
use playmark::store::{database_path, Account, Store};

/// Set in the child: the name of the test to run for real.
const CHILD: &str = "PLAYMARK_KEYRING_TEST";

/// What the child's bus offers.
#[derive(Clone, Copy)]
enum Bus {
    /// A session bus with an unlocked gnome-keyring on it.
    Keyring,
    /// A session bus where nothing owns or can activate `org.freedesktop.secrets`.
    NoSecretService,
}

/// The test's name as the test binary knows it: its module path without the crate's name
/// (`keyring::NAME` in the `it` binary).
fn test_path(test: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{test}"),
        None => test.to_owned(),
    }
}

fn tool_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// True in the child (run the test's body); in the parent, run the body in a child on its own
/// bus, check that it passed, and return false.
fn in_private_session(test: &str, bus: Bus) -> bool {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        return true;
    }
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        if !tool_exists(tool) {
            let msg = format!(
                "{tool} is missing: the keyring tests need it (scripts/install-deps.sh installs \
                 the packages dbus and gnome-keyring)"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED {test}: {msg}");
            return false;
        }
    }
    let home = tempfile::tempdir().expect("temp HOME");
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "dbus-run-session"]);
    let script = match bus {
        Bus::Keyring => {
            // The login keyring is created with this password and left unlocked.
            "printf playmark-test | gnome-keyring-daemon --unlock --components=secrets \
             >/dev/null && exec \"$@\""
        }
        Bus::NoSecretService => {
            let config = home.path().join("bus.conf");
            std::fs::write(&config, BUS_WITHOUT_SERVICES).expect("bus config");
            cmd.arg("--config-file").arg(config);
            "exec \"$@\""
        }
    };
    let exe = std::env::current_exe().expect("test binary");
    let out = cmd
        .args(["--", "sh", "-c", script, "sh"])
        .arg(exe)
        .args([
            &test_path(test),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, test)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("dbus-run-session runs");
    let all = common::bin::text(&out);
    assert!(out.status.success(), "{test} on its own bus failed:\n{all}");
    assert!(
        all.contains("1 passed"),
        "{test} did not run in the child:\n{all}"
    );
    false
}

/// A session bus with no service directories: nothing can be activated on it.
const BUS_WITHOUT_SERVICES: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// What every keyring test starts from: a runtime, a clean demo server, and a data directory
/// (inside the returned temporary one) that does not exist yet.
fn start() -> (
    tokio::runtime::Runtime,
    playmark::demo::DemoServer,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let rt = runtime();
    let server = rt.block_on(common::clean_server());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (rt, server, dir, data)
}

/// `playmark --data-dir DIR ARGS` with TRACE logs; `bus: false` runs it as over SSH: no session
/// bus address (and no `XDG_RUNTIME_DIR`, so none is guessed).
fn cli(data: &Path, args: &[&str], bus: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playmark"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("PLAYMARK_LOG", "trace")
        .env("PLAYMARK_PASSWORD", DEMO_PASSWORD)
        .env_remove("PLAYMARK_DATA_DIR")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null());
    if !bus {
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    }
    cmd.output().expect("playmark runs")
}

fn login(data: &Path, url: &str, bus: bool) -> String {
    let out = cli(
        data,
        &["login", "jellyfin", "--server", url, "--user", "demo"],
        bus,
    );
    common::bin::expect_code(&out, 0)
}

fn account(data: &Path) -> Account {
    Store::open(&database_path(data))
        .expect("database")
        .account()
        .expect("account read")
        .expect("signed in")
}

fn token_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("token-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The keyring items of `account`, as (label, secret).
async fn keyring_items(account: &Account) -> Vec<(String, String)> {
    let service = Service::new()
        .await
        .expect("Secret Service on the private bus");
    let collection = service.default_collection().await.expect("login keyring");
    let attributes = [
        ("application", APPLICATION),
        ("server-id", account.server_id.as_str()),
        ("user-id", account.user_id.as_str()),
    ];
    let mut found = Vec::new();
    for item in collection.search_items(&attributes).await.expect("search") {
        let secret = item.secret().await.expect("secret");
        found.push((
            item.label().await.expect("label"),
            String::from_utf8(secret.as_bytes().to_vec()).expect("text"),
        ));
    }
    found
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

/// The token is nowhere but the keyring: not in the data directory (database, WAL, files),
/// not in what the CLI printed (TRACE logs included).
fn assert_token_only_in_keyring(data: &Path, token: &str, outputs: &[&str]) {
    assert!(token.len() >= 16, "a real token: {token:?}");
    for entry in std::fs::read_dir(data).expect("data dir").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token found in {}",
            entry.path().display()
        );
    }
    for out in outputs {
        assert!(!out.contains(token), "token in the CLI's output: {out}");
    }
}

#[test]
fn sign_in_stores_the_token_in_the_keyring_and_later_commands_find_it() {
    if !in_private_session(
        "sign_in_stores_the_token_in_the_keyring_and_later_commands_find_it",
        Bus::Keyring,
    ) {
        return;
    }
    let (rt, server, _dir, data) = start();
    let said = login(&data, &server.url(), true);
    assert!(said.contains("Token saved in the keyring."), "{said}");
    assert!(token_files(&data).is_empty(), "{:?}", token_files(&data));
    let account = account(&data);
    let items = rt.block_on(keyring_items(&account));
    assert_eq!(items.len(), 1, "one item for this server and user");
    let (label, token) = &items[0];
    assert_eq!(label, &format!("Playmark: {} (demo)", account.server_name));

    // Later commands get the token from the keyring: a change is sent, status is signed in.
    let refreshed = common::bin::expect_code(&cli(&data, &["refresh"], true), 0);
    let id = server
        .items()
        .into_iter()
        .find(|i| i.kind == playmark::model::ItemKind::Episode)
        .expect("an episode")
        .id;
    let marked = common::bin::expect_code(&cli(&data, &["mark-watched", &id], true), 0);
    let synced = common::bin::expect_code(&cli(&data, &["sync", "--wait", "20"], true), 0);
    let out = cli(&data, &["status", "--json"], true);
    let status = common::bin::expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(doc["account_state"], "online", "{status}");
    assert_eq!(doc["signed_in"], true, "{status}");
    assert!(
        server.user_data(&id).is_some_and(|d| d.played),
        "the change reached the server"
    );
    assert!(token_files(&data).is_empty());
    assert_token_only_in_keyring(
        &data,
        token,
        &[&said, &refreshed, &marked, &synced, &status],
    );

    // Sign out removes the keyring item.
    common::bin::expect_code(&cli(&data, &["logout"], true), 0);
    assert!(rt.block_on(keyring_items(&account)).is_empty());
}

#[test]
fn a_token_file_is_moved_into_the_keyring_and_removed() {
    if !in_private_session(
        "a_token_file_is_moved_into_the_keyring_and_removed",
        Bus::Keyring,
    ) {
        return;
    }
    let (rt, server, _dir, data) = start();
    // Signed in over SSH (no bus): a file, as an older Playmark also left it.
    let said = login(&data, &server.url(), false);
    let account = account(&data);
    let file = data.join(format!("token-{}", account.id));
    assert!(said.contains("No keyring found"), "{said}");
    let token = std::fs::read_to_string(&file).expect("token file");
    assert!(rt.block_on(keyring_items(&account)).is_empty());

    // The next command with a keyring moves it there and removes the file.
    let status = common::bin::expect_code(&cli(&data, &["status"], true), 0);
    assert!(!file.exists(), "the token file is removed after the move");
    let items = rt.block_on(keyring_items(&account));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1, token.trim());
    assert_token_only_in_keyring(&data, token.trim(), &[&status]);

    // Signed in again over SSH later: the newer file replaces the keyring's token, one item.
    let said = login(&data, &server.url(), false);
    assert!(said.contains("No keyring found"), "{said}");
    let newer = std::fs::read_to_string(&file).expect("token file");
    assert_ne!(newer.trim(), token.trim(), "a new sign-in is a new token");
    common::bin::expect_code(&cli(&data, &["accounts"], true), 0);
    assert!(!file.exists());
    let items = rt.block_on(keyring_items(&account));
    assert_eq!(items.len(), 1, "replaced, not added: {items:?}");
    assert_eq!(items[0].1, newer.trim());
}

/// The fallback: a 0600 file where no Secret Service is on the bus, said by the CLI.
fn file_fallback(with_bus: bool) {
    let (_rt, server, _dir, data) = start();
    let said = login(&data, &server.url(), with_bus);
    let account = account(&data);
    let file = data.join(format!("token-{}", account.id));
    assert!(
        said.contains(&format!(
            "No keyring found: token saved in {} (readable only by you).",
            file.display()
        )),
        "{said}"
    );
    assert_eq!(mode(&file), 0o600);
    let token = std::fs::read_to_string(&file).expect("token file");
    assert!(!said.contains(token.trim()), "{said}");
    // And it is used from there.
    let out = cli(&data, &["status", "--json"], with_bus);
    let status = common::bin::expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(doc["account_state"], "online", "{status}");
    assert!(file.exists());
}

#[test]
fn without_a_session_bus_the_token_is_a_0600_file_and_the_cli_says_so() {
    // No bus address at all (a CLI over SSH): needs no private bus.
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    file_fallback(false);
}

#[test]
fn a_bus_without_a_secret_service_gets_a_0600_file_too() {
    if !in_private_session(
        "a_bus_without_a_secret_service_gets_a_0600_file_too",
        Bus::NoSecretService,
    ) {
        return;
    }
    file_fallback(true);
}

#[test]
fn a_locked_keyring_is_an_error_never_a_file() {
    if !in_private_session("a_locked_keyring_is_an_error_never_a_file", Bus::Keyring) {
        return;
    }
    let (rt, server, _dir, data) = start();
    login(&data, &server.url(), true);
    rt.block_on(async {
        let service = Service::new().await.expect("Secret Service");
        let collection = service.default_collection().await.expect("login keyring");
        collection.lock(None).await.expect("locked");
        assert!(collection.is_locked().await.expect("state"));
    });
    // No one can answer the unlock prompt here (no display): it is dismissed.
    let status = common::bin::expect_code(&cli(&data, &["status"], true), 2);
    assert!(status.contains("keyring is locked"), "{status}");
    let again = common::bin::expect_code(&cli(&data, &["sync"], true), 2);
    assert!(again.contains("keyring is locked"), "{again}");
    let login = cli(&data, &common::bin::login_args(&server.url(), &[]), true);
    let said = common::bin::expect_code(&login, 1);
    assert!(said.contains("keyring is locked"), "{said}");
    assert!(
        token_files(&data).is_empty(),
        "never a silent fall-back to a file"
    );
}
