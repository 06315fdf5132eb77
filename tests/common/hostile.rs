//! A small, deliberately badly behaved Jellyfin on loopback: it signs in like the real one, but
//! its `/Items` answer is whatever the test sets, and it records every request (with whether the
//! access token came along) so a test can check what reached it.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The token this server hands out at sign-in.
pub const HOSTILE_TOKEN: &str = "hostile-token-5f1c2a9e7b3d4c60";

/// One request as the hostile server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Raw (still percent-encoded) path.
    pub path: String,
    pub host: Option<String>,
    /// True when the `Authorization` header carried [`HOSTILE_TOKEN`].
    pub had_token: bool,
    pub body: Vec<u8>,
}

/// What `/Items` answers: status, content type and raw body bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 `application/json` with this value.
    pub fn json(value: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }

    /// Any status, content type and bytes.
    pub fn raw(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
        }
    }
}

#[derive(Clone)]
pub struct Hostile {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    items: Arc<Mutex<Reply>>,
    version: Arc<Mutex<String>>,
    paging: Arc<std::sync::atomic::AtomicBool>,
}

impl Hostile {
    /// Start on 127.0.0.1 with an `/Items` reply.
    pub async fn start(items: Reply) -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hostile = Hostile {
            url,
            seen: Arc::new(Mutex::new(Vec::new())),
            items: Arc::new(Mutex::new(items)),
            version: Arc::new(Mutex::new("10.11.0".to_string())),
            paging: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        };
        let state = hostile.clone();
        let router = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.answer(method, uri, headers, body) }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        hostile
    }

    pub fn set_items(&self, reply: Reply) {
        *self.items.lock().unwrap() = reply;
    }

    /// When on (the default), a JSON `/Items` reply is sliced by `startIndex` / `limit` like a
    /// real server; when off, the same reply is sent for every page.
    pub fn set_paging(&self, on: bool) {
        self.paging.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set_version(&self, version: &str) {
        *self.version.lock().unwrap() = version.to_string();
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn answer(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let auth = headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            host: headers
                .get("host")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            had_token: auth.contains(HOSTILE_TOKEN),
            body: body.to_vec(),
        });
        let path = uri.path();
        if path == "/System/Info/Public" {
            let version = self.version.lock().unwrap().clone();
            return axum::Json(serde_json::json!({
                "Id": "hostile-server", "ServerName": "Hostile", "Version": version
            }))
            .into_response();
        }
        if path == "/Users/AuthenticateByName" && method == Method::POST {
            return axum::Json(serde_json::json!({
                "AccessToken": HOSTILE_TOKEN,
                "ServerId": "hostile-server",
                "User": {"Id": "hostile-user", "Name": "demo"}
            }))
            .into_response();
        }
        if !auth.contains(HOSTILE_TOKEN) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if path == "/Items" {
            let mut reply = self.items.lock().unwrap().clone();
            if self.paging.load(std::sync::atomic::Ordering::SeqCst) {
                reply.body = paged(&reply.body, uri.query().unwrap_or(""));
            }
            return Response::builder()
                .status(reply.status)
                .header("content-type", reply.content_type)
                .body(Body::from(reply.body))
                .unwrap();
        }
        if path.starts_with("/UserItems/") && method == Method::POST {
            return StatusCode::NO_CONTENT.into_response();
        }
        StatusCode::NOT_FOUND.into_response()
    }
}

/// An episode as `/Items` lists it.
pub fn episode(id: &str, name: &str, number: i64) -> serde_json::Value {
    serde_json::json!({
        "Id": id, "Name": name, "Type": "Episode",
        "SeriesId": "series-1", "SeriesName": "Hostile Show", "SeasonId": "season-1",
        "ParentIndexNumber": 1, "IndexNumber": number,
        "RunTimeTicks": 30_i64 * 60 * 10_000_000,
        "UserData": {"PlaybackPositionTicks": 0, "PlayCount": 0, "Played": false}
    })
}

/// A `/Items` page holding `items`.
pub fn page(items: Vec<serde_json::Value>) -> serde_json::Value {
    let n = items.len();
    serde_json::json!({"Items": items, "TotalRecordCount": n, "StartIndex": 0})
}

/// Decode `%XX` escapes of a raw path segment.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `body` sliced to the `startIndex` / `limit` of `query` when it is a JSON object with an
/// `Items` array; otherwise unchanged.
fn paged(body: &[u8], query: &str) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_slice(body) else {
        return body.to_vec();
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let start = param("startIndex").unwrap_or(0);
    let limit = param("limit").unwrap_or(usize::MAX);
    if let Some(serde_json::Value::Array(items)) = doc.get("Items") {
        let slice: Vec<serde_json::Value> = items.iter().skip(start).take(limit).cloned().collect();
        doc.insert("Items".into(), serde_json::Value::Array(slice));
        doc.insert("StartIndex".into(), start.into());
    }
    serde_json::to_vec(&doc).unwrap()
}
