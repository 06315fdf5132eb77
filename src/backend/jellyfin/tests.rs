//! Loopback tests: a tiny axum server inside each test plays Jellyfin.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::backend::ErrorKind;

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    accept: Option<String>,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A server answering every request with `reply`, recording what it saw.
async fn server<F>(reply: F) -> (String, Log)
where
    F: Fn(&Seen) -> Response + Send + Sync + 'static,
{
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let reply = Arc::new(reply);
    let seen_log = log.clone();
    let router = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = seen_log.clone();
            let reply = reply.clone();
            async move {
                let header =
                    |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                let seen = Seen {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().map(str::to_string),
                    auth: header("authorization"),
                    accept: header("accept"),
                    body: body.to_vec(),
                };
                log.lock().unwrap().push(seen.clone());
                reply(&seen)
            }
        },
    );
    (spawn(router).await, log)
}

fn json(value: serde_json::Value) -> Response {
    axum::Json(value).into_response()
}

fn device() -> DeviceInfo {
    DeviceInfo {
        client: "Playmark".into(),
        device: "test box".into(),
        device_id: "dev-1".into(),
        version: "0.1.0".into(),
    }
}

fn client(base: &str) -> JellyfinClient {
    JellyfinClient::new(base, device(), ClientOptions::default()).unwrap()
}

fn signed_in(base: &str) -> JellyfinClient {
    client(base).with_session("tok-SECRET".into(), "user-1".into())
}

fn public_info_json() -> serde_json::Value {
    serde_json::json!({"LocalAddress": "http://x", "ServerName": "Den", "Version": "10.11.11",
        "ProductName": "Jellyfin Server", "OperatingSystem": "", "Id": "srv-1",
        "StartupWizardCompleted": true})
}

#[tokio::test]
async fn public_info_is_anonymous_and_keeps_path_prefix() {
    let (base, log) = server(|_| json(public_info_json())).await;
    let c = client(&format!("{base}/jellyfin/"));
    let info = c.probe().await.unwrap();
    assert_eq!(info.server_id, "srv-1");
    assert_eq!(info.server_name, "Den");
    assert_eq!(info.version, "10.11.11");
    JellyfinClient::check_version(&info.version).unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/jellyfin/System/Info/Public");
    assert_eq!(seen.accept.as_deref(), Some("application/json"));
    assert_eq!(
        seen.auth.as_deref(),
        Some(
            "MediaBrowser Client=\"Playmark\", Device=\"test%20box\", DeviceId=\"dev-1\", \
             Version=\"0.1.0\""
        )
    );
}

#[tokio::test]
async fn authenticate_by_name() {
    let (base, log) = server(|seen| {
        if seen.path == "/Users/AuthenticateByName"
            && seen.json() == serde_json::json!({"Username": "anna", "Pw": "right"})
        {
            json(serde_json::json!({
                "User": {"Name": "anna", "Id": "user-1", "ServerId": "srv-1"},
                "SessionInfo": {}, "AccessToken": "tok-NEW", "ServerId": "srv-1"
            }))
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    })
    .await;
    let c = client(&base);
    let session = c.authenticate("anna", "right").await.unwrap();
    assert_eq!(
        session,
        Session {
            access_token: "tok-NEW".into(),
            user_id: "user-1".into(),
            user_name: "anna".into(),
            server_id: "srv-1".into(),
        }
    );
    let e = c.authenticate("anna", "wrong").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.detail, "wrong user name or password");
    assert_eq!(e.status, Some(401));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert!(!seen.auth.unwrap().contains("Token="));
}

#[tokio::test]
async fn signed_in_requests_carry_the_token_only_in_the_header() {
    let (base, log) = server(|seen| {
        if seen
            .auth
            .as_deref()
            .unwrap_or("")
            .contains("Token=\"tok-SECRET\"")
        {
            json(serde_json::json!({"Name": "anna", "Id": "user-1"}))
        } else {
            StatusCode::UNAUTHORIZED.into_response()
        }
    })
    .await;
    let (id, name) = signed_in(&base).me().await.unwrap();
    assert_eq!((id.as_str(), name.as_str()), ("user-1", "anna"));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/Users/Me");
    assert_eq!(seen.query, None);
    assert_eq!(
        seen.auth.as_deref(),
        Some(
            "MediaBrowser Client=\"Playmark\", Device=\"test%20box\", DeviceId=\"dev-1\", \
             Version=\"0.1.0\", Token=\"tok-SECRET\""
        )
    );
    // A revoked token: 401 → Auth.
    let e = client(&base)
        .with_session("revoked".into(), "user-1".into())
        .me()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.status, Some(401));
}

