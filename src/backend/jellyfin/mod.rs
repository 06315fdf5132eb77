//! Jellyfin client (reqwest, 10.9+).
//!
//! Writes are absolute and idempotent: `POST /UserItems/{id}/UserData` for one item,
//! `POST|DELETE /UserPlayedItems/{id}` for a whole season or series. Playback-session reports
//! (`/Sessions/Playing*`) are never used: replaying them inflates play counts or flips state.
//!
//! The token travels only in the `Authorization: MediaBrowser …` header, never in a URL, and is
//! never logged or printed by `Debug`. Redirects are followed only within the same scheme, host
//! and port. Response bodies are read through a size cap.

mod download;
pub mod dto;
mod live;
mod session;
#[cfg(all(test, feature = "demo"))]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use url::Url;

use crate::backend::error::classify_transport;
use crate::backend::transport::{execute_dated, same_origin, trusted_certificate};
use crate::backend::{MediaServer, ServerInfo, ServerRead, SyncError};

// The request path both clients share lives in `backend/transport.rs`; re-exported here for the
// callers that name it through the Jellyfin client.
pub use crate::backend::transport::{validate_base_url, ClientOptions, DeviceInfo, MAX_REDIRECTS};
use crate::model::{DesiredState, ItemsPage, ServerKind, UserData};

use dto::{
    format_date, ms_to_ticks, parse_items_page, parse_json, AuthenticateUserByName,
    AuthenticationResult, PublicSystemInfo, UpdateUserItemDataDto, UserDto, UserItemDataDto,
};

/// Oldest Jellyfin version Playmark supports (`/UserItems/{id}/UserData` appeared in 10.9).
pub const MIN_VERSION: (u32, u32) = (10, 9);

/// `fields=` for library listings: the smallest valid set. Everything else Playmark reads
/// (`SeriesId`, `SeasonId`, `SeriesName`, index numbers, `RunTimeTicks`, `UserData`) is in the
/// default output; `ParentId` and `ProviderIds` (the ids a mirror matches by) are not.
pub const ITEM_FIELDS: &str = "ParentId,ProviderIds";

/// Item types a library listing asks for.
pub const ITEM_TYPES: &str = "Series,Season,Episode,Movie";

/// The result of signing in. `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// Access token for this device: a secret.
    pub access_token: String,
    /// The signed-in user's id.
    pub user_id: String,
    /// The signed-in user's name.
    pub user_name: String,
    /// The server's id.
    pub server_id: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("access_token", &"<redacted>")
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("server_id", &self.server_id)
            .finish()
    }
}

/// A Jellyfin server connection: one reqwest client (keep-alive, shared by clones), the base
/// URL, the device identity and, after sign-in, the token and user. `Debug` never prints the
/// token.
#[derive(Clone)]
pub struct JellyfinClient {
    http: reqwest::Client,
    /// Validated, without a trailing '/', possibly with a path prefix.
    base: Arc<str>,
    device: Arc<DeviceInfo>,
    /// `Authorization` without `Token` (sign-in, public calls).
    auth_anonymous: HeaderValue,
    /// `Authorization` with `Token`, once signed in (marked sensitive).
    auth_session: Option<HeaderValue>,
    /// Kept only to scrub it from error details, should a server ever echo it.
    token: Option<Arc<str>>,
    user_id: Option<Arc<str>>,
    max_body_bytes: usize,
    /// Connecting the live WebSocket (the HTTP client has its own).
    connect_timeout: Duration,
}

impl fmt::Debug for JellyfinClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JellyfinClient")
            .field("base", &self.base)
            .field("device", &self.device)
            .field("signed_in", &self.token.is_some())
            .field("user_id", &self.user_id)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters. Used for the
/// `Authorization` values (the server URL-decodes each) and for path segments.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `Authorization` header value:
/// `MediaBrowser Client="…", Device="…", DeviceId="…", Version="…"[, Token="…"]`.
pub fn authorization_value(device: &DeviceInfo, token: Option<&str>) -> String {
    let mut value = format!(
        "MediaBrowser Client=\"{}\", Device=\"{}\", DeviceId=\"{}\", Version=\"{}\"",
        percent_encode(&device.client),
        percent_encode(&device.device),
        percent_encode(&device.device_id),
        percent_encode(&device.version),
    );
    if let Some(token) = token {
        value.push_str(&format!(", Token=\"{}\"", percent_encode(token)));
    }
    value
}

fn header_value(value: &str, sensitive: bool) -> Result<HeaderValue, SyncError> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| SyncError::rejected("invalid characters in the Authorization header"))?;
    header.set_sensitive(sensitive);
    Ok(header)
}

