//! The demo server over real HTTP on loopback.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use playmark::demo::{
    DemoConfig, DemoLibrary, DemoServer, Fault, FaultSpec, DEMO_PASSWORD, DEMO_USER,
};
use playmark::model::{ItemKind, UserData};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const AUTH: &str =
    r#"MediaBrowser Client="Playmark Tests", Device="ci", DeviceId="dev-1", Version="0.1""#;

async fn server(library: DemoLibrary) -> DemoServer {
    DemoServer::start(DemoConfig {
        library,
        ..DemoConfig::default()
    })
    .await
    .unwrap()
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn login(c: &Client, s: &DemoServer, device_id: &str) -> String {
    let r = c
        .post(format!("{}/Users/AuthenticateByName", s.url()))
        .header("Authorization", AUTH.replace("dev-1", device_id))
        .json(&json!({"Username": DEMO_USER, "Pw": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["User"]["Id"], s.user_id());
    assert_eq!(v["ServerId"], s.server_id());
    v["AccessToken"].as_str().unwrap().to_string()
}

fn auth(token: &str) -> String {
    format!("{AUTH}, Token=\"{token}\"")
}

/// Send an authorised request; returns status and parsed JSON (Null when not JSON).
async fn call(
    c: &Client,
    s: &DemoServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut rb = c
        .request(method, format!("{}{}", s.url(), path))
        .header("Authorization", auth(token));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn first(s: &DemoServer, kind: ItemKind) -> playmark::model::RemoteItem {
    s.items().into_iter().find(|i| i.kind == kind).unwrap()
}

fn dashed(id: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
    .to_uppercase()
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();

    // Public info needs no auth.
    let v: Value = c
        .get(format!("{}/System/Info/Public", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["Version"], "10.11.11");
    assert_eq!(v["ServerName"], "Playmark Demo");
    assert_eq!(v["ProductName"], "Jellyfin Server");
    assert_eq!(v["StartupWizardCompleted"], true);
    assert_eq!(v["Id"], s.server_id());
    assert_eq!(v["LocalAddress"], s.url());

    // No token, a bad token, the legacy header: 401 with an empty body.
    for req in [
        c.get(format!("{}/Items", s.url())),
        c.get(format!("{}/Items", s.url()))
            .header("Authorization", auth("0123456789abcdef0123456789abcdef")),
        c.get(format!("{}/Users/Me", s.url()))
            .header("X-Emby-Token", "whatever"),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.bytes().await.unwrap().is_empty());
    }

    // Wrong password → 401; missing DeviceId → 400 (as SessionManager throws).
    let r = c
        .post(format!("{}/Users/AuthenticateByName", s.url()))
        .header("Authorization", AUTH)
        .json(&json!({"Username": DEMO_USER, "Pw": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/Users/AuthenticateByName", s.url()))
        .header(
            "Authorization",
            r#"MediaBrowser Client="x", Device="y", Version="1""#,
        )
        .json(&json!({"Username": DEMO_USER, "Pw": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A good login works, scheme and user name case-insensitively.
    let token = login(&c, &s, "dev-1").await;
    assert_eq!(token.len(), 32);
    let (st, me) = call(&c, &s, &token, Method::GET, "/Users/Me", None).await;
    assert_eq!(st, 200);
    assert_eq!(me["Name"], DEMO_USER);
    assert_eq!(me["Id"], s.user_id());
    let r = c
        .get(format!("{}/users/me", s.url()))
        .header(
            "Authorization",
            auth(&token).replace("MediaBrowser", "mediabrowser"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Signing in again from the same device logs the old token out; other devices keep theirs.
    let other = login(&c, &s, "dev-2").await;
    let again = login(&c, &s, "dev-1").await;
    assert_eq!(
        call(&c, &s, &token, Method::GET, "/Users/Me", None).await.0,
        401
    );
    assert_eq!(
        call(&c, &s, &again, Method::GET, "/Users/Me", None).await.0,
        200
    );
    assert_eq!(
        call(&c, &s, &other, Method::GET, "/Users/Me", None).await.0,
        200
    );

    // Revocation.
    s.revoke_tokens();
    assert_eq!(
        call(&c, &s, &again, Method::GET, "/Users/Me", None).await.0,
        401
    );
    assert_eq!(
        call(&c, &s, &other, Method::GET, "/Users/Me", None).await.0,
        401
    );
    s.shutdown().await;
}

#[tokio::test]
async fn paging_covers_the_library_once() {
    let lib = DemoLibrary::generated(3, 2, 7, 4);
    let total = lib.len();
    let s = server(lib).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let uid = s.user_id();

    let mut seen = Vec::new();
    let mut start = 0;
    loop {
        let (st, v) = call(
            &c,
            &s,
            &token,
            Method::GET,
            &format!(
                "/Items?userId={uid}&Recursive=true&includeItemTypes=Series,Season,Episode,Movie\
                 &enableUserData=true&startIndex={start}&limit=10&fields=ProviderIds,Path"
            ),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(v["TotalRecordCount"], total);
        assert_eq!(v["StartIndex"], start);
        let items = v["Items"].as_array().unwrap();
        for it in items {
            assert_eq!(it["ServerId"], s.server_id());
            assert!(it["UserData"]["Played"].is_boolean());
            assert!(it["Path"].is_string());
            seen.push(it["Id"].as_str().unwrap().to_string());
        }
        if items.len() < 10 {
            break;
        }
        start += 10;
    }
    assert_eq!(seen.len(), total);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), total);
    let expected: Vec<String> = s.items().into_iter().map(|i| i.id).collect();
    assert_eq!(seen, expected, "default order is the library order");

    // Type filter, case-insensitive names, dashed ids, repeated list parameters.
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!(
            "/Items?USERID={}&RECURSIVE=TRUE&IncludeItemTypes=Movie&includeItemTypes=Episode&limit=1",
            dashed(&uid)
        ),
        None,
    )
    .await;
    assert_eq!(v["TotalRecordCount"], 3 * 2 * 7 + 4);
    assert_eq!(v["Items"].as_array().unwrap().len(), 1);

    // Episode fields.
    let ep = first(&s, ItemKind::Episode);
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!("/Items?ids={}", ep.id),
        None,
    )
    .await;
    let e = &v["Items"][0];
    assert_eq!(e["Type"], "Episode");
    assert_eq!(e["SeasonId"], ep.season_id.clone().unwrap());
    assert_eq!(e["SeriesId"], ep.series_id.clone().unwrap());
    assert_eq!(e["ParentId"], ep.parent_id.clone().unwrap());
    assert_eq!(e["IndexNumber"], 1);
    assert_eq!(e["ParentIndexNumber"], 1);
    assert_eq!(e["RunTimeTicks"], ep.runtime_ms.unwrap() * 10_000);
    assert_eq!(e["IsFolder"], false);
    assert_eq!(e["UserData"]["ItemId"], ep.id);

    // Children of a season, not recursive.
    let season = first(&s, ItemKind::Season);
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!("/Items?parentId={}", season.id),
        None,
    )
    .await;
    assert_eq!(v["TotalRecordCount"], 7);

    // Without the total.
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        "/Items?recursive=true&limit=2&enableTotalRecordCount=false",
        None,
    )
    .await;
    assert_eq!(v["TotalRecordCount"], 0);
    assert_eq!(v["Items"].as_array().unwrap().len(), 2);

    // Another user's id → 403; a malformed one → 400; single item, 404.
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::GET,
        "/Items?userId=0123456789abcdef0123456789abcdef",
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(&c, &s, &token, Method::GET, "/Items?userId=nobody", None).await;
    assert_eq!(st, 400);
    let (st, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!("/Items/{}", dashed(&ep.id)),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["Id"], ep.id);
    let (st, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        "/Items/0123456789abcdef0123456789abcdef",
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(v["status"], 404);
    assert_eq!(v["title"], "Not Found");

    // A removed item is gone.
    s.remove_item(&season.id);
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!("/Items/{}", ep.id),
        None,
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(s.items().len(), total - 8);
}

#[tokio::test]
async fn update_user_data_is_partial() {
    let s = server(DemoLibrary::seeded().without_progress()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let ep = first(&s, ItemKind::Episode);
    let path = format!("/UserItems/{}/UserData?userId={}", ep.id, s.user_id());

    let (st, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &path,
        Some(json!({"PlaybackPositionTicks": 12_345_670_000_i64, "Played": null})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["PlaybackPositionTicks"], 12_345_670_000_i64);
    assert_eq!(v["Played"], false);
    assert_eq!(v["PlayCount"], 0);
    assert!(v.get("LastPlayedDate").is_none());

    // Only Played and the date: the position stays.
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &path,
        Some(json!({"Played": true, "LastPlayedDate": "2024-01-02T03:04:05Z"})),
    )
    .await;
    assert_eq!(v["PlaybackPositionTicks"], 12_345_670_000_i64);
    assert_eq!(v["Played"], true);
    assert_eq!(v["LastPlayedDate"], "2024-01-02T03:04:05.0000000Z");
    assert_eq!(
        s.user_data(&ep.id),
        Some(UserData {
            position_ms: 1_234_567,
            played: true,
            play_count: 0,
            last_played: Some(1_704_164_645_000),
        })
    );

    // GET returns the same; case-insensitive property names are accepted.
    let (_, v2) = call(&c, &s, &token, Method::GET, &path, None).await;
    assert_eq!(v, v2);
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &path,
        Some(json!({"playCount": 3})),
    )
    .await;
    assert_eq!(v["PlayCount"], 3);
    assert_eq!(v["Played"], true);

    // Negative position → 400, nothing changes; no body → 400; unknown item → 404.
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &path,
        Some(json!({"PlaybackPositionTicks": -1})),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(s.user_data(&ep.id).unwrap().position_ms, 1_234_567);
    let r = c
        .post(format!("{}{}", s.url(), path))
        .header("Authorization", auth(&token))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (st, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        "/UserItems/0123456789abcdef0123456789abcdef/UserData",
        Some(json!({"Played": true})),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(v["status"], 404);

    // The other device changes it directly; the API sees it.
    s.set_user_data(
        &ep.id,
        UserData {
            position_ms: 60_000,
            played: false,
            play_count: 1,
            last_played: None,
        },
    );
    let (_, v) = call(&c, &s, &token, Method::GET, &path, None).await;
    assert_eq!(v["PlaybackPositionTicks"], 600_000_000_i64);
    assert_eq!(v["Played"], false);
}

#[tokio::test]
async fn mark_played_follows_jellyfin_rules() {
    let s = server(DemoLibrary::seeded().without_progress()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let eps: Vec<_> = s
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode)
        .collect();

    // Fresh item, no datePlayed: count clamps to 1, position 0, date = now.
    let before = chrono::Utc::now().timestamp_millis() - 1_000;
    s.set_user_data(
        &eps[0].id,
        UserData {
            position_ms: 5_000,
            ..UserData::default()
        },
    );
    let (st, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}", eps[0].id),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["Played"], true);
    assert_eq!(v["PlayCount"], 1);
    assert_eq!(v["PlaybackPositionTicks"], 0);
    let u = s.user_data(&eps[0].id).unwrap();
    assert!(u.last_played.unwrap() >= before);

    // Existing count and date, no datePlayed: both kept.
    s.set_user_data(
        &eps[1].id,
        UserData {
            position_ms: 0,
            played: false,
            play_count: 2,
            last_played: Some(1_000_000),
        },
    );
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}", eps[1].id),
        None,
    )
    .await;
    assert_eq!(
        s.user_data(&eps[1].id).unwrap(),
        UserData {
            position_ms: 0,
            played: true,
            play_count: 2,
            last_played: Some(1_000_000)
        }
    );

    // With datePlayed: count + 1 and that date (legacy format too).
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!(
            "/UserPlayedItems/{}?userId={}&datePlayed=2024-01-02T03:04:05.000Z",
            eps[1].id,
            s.user_id()
        ),
        None,
    )
    .await;
    assert_eq!(v["PlayCount"], 3);
    assert_eq!(v["LastPlayedDate"], "2024-01-02T03:04:05.0000000Z");
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}?datePlayed=20240203040506", eps[1].id),
        None,
    )
    .await;
    let u = s.user_data(&eps[1].id).unwrap();
    assert_eq!(u.play_count, 4);
    assert_eq!(u.last_played, Some(1_706_933_106_000));

    // Unplayed resets everything.
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::DELETE,
        &format!("/UserPlayedItems/{}", eps[1].id),
        None,
    )
    .await;
    assert_eq!(v["Played"], false);
    assert_eq!(v["PlayCount"], 0);
    assert!(v.get("LastPlayedDate").is_none());
    assert_eq!(s.user_data(&eps[1].id).unwrap(), UserData::default());

    // Bad date → 400, unknown item → 404, legacy route works.
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}?datePlayed=soon", eps[2].id),
        None,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::POST,
        "/UserPlayedItems/0123456789abcdef0123456789abcdef",
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/Users/{}/PlayedItems/{}", s.user_id(), eps[2].id),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(s.user_data(&eps[2].id).unwrap().played);
}

#[tokio::test]
async fn played_on_a_season_recurses() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let items = s.items();
    let season = items.iter().find(|i| i.kind == ItemKind::Season).unwrap();
    let children: Vec<_> = items
        .iter()
        .filter(|i| i.parent_id.as_deref() == Some(&season.id))
        .collect();
    assert!(children.len() >= 6);

    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!(
            "/UserPlayedItems/{}?datePlayed=2024-05-01T00:00:00Z",
            season.id
        ),
        None,
    )
    .await;
    assert_eq!(v["Played"], true);
    assert_eq!(v["UnplayedItemCount"], 0);
    assert_eq!(v["PlayedPercentage"], 100.0);
    for ch in &children {
        let u = s.user_data(&ch.id).unwrap();
        assert!(u.played);
        assert_eq!(u.play_count, ch.user_data.play_count + 1);
    }

    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::DELETE,
        &format!("/UserPlayedItems/{}", season.id),
        None,
    )
    .await;
    assert_eq!(v["Played"], false);
    assert_eq!(v["UnplayedItemCount"], children.len());
    for ch in &children {
        assert_eq!(s.user_data(&ch.id).unwrap(), UserData::default());
    }
    // Episodes of other seasons are untouched.
    let other = items
        .iter()
        .find(|i| i.kind == ItemKind::Episode && i.parent_id.as_deref() != Some(&season.id))
        .unwrap();
    assert_eq!(s.user_data(&other.id).unwrap(), other.user_data);

    // The series reports the aggregate through /Items too.
    let series = season.parent_id.clone().unwrap();
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &format!("/Items/{series}"),
        None,
    )
    .await;
    assert_eq!(v["IsFolder"], true);
    assert_eq!(v["UserData"]["Played"], false);
    assert!(v["UserData"]["UnplayedItemCount"].as_u64().unwrap() >= children.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_refuses_connections_and_comes_back_on_the_same_port() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let url = format!("{}/System/Info/Public", s.url());
    // Open a keep-alive connection.
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);

    s.go_offline().await;
    assert!(s.is_offline());
    let e = c.get(&url).send().await.unwrap_err();
    assert!(e.is_connect(), "expected a connect error, got {e:?}");
    let raw = tokio::net::TcpStream::connect(("127.0.0.1", s.port())).await;
    assert_eq!(
        raw.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // A fresh client too.
    assert!(client().get(&url).send().await.unwrap_err().is_connect());

    s.set_offline(false);
    assert!(!s.is_offline());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(s.url(), format!("http://127.0.0.1:{}", s.port()));

    // And again, to be sure the cycle repeats.
    // (`go_offline` pauses so the client's connection task sees the close of its keep-alive
    // connection before the next request; without it the request can race the close.)
    s.go_offline().await;
    assert!(c.get(&url).send().await.unwrap_err().is_connect());
    s.set_offline(false);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_does_what_it_says() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let items_url = format!("{}/Items?recursive=true&limit=5", s.url());
    let get = || {
        c.get(&items_url)
            .header("Authorization", auth(&token))
            .send()
    };

    s.fail_next(
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(7),
        },
    );
    let r = get().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");

    s.fail_next(
        2,
        Fault::Status {
            code: 502,
            retry_after: None,
        },
    );
    assert_eq!(get().await.unwrap().status(), 502);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(get().await.unwrap().status(), 200);

    s.fail_next(1, Fault::Starting);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    s.fail_next(1, Fault::Reset);
    let e = get().await.unwrap_err();
    assert!(!e.is_status() && !e.is_connect(), "{e:?}");

    s.fail_next(1, Fault::Truncated);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.is_err(),
        "a truncated body must fail to read"
    );

    s.fail_next(1, Fault::Malformed);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 200);
    let e = r.json::<Value>().await.unwrap_err();
    assert!(e.is_decode(), "{e:?}");

    s.fail_next(1, Fault::Html);
    let r = get().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.json::<Value>().await.is_err());

    s.fail_next(1, Fault::Delay(Duration::from_millis(300)));
    let t = std::time::Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    s.set_latency(Duration::from_millis(200));
    let t = std::time::Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    s.clear_faults();
    let t = std::time::Instant::now();
    assert_eq!(get().await.unwrap().status(), 200);
    assert!(t.elapsed() < Duration::from_millis(200));

    // Random faults are deterministic for a seed.
    let run = |seed| {
        let s = s.clone();
        let get = &get;
        async move {
            s.fail_fraction(
                0.5,
                vec![Fault::Status {
                    code: 500,
                    retry_after: None,
                }],
                seed,
            );
            let mut out = Vec::new();
            for _ in 0..20 {
                out.push(get().await.unwrap().status().as_u16());
            }
            s.clear_faults();
            out
        }
    };
    let a = run(11).await;
    let b = run(11).await;
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");

    // Recorded statuses and fault labels.
    let log = s.requests();
    let faults: Vec<_> = log.iter().filter_map(|r| r.fault.clone()).take(9).collect();
    assert_eq!(
        faults,
        [
            "429:7",
            "502",
            "502",
            "starting",
            "reset",
            "truncated",
            "malformed",
            "html",
            "delay=300ms"
        ]
    );
    let reset = log
        .iter()
        .find(|r| r.fault.as_deref() == Some("reset"))
        .unwrap();
    assert_eq!(reset.status, 0);
    let rl = log
        .iter()
        .find(|r| r.fault.as_deref() == Some("429:7"))
        .unwrap();
    assert_eq!(rl.status, 429);
}