#[tokio::test]
async fn push_item_posts_absolute_user_data() {
    let (base, log) = server(|_| {
        json(serde_json::json!({
            "PlaybackPositionTicks": 4_200_000_000_i64, "PlayCount": 3, "IsFavorite": false,
            "Played": false, "LastPlayedDate": "2024-01-02T03:04:05.0000000Z",
            "Key": "k", "ItemId": "item-1"
        }))
    })
    .await;
    let desired = DesiredState {
        position_ms: 420_000,
        played: false,
        play_count: 3,
        last_played: Some(1_704_164_645_000),
    };
    let got = signed_in(&base)
        .push_item("item-1", &desired)
        .await
        .unwrap();
    assert_eq!(got, Some(desired.to_user_data()));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/UserItems/item-1/UserData");
    assert_eq!(seen.query.as_deref(), Some("userId=user-1"));
    assert_eq!(
        seen.json(),
        serde_json::json!({"PlaybackPositionTicks": 4_200_000_000_i64, "Played": false,
            "PlayCount": 3, "LastPlayedDate": "2024-01-02T03:04:05.000Z"})
    );
    // Without a last-played date the field is omitted (the server keeps its value).
    signed_in(&base)
        .push_item(
            "item-1",
            &DesiredState {
                last_played: None,
                ..desired
            },
        )
        .await
        .unwrap();
    let seen = log.lock().unwrap()[1].clone();
    assert!(seen.json().get("LastPlayedDate").is_none());
}

#[tokio::test]
async fn push_group_uses_user_played_items_without_date() {
    let (base, log) = server(|_| json(serde_json::json!({"Played": true}))).await;
    let c = signed_in(&base);
    c.push_group("season-9", true).await.unwrap();
    c.push_group("season-9", false).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[1].method, "DELETE");
    for seen in &log {
        assert_eq!(seen.path, "/UserPlayedItems/season-9");
        assert_eq!(seen.query.as_deref(), Some("userId=user-1"));
        assert!(seen.body.is_empty());
    }
}

#[tokio::test]
async fn a_group_write_answered_200_without_its_user_data_is_transient() {
    // A proxy's 200 (HTML) or a cut-off body does not prove the season was marked.
    for body in ["<html>captive portal</html>", "{\"Played\": tr"] {
        let (base, _) = server(move |_| {
            ([("Content-Type", "application/json")], body.to_string()).into_response()
        })
        .await;
        let e = signed_in(&base)
            .push_group("season-9", true)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{body}: {}", e.detail);
    }
    // An empty 200/204 is what some versions answer: accepted.
    let (base, _) = server(|_| StatusCode::NO_CONTENT.into_response()).await;
    signed_in(&base)
        .push_group("season-9", false)
        .await
        .unwrap();
}

#[tokio::test]
async fn fetch_items_query_and_parse() {
    let (base, log) = server(|_| {
        json(serde_json::json!({
            "Items": [
                {"Id": "m1", "Name": "Film", "Type": "Movie", "RunTimeTicks": 72_000_000_000_i64,
                 "UserData": {"PlaybackPositionTicks": 0, "PlayCount": 1, "Played": true,
                   "LastPlayedDate": "2024-01-02T03:04:05.0000000Z"}},
                {"Id": "b1", "Name": "Book", "Type": "Book", "UserData": {}},
                {"Id": "e1", "Name": "Broken", "Type": "Episode"}
            ],
            "TotalRecordCount": 3, "StartIndex": 100
        }))
    })
    .await;
    let page = signed_in(&base).fetch_items(100, 50).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.start, 100);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, "m1");
    assert_eq!(page.items[0].runtime_ms, Some(7_200_000));
    assert!(page.items[0].user_data.played);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/Items");
    let query: Vec<(String, String)> = url::form_urlencoded::parse(seen.query.unwrap().as_bytes())
        .into_owned()
        .collect();
    let expected: Vec<(String, String)> = [
        ("userId", "user-1"),
        ("recursive", "true"),
        ("includeItemTypes", "Series,Season,Episode,Movie"),
        ("enableUserData", "true"),
        ("enableImages", "false"),
        ("fields", "ParentId,ProviderIds"),
        ("startIndex", "100"),
        ("limit", "50"),
        ("enableTotalRecordCount", "true"),
        ("sortBy", "SortName"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(query, expected);
}

#[tokio::test]
async fn status_503_with_retry_after_is_transient() {
    let (base, _) = server(|seen| {
        if seen.path.ends_with("/Public") {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("Retry-After", "7"), ("Content-Type", "text/html")],
                "<html><body>Jellyfin is starting</body></html>",
            )
                .into_response()
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("Message", "Server is still loading")],
            )
                .into_response()
        }
    })
    .await;
    let e = client(&base).probe().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert_eq!(e.status, Some(503));
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        e.detail,
        "HTTP 503 Service Unavailable: <html><body>Jellyfin is starting</body></html>"
    );
    // Empty body: the Message header is the detail.
    let e = signed_in(&base).me().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert_eq!(e.retry_after, None);
    assert!(
        e.detail.ends_with("Server is still loading"),
        "{}",
        e.detail
    );
}