impl JellyfinClient {
    /// A client for the server at `base_url` (validated by [`validate_base_url`]), not yet
    /// signed in.
    pub fn new(
        base_url: &str,
        device: DeviceInfo,
        options: ClientOptions,
    ) -> Result<JellyfinClient, SyncError> {
        let base = validate_base_url(base_url)?;
        let auth_anonymous = header_value(&authorization_value(&device, None), false)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().cloned();
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if first.is_some_and(|first| same_origin(&first, attempt.url())) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(format!("Playmark/{}", device.version))
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(redirects);
        if let Some(pem) = &options.trusted_certificate_pem {
            builder = builder.add_root_certificate(trusted_certificate(pem)?);
        }
        let http = builder.build().map_err(|e| classify_transport(&e))?;
        Ok(JellyfinClient {
            http,
            base: base.into(),
            device: Arc::new(device),
            auth_anonymous,
            auth_session: None,
            token: None,
            user_id: None,
            max_body_bytes: options.max_body_bytes,
            connect_timeout: options.connect_timeout,
        })
    }

    /// The same client, signed in with `token` as `user_id` (from [`Session`], or from the
    /// secret store).
    pub fn with_session(self, token: String, user_id: String) -> JellyfinClient {
        // Percent-encoding leaves only visible ASCII, so this cannot fail; a failure would only
        // mean "not signed in", which the server then answers with 401.
        let auth_session = header_value(&authorization_value(&self.device, Some(&token)), true)
            .map_err(|e| tracing::warn!(error = %e.detail, "cannot build Authorization header"))
            .ok();
        JellyfinClient {
            auth_session,
            token: Some(token.into()),
            user_id: Some(user_id.into()),
            ..self
        }
    }

    /// The normalized base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The signed-in user's id, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `GET /System/Info/Public`: id, name and version; needs no sign-in.
    pub async fn public_info(&self) -> Result<ServerInfo, SyncError> {
        let url = self.url("/System/Info/Public", &[])?;
        let body = self.execute(Method::GET, url, None, false).await?;
        parse_json::<PublicSystemInfo>(&body)?.into_server_info()
    }

    /// Check a server version: 10.9 and newer are supported. Older or unparsable → Rejected.
    pub fn check_version(version: &str) -> Result<(), SyncError> {
        let leading_number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let mut parts = version.trim().split('.');
        let major = leading_number(parts.next());
        let minor = leading_number(parts.next());
        match (major, minor) {
            (Some(major), Some(minor)) if (major, minor) >= MIN_VERSION => Ok(()),
            (Some(_), Some(_)) => Err(SyncError::rejected(format!(
                "Jellyfin {} is too old: Playmark needs {}.{} or newer",
                version.trim(),
                MIN_VERSION.0,
                MIN_VERSION.1
            ))),
            _ => Err(SyncError::rejected(format!(
                "unrecognized Jellyfin version \"{}\"",
                version.trim()
            ))),
        }
    }

