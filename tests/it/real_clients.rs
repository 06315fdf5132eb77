//! Real client libraries against the demo servers (issue 18, item 7): python-plexapi and
//! jellyfin-apiclient-python, at the versions pinned in `tests/python/requirements.txt`, in the
//! virtualenv `scripts/install-deps.sh` makes (`tests/python/.venv`; `PLAYMARK_CLIENT_VENV`
//! names another). Each test starts a demo server on loopback, runs a script from
//! `tests/python/` with that virtualenv's python, and checks what the library saw against the
//! server's own state, and that the server answered every request the library made.
//!
//! Without the virtualenv the tests say so and pass, unless `CI` is set: there a missing
//! virtualenv is a failure (CI runs install-deps.sh first).
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use playmark::demo::{
    DemoConfig, DemoServer, RecordedRequest, DEMO_PASSWORD, DEMO_PLEX_TOKEN, DEMO_PLEX_VERSION,
    DEMO_USER,
};
use playmark::model::{ItemKind, RemoteItem};
use serde_json::Value;

/// Where the virtualenv is.
fn venv() -> PathBuf {
    std::env::var_os("PLAYMARK_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/.venv"))
}

/// The virtualenv's python, if the virtualenv is there.
fn venv_python() -> Option<PathBuf> {
    let python = venv().join("bin/python");
    python.is_file().then_some(python)
}

/// The python to run the scripts with; `None` (after saying why) when the virtualenv is
/// missing outside CI. In CI (`CI` set and not `false`/`0`) a missing virtualenv fails.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(p) = venv_python() {
        return Some(p);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let venv = venv();
    assert!(
        !ci,
        "CI is set but the real-client virtualenv is missing ({}): \
         scripts/install-deps.sh makes it",
        venv.display()
    );
    eprintln!(
        "SKIPPED {test}: no real-client virtualenv at {} \
         (run scripts/install-deps.sh to make it)",
        venv.display()
    );
    None
}

/// Run `tests/python/{script}` with `args` and `env`; its stdout as JSON.
async fn run_script(python: &Path, script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(&path).args(args).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within 120 s"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stderr}\nstdout: {stdout}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}\n{stderr}"))
}

/// Every request the library made was answered (no 4xx/5xx, no reset).
fn all_answered(requests: &[RecordedRequest]) {
    let failed: Vec<String> = requests
        .iter()
        .filter(|r| !(200..300).contains(&r.status))
        .map(|r| format!("{} {} {:?} -> {}", r.method, r.path, r.query, r.status))
        .collect();
    assert!(failed.is_empty(), "requests not answered: {failed:#?}");
}