#[tokio::test]
async fn error_statuses_are_classified() {
    let (base, _) = server(|seen| match seen.path.as_str() {
        "/UserItems/gone/UserData" => (
            StatusCode::NOT_FOUND,
            [("Content-Type", "application/problem+json")],
            r#"{"title":"Not Found","status":404}"#,
        )
            .into_response(),
        "/UserItems/other-user/UserData" => StatusCode::FORBIDDEN.into_response(),
        "/UserItems/bad/UserData" => (StatusCode::BAD_REQUEST, "bad body").into_response(),
        _ => (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "2")]).into_response(),
    })
    .await;
    let c = signed_in(&base);
    let d = DesiredState {
        position_ms: 1,
        played: false,
        play_count: 0,
        last_played: None,
    };
    let e = c.push_item("gone", &d).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.detail.contains("Not Found"), "{}", e.detail);
    let e = c.push_item("other-user", &d).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected);
    assert_eq!(e.status, Some(403));
    let e = c.push_item("bad", &d).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected);
    assert_eq!(e.detail, "HTTP 400 Bad Request: bad body");
    let e = c.push_group("any", true).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn closed_port_is_offline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let e = client(&format!("http://127.0.0.1:{port}"))
        .probe()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Offline, "{}", e.detail);
    assert_eq!(e.status, None);
}

#[tokio::test]
async fn slow_server_times_out_as_transient() {
    let router = Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        json(public_info_json())
    });
    let base = spawn(router).await;
    let options = ClientOptions {
        timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let c = JellyfinClient::new(&base, device(), options).unwrap();
    let started = std::time::Instant::now();
    let e = c.probe().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{}", e.detail);
    assert!(e.detail.contains("timed out"), "{}", e.detail);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn huge_bodies_are_capped() {
    let router = Router::new()
        .route(
            "/sized/System/Info/Public",
            axum::routing::get(|| async { vec![b' '; 300_000] }),
        )
        .route(
            "/streamed/System/Info/Public",
            axum::routing::get(|| async {
                let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 10_000]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/small/System/Info/Public",
            axum::routing::get(|| async { json(public_info_json()) }),
        );
    let base = spawn(router).await;
    let options = ClientOptions {
        max_body_bytes: 100_000,
        ..ClientOptions::default()
    };
    for prefix in ["sized", "streamed"] {
        let c =
            JellyfinClient::new(&format!("{base}/{prefix}"), device(), options.clone()).unwrap();
        let e = c.probe().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(e.detail.contains("response too large"), "{}", e.detail);
    }
    // Under the cap it works.
    let c = JellyfinClient::new(&format!("{base}/small"), device(), options).unwrap();
    c.probe().await.unwrap();
}

#[tokio::test]
async fn truncated_body_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n{\"Id\":\"srv",
            )
            .await;
        let _ = socket.shutdown().await;
    });
    let e = client(&format!("http://{addr}")).probe().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{}", e.detail);
}

#[tokio::test]
async fn html_in_a_2xx_response_is_transient() {
    let (base, _) = server(|_| {
        (
            [("Content-Type", "text/html")],
            "<html>captive portal</html>",
        )
            .into_response()
    })
    .await;
    let e = signed_in(&base).fetch_items(0, 10).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(
        e.detail.starts_with("unexpected response from server"),
        "{}",
        e.detail
    );
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_same_origin() {
    let (other, other_log) = server(|_| json(public_info_json())).await;
    let target = format!("{other}/System/Info/Public?api_key=tok-SECRET");
    let (base, log) = server(move |seen| match seen.path.as_str() {
        "/System/Info/Public" => {
            (StatusCode::FOUND, [("Location", "/moved/Public")]).into_response()
        }
        "/moved/Public" => json(public_info_json()),
        _ => (StatusCode::FOUND, [("Location", target.clone())]).into_response(),
    })
    .await;
    // Same origin: followed, with the same Authorization.
    let info = client(&base).probe().await.unwrap();
    assert_eq!(info.server_id, "srv-1");
    assert_eq!(log.lock().unwrap().len(), 2);

    // Another host (here: another port): not followed, token never reaches it.
    let e = signed_in(&base).me().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{}", e.detail);
    assert_eq!(e.status, Some(302));
    assert!(e.detail.contains(&other), "{}", e.detail);
    assert!(!e.detail.contains("tok-SECRET"), "{}", e.detail);
    assert!(other_log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn redirect_loops_stop() {
    let (base, log) = server(|seen| {
        let n: u32 = seen.path.trim_start_matches("/r").parse().unwrap_or(0);
        (StatusCode::FOUND, [("Location", format!("/r{}", n + 1))]).into_response()
    })
    .await;
    let e = client(&base).probe().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{}", e.detail);
    assert!(e.detail.contains("redirect"), "{}", e.detail);
    // The original request plus at most MAX_REDIRECTS redirects.
    assert_eq!(log.lock().unwrap().len(), MAX_REDIRECTS + 1);
}
