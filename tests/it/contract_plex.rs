//! Self-tests of the Plex contract checker (`common::contract::PlexSpec`): it accepts what the
//! client sends and rejects each kind of mistake, and the trimmed document is up to date.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::contract::PlexSpec;
use playmark::demo::RecordedRequest;

fn request(method: &str, path: &str, query: &[(&str, &str)], token: bool) -> RecordedRequest {
    let mut headers = vec![
        ("accept".to_string(), "application/json".to_string()),
        ("x-plex-client-identifier".to_string(), "c1".to_string()),
    ];
    if token {
        headers.push(("x-plex-token".to_string(), "t".to_string()));
    }
    RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        authorization: None,
        headers,
        body: None,
        raw_body: Vec::new(),
        status: 200,
        fault: None,
        at: std::time::SystemTime::now(),
    }
}

const SCROBBLE: &[(&str, &str)] = &[
    ("identifier", "com.plexapp.plugins.library"),
    ("key", "1001"),
];

#[test]
fn what_the_client_sends_fits() {
    let spec = PlexSpec::load();
    for r in [
        request("GET", "/identity", &[], false),
        request("GET", "/library/sections/all", &[], true),
        request(
            "GET",
            "/library/sections/1/all",
            &[
                ("type", "4"),
                ("X-Plex-Container-Start", "0"),
                ("X-Plex-Container-Size", "50"),
            ],
            true,
        ),
        request("GET", "/library/metadata/1001", &[], true),
        request("PUT", "/:/scrobble", SCROBBLE, true),
        request("GET", "/:/scrobble", SCROBBLE, true),
        request("GET", "/:/unscrobble", SCROBBLE, true),
        request(
            "POST",
            "/:/timeline",
            &[
                ("ratingKey", "1001"),
                ("key", "/library/metadata/1001"),
                ("state", "paused"),
                ("time", "60000"),
                ("offline", "1"),
                ("duration", "2400000"),
                ("updated", "1700000000"),
            ],
            true,
        ),
    ] {
        spec.check_request(&r)
            .unwrap_or_else(|e| panic!("{} {}: {e:?}", r.method, r.path));
    }
}

#[test]
fn each_kind_of_mistake_is_caught() {
    let spec = PlexSpec::load();
    let bad = |r: RecordedRequest, needle: &str| {
        let problems = spec.check_request(&r).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{} {}: expected {needle:?} in {problems:?}",
            r.method,
            r.path
        );
    };
    bad(
        request("DELETE", "/:/scrobble", SCROBBLE, true),
        "not accepted",
    );
    bad(request("PUT", "/:/timeline", &[], true), "not accepted");
    bad(request("GET", "/:/rate", SCROBBLE, true), "no operation");
    bad(
        request("GET", "/:/scrobble", &[("key", "1001")], true),
        "identifier missing",
    );
    bad(
        request("GET", "/:/scrobble", SCROBBLE, false),
        "X-Plex-Token",
    );
    bad(
        request("GET", "/library/metadata/1", &[("X-Plex-Token", "t")], true),
        "token must not be in the URL",
    );
    bad(
        request("GET", "/library/sections/1/all", &[("limitt", "3")], true),
        "undeclared",
    );
    bad(
        request("GET", "/library/sections/1/all", &[("type", "12")], true),
        "type=12",
    );
    bad(
        request(
            "GET",
            "/:/timeline",
            &[("ratingKey", "1"), ("state", "rewinding"), ("time", "1")],
            true,
        ),
        "state=rewinding",
    );
    bad(
        request("GET", "/:/timeline", &[("time", "1.5s")], true),
        "not an integer",
    );
    let mut no_client = request("GET", "/library/metadata/1", &[], true);
    no_client
        .headers
        .retain(|(k, _)| k != "x-plex-client-identifier");
    bad(no_client, "X-Plex-Client-Identifier");
}

/// The trimmed document is what `tests/contract/trim-plex-spec.py` makes from the full one
/// (when python3 with PyYAML and the full document are at hand; otherwise says so).
#[test]
fn trimmed_document_is_up_to_date() {
    let root = env!("CARGO_MANIFEST_DIR");
    let full = format!("{root}/../shared/specs/plex-openapi-1.1.1.yaml");
    if !std::path::Path::new(&full).exists() {
        eprintln!("skipped: {full} not present");
        return;
    }
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new("python3")
        .arg(format!("{root}/tests/contract/trim-plex-spec.py"))
        .arg(&full)
        .arg(out.path())
        .output();
    match status {
        Ok(o) if o.status.success() => {
            let fresh = std::fs::read_to_string(out.path()).unwrap();
            let committed =
                std::fs::read_to_string(format!("{root}/tests/contract/plex-1.1.1-trimmed.json"))
                    .unwrap();
            assert!(
                fresh == committed,
                "tests/contract/plex-1.1.1-trimmed.json is stale: run tests/contract/trim-plex-spec.py"
            );
        }
        other => eprintln!("skipped: python3 with PyYAML not available ({other:?})"),
    }
}