/// Episodes of a series in season/episode order.
fn episodes_of<'a>(items: &'a [RemoteItem], series: &str) -> Vec<&'a RemoteItem> {
    let mut eps: Vec<&RemoteItem> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Episode && i.series_id.as_deref() == Some(series))
        .collect();
    eps.sort_by_key(|e| (e.season_number, e.episode_number));
    eps
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.get("ratingKey")
                .or_else(|| i.get("Id"))
                .and_then(Value::as_str)
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn python_plexapi_browses_marks_and_resumes_on_the_plex_demo() {
    let Some(python) = python_or_skip("python_plexapi") else {
        return;
    };
    let server = DemoServer::start_plex(DemoConfig::plex()).await.unwrap();
    let before = server.items();
    let out = run_script(
        &python,
        "plex_client.py",
        &[&server.url()],
        &[("PLEX_TOKEN", DEMO_PLEX_TOKEN)],
    )
    .await;
    let requests = server.requests();
    all_answered(&requests);
    // python-plexapi reads XML, Plex's default: it never asks for JSON.
    assert!(requests
        .iter()
        .all(|r| r.header("accept").is_none_or(|a| !a.contains("json"))));
    assert!(requests.iter().any(|r| r.path == "/"));

    assert_eq!(out["server"]["machineIdentifier"], server.server_id());
    assert_eq!(out["server"]["version"], DEMO_PLEX_VERSION);
    assert_eq!(
        out["sections"],
        serde_json::json!([
            {"key": 1, "type": "show", "title": "TV Shows"},
            {"key": 2, "type": "movie", "title": "Movies"},
        ])
    );
    assert_eq!(
        out["search_shows"],
        serde_json::json!(["The Lighthouse Keepers"])
    );
    let movies: Vec<&str> = before
        .iter()
        .filter(|i| i.kind == ItemKind::Movie)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(out["search_movies"], serde_json::json!(movies));

    // The show's episodes as the server holds them (before the script changed anything).
    let show = before
        .iter()
        .find(|i| i.name == "The Lighthouse Keepers")
        .unwrap();
    let episodes = episodes_of(&before, &show.id);
    let listed = out["show_episodes"].as_array().unwrap();
    assert_eq!(listed.len(), episodes.len());
    for (seen, held) in listed.iter().zip(&episodes) {
        assert_eq!(seen["ratingKey"], held.id.as_str());
        assert_eq!(seen["isPlayed"], held.user_data.played, "{}", held.name);
        assert_eq!(
            seen["viewOffset"], held.user_data.position_ms,
            "{}",
            held.name
        );
    }
    let last_season: Vec<&&RemoteItem> = episodes
        .iter()
        .filter(|e| e.season_number == episodes.last().unwrap().season_number)
        .collect();
    assert_eq!(
        ids(&out["season_episodes"]),
        last_season.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    let s1e2 = episodes
        .iter()
        .find(|e| e.season_number == Some(1) && e.episode_number == Some(2))
        .unwrap();
    assert_eq!(out["episode_lookup"]["ratingKey"], s1e2.id.as_str());

    // Played, unplayed, then a resume point: each as the library read it back.
    let target = out["after_mark_played"]["ratingKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out["after_mark_played"]["isPlayed"], true);
    assert_eq!(out["after_mark_played"]["viewCount"], 1);
    assert_eq!(out["after_mark_unplayed"]["isPlayed"], false);
    assert_eq!(out["after_mark_unplayed"]["viewCount"], 0);
    assert_eq!(out["after_timeline"]["viewOffset"], 600_000);
    assert_eq!(out["after_timeline"]["isPlayed"], false);

    // On deck and continue watching: what to resume (the target among them), then next
    // episodes; the TV section's deck is the same here (no movie is in progress).
    let deck = ids(&out["on_deck"]);
    assert!(deck.contains(&target), "{deck:?}");
    for id in &deck {
        let held = server.user_data(id).unwrap();
        assert!(!held.played, "{id} on deck but watched");
    }
    assert_eq!(ids(&out["continue_watching"]), deck);
    assert_eq!(ids(&out["section_on_deck"]), deck);

    // The session the script's player opened.
    assert_eq!(
        out["sessions"],
        serde_json::json!([{
            "ratingKey": target.clone(), "viewOffset": 660_000, "state": "playing", "user": ["demo"],
        }])
    );
    assert_eq!(server.now_playing(), vec![(target.clone(), 660_000, false)]);
    let held = server.user_data(&target).unwrap();
    assert_eq!((held.position_ms, held.played), (660_000, false));
}

#[tokio::test]
async fn jellyfin_apiclient_python_reads_marks_and_lists_sessions_on_the_jellyfin_demo() {
    let Some(python) = python_or_skip("jellyfin_apiclient_python") else {
        return;
    };
    let server = DemoServer::start(DemoConfig::default()).await.unwrap();
    let before = server.items();
    let out = run_script(
        &python,
        "jellyfin_client.py",
        &[&server.url(), DEMO_USER],
        &[("JELLYFIN_PASSWORD", DEMO_PASSWORD)],
    )
    .await;
    all_answered(&server.requests());

    assert_eq!(out["system_info"]["Id"], server.server_id());
    assert_eq!(out["user"]["Id"], server.user_id());
    assert_eq!(out["user_by_id"], out["user"]);

    // Items with user data, as the server holds them.
    let episodes: Vec<&RemoteItem> = before
        .iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .collect();
    assert_eq!(out["episode_total"], episodes.len());
    for seen in out["episodes"].as_array().unwrap() {
        let held = before.iter().find(|i| i.id == seen["Id"]).unwrap();
        assert_eq!(seen["Played"], held.user_data.played, "{}", held.name);
        assert_eq!(
            seen["PlaybackPositionTicks"],
            held.user_data.position_ms * 10_000,
            "{}",
            held.name
        );
    }

    // Resume: every item with a position, both ways of asking.
    let resumable: Vec<String> = before
        .iter()
        .filter(|i| i.kind.is_playable() && i.user_data.position_ms > 0)
        .map(|i| i.id.clone())
        .collect();
    assert!(!resumable.is_empty());
    let mut resume = ids(&out["resume_items"]);
    resume.sort();
    let mut expected = resumable.clone();
    expected.sort();
    assert_eq!(resume, expected);
    assert_eq!(ids(&out["user_items_resume"]), ids(&out["resume_items"]));

    // Next up: for each series something was watched of, the first unplayed episode after
    // the last watched one.
    let mut next: Vec<String> = before
        .iter()
        .filter(|i| i.kind == ItemKind::Series)
        .filter_map(|s| {
            let eps = episodes_of(&before, &s.id);
            let last = eps.iter().rposition(|e| e.user_data.played)?;
            eps[last + 1..]
                .iter()
                .find(|e| !e.user_data.played)
                .map(|e| e.id.clone())
        })
        .collect();
    next.sort();
    let mut seen_next = ids(&out["next_up"]);
    seen_next.sort();
    assert!(!next.is_empty());
    assert_eq!(seen_next, next);

    // Played and unplayed, as answered and as read back.
    let target = out["target"].as_str().unwrap().to_string();
    assert_eq!(out["after_played"]["Played"], true);
    assert_eq!(out["after_played_item"]["Played"], true);
    assert_eq!(out["after_unplayed"]["Played"], false);
    assert_eq!(out["after_unplayed_item"]["Played"], false);

    // Sessions: the library's own device plays the target, paused at 10:00; none of the
    // sessions supports remote control, so the library's `get_sessions()` lists none.
    assert_eq!(
        out["sessions"],
        serde_json::json!([{
            "DeviceId": "python-test-device", "Client": "playmark-real-client-test",
            "NowPlayingItem": target.clone(), "PositionTicks": 6_000_000_000_i64, "IsPaused": true,
        }])
    );
    assert_eq!(out["controllable_sessions"], 0);
    assert_eq!(
        out["after_stop_item"]["PlaybackPositionTicks"],
        6_000_000_000_i64
    );
    let held = server.user_data(&target).unwrap();
    assert_eq!((held.position_ms, held.played), (600_000, false));
}