    /// `POST /Users/AuthenticateByName`. A 401 is Auth "wrong user name or password".
    pub async fn authenticate(&self, user: &str, password: &str) -> Result<Session, SyncError> {
        let url = self.url("/Users/AuthenticateByName", &[])?;
        let body = serde_json::to_value(AuthenticateUserByName {
            username: user,
            pw: password,
        })
        .map_err(|e| SyncError::rejected(format!("cannot encode the sign-in request: {e}")))?;
        let body = match self.execute(Method::POST, url, Some(body), false).await {
            Ok(body) => body,
            Err(mut e) if e.kind == crate::backend::ErrorKind::Auth => {
                e.detail = "wrong user name or password".to_string();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let result: AuthenticationResult = parse_json(&body)?;
        let access_token = result
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SyncError::unexpected_response("no AccessToken after sign-in"))?;
        let user = result
            .user
            .ok_or_else(|| SyncError::unexpected_response("no User after sign-in"))?;
        Ok(Session {
            access_token,
            user_id: user.id,
            user_name: user.name.unwrap_or_default(),
            server_id: result.server_id.unwrap_or_default(),
        })
    }

    /// `GET /Users/Me`: the token's user, as (id, name). Checks that a stored token still works.
    pub async fn me(&self) -> Result<(String, String), SyncError> {
        let url = self.url("/Users/Me", &[])?;
        let body = self.execute(Method::GET, url, None, true).await?;
        let user: UserDto = parse_json(&body)?;
        Ok((user.id, user.name.unwrap_or_default()))
    }

    fn require_user(&self) -> Result<&str, SyncError> {
        match (&self.user_id, &self.auth_session) {
            (Some(user), Some(_)) => Ok(user),
            _ => Err(SyncError::auth("not signed in")),
        }
    }

    /// `base` + `path` (already encoded) + query.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SyncError> {
        let mut url = Url::parse(&format!("{}{}", self.base, path))
            .map_err(|e| SyncError::rejected(format!("cannot build request URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Send one request and read its body (capped). Non-2xx statuses and transport failures
    /// are classified here.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        with_token: bool,
    ) -> Result<Vec<u8>, SyncError> {
        Ok(self.execute_dated(method, url, body, with_token).await?.0)
    }

    /// [`JellyfinClient::execute`] with the server's clock when it answered (`Date`).
    async fn execute_dated(
        &self,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
        with_token: bool,
    ) -> Result<(Vec<u8>, Option<crate::model::Millis>), SyncError> {
        tracing::debug!(method = %method, path = url.path(), "jellyfin request");
        let auth = if with_token {
            self.auth_session
                .clone()
                .ok_or_else(|| SyncError::auth("not signed in"))?
        } else {
            self.auth_anonymous.clone()
        };
        let mut request = self.http.request(method, url).header(AUTHORIZATION, auth);
        if let Some(body) = body {
            request = request.json(&body);
        }
        execute_dated(request, self.max_body_bytes)
            .await
            .map_err(|e| self.scrub(e))
    }

    /// Remove the token from a detail, should a server or library ever echo it.
    fn scrub(&self, mut e: SyncError) -> SyncError {
        if let Some(token) = self.token.as_deref().filter(|t| t.len() >= 4) {
            if e.detail.contains(token) {
                e.detail = e.detail.replace(token, "<redacted>");
            }
        }
        e
    }
}

#[async_trait]
impl MediaServer for JellyfinClient {
    async fn download_source(
        &self,
        item_id: &str,
    ) -> Result<crate::backend::download::DownloadSource, SyncError> {
        JellyfinClient::download_source(self, item_id).await
    }

    fn kind(&self) -> ServerKind {
        ServerKind::Jellyfin
    }

    async fn poster(&self, item_id: &str, height: u32) -> Result<Vec<u8>, SyncError> {
        let path = format!("/Items/{}/Images/Primary", percent_encode(item_id));
        let height = height.to_string();
        let url = self.url(&path, &[("fillHeight", height.as_str()), ("quality", "90")])?;
        let bytes = self.execute(Method::GET, url, None, true).await?;
        crate::backend::check_image(bytes)
    }

    async fn fetch_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<crate::model::RemoteItem>, SyncError> {
        let user = self.require_user()?;
        let mut found = Vec::new();
        // Bounded URL length: 50 GUIDs per request.
        for chunk in ids.chunks(50) {
            let joined = chunk.join(",");
            let url = self.url(
                "/Items",
                &[
                    ("userId", user),
                    ("ids", &joined),
                    ("enableUserData", "true"),
                    ("enableImages", "false"),
                    ("fields", ITEM_FIELDS),
                ],
            )?;
            let body = self.execute(Method::GET, url, None, true).await?;
            found.extend(parse_items_page(&body, 0)?.items);
        }
        Ok(found)
    }

    /// `GET /Items?ids=…&userId=…&enableUserData=true`: one request for up to
    /// [`crate::backend::MAX_READ_IDS`] items; the items carry the server's `ServerId`.
    async fn read_user_data(&self, ids: &[String]) -> Result<ServerRead, SyncError> {
        let user = self.require_user()?;
        let mut read = ServerRead::default();
        for chunk in ids.chunks(crate::backend::MAX_READ_IDS) {
            let joined = chunk.join(",");
            let url = self.url(
                "/Items",
                &[
                    ("userId", user),
                    ("ids", &joined),
                    ("enableUserData", "true"),
                    ("enableImages", "false"),
                    ("fields", ITEM_FIELDS),
                ],
            )?;
            let (body, date) = self.execute_dated(Method::GET, url, None, true).await?;
            read.date = read.date.or(date);
            read.server_id = read.server_id.or_else(|| dto::first_server_id(&body));
            read.items.extend(
                parse_items_page(&body, 0)?
                    .items
                    .into_iter()
                    .filter(|i| chunk.contains(&i.id))
                    .map(|i| (i.id, i.user_data)),
            );
        }
        Ok(read)
    }

    /// `GET /Items?parentId=…&recursive=true&includeItemTypes=Episode` with user data: a
    /// season's episodes, or every episode of a series (a non-recursive listing of a series
    /// gives its seasons).
    async fn read_children(&self, parent_id: &str) -> Result<Option<ServerRead>, SyncError> {
        let user = self.require_user()?;
        let url = self.url(
            "/Items",
            &[
                ("userId", user),
                ("parentId", parent_id),
                ("recursive", "true"),
                ("includeItemTypes", "Episode"),
                ("enableUserData", "true"),
                ("enableImages", "false"),
                ("fields", ITEM_FIELDS),
            ],
        )?;
        let (body, date) = self.execute_dated(Method::GET, url, None, true).await?;
        Ok(Some(ServerRead {
            date,
            server_id: dto::first_server_id(&body),
            items: parse_items_page(&body, 0)?
                .items
                .into_iter()
                .map(|i| (i.id, i.user_data))
                .collect(),
        }))
    }

    async fn live_updates(&self) -> Result<Option<crate::backend::LiveUpdates>, SyncError> {
        live::connect(self).await.map(Some)
    }

    async fn probe(&self) -> Result<ServerInfo, SyncError> {
        self.public_info().await
    }

    async fn push_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
    ) -> Result<Option<UserData>, SyncError> {
        let user = self.require_user()?;
        let path = format!("/UserItems/{}/UserData", percent_encode(item_id));
        let url = self.url(&path, &[("userId", user)])?;
        let update = UpdateUserItemDataDto {
            playback_position_ticks: ms_to_ticks(desired.position_ms),
            played: desired.played,
            play_count: desired.play_count.max(0),
            last_played_date: desired.last_played.and_then(format_date),
        };
        let body = serde_json::to_value(update)
            .map_err(|e| SyncError::rejected(format!("cannot encode user data: {e}")))?;
        let response = self.execute(Method::POST, url, Some(body), true).await?;
        if response.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let data: UserItemDataDto = parse_json(&response)?;
        Ok(Some(data.to_user_data()))
    }

    async fn push_group(&self, parent_id: &str, played: bool) -> Result<(), SyncError> {
        let user = self.require_user()?;
        let path = format!("/UserPlayedItems/{}", percent_encode(parent_id));
        // No datePlayed: with it the server increments every child's play count, and a replay
        // would increment them again.
        let url = self.url(&path, &[("userId", user)])?;
        let method = if played { Method::POST } else { Method::DELETE };
        let response = self.execute(method, url, None, true).await?;
        // The server answers with the parent's `UserItemDataDto`. A 200 whose body is not one
        // (truncated, HTML from a proxy) is not proof that the write landed: it is transient
        // like every other unexpected answer, and the retry is idempotent (no datePlayed).
        if !response.iter().all(u8::is_ascii_whitespace) {
            let _: UserItemDataDto = parse_json(&response)?;
        }
        Ok(())
    }

    async fn fetch_items(&self, start: u64, limit: u64) -> Result<ItemsPage, SyncError> {
        let user = self.require_user()?;
        let start_s = start.to_string();
        let limit_s = limit.to_string();
        let url = self.url(
            "/Items",
            &[
                ("userId", user),
                ("recursive", "true"),
                ("includeItemTypes", ITEM_TYPES),
                ("enableUserData", "true"),
                ("enableImages", "false"),
                ("fields", ITEM_FIELDS),
                ("startIndex", &start_s),
                ("limit", &limit_s),
                ("enableTotalRecordCount", "true"),
                ("sortBy", "SortName"),
            ],
        )?;
        let body = self.execute(Method::GET, url, None, true).await?;
        parse_items_page(&body, start)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit_tests {
    use super::*;
    use crate::backend::ErrorKind;

    fn device() -> DeviceInfo {
        DeviceInfo {
            client: "Playmark".into(),
            device: "Anna's laptop".into(),
            device_id: "d3v1ce-1d".into(),
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn authorization_header_format() {
        assert_eq!(
            authorization_value(&device(), None),
            "MediaBrowser Client=\"Playmark\", Device=\"Anna%27s%20laptop\", \
             DeviceId=\"d3v1ce-1d\", Version=\"0.1.0\""
        );
        assert_eq!(
            authorization_value(&device(), Some("ab\"c,d")),
            "MediaBrowser Client=\"Playmark\", Device=\"Anna%27s%20laptop\", \
             DeviceId=\"d3v1ce-1d\", Version=\"0.1.0\", Token=\"ab%22c%2Cd\""
        );
        assert_eq!(percent_encode("é/ x"), "%C3%A9%2F%20x");
    }

    #[test]
    fn base_url_validation() {
        let ok = |s: &str| validate_base_url(s).unwrap();
        assert_eq!(ok("https://media.local/"), "https://media.local");
        assert_eq!(ok("  http://10.0.0.2:8096  "), "http://10.0.0.2:8096");
        assert_eq!(
            ok("https://Host.example/jellyfin/"),
            "https://host.example/jellyfin"
        );
        assert_eq!(ok("https://host:443"), "https://host");
        assert_eq!(ok("http://[::1]:8096"), "http://[::1]:8096");

        let err = |s: &str| validate_base_url(s).unwrap_err();
        let e = err("media.local:8096");
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert!(e.detail.contains("add http:// or https://"), "{}", e.detail);
        assert!(err("192.168.1.2").detail.contains("add http://"));
        assert!(err("https://media local").detail.contains("spaces"));
        assert!(err("ftp://media.local").detail.contains("http://"));
        assert!(err("").detail.contains("empty"));
        assert!(err("https://u:p@host").detail.contains("password"));
        assert!(err("https://host/?a=b").detail.contains('?'));
        assert!(
            err("http://").detail.contains("not valid") || err("http://").detail.contains("host")
        );
        for bad in ["media.local:8096", "https://a b", "ftp://x", "", "http://"] {
            assert_eq!(err(bad).kind, ErrorKind::Rejected, "{bad}");
        }
    }

    #[test]
    fn client_keeps_path_prefix_and_builds_urls() {
        let c = JellyfinClient::new(
            "https://h.example/jellyfin/",
            device(),
            ClientOptions::default(),
        )
        .unwrap();
        assert_eq!(c.base_url(), "https://h.example/jellyfin");
        let u = c.url("/Items", &[("userId", "u 1")]).unwrap();
        assert_eq!(u.as_str(), "https://h.example/jellyfin/Items?userId=u+1");
        assert!(JellyfinClient::new("h.example", device(), ClientOptions::default()).is_err());
    }

    #[test]
    fn version_check() {
        for ok in [
            "10.9.0",
            "10.9.11",
            "10.10.7",
            "10.11.11",
            "12.0.0",
            "10.11.0-rc1",
            " 11.0 ",
        ] {
            assert!(JellyfinClient::check_version(ok).is_ok(), "{ok}");
        }
        let e = JellyfinClient::check_version("10.8.13").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert_eq!(
            e.detail,
            "Jellyfin 10.8.13 is too old: Playmark needs 10.9 or newer"
        );
        assert!(JellyfinClient::check_version("9.99").is_err());
        for bad in ["", "ten", "10", "v10.9", "10.x"] {
            let e = JellyfinClient::check_version(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Rejected, "{bad}");
            assert!(e.detail.contains("unrecognized"), "{}", e.detail);
        }
    }

    #[test]
    fn debug_never_prints_the_token() {
        let c = JellyfinClient::new("http://h", device(), ClientOptions::default())
            .unwrap()
            .with_session("SECRET-TOKEN-123".into(), "user-1".into());
        let printed = format!("{c:?} {:?}", c.clone());
        assert!(!printed.contains("SECRET-TOKEN-123"), "{printed}");
        assert!(printed.contains("user-1"));
        let s = Session {
            access_token: "SECRET-TOKEN-123".into(),
            user_id: "u".into(),
            user_name: "anna".into(),
            server_id: "s".into(),
        };
        let printed = format!("{s:?}");
        assert!(!printed.contains("SECRET-TOKEN-123"), "{printed}");
        assert!(printed.contains("anna"));
    }

    #[test]
    fn scrub_removes_token_from_details() {
        let c = JellyfinClient::new("http://h", device(), ClientOptions::default())
            .unwrap()
            .with_session("SECRET-TOKEN-123".into(), "user-1".into());
        let e = c.scrub(SyncError::transient("echo SECRET-TOKEN-123 here"));
        assert_eq!(e.detail, "echo <redacted> here");
    }

    #[tokio::test]
    async fn calls_needing_a_user_fail_as_auth_before_sign_in() {
        let c =
            JellyfinClient::new("http://127.0.0.1:9", device(), ClientOptions::default()).unwrap();
        assert_eq!(
            c.fetch_items(0, 10).await.unwrap_err().kind,
            ErrorKind::Auth
        );
        assert_eq!(
            c.push_group("x", true).await.unwrap_err().kind,
            ErrorKind::Auth
        );
        assert_eq!(c.me().await.unwrap_err().kind, ErrorKind::Auth);
    }
}