/// The Plex demo server's answers fit the document: `/identity`, and every `Metadata` of every
/// listing (shows, seasons, episodes, movies, with and without user data) and of
/// `/library/metadata/{ids}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_answers_fit_the_document() {
    use playmark::demo::{DemoConfig, DemoServer, DEMO_PLEX_TOKEN};
    use playmark::model::ItemKind;
    let spec = PlexSpec::load();
    // The seeded library has watched, half-watched and untouched items.
    let server = DemoServer::start_plex(DemoConfig::plex()).await.unwrap();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", server.url());
        async move {
            let r = http
                .get(url)
                .header("Accept", "application/json")
                .header("X-Plex-Client-Identifier", "contract-test")
                .header("X-Plex-Token", DEMO_PLEX_TOKEN)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let identity = get("/identity".to_string()).await;
    spec.check_identity(&identity["MediaContainer"]).unwrap();
    let mut checked = 0;
    let mut seen_offset = false;
    for (section, kind) in [("1", 2), ("1", 3), ("1", 4), ("2", 1)] {
        let listing = get(format!("/library/sections/{section}/all?type={kind}")).await;
        for m in listing["MediaContainer"]["Metadata"].as_array().unwrap() {
            spec.check_metadata(m)
                .unwrap_or_else(|e| panic!("{m}: {e:?}"));
            seen_offset |= m.get("viewOffset").is_some();
            checked += 1;
        }
    }
    let ep = server
        .items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode)
        .unwrap();
    let one = get(format!("/library/metadata/{}", ep.id)).await;
    spec.check_metadata(&one["MediaContainer"]["Metadata"][0])
        .unwrap();
    assert_eq!(checked, server.items().len());
    assert!(seen_offset, "the seeded library has a resume position");
    // The checker itself catches a wrong type and a missing required field.
    let mut bad = one["MediaContainer"]["Metadata"][0].clone();
    bad["ratingKey"] = serde_json::json!(12);
    bad.as_object_mut().unwrap().remove("addedAt");
    let problems = spec.check_metadata(&bad).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
}

/// What python-plexapi browses with (tests/it/real_clients.rs): every `Metadata` of a show's and a
/// season's children, On Deck, continue watching (the hub and its items) and the sessions fits
/// the document's `Metadata`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_answers_fit_the_document() {
    use playmark::demo::{DemoConfig, DemoServer, DEMO_PLEX_TOKEN};
    use playmark::model::ItemKind;
    let spec = PlexSpec::load();
    let server = DemoServer::start_plex(DemoConfig::plex()).await.unwrap();
    let http = reqwest::Client::new();
    let items = server.items();
    let episode = items
        .iter()
        .find(|i| i.kind == ItemKind::Episode && !i.user_data.played)
        .unwrap();
    // A player reports it playing: a session for /status/sessions.
    let r = http
        .post(format!(
            "{}/:/timeline?ratingKey={id}&key=/library/metadata/{id}&state=playing&time=60000&duration={d}",
            server.url(),
            id = episode.id,
            d = episode.runtime_ms.unwrap()
        ))
        .header("X-Plex-Client-Identifier", "contract-player")
        .header("X-Plex-Session-Identifier", "contract-session")
        .header("X-Plex-Token", DEMO_PLEX_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let show = items.iter().find(|i| i.kind == ItemKind::Series).unwrap();
    let season = items.iter().find(|i| i.kind == ItemKind::Season).unwrap();
    for (path, pointer) in [
        (format!("/library/metadata/{}/children", show.id), ""),
        (format!("/library/metadata/{}/children", season.id), ""),
        ("/library/onDeck".to_string(), ""),
        ("/library/sections/1/onDeck".to_string(), ""),
        ("/hubs/continueWatching".to_string(), "/Hub/0"),
        ("/hubs/continueWatching/items".to_string(), ""),
        ("/status/sessions".to_string(), ""),
    ] {
        let r = http
            .get(format!("{}{path}", server.url()))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", "contract-test")
            .header("X-Plex-Token", DEMO_PLEX_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let body: serde_json::Value = r.json().await.unwrap();
        let list = body["MediaContainer"]
            .pointer(&format!("{pointer}/Metadata"))
            .and_then(serde_json::Value::as_array)
            .unwrap_or_else(|| panic!("{path}: no Metadata"));
        assert!(!list.is_empty(), "{path}");
        for m in list {
            spec.check_metadata(m)
                .unwrap_or_else(|e| panic!("{path}: {m}: {e:?}"));
        }
    }
}
