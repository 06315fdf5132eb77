//! `playmark settings [KEY [VALUE]]` end to end: real processes, a real data dir; the
//! per-account `policy` key against the demo server on loopback.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::bin::{expect_code, run};
use playmark::demo::DEMO_PASSWORD;
use playmark::store::{database_path, SettingKey, Store};
use serde_json::Value;

fn json(data: &std::path::Path) -> Value {
    let out = run(data, &["settings", "--json"], None);
    expect_code(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn settings_are_listed_set_refused_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    // Jellyfin's defaults before anything is set; no account, so no policy.
    let all = json(&data);
    assert_eq!(all["min_resume_pct"], 5);
    assert_eq!(all["max_resume_pct"], 90);
    assert_eq!(all["min_resume_duration_s"], 300);
    assert_eq!(all["plex_played_pct"], 90);
    assert_eq!(all["pull_interval_s"], 300);
    assert_eq!(all["download_folder"], Value::Null);
    assert_eq!(all["keep_downloading_when_closed"], false);
    assert_eq!(all["policy"], Value::Null);
    let listing = expect_code(&run(&data, &["settings"], None), 0);
    assert!(
        listing.contains("min_resume_pct = 5  (default)"),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("{}", data.join("downloads").display())),
        "{listing}"
    );

    // Plex's threshold: its own key, from 1 to 100.
    expect_code(&run(&data, &["settings", "plex_played_pct", "0"], None), 1);
    expect_code(&run(&data, &["settings", "plex_played_pct", "80"], None), 0);
    assert_eq!(json(&data)["plex_played_pct"], 80);
    expect_code(
        &run(&data, &["settings", "plex_played_pct", "--reset"], None),
        0,
    );
    assert_eq!(json(&data)["plex_played_pct"], 90);

    // Set, then read back by the CLI and by the typed store API the player reads.
    expect_code(&run(&data, &["settings", "max_resume_pct", "95"], None), 0);
    expect_code(
        &run(&data, &["settings", "download_folder", "/srv/media"], None),
        0,
    );
    let one = run(&data, &["settings", "max_resume_pct"], None);
    assert_eq!(String::from_utf8_lossy(&one.stdout).trim(), "95");
    let settings = Store::open(&database_path(&data))
        .unwrap()
        .settings()
        .unwrap();
    assert_eq!(settings.thresholds.max_resume_pct, 95);
    assert_eq!(
        settings.download_folder.as_deref(),
        Some(std::path::Path::new("/srv/media"))
    );

    // Refused: out of range, contradicting, not a number, unknown key; nothing changes.
    for args in [
        &["settings", "min_resume_pct", "101"][..],
        &["settings", "min_resume_pct", "96"][..],
        &["settings", "pull_interval_s", "-5"][..],
        &["settings", "download_folder", "relative"][..],
        &["settings", "volume", "11"][..],
    ] {
        let out = expect_code(&run(&data, args, None), 1);
        assert!(
            out.contains("Not changed") || out.contains("Unknown setting"),
            "{out}"
        );
    }
    let all = json(&data);
    assert_eq!(all["min_resume_pct"], 5);
    assert_eq!(all["max_resume_pct"], 95);
    assert_eq!(all["pull_interval_s"], 300);
    assert_eq!(all["download_folder"], "/srv/media");

    // Reset to the default.
    expect_code(
        &run(&data, &["settings", "max_resume_pct", "--reset"], None),
        0,
    );
    expect_code(
        &run(&data, &["settings", "download_folder", "--reset"], None),
        0,
    );
    let all = json(&data);
    assert_eq!(all["max_resume_pct"], 90);
    assert_eq!(all["download_folder"], Value::Null);
    let store = Store::open(&database_path(&data)).unwrap();
    assert!(!store.setting_is_set(SettingKey::MaxResumePct).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_key_is_the_accounts_policy() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Not signed in: the per-account key asks for a sign-in (exit 2).
    expect_code(&run(&data, &["settings", "policy"], None), 2);
    expect_code(&common::bin::login(&data, &server.url(), DEMO_PASSWORD), 0);
    assert_eq!(json(&data)["policy"], "furthest-progress");
    expect_code(
        &run(&data, &["settings", "policy", "prefer-local"], None),
        0,
    );
    let shown = expect_code(&run(&data, &["policy"], None), 0);
    assert!(shown.contains("prefer-local"), "{shown}");
    let bad = expect_code(&run(&data, &["settings", "policy", "newest"], None), 1);
    assert!(bad.contains("furthest-progress"), "{bad}");
    expect_code(&run(&data, &["settings", "policy", "--reset"], None), 0);
    assert_eq!(json(&data)["policy"], "furthest-progress");
}