#[tokio::test]
async fn requests_are_recorded() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let ep = first(&s, ItemKind::Episode);
    s.clear_requests();
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!(
            "/UserItems/{}/UserData?userId={}&note=a%20b",
            ep.id,
            s.user_id()
        ),
        Some(json!({"PlaybackPositionTicks": 10_000})),
    )
    .await;
    s.fail_next(
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    call(&c, &s, &token, Method::GET, "/Items?limit=1", None).await;

    let log = s.requests();
    assert_eq!(log.len(), 2);
    let r = &log[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/UserItems/{}/UserData", ep.id));
    assert_eq!(
        r.query,
        vec![
            ("userId".to_string(), s.user_id()),
            ("note".to_string(), "a b".to_string())
        ]
    );
    assert_eq!(r.query_value("USERID"), Some(s.user_id().as_str()));
    assert_eq!(r.body, Some(json!({"PlaybackPositionTicks": 10_000})));
    assert_eq!(r.raw_body, br#"{"PlaybackPositionTicks":10000}"#);
    assert!(r.authorization.as_deref().unwrap().contains(&token));
    assert_eq!(r.status, 200);
    assert_eq!(r.fault, None);
    assert_eq!(log[1].method, "GET");
    assert_eq!(log[1].status, 503);
    assert_eq!(log[1].fault.as_deref(), Some("503"));
    assert!(log[1].at >= log[0].at);
    s.clear_requests();
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn fault_spec_from_config_is_applied() {
    let spec: FaultSpec = "next=1:503,next=1:429:3".parse().unwrap();
    let s = DemoServer::start(DemoConfig {
        faults: Some(spec),
        version: "10.9.11".into(),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let c = client();
    let url = format!("{}/System/Info/Public", s.url());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 503);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["Version"], "10.9.11");

    assert!("next=1:teapot".parse::<FaultSpec>().is_err());
    let offline = DemoServer::start(DemoConfig {
        faults: Some("offline".parse().unwrap()),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    assert!(c
        .get(format!("{}/System/Info/Public", offline.url()))
        .send()
        .await
        .unwrap_err()
        .is_connect());
}

#[tokio::test]
async fn go_offline_works_on_a_current_thread_runtime() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let url = format!("{}/System/Info/Public", s.url());
    for _ in 0..3 {
        assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
        s.go_offline().await;
        let e = c.get(&url).send().await.unwrap_err();
        assert!(e.is_connect(), "expected a connect error, got {e:?}");
        s.set_offline(false);
    }
    // Dropping the last handle closes the port.
    let port = s.port();
    let copy = s.clone();
    drop(s);
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    drop(copy);
    let raw = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(raw.is_err());
}

/// `GET /Items?ParentId=…` as a real Jellyfin answers it: a season lists its episodes, a
/// series its seasons; `Recursive=true&IncludeItemTypes=Episode` lists every episode under a
/// series. An episode added at run time (another device's library scan) is listed too, with
/// its user data.
#[tokio::test]
async fn items_by_parent_honour_recursive_and_types_and_see_added_episodes() {
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let items = s.items();
    let season = items.iter().find(|i| i.kind == ItemKind::Season).unwrap();
    let series = season.parent_id.clone().unwrap();
    let ids = |v: &Value| -> Vec<String> {
        v["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Id"].as_str().unwrap().to_string())
            .collect()
    };
    let kinds = |v: &Value| -> HashSet<String> {
        v["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["Type"].as_str().unwrap().to_string())
            .collect()
    };
    let user = s.user_id();
    let listing = |parent: &str, extra: &str| {
        format!("/Items?userId={user}&ParentId={parent}&EnableUserData=true&Fields=ParentId{extra}")
    };
    let episodes_of = |parent: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .items()
            .iter()
            .filter(|i| {
                i.kind == ItemKind::Episode
                    && (i.season_id.as_deref() == Some(parent)
                        || i.series_id.as_deref() == Some(parent))
            })
            .map(|i| i.id.clone())
            .collect();
        v.sort();
        v
    };

    let (st, v) = call(&c, &s, &token, Method::GET, &listing(&season.id, ""), None).await;
    assert_eq!(st, 200);
    let mut got = ids(&v);
    got.sort();
    assert_eq!(got, episodes_of(&season.id));

    let (_, v) = call(&c, &s, &token, Method::GET, &listing(&series, ""), None).await;
    assert_eq!(kinds(&v), HashSet::from(["Season".to_string()]));

    let recursive = "&Recursive=true&IncludeItemTypes=Episode";
    let (_, v) = call(
        &c,
        &s,
        &token,
        Method::GET,
        &listing(&series, recursive),
        None,
    )
    .await;
    assert_eq!(kinds(&v), HashSet::from(["Episode".to_string()]));
    let mut got = ids(&v);
    got.sort();
    assert!(got.len() > episodes_of(&season.id).len());
    assert_eq!(got, episodes_of(&series));

    let twenty = UserData {
        position_ms: 20 * 60_000,
        ..UserData::default()
    };
    let added = s
        .add_episode(&season.id, "Late Arrival", 45 * 60_000, twenty)
        .unwrap();
    assert_eq!(s.user_data(&added).unwrap(), twenty);
    assert!(s.add_episode(&series, "Not a season", 1, twenty).is_none());
    for (parent, extra) in [(season.id.as_str(), ""), (series.as_str(), recursive)] {
        let (_, v) = call(&c, &s, &token, Method::GET, &listing(parent, extra), None).await;
        let found = v["Items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["Id"] == added.as_str())
            .unwrap_or_else(|| panic!("{parent}: {v}"));
        assert_eq!(found["ParentId"], season.id.as_str());
        assert_eq!(found["Type"], "Episode");
        assert_eq!(
            found["UserData"]["PlaybackPositionTicks"],
            20_i64 * 60_000 * 10_000
        );
    }
    // The added episode is one of the season's children for a call on the season.
    let (st, _) = call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}?userId={user}", season.id),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(s.user_data(&added).unwrap().played);
}

/// Plex `GET /library/metadata/{id}/allLeaves`: the episodes of a season or a whole show,
/// with user data, including one added at run time; an unknown id is 404, and the other
/// verbs 405 as on the rest of `/library`.
#[tokio::test]
async fn plex_all_leaves_lists_the_episodes_of_a_season_or_show() {
    use playmark::demo::DEMO_PLEX_TOKEN;
    let s = DemoServer::start(DemoConfig {
        library: DemoLibrary::seeded(),
        ..DemoConfig::plex()
    })
    .await
    .unwrap();
    let c = client();
    let get = |path: String, method: Method| {
        c.request(method, format!("{}{path}", s.url()))
            .header("X-Plex-Token", DEMO_PLEX_TOKEN)
            .header("X-Plex-Client-Identifier", "dev-1")
            .header("Accept", "application/json")
            .send()
    };
    let items = s.items();
    let season = items.iter().find(|i| i.kind == ItemKind::Season).unwrap();
    let show = season.parent_id.clone().unwrap();
    let keys = |v: &Value| -> Vec<String> {
        v["MediaContainer"]["Metadata"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["ratingKey"].as_str().unwrap().to_string())
            .collect()
    };
    let episodes_of = |parent: &str| -> Vec<String> {
        s.items()
            .iter()
            .filter(|i| {
                i.kind == ItemKind::Episode
                    && (i.season_id.as_deref() == Some(parent)
                        || i.series_id.as_deref() == Some(parent))
            })
            .map(|i| i.id.clone())
            .collect()
    };
    let watched = UserData {
        played: true,
        play_count: 1,
        last_played: Some(1_700_000_000_000),
        ..UserData::default()
    };
    let added = s
        .add_episode(&season.id, "Late Arrival", 45 * 60_000, watched)
        .unwrap();
    assert!(added.parse::<u64>().is_ok(), "a ratingKey: {added}");
    for parent in [season.id.as_str(), show.as_str()] {
        let r = get(format!("/library/metadata/{parent}/allLeaves"), Method::GET)
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{parent}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(keys(&v), episodes_of(parent), "{parent}");
        let leaf = v["MediaContainer"]["Metadata"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["ratingKey"] == added.as_str())
            .unwrap();
        assert_eq!(leaf["type"], "episode");
        assert_eq!(leaf["viewCount"], 1);
        assert_eq!(leaf["parentRatingKey"], season.id.as_str());
    }
    let r = get("/library/metadata/999999/allLeaves".into(), Method::GET)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = get(
        format!("/library/metadata/{}/allLeaves", season.id),
        Method::PUT,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 405);
}

// ---- Jellyfin's rules for sessions and live messages (docs/SERVERS.md) ----

const MIN: i64 = 60_000;
const TICKS: i64 = 10_000;

/// A Jellyfin demo server on a fake clock, signed in; its clock.
async fn clocked_server() -> (DemoServer, playmark::clock::FakeClock, String) {
    let clock = playmark::clock::FakeClock::new(1_700_000_000_000);
    let s = DemoServer::start(DemoConfig {
        library: DemoLibrary::seeded().without_progress(),
        clock: playmark::demo::DemoClock(std::sync::Arc::new(clock.clone())),
        ..DemoConfig::default()
    })
    .await
    .unwrap();
    let token = login(&client(), &s, "dev-1").await;
    (s, clock, token)
}

/// An episode of at least 40 minutes.
fn long_episode(s: &DemoServer) -> playmark::model::RemoteItem {
    s.items()
        .into_iter()
        .find(|i| i.kind == ItemKind::Episode && i.runtime_ms.unwrap_or(0) >= 40 * MIN)
        .unwrap()
}

async fn report(s: &DemoServer, token: &str, which: &str, id: &str, at_ms: i64, paused: bool) {
    let path = match which {
        "start" => "/Sessions/Playing".to_string(),
        other => format!("/Sessions/Playing/{other}"),
    };
    let (status, _) = call(
        &client(),
        s,
        token,
        Method::POST,
        &path,
        Some(json!({"ItemId": id, "PositionTicks": at_ms * TICKS, "IsPaused": paused})),
    )
    .await;
    assert_eq!(status, 204, "{which}");
}

/// `SessionInfo.StartAutomaticProgress`: a playing session advances one second per second of
/// the server's clock, from the last report; paused it stays; the user data keeps the last
/// reported position (automatic progress saves nothing).
#[tokio::test]
async fn jellyfin_session_position_advances_with_the_servers_clock() {
    let (s, clock, token) = clocked_server().await;
    let ep = long_episode(&s);
    report(&s, &token, "start", &ep.id, 10 * MIN, false).await;
    report(&s, &token, "Progress", &ep.id, 20 * MIN, false).await;
    clock.advance(90_500);
    assert_eq!(
        s.now_playing(),
        vec![(ep.id.clone(), 20 * MIN + 90_000, false)]
    );
    assert_eq!(s.user_data(&ep.id).unwrap().position_ms, 20 * MIN);
    // Paused: the session stays where it was reported.
    report(&s, &token, "Progress", &ep.id, 21 * MIN, true).await;
    clock.advance(MIN);
    assert_eq!(s.now_playing(), vec![(ep.id.clone(), 21 * MIN, true)]);
    // Never to the runtime.
    let runtime = ep.runtime_ms.unwrap();
    report(&s, &token, "Progress", &ep.id, runtime - 3_500, false).await;
    clock.advance(MIN);
    assert_eq!(s.now_playing(), vec![(ep.id.clone(), runtime - 500, false)]);
}

/// `SessionManager.CheckForIdlePlayback`: every 5 minutes (from the first report) the server
/// stops the sessions silent for more than 5 minutes, at their advanced position, through the
/// stop rules: here 20:00 + 10 minutes.
#[tokio::test]
async fn jellyfin_a_silent_session_is_stopped_at_its_advanced_position() {
    let (s, clock, token) = clocked_server().await;
    let ep = long_episode(&s);
    report(&s, &token, "start", &ep.id, 20 * MIN, false).await;
    report(&s, &token, "Progress", &ep.id, 20 * MIN, false).await;
    let plays = s.user_data(&ep.id).unwrap().play_count;
    // At the first tick (5:00) the session has been silent exactly 5 minutes: not more.
    clock.advance(5 * MIN);
    assert_eq!(s.now_playing().len(), 1);
    // At the second tick it is stopped, 10 minutes on.
    clock.advance(5 * MIN);
    assert!(s.now_playing().is_empty());
    let u = s.user_data(&ep.id).unwrap();
    assert_eq!(
        (u.position_ms, u.played, u.play_count),
        (30 * MIN, false, plays)
    );
}

/// The idle stop goes through the 90 % rule: a session left playing near the end becomes
/// watched with position 0 (the stop adds no play: it has a position).
#[tokio::test]
async fn jellyfin_an_idle_session_past_90_percent_becomes_watched() {
    let (s, clock, token) = clocked_server().await;
    let ep = long_episode(&s);
    let runtime = ep.runtime_ms.unwrap();
    let at = runtime * 85 / 100;
    report(&s, &token, "start", &ep.id, at, false).await;
    let plays = s.user_data(&ep.id).unwrap().play_count;
    // Laptop suspended: no report for 12 minutes.
    clock.advance(12 * MIN);
    let u = s.user_data(&ep.id).unwrap();
    assert_eq!((u.position_ms, u.played, u.play_count), (0, true, plays));
    assert!(s.now_playing().is_empty());
    // A report in time keeps it alive: a new session reporting every 4 minutes never ends.
    report(&s, &token, "start", &ep.id, 10 * MIN, false).await;
    for _ in 0..5 {
        clock.advance(4 * MIN);
        report(&s, &token, "Progress", &ep.id, 10 * MIN, false).await;
    }
    assert_eq!(s.now_playing().len(), 1);
}

/// A live socket on the demo server.
async fn socket(
    s: &DemoServer,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/socket", s.url().replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", auth(token).parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws
}

/// The next `UserDataChanged` within `wait`, with when it came.
async fn next_change(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: Duration,
) -> Option<(Value, std::time::Instant)> {
    use futures::StreamExt;
    tokio::time::timeout(wait, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Ok(text) = m.to_text() {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if v["MessageType"] == "UserDataChanged" {
                    return Some((v, std::time::Instant::now()));
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

fn listed(v: &Value) -> Vec<String> {
    v["Data"]["UserDataList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ItemId"].as_str().unwrap().to_string())
        .collect()
}

/// `UserDataChangeNotifier`: a progress save is not announced; a stop is, 500 ms later, with
/// the parent season; changes 300 ms apart restart the timer and arrive as one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_user_data_changed_skips_progress_is_debounced_and_lists_parents() {
    let (s, _clock, token) = clocked_server().await;
    let mut ws = socket(&s, &token).await;
    let eps: Vec<_> = s
        .items()
        .into_iter()
        .filter(|i| i.kind == ItemKind::Episode && i.runtime_ms.unwrap_or(0) >= 40 * MIN)
        .take(2)
        .collect();
    let (a, b) = (&eps[0], &eps[1]);
    // Start (announced) and let it go out.
    report(&s, &token, "start", &a.id, 0, false).await;
    let (v, _) = next_change(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert_eq!(listed(&v), vec![a.id.clone(), a.parent_id.clone().unwrap()]);
    // Progress: saved, not announced.
    report(&s, &token, "Progress", &a.id, 20 * MIN, false).await;
    assert_eq!(s.user_data(&a.id).unwrap().position_ms, 20 * MIN);
    assert!(next_change(&mut ws, Duration::from_millis(1_500))
        .await
        .is_none());
    // Stop: announced after the debounce, with the stored position.
    let sent = std::time::Instant::now();
    report(&s, &token, "Stopped", &a.id, 21 * MIN, false).await;
    let (v, at) = next_change(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert!(at - sent >= Duration::from_millis(500), "{:?}", at - sent);
    assert_eq!(listed(&v), vec![a.id.clone(), a.parent_id.clone().unwrap()]);
    assert_eq!(
        v["Data"]["UserDataList"][0]["PlaybackPositionTicks"],
        21 * MIN * TICKS
    );
    // Two changes 300 ms apart: one message, 500 ms after the second.
    let c = client();
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}", a.id),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = std::time::Instant::now();
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!("/UserPlayedItems/{}", b.id),
        None,
    )
    .await;
    let (v, at) = next_change(&mut ws, Duration::from_secs(5)).await.unwrap();
    assert!(
        at - second >= Duration::from_millis(500),
        "{:?}",
        at - second
    );
    let ids = listed(&v);
    assert!(ids.contains(&a.id) && ids.contains(&b.id), "{ids:?}");
    assert!(ids.contains(a.parent_id.as_ref().unwrap()), "{ids:?}");
    assert!(next_change(&mut ws, Duration::from_millis(800))
        .await
        .is_none());
}

/// `Folder.FillUserDataDtoValues`: a season with no episodes reports `Played: true`; a
/// folder's `LastPlayedDate` is its own (null), not its latest episode's.
#[tokio::test]
async fn jellyfin_empty_seasons_are_played_and_folders_keep_their_own_last_played() {
    let s = server(DemoLibrary::seeded().without_progress()).await;
    let c = client();
    let token = login(&c, &s, "dev-1").await;
    let items = s.items();
    let season = first(&s, ItemKind::Season);
    let eps: Vec<_> = items
        .iter()
        .filter(|i| i.parent_id.as_deref() == Some(season.id.as_str()))
        .collect();
    call(
        &c,
        &s,
        &token,
        Method::POST,
        &format!(
            "/UserPlayedItems/{}?datePlayed=2024-01-02T03:04:05.000Z",
            eps[0].id
        ),
        None,
    )
    .await;
    let path = format!("/Items?ids={}&enableUserData=true", season.id);
    let (st, v) = call(&c, &s, &token, Method::GET, &path, None).await;
    assert_eq!(st, 200);
    let d = v["Items"][0]["UserData"].clone();
    assert_eq!(d["Played"], false);
    assert!(d.get("LastPlayedDate").is_none_or(Value::is_null), "{d}");
    assert_eq!(s.user_data(&season.id).unwrap().last_played, None);
    for e in &eps {
        s.remove_item(&e.id);
    }
    let (_, v) = call(&c, &s, &token, Method::GET, &path, None).await;
    let d = v["Items"][0]["UserData"].clone();
    assert_eq!(d["Played"], true, "{d}");
    assert_eq!(d["UnplayedItemCount"], 0);
    assert!(s.user_data(&season.id).unwrap().played);
}

/// Both demo servers list the same provider ids for the same titles (Jellyfin
/// `Fields=ProviderIds`, Plex `includeGuids=1`), except the few the demo Plex lists
/// differently on purpose (`DemoLibrary::with_plex_quirks`), and the clients keep them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_demo_servers_list_provider_ids_and_the_store_keeps_them() {
    use crate::common::Harness;
    use playmark::model::ServerKind;
    let jf = Harness::start(ServerKind::Jellyfin).await;
    let plex = Harness::start(ServerKind::Plex).await;
    let by_title = |h: &Harness| {
        let ids = h.engine.with_store(|s| s.provider_ids(h.account)).unwrap();
        let items = h.engine.with_store(|s| s.items(h.account)).unwrap();
        items
            .into_iter()
            .filter(|i| i.kind.is_playable() || i.kind == ItemKind::Series)
            .map(|i| {
                let key = format!(
                    "{}/{:?}/{:?}/{}",
                    i.series_name.clone().unwrap_or_default(),
                    i.season_number,
                    i.episode_number,
                    i.name
                );
                let ids: Vec<String> = ids
                    .get(&i.item_id)
                    .map(|v| v.iter().map(|p| p.to_string()).collect())
                    .unwrap_or_default();
                (key, ids)
            })
            .collect::<std::collections::BTreeMap<String, Vec<String>>>()
    };
    let (a, b) = (by_title(&jf), by_title(&plex));
    assert_eq!(a.len(), b.len());
    let harbor = "/None/None/A Quiet Harbor";
    assert_eq!(a[harbor].len(), 2, "{:?}", a[harbor]);
    assert!(a[harbor].iter().any(|i| i.starts_with("tmdb:")));
    assert_eq!(a[harbor], b[harbor]);
    let differ: Vec<&String> = a.keys().filter(|k| a[*k] != b[*k]).collect();
    assert_eq!(
        differ,
        [
            "/None/None/Northern Static",
            "Orbital Kitchen/Some(1)/Some(2)/Last Orders",
            "Orbital Kitchen/Some(3)/Some(6)/The Second Door",
            "Paper Cities/Some(2)/Some(9)/Borrowed Light",
        ],
        "only the deliberate differences"
    );
    assert!(b["/None/None/Northern Static"].is_empty());
    assert!(a.values().filter(|v| v.is_empty()).count() == 0);
}

/// `replace_next` arms a new count of one fault instead of what `fail_next` left armed: after
/// one of five 404s was used, five 500s are the next five answers (not four 404s first), then
/// the server answers normally. A fault armed for particular requests stays.
#[tokio::test]
async fn replace_next_drops_the_leftover_count_of_another_fault() {
    use playmark::demo::{PathPattern, RequestMatch};
    let s = server(DemoLibrary::seeded()).await;
    let c = client();
    let status = || async {
        c.get(format!("{}/System/Info/Public", s.url()))
            .send()
            .await
            .unwrap()
            .status()
    };
    let fault = |code| Fault::Status {
        code,
        retry_after: None,
    };
    s.fail_next(5, fault(404));
    assert_eq!(status().await, StatusCode::NOT_FOUND);
    // A fault for one kind of request, armed meanwhile: not a leftover of `fail_next`.
    s.fail_matching(
        RequestMatch::request(Some("POST"), PathPattern::Prefix("/Sessions/".into())),
        fault(503),
    );
    s.replace_next(5, fault(500));
    assert_eq!(s.armed_faults(), 6, "five 500s and the POST's 503");
    for _ in 0..5 {
        assert_eq!(status().await, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(status().await, StatusCode::OK);
    assert_eq!(s.armed_faults(), 1, "the POST's 503 stays armed");
}
