//! Jellyfin's WebSocket (`/socket`): live `UserDataChanged` messages.
//!
//! Connect to `ws(s)://host[/prefix]/socket?deviceId=…` with the same
//! `Authorization: MediaBrowser … Token="…"` header as every HTTP call. The token is **not** put
//! in the URL (Jellyfin also accepts `api_key=` there, but a URL ends up in proxy logs and in
//! tungstenite's trace output), so nothing that logs a URL can leak it.
//!
//! Messages are `{"MessageType": …, "Data": …}`. `ForceKeepAlive` (Data = seconds) asks the
//! client to send `{"MessageType":"KeepAlive"}` at half that interval; `UserDataChanged`
//! carries `{"UserId", "UserDataList": [UserItemDataDto with ItemId]}`; everything else is
//! ignored.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::dto::UserItemDataDto;
use super::JellyfinClient;
use crate::backend::error::classify_websocket;
use crate::backend::{LiveUpdates, SyncError};
use crate::model::UserData;

/// Largest message accepted (a big library marked watched at once is a long list).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// KeepAlive interval until the server says otherwise (Jellyfin asks for 60 s / 2).
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    message_type: String,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserDataChangeInfo {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_data_list: Vec<UserItemDataDto>,
}

/// An id as the library listing gives it: Jellyfin GUIDs without dashes, lowercase.
fn normalize_id(id: &str) -> String {
    if id.len() == 36 && id.matches('-').count() == 4 {
        id.replace('-', "").to_ascii_lowercase()
    } else {
        id.to_string()
    }
}

/// What one text message means for us.
#[derive(Debug, PartialEq)]
enum Parsed {
    Changes(Vec<(String, UserData)>),
    KeepAliveEvery(Duration),
    Nothing,
}

fn parse_message(text: &str, user_id: &str) -> Parsed {
    let Ok(env) = serde_json::from_str::<Envelope>(text) else {
        tracing::debug!("ignoring a live message that is not JSON");
        return Parsed::Nothing;
    };
    match env.message_type.as_str() {
        "ForceKeepAlive" => {
            let secs = env.data.as_u64().unwrap_or(60);
            Parsed::KeepAliveEvery(Duration::from_secs((secs / 2).max(1)))
        }
        "UserDataChanged" => {
            let Ok(info) = serde_json::from_value::<UserDataChangeInfo>(env.data) else {
                tracing::debug!("ignoring a malformed UserDataChanged message");
                return Parsed::Nothing;
            };
            if info
                .user_id
                .as_deref()
                .is_some_and(|u| normalize_id(u) != normalize_id(user_id))
            {
                return Parsed::Nothing;
            }
            Parsed::Changes(
                info.user_data_list
                    .iter()
                    .filter_map(|d| {
                        let id = d.item_id.as_deref()?;
                        Some((normalize_id(id), d.to_user_data()))
                    })
                    .collect(),
            )
        }
        _ => Parsed::Nothing,
    }
}

/// Open the socket and turn it into a stream of change batches. The stream ends (after an
/// error item, when there is one) when the connection drops.
pub(super) async fn connect(client: &JellyfinClient) -> Result<LiveUpdates, SyncError> {
    let user = client.require_user()?.to_string();
    let auth = client
        .auth_session
        .clone()
        .ok_or_else(|| SyncError::auth("not signed in"))?;
    let mut url = client.url("/socket", &[("deviceId", &client.device.device_id)])?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|()| SyncError::rejected("cannot build the live connection address"))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| classify_websocket(&e))?;
    request.headers_mut().insert(AUTHORIZATION, auth);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    let (ws, _response) = tokio::time::timeout(client.connect_timeout, connecting)
        .await
        .map_err(|_| SyncError::offline("live connection timed out"))?
        .map_err(|e| client.scrub(classify_websocket(&e)))?;
    tracing::debug!("live connection open");

    struct St<S> {
        ws: S,
        user: String,
        every: Duration,
        next_keep_alive: Instant,
        done: bool,
    }
    let start = St {
        ws,
        user,
        every: DEFAULT_KEEP_ALIVE,
        next_keep_alive: Instant::now() + DEFAULT_KEEP_ALIVE,
        done: false,
    };
    let stream = futures::stream::unfold(start, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let keep_alive = tokio::time::sleep_until(st.next_keep_alive);
            let incoming = tokio::select! {
                m = st.ws.next() => m,
                _ = keep_alive => {
                    st.next_keep_alive = Instant::now() + st.every;
                    let ka = Message::text(r#"{"MessageType":"KeepAlive"}"#);
                    if let Err(e) = st.ws.send(ka).await {
                        st.done = true;
                        return Some((Err(classify_websocket(&e)), st));
                    }
                    continue;
                }
            };
            match incoming {
                None | Some(Ok(Message::Close(_))) => return None,
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(classify_websocket(&e)), st));
                }
                Some(Ok(Message::Text(text))) => match parse_message(text.as_str(), &st.user) {
                    Parsed::Changes(c) if !c.is_empty() => return Some((Ok(c), st)),
                    Parsed::KeepAliveEvery(d) => {
                        st.every = d;
                        st.next_keep_alive = Instant::now();
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
            }
        }
    });
    Ok(stream.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_changed_is_parsed() {
        let text = r#"{"MessageType":"UserDataChanged","MessageId":"x","Data":{"UserId":"AB-CD",
            "UserDataList":[{"ItemId":"4E8A0F2C-1B3D-4A5E-9F60-7A8B9C0D1E2F","PlaybackPositionTicks":600000000,
            "PlayCount":1,"IsFavorite":false,"Played":false,"Key":"k"}]}}"#;
        let Parsed::Changes(c) = parse_message(text, "AB-CD") else {
            panic!("not parsed");
        };
        assert_eq!(c[0].0, "4e8a0f2c1b3d4a5e9f607a8b9c0d1e2f");
        assert_eq!(c[0].1.position_ms, 60_000);
        // Another user's change is not ours.
        assert_eq!(parse_message(text, "other"), Parsed::Nothing);
    }

    #[test]
    fn keep_alive_and_noise() {
        assert_eq!(
            parse_message(r#"{"MessageType":"ForceKeepAlive","Data":60}"#, "u"),
            Parsed::KeepAliveEvery(Duration::from_secs(30))
        );
        assert_eq!(parse_message("not json", "u"), Parsed::Nothing);
        assert_eq!(
            parse_message(r#"{"MessageType":"UserDataChanged","Data":7}"#, "u"),
            Parsed::Nothing
        );
        assert_eq!(
            parse_message(r#"{"MessageType":"LibraryChanged","Data":{}}"#, "u"),
            Parsed::Nothing
        );
    }
}
