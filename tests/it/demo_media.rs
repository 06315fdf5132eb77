//! The demo servers' generated media over real HTTP on loopback: sizes, ranges, faults, the
//! "downloads forbidden" switch, the API documents, and real mpv playing it.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::contract::{PlexSpec, Spec};
use playmark::demo::{DemoConfig, DemoServer, Fault, DEMO_PASSWORD, DEMO_PLEX_TOKEN, DEMO_USER};
use playmark::model::ItemKind;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const AUTH: &str =
    r#"MediaBrowser Client="Playmark Tests", Device="ci", DeviceId="media-1", Version="0.1""#;

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn login(c: &Client, s: &DemoServer) -> String {
    let v: Value = send_json(
        c.post(format!("{}/Users/AuthenticateByName", s.url()))
            .header("Authorization", AUTH)
            .json(&json!({"Username": DEMO_USER, "Pw": DEMO_PASSWORD})),
    )
    .await;
    format!("{AUTH}, Token=\"{}\"", v["AccessToken"].as_str().unwrap())
}

/// Sends `request` and returns the answer (a transport error fails the test).
async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

/// Sends `request` and returns its JSON body.
async fn send_json(request: RequestBuilder) -> Value {
    send(request).await.json().await.unwrap()
}

fn first(s: &DemoServer, kind: ItemKind) -> playmark::model::RemoteItem {
    s.items().into_iter().find(|i| i.kind == kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_download_and_stream_serve_the_runtime_with_ranges() {
    let s = DemoServer::start(DemoConfig::default()).await.unwrap();
    let c = client();
    let spec = Spec::jellyfin();
    let auth = login(&c, &s).await;
    let ep = first(&s, ItemKind::Episode);
    let whole = s.media_bytes(&ep.id).unwrap();

    // The item DTO announces the size and the runtime of the media.
    let item: Value = send_json(
        c.get(format!("{}/Items/{}", s.url(), ep.id))
            .header("Authorization", &auth),
    )
    .await;
    spec.assert_response("GET", &format!("/Items/{}", ep.id), 200, Some(&item));
    let source = &item["MediaSources"][0];
    assert_eq!(source["Size"].as_u64(), Some(whole.len() as u64));
    assert_eq!(source["Container"], "y4m");
    assert_eq!(source["RunTimeTicks"], item["RunTimeTicks"]);
    // Fixed-size frames at 1 fps: the frame count is the runtime in seconds.
    let frame = 6 + 32 * 24 * 3 / 2;
    let header = whole.iter().position(|b| *b == b'\n').unwrap() + 1;
    assert!(whole.starts_with(b"YUV4MPEG2 W32 H24 F1:1"));
    assert_eq!((whole.len() - header) % frame, 0);
    let seconds = ((whole.len() - header) / frame) as i64;
    assert_eq!(seconds * 1000, ep.runtime_ms.unwrap());

    // Download: token required, then the whole file.
    let url = format!("{}/Items/{}/Download", s.url(), ep.id);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    spec.assert_response("GET", &format!("/Items/{}/Download", ep.id), 401, None);
    let r = send(c.get(&url).header("Authorization", &auth)).await;
    assert_eq!(r.status(), 200);
    spec.assert_response("GET", &format!("/Items/{}/Download", ep.id), 200, None);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("video/"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.content_length(), Some(whole.len() as u64));
    assert_eq!(r.bytes().await.unwrap(), whole);

    // Ranges: 206 with Content-Range, open-ended, suffix; 416 past the end.
    let len = whole.len();
    for (range, a, b) in [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-1999", 1000, 1999),
        (&format!("bytes={}-", len / 2) as &str, len / 2, len - 1),
        ("bytes=-100", len - 100, len - 1),
    ] {
        let r = send(
            c.get(&url)
                .header("Authorization", &auth)
                .header("Range", range),
        )
        .await;
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {a}-{b}/{len}").as_str()
        );
        assert_eq!(r.content_length(), Some((b - a + 1) as u64));
        assert_eq!(r.bytes().await.unwrap(), whole[a..=b], "{range}");
    }
    let r = send(
        c.get(&url)
            .header("Authorization", &auth)
            .header("Range", format!("bytes={len}-")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );

    // The player's stream URL: the same bytes, HEAD too; anonymous as in the document.
    let stream = format!("{}/Videos/{}/stream?static=true", s.url(), ep.id);
    spec.assert_request(
        "GET",
        &format!("/Videos/{}/stream?static=true", ep.id),
        None,
    );
    let r = c.head(&stream).send().await.unwrap();
    assert_eq!(r.status(), 200);
    spec.assert_response("HEAD", &format!("/Videos/{}/stream", ep.id), 200, None);
    assert_eq!(
        r.headers()["content-length"],
        whole.len().to_string().as_str()
    );
    let r = send(c.get(&stream).header("Range", "bytes=5000-5999")).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), whole[5000..6000]);

    // Folders have no media; unknown ids are 404.
    let season = first(&s, ItemKind::Season);
    for id in [season.id.as_str(), "00000000000000000000000000000001"] {
        let r = send(
            c.get(format!("{}/Items/{id}/Download", s.url()))
                .header("Authorization", &auth),
        )
        .await;
        assert_eq!(r.status(), 404);
    }

    // A proxy that strips ranges: 200 with everything.
    s.set_media_ranges(false);
    let r = send(
        c.get(&url)
            .header("Authorization", &auth)
            .header("Range", "bytes=100-"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), whole.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_faults_cut_fail_and_slow_the_body() {
    let s = DemoServer::start(DemoConfig::default()).await.unwrap();
    let c = client();
    let auth = login(&c, &s).await;
    let ep = first(&s, ItemKind::Episode);
    let len = s.media_bytes(&ep.id).unwrap().len();
    let url = format!("{}/Items/{}/Download", s.url(), ep.id);

    // Reset in the middle of the body: the announced length, about half of it delivered.
    s.fail_next(1, Fault::Truncated);
    let mut r = send(c.get(&url).header("Authorization", &auth)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(len as u64));
    let mut got = 0usize;
    let err = loop {
        match r.chunk().await {
            Ok(Some(b)) => got += b.len(),
            Ok(None) => panic!("the body ended cleanly after {got} bytes"),
            Err(e) => break e,
        }
    };
    assert!(
        got >= len / 2 - 64 * 1024 && got <= len / 2,
        "{got} of {len}: {err}"
    );

    // A cut range request is cut in the middle of the range.
    s.fail_next(1, Fault::Truncated);
    let r = send(
        c.get(&url)
            .header("Authorization", &auth)
            .header("Range", format!("bytes={}-", len - 1000)),
    )
    .await;
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.is_err());

    // 5xx and a reset before any byte.
    s.fail_next(1, "503".parse().unwrap());
    let r = send(c.get(&url).header("Authorization", &auth)).await;
    assert_eq!(r.status(), 503);
    s.fail_next(1, Fault::Reset);
    assert!(c
        .get(&url)
        .header("Authorization", &auth)
        .send()
        .await
        .is_err());

    // Slow: 200 kB/s for 60 kB takes about 0.3 s.
    s.set_media_rate(Some(200_000));
    let t = Instant::now();
    let r = send(
        c.get(&url)
            .header("Authorization", &auth)
            .header("Range", "bytes=0-59999"),
    )
    .await;
    assert_eq!(r.bytes().await.unwrap().len(), 60_000);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    s.clear_faults();
    let t = Instant::now();
    c.get(&url)
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_forbids_downloads_still_streams() {
    // Jellyfin: the Download policy answers 403; the policy shows in /Users/Me.
    let s = DemoServer::start(DemoConfig::default()).await.unwrap();
    let c = client();
    let spec = Spec::jellyfin();
    let auth = login(&c, &s).await;
    let ep = first(&s, ItemKind::Episode);
    s.set_downloads_allowed(false);
    let r = send(
        c.get(format!("{}/Items/{}/Download", s.url(), ep.id))
            .header("Authorization", &auth),
    )
    .await;
    assert_eq!(r.status(), 403);
    spec.assert_response("GET", &format!("/Items/{}/Download", ep.id), 403, None);
    assert!(r.bytes().await.unwrap().is_empty());
    let me: Value = send_json(
        c.get(format!("{}/Users/Me", s.url()))
            .header("Authorization", &auth),
    )
    .await;
    assert_eq!(me["Policy"]["EnableContentDownloading"], false);
    let r = send(c.get(format!("{}/Videos/{}/stream?static=true", s.url(), ep.id))).await;
    assert_eq!(r.status(), 200);
    s.set_downloads_allowed(true);
    let r = send(
        c.get(format!("{}/Items/{}/Download", s.url(), ep.id))
            .header("Authorization", &auth)
            .header("Range", "bytes=0-9"),
    )
    .await;
    assert_eq!(r.status(), 206);

    // Plex: download=1 gets "server owner has forbidden download"; playback still works.
    let p = DemoServer::start_plex(DemoConfig::plex()).await.unwrap();
    let plex_spec = PlexSpec::load();
    let movie = first(&p, ItemKind::Movie);
    let meta: Value = send_json(
        c.get(format!("{}/library/metadata/{}", p.url(), movie.id))
            .header("X-Plex-Token", DEMO_PLEX_TOKEN)
            .header("X-Plex-Client-Identifier", "media-tests")
            .header("Accept", "application/json"),
    )
    .await;
    let m = &meta["MediaContainer"]["Metadata"][0];
    plex_spec.check_metadata(m).unwrap();
    let part = &m["Media"][0]["Part"][0];
    let whole = p.media_bytes(&movie.id).unwrap();
    assert_eq!(part["size"].as_u64(), Some(whole.len() as u64));
    assert_eq!(m["Media"][0]["duration"], m["duration"]);
    let key = part["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("/library/parts/"), "{key}");
    assert_eq!(meta["MediaContainer"]["allowSync"], true);

    let get = |query: &'static str, token: bool| {
        let mut rb = c
            .get(format!("{}{key}{query}", p.url()))
            .header("X-Plex-Client-Identifier", "media-tests");
        if token {
            rb = rb.header("X-Plex-Token", DEMO_PLEX_TOKEN);
        }
        rb
    };
    assert_eq!(
        get("?download=1", false).send().await.unwrap().status(),
        401
    );
    let r = get("?download=1", true)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), whole[100..200]);
    let r = get("?download=1", true).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), whole);
    // Every request but the deliberate one without a token fits the document.
    for rec in p.requests().iter().filter(|r| r.status != 401) {
        plex_spec.check_request(rec).unwrap();
    }

    p.set_downloads_allowed(false);
    let r = get("?download=1", true).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("forbidden download"), "{text}");
    let r = get("", true)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
}

