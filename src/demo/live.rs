//! The demo server's WebSocket (`/socket`), as Jellyfin's: after the upgrade it sends
//! `ForceKeepAlive`, then `UserDataChanged` messages for user data changed through the API (or
//! through [`super::DemoServer::set_user_data`], the "other device").
//!
//! Jellyfin's `UserDataChangeNotifier` (`docs/SERVERS.md`, "UserDataChanged"): progress saves
//! (`PlaybackProgress`) are not announced; other saves start a 500 ms timer that each further
//! change restarts; when it fires one message lists every item saved meanwhile and each one's
//! parent (`GetOwner() ?? GetParent()`: an episode's season), with the user data as it is then.
//! The Plex demo keeps one immediate message per change.
//!
//! The upgrade is done on the demo server's own hyper connection (`hyper::upgrade`) and the
//! frames by tokio-tungstenite, the crate the client uses too (axum's `ws` would bring a second
//! tungstenite version and needs axum's router, which this server does not use).

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::state::State;
use super::{lock, routes, sessions, DemoKind, Inner};

/// Jellyfin's `UserDataChangeNotifier.UpdateDuration`.
pub(super) const DEBOUNCE: Duration = Duration::from_millis(500);

/// The server's own timers: the `UserDataChanged` debounce and the idle-session check.
#[derive(Default)]
pub(super) struct Timers {
    me: OnceLock<Weak<Inner>>,
    debounce: Mutex<Option<AbortHandle>>,
    idle: Mutex<Option<AbortHandle>>,
    /// Wakes the idle check when a report may have moved its next deadline.
    wake: Arc<Notify>,
}

impl Timers {
    /// Stop both timers (the server is going away).
    pub(super) fn stop(&self) {
        for slot in [&self.debounce, &self.idle] {
            if let Some(task) = lock(slot).take() {
                task.abort();
            }
        }
    }
}

impl Inner {
    /// Start the server's own timers (once, after `Arc::new`).
    pub(super) fn start_timers(self: &Arc<Self>) {
        let _ = self.timers.me.set(Arc::downgrade(self));
        if self.kind != DemoKind::Jellyfin {
            return;
        }
        let me = Arc::downgrade(self);
        let wake = self.timers.wake.clone();
        let task = self.runtime.spawn(async move {
            loop {
                let Some((deadline, clock)) = me.upgrade().map(|inner| {
                    let state = lock(&inner.state);
                    (state.sessions.next_tick(), state.clock.clone())
                }) else {
                    return;
                };
                match deadline {
                    Some(d) => tokio::select! {
                        _ = clock.sleep_until(d) => {}
                        _ = wake.notified() => {}
                    },
                    None => wake.notified().await,
                }
                let Some(inner) = me.upgrade() else {
                    return;
                };
                let mut state = lock(&inner.state);
                inner.catch_up(&mut state);
            }
        });
        *lock(&self.timers.idle) = Some(task.abort_handle());
    }

    /// Bring the sessions up to now on the demo's clock (Jellyfin's idle check), announcing
    /// what it stopped. Call with the state locked, before answering from it.
    pub(super) fn catch_up(&self, state: &mut State) {
        if self.kind == DemoKind::Jellyfin && sessions::expire_idle(state) {
            self.publish(state);
        }
    }

    /// Announce what changed in `state`: Plex at once, Jellyfin after its debounce (restarted
    /// by every new change; progress saves are not changes here).
    pub(super) fn publish(&self, state: &mut State) {
        if self.kind != DemoKind::Jellyfin {
            if let Some(message) = changes_message(state) {
                // No socket open is fine.
                let _ = self.live.send(message.into());
            }
            return;
        }
        self.timers.wake.notify_one();
        if !state.take_fresh() {
            return;
        }
        let Some(me) = self.timers.me.get().cloned() else {
            return;
        };
        let mut slot = lock(&self.timers.debounce);
        if let Some(old) = slot.take() {
            old.abort();
        }
        let task = self.runtime.spawn(async move {
            tokio::time::sleep(DEBOUNCE).await;
            let Some(inner) = me.upgrade() else {
                return;
            };
            let message = changes_message(&mut lock(&inner.state));
            if let Some(message) = message {
                let _ = inner.live.send(message.into());
            }
        });
        *slot = Some(task.abort_handle());
    }
}

