//! `playmark login … --policy` and `playmark policy`, end to end: real processes, a real data
//! dir, the demo server on loopback.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::bin::{login_args, run, text};
use std::process::Output;

use playmark::demo::DEMO_PASSWORD;
use playmark::model::UserData;

fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    text(&o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_is_set_at_login_shown_changed_and_applied() {
    let server = common::clean_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ep = common::first_episode(&server);

    let out = ok(run(
        &data,
        &login_args(&server.url(), &["--policy", "prefer-server"]),
        Some(DEMO_PASSWORD),
    ));
    assert!(out.contains("Conflict policy: prefer-server"), "{out}");
    assert!(ok(run(&data, &["policy"], None)).contains("prefer-server"));

    // Unknown name: usage error naming the choices; nothing changes.
    let bad = run(&data, &["policy", "newest-wins"], None);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("furthest-progress"), "{}", text(&bad));
    assert!(ok(run(&data, &["policy"], None)).contains("prefer-server"));

    // Applied on refresh: we hold 8:00 (unsent), another device moved to 12:00.
    ok(run(&data, &["refresh"], None));
    ok(run(&data, &["progress", &ep, "8:00"], None));
    server.set_user_data(
        &ep,
        UserData {
            position_ms: 720_000,
            played: false,
            play_count: 0,
            last_played: Some(1_700_000_000_000),
        },
    );
    let out = ok(run(&data, &["refresh"], None));
    assert!(out.contains("1 conflict decided by prefer-server"), "{out}");
    let items: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(
        &run(&data, &["items", "--json"], None).stdout,
    ))
    .unwrap();
    let item = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == ep.as_str())
        .unwrap();
    assert_eq!(item["position_ms"], 720_000);
    assert!(item["sync_state"].is_null(), "nothing left to send");

    // Changed later: kept across a login without --policy.
    assert!(ok(run(&data, &["policy", "last-writer-wins"], None)).contains("last-writer-wins"));
    ok(run(
        &data,
        &login_args(&server.url(), &[]),
        Some(DEMO_PASSWORD),
    ));
    assert!(ok(run(&data, &["policy"], None)).contains("last-writer-wins"));
}