/// Real mpv 0.35 plays the stream over HTTP, seeks with Range, and sees the item's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpv_plays_the_generated_media_of_both_servers() {
    let s = DemoServer::start(DemoConfig::default()).await.unwrap();
    let p = DemoServer::start_plex(DemoConfig::plex()).await.unwrap();
    let ep = first(&s, ItemKind::Episode);
    let movie = first(&p, ItemKind::Movie);
    let plex_key = format!("{}/library/parts/{}/1700000000/file.y4m", p.url(), {
        movie.id.parse::<u64>().unwrap() + 100_000
    });
    let cases = [
        (
            format!("{}/Videos/{}/stream?static=true", s.url(), ep.id),
            String::new(),
            ep.runtime_ms.unwrap(),
        ),
        (
            plex_key,
            format!("X-Plex-Token: {DEMO_PLEX_TOKEN},X-Plex-Client-Identifier: mpv-test"),
            movie.runtime_ms.unwrap(),
        ),
    ];
    for (url, headers, runtime_ms) in cases {
        let start = runtime_ms / 1000 - 5;
        let args = vec![
            "--no-config".to_string(),
            "--vo=null".into(),
            "--ao=null".into(),
            "--ytdl=no".into(),
            "--speed=50".into(),
            format!("--start={start}"),
            format!("--http-header-fields={headers}"),
            "--term-playing-msg=DURATION=${=duration}".into(),
            url.clone(),
        ];
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("mpv")
                .args(&args)
                .output()
                .expect("mpv is installed (scripts/install-deps.sh)")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "mpv failed on {url}: {stdout}");
        let duration: f64 = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("DURATION="))
            .unwrap_or_else(|| panic!("no duration in {stdout}"))
            .parse()
            .unwrap();
        assert!(
            (duration * 1000.0 - runtime_ms as f64).abs() < 1000.0,
            "{duration} s vs {runtime_ms} ms"
        );
        // mpv started near the end: it asked for a range, not the whole file.
        assert!(stdout.contains("DURATION="));
    }
    let asked: Vec<_> = s
        .requests()
        .into_iter()
        .chain(p.requests())
        .filter_map(|r| r.header("range").map(str::to_string))
        .filter(|r| r != "bytes=0-")
        .collect();
    assert!(!asked.is_empty(), "mpv seeked without Range requests");
}
