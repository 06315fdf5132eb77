//! Running the real `playmark` binary in a test.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A session bus address that connects nowhere.
pub const NO_BUS: &str = "unix:path=/nonexistent/playmark-tests-have-no-session-bus";

/// Run `playmark --data-dir DIR ARGS…` with TRACE logging (so a leaked secret would show), no
/// stdin, and `PLAYMARK_PASSWORD` set only when `password` is given.
pub fn run(data_dir: &Path, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_playmark"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("PLAYMARK_LOG", "trace")
        .env_remove("PLAYMARK_DATA_DIR")
        // No session bus: tokens go to 0600 files, never into the keyring of the person running
        // the tests (tests/it/keyring.rs gives its tests a private bus with a keyring).
        .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
        .stdin(Stdio::null());
    match password {
        Some(p) => cmd.env("PLAYMARK_PASSWORD", p),
        None => cmd.env_remove("PLAYMARK_PASSWORD"),
    };
    cmd.output().expect("playmark runs")
}

/// `playmark login jellyfin --server URL --user demo` with `password`.
pub fn login(data_dir: &Path, url: &str, password: &str) -> Output {
    run(data_dir, &login_args(url, &[]), Some(password))
}

/// The arguments of `playmark login jellyfin --server URL --user demo`, then `extra`.
pub fn login_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["login", "jellyfin", "--server", url, "--user", "demo"];
    args.extend_from_slice(extra);
    args
}

/// The exit code (the binary is never killed by a signal in these tests).
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code, not a signal")
}

/// stdout followed by stderr, lossy.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Assert the run ended with `expected` and without a panic, and return its whole output.
pub fn expect_code(o: &Output, expected: i32) -> String {
    let all = text(o);
    assert!(!all.contains("panicked"), "panic: {all}");
    assert_eq!(code(o), expected, "{all}");
    all
}

/// Run `playmark --data-dir DIR ARGS…` like [`run`] (TRACE logging, no session bus), with
/// `stdin` written to it (a token is never in argv), `PLAYMARK_TOKEN` unset and the variables
/// of `env` set.
pub fn run_with_stdin(data_dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_playmark"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("PLAYMARK_LOG", "trace")
        .env_remove("PLAYMARK_DATA_DIR")
        .env_remove("PLAYMARK_TOKEN")
        .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("playmark runs");
    child
        .stdin
        .take()
        .expect("a pipe to its stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("playmark ends")
}

/// `playmark login plex --server SERVER`, then `extra`, with `token` on stdin and plex.tv
/// played by `plex_tv` (the demo Plex server plays both).
pub fn login_plex(
    data_dir: &Path,
    server: &str,
    plex_tv: &str,
    token: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec!["login", "plex", "--server", server];
    args.extend_from_slice(extra);
    run_with_stdin(
        data_dir,
        &args,
        &format!("{token}\n"),
        &[("PLAYMARK_PLEX_TV_URL", plex_tv)],
    )
}