/// Seconds announced in `ForceKeepAlive` (Jellyfin sends 60).
const KEEP_ALIVE_SECONDS: u64 = 60;

/// The `UserDataChanged` message for the items changed since the last call, if any.
/// On Jellyfin each item is followed by its parent (`UserDataChangeNotifier`: "Go up one level
/// for indicators"), each id once.
pub(super) fn changes_message(state: &mut State) -> Option<String> {
    let mut ids = state.take_changed();
    if state.jellyfin_rules {
        let mut seen = std::collections::HashSet::new();
        ids = ids
            .iter()
            .flat_map(|id| {
                let parent = state.get(id).and_then(|i| i.parent_id.clone());
                std::iter::once(id.clone()).chain(parent)
            })
            .filter(|id| seen.insert(id.clone()))
            .collect();
    }
    let list: Vec<Value> = ids
        .iter()
        .map(|id| routes::user_data_dto(state, id))
        .filter(|v| !v.is_null())
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(
        json!({
            "MessageType": "UserDataChanged",
            "MessageId": uuid::Uuid::new_v4().simple().to_string(),
            "Data": { "UserId": state.user_id, "UserDataList": list },
        })
        .to_string(),
    )
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r
}

/// The token of a socket request: the `Authorization: MediaBrowser … Token="…"` header, or the
/// `api_key` / `ApiKey` query parameter (as Jellyfin accepts for sockets).
fn token_of(req: &Request<Incoming>, query: &[(String, String)]) -> Option<String> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(routes::parse_authorization)
        .and_then(|m| m.get("token").cloned());
    from_header.or_else(|| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("api_key") || k.eq_ignore_ascii_case("apikey"))
            .map(|(_, v)| v.clone())
    })
}

impl Inner {
    /// Answer `GET /socket`: 101 and a live connection, 401 without a valid token, 400 when it
    /// is not a WebSocket upgrade, 404 while sockets are switched off.
    pub(super) fn websocket(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        query: &[(String, String)],
    ) -> (u16, Response<Body>) {
        if !lock(&self.net).live_enabled {
            return (404, plain(StatusCode::NOT_FOUND, "Not Found"));
        }
        let is_upgrade = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let Some(key) = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .map(|k| derive_accept_key(k.as_bytes()))
        else {
            return (
                400,
                plain(StatusCode::BAD_REQUEST, "Not a WebSocket request"),
            );
        };
        if !is_upgrade {
            return (
                400,
                plain(StatusCode::BAD_REQUEST, "Not a WebSocket request"),
            );
        }
        let valid =
            token_of(&req, query).is_some_and(|t| lock(&self.state).tokens.contains_key(&t));
        if !valid {
            return (401, plain(StatusCode::UNAUTHORIZED, ""));
        }
        // Subscribe before answering, so no change made right after the upgrade is missed.
        let rx = self.live.subscribe();
        let on_upgrade = hyper::upgrade::on(&mut req);
        let inner = self.clone();
        let mut net = lock(&self.net);
        let id = net.next_conn;
        net.next_conn += 1;
        let task = self.runtime.spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                serve_socket(ws, rx).await;
            }
            lock(&inner.net).live.remove(&id);
        });
        net.live.insert(id, task.abort_handle());
        drop(net);

        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&key) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        (101, r)
    }
}

async fn serve_socket<S>(mut ws: WebSocketStream<S>, mut rx: broadcast::Receiver<Arc<str>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let hello = json!({
        "MessageType": "ForceKeepAlive",
        "MessageId": uuid::Uuid::new_v4().simple().to_string(),
        "Data": KEEP_ALIVE_SECONDS,
    })
    .to_string();
    if ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            change = rx.recv() => match change {
                Ok(text) => {
                    if ws.send(Message::text(text.to_string())).await.is_err() {
                        return;
                    }
                }
                // Too slow a reader: Jellyfin drops it too.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = ws.next() => match incoming {
                // KeepAlive and anything else from the client: nothing to do (pings are
                // answered by tungstenite).
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
