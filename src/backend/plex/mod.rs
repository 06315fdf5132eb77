//! Plex Media Server client (reqwest).
//!
//! Every request carries `Accept: application/json` (Plex answers XML otherwise), a stable
//! per-install `X-Plex-Client-Identifier` and the product headers; signed-in calls add
//! `X-Plex-Token` as a **header** (marked sensitive), never as a query parameter, so the token
//! is never in a URL, a log line or an error detail. Failures are classified by the same
//! functions as Jellyfin's ([`classify_status`](crate::backend::error::classify_status) /
//! [`classify_transport`]), so both servers produce the same classes and messages.
//!
//! # Writes, and why each is safe to repeat
//! Plex has no "set user data" call: the only tools are scrobble (marks watched **and bumps
//! `viewCount` on every call**), unscrobble (count 0, offset cleared) and the timeline (sets
//! the offset). DESIGN.md invariant 4 wants every queued write absolute and idempotent, because
//! a crash between the server's answer and the outbox delete sends the row again. So a push is:
//!
//! 1. `GET /library/metadata/{id}`: read the current state. A read has no side effect.
//! 2. Only the calls that move the server from *that* state to the desired one:
//!    - **scrobble** only when the item is not watched yet. Repeating the push re-reads, sees
//!      `viewCount > 0` and sends nothing, so a replay never inflates the play count (a blind
//!      scrobble would add one view per replay).
//!    - **unscrobble** when the item must become unwatched (or lose its offset). Unscrobble is
//!      absolute (count 0, no offset): repeating it changes nothing.
//!    - **`/:/timeline` with `state=paused&offline=1&updated=<epoch>`** to set the position.
//!      `paused` sets the offset to `time`, an absolute value, and never counts a view, so a
//!      replay writes the same offset again. `state=stopped` is **not** used: the server applies
//!      its watched threshold to `stopped` reports, so a stopped report near the end (or its
//!      replay) would mark the item watched and bump the count (invariant 4). `/:/progress` is
//!      not used either: it is missing from the 1.1.1 API document the contract tests check,
//!      and its `time=0` does not reset the offset. Position 0 is written with unscrobble
//!      (unwatched) or unscrobble + scrobble (watched, see below), never with `time=0`.
//!
//! A watched item whose offset must go back to 0 has no direct call: unscrobble + scrobble does
//! it, and sets the count to 1 (Plex has no call to set a count). A replay re-reads and finds
//! the desired state already there.
//!
//! Bulk: a season or show is one scrobble / unscrobble on the parent (the server applies it to
//! every episode). Before scrobbling, the parent is read: when `viewedLeafCount == leafCount`
//! the call is skipped, so a replay does not bump every episode's count again.
//!
//! # HTTP verbs
//! The 1.1.1 API document asks for PUT (scrobble, unscrobble) and POST (timeline); real servers
//! and python-plexapi use GET for all of them. [`WriteVerbs`] chooses; the default is
//! [`WriteVerbs::Get`], what real servers are known to accept.

mod download;
pub mod dto;
mod session;
#[cfg(all(test, feature = "demo"))]
mod tests;
mod user;

pub use user::{PlexUser, PLEX_TV};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT};
use reqwest::Method;
use url::Url;

use crate::backend::error::classify_transport;
use crate::backend::transport::{
    execute, execute_dated, host_name, parse_json, same_origin, validate_base_url, ClientOptions,
    DeviceInfo, MAX_REDIRECTS,
};
use crate::backend::{MediaServer, ServerInfo, ServerRead, SyncError};
use crate::model::{DesiredState, ItemsPage, RemoteItem, ServerKind, UserData};

use dto::{Envelope, Identity, Listing, Metadata, Section, Sections};

/// The `identifier` of the library provider, required by scrobble and unscrobble.
pub const LIBRARY_IDENTIFIER: &str = "com.plexapp.plugins.library";

/// Plex media types listed, per section type, in this order (parents before children).
const SHOW_TYPES: &[&str] = &["2", "3", "4"];
const MOVIE_TYPES: &[&str] = &["1"];

const TOKEN_HEADER: &str = "x-plex-token";

/// Which HTTP verbs the write calls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteVerbs {
    /// GET for scrobble, unscrobble and timeline: what real servers accept and python-plexapi
    /// sends. The default.
    #[default]
    Get,
    /// What the 1.1.1 API document asks for: PUT for scrobble and unscrobble, POST for the
    /// timeline.
    Spec,
}

impl WriteVerbs {
    fn scrobble(self) -> Method {
        match self {
            WriteVerbs::Get => Method::GET,
            WriteVerbs::Spec => Method::PUT,
        }
    }

    fn timeline(self) -> Method {
        match self {
            WriteVerbs::Get => Method::GET,
            WriteVerbs::Spec => Method::POST,
        }
    }
}

/// A Plex server connection: one reqwest client (keep-alive, shared by clones), the base URL,
/// the client identity and, once signed in, the token. `Debug` never prints the token.
#[derive(Clone)]
pub struct PlexClient {
    http: reqwest::Client,
    base: Arc<str>,
    token: Option<HeaderValue>,
    /// Kept only to scrub it from error details.
    token_text: Option<Arc<str>>,
    verbs: WriteVerbs,
    max_body_bytes: usize,
}

impl fmt::Debug for PlexClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlexClient")
            .field("base", &self.base)
            .field("signed_in", &self.token.is_some())
            .field("verbs", &self.verbs)
            .finish_non_exhaustive()
    }
}

fn plex_header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), SyncError> {
    let v = HeaderValue::from_str(value)
        .map_err(|_| SyncError::rejected(format!("invalid characters in the {name} header")))?;
    Ok((HeaderName::from_static(name), v))
}

/// A Plex write answers 200 with an empty body (or a `MediaContainer`, as XML or JSON). Any
/// other body — an HTML page or a cut-off JSON from a proxy or captive portal — is not Plex's
/// answer, so nothing says the write was applied: an unexpected response (transient), whose
/// outcome the engine treats as unknown (invariant 8), never a delivery.
fn check_write_answer(body: &[u8]) -> Result<(), SyncError> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty()
        || serde_json::from_str::<serde_json::Value>(text).is_ok()
        || text.starts_with("<?xml")
        || text.starts_with("<MediaContainer")
    {
        return Ok(());
    }
    Err(SyncError::unexpected_response(
        "the answer to a write is not a Plex answer",
    ))
}

impl PlexClient {
    /// A client for the server at `base_url` (checked by [`validate_base_url`]), not yet
    /// signed in. `device.device_id` becomes the stable `X-Plex-Client-Identifier`.
    pub fn new(
        base_url: &str,
        device: DeviceInfo,
        options: ClientOptions,
    ) -> Result<PlexClient, SyncError> {
        let base = validate_base_url(base_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        // Header values must be visible ASCII: the host name may not be.
        let device_name: String = device
            .device
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for (name, value) in [
            ("x-plex-client-identifier", device.device_id.as_str()),
            ("x-plex-product", device.client.as_str()),
            ("x-plex-version", device.version.as_str()),
            ("x-plex-platform", "Linux"),
            ("x-plex-device-name", device_name.as_str()),
        ] {
            let (k, v) = plex_header(name, value)?;
            headers.insert(k, v);
        }
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
        let http = reqwest::Client::builder()
            .user_agent(format!("Playmark/{}", device.version))
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(redirects)
            .build()
            .map_err(|e| classify_transport(&e))?;
        Ok(PlexClient {
            http,
            base: base.into(),
            token: None,
            token_text: None,
            verbs: WriteVerbs::default(),
            max_body_bytes: options.max_body_bytes,
        })
    }

    /// Playmark's identity for Plex: product "Playmark", this version, the host name, and the
    /// stable per-install `client_id`.
    pub fn device(client_id: impl Into<String>) -> DeviceInfo {
        DeviceInfo {
            device: host_name(),
            ..DeviceInfo::playmark(client_id)
        }
    }

    /// The same client, signed in with `token` (a plex.tv token or a server JWT).
    pub fn with_token(self, token: String) -> PlexClient {
        let header = HeaderValue::from_str(token.trim())
            .map(|mut h| {
                h.set_sensitive(true);
                h
            })
            .map_err(|_| tracing::warn!("the Plex token contains invalid characters"))
            .ok();
        PlexClient {
            token: header,
            token_text: Some(token.into()),
            ..self
        }
    }

    /// The same client with other write verbs.
    pub fn with_verbs(self, verbs: WriteVerbs) -> PlexClient {
        PlexClient { verbs, ..self }
    }

    /// The write verbs in use.
    pub fn verbs(&self) -> WriteVerbs {
        self.verbs
    }

    /// The normalized base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /identity` (no token): machine identifier and version.
    pub async fn identity(&self) -> Result<ServerInfo, SyncError> {
        let url = self.url("/identity", &[])?;
        let body = self.execute(Method::GET, url, false).await?;
        parse_json::<Envelope<Identity>>(&body)?
            .media_container
            .into_server_info()
    }

    /// Check the token: `/identity`, then a signed-in `GET /library/sections/all`. A refused
    /// token is Auth "the server refused this token".
    pub async fn sign_in_check(&self) -> Result<ServerInfo, SyncError> {
        let info = self.identity().await?;
        match self.sections().await {
            Ok(_) => Ok(info),
            Err(mut e) if e.kind == crate::backend::ErrorKind::Auth => {
                e.detail = "the server refused this token".to_string();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /library/sections/all`: the TV and movie libraries (others are left out).
    pub async fn sections(&self) -> Result<Vec<Section>, SyncError> {
        let url = self.url("/library/sections/all", &[])?;
        let body = self.execute(Method::GET, url, true).await?;
        Ok(parse_json::<Envelope<Sections>>(&body)?
            .media_container
            .directory
            .into_iter()
            .filter(|s| s.kind == "show" || s.kind == "movie")
            .collect())
    }

    /// `GET /library/metadata/{id}`: one item. 404 when it is gone.
    pub async fn metadata(&self, id: &str) -> Result<Metadata, SyncError> {
        let path = format!("/library/metadata/{}", path_segment(id)?);
        let url = self.url(&path, &[])?;
        let body = self.execute(Method::GET, url, true).await?;
        parse_json::<Envelope<Listing>>(&body)?
            .media_container
            .metadata
            .into_iter()
            .find(|m| m.rating_key == id)
            .ok_or_else(|| SyncError::unexpected_response(format!("item {id} not in the answer")))
    }

    /// `/:/scrobble?identifier=…&key=id`: marks watched and adds one view (see module docs:
    /// only sent after a read showed the item unwatched).
    async fn scrobble(&self, id: &str) -> Result<(), SyncError> {
        let url = self.url(
            "/:/scrobble",
            &[("identifier", LIBRARY_IDENTIFIER), ("key", id)],
        )?;
        let body = self.execute(self.verbs.scrobble(), url, true).await?;
        check_write_answer(&body)
    }

    /// `/:/unscrobble?identifier=…&key=id`: count 0, offset cleared. Absolute: safe to repeat.
    async fn unscrobble(&self, id: &str) -> Result<(), SyncError> {
        let url = self.url(
            "/:/unscrobble",
            &[("identifier", LIBRARY_IDENTIFIER), ("key", id)],
        )?;
        let body = self.execute(self.verbs.scrobble(), url, true).await?;
        check_write_answer(&body)
    }

    /// `/:/timeline?state=paused&offline=1&updated=…&time=…`: sets the offset to `position_ms`.
    /// Absolute and never counts a view (not `stopped`): safe to repeat.
    async fn set_offset(
        &self,
        id: &str,
        position_ms: i64,
        duration_ms: Option<i64>,
        changed_at_ms: Option<i64>,
    ) -> Result<(), SyncError> {
        let key = format!("/library/metadata/{id}");
        let time = position_ms.max(0).to_string();
        let duration = duration_ms.map(|d| d.to_string());
        let updated = changed_at_ms.map(|ms| (ms.div_euclid(1000)).to_string());
        let mut query: Vec<(&str, &str)> = vec![
            ("ratingKey", id),
            ("key", &key),
            ("state", "paused"),
            ("time", &time),
            ("offline", "1"),
        ];
        if let Some(d) = &duration {
            query.push(("duration", d));
        }
        if let Some(u) = &updated {
            query.push(("updated", u));
        }
        let url = self.url("/:/timeline", &query)?;
        let body = self.execute(self.verbs.timeline(), url, true).await?;
        check_write_answer(&body)?;
        Ok(())
    }

    /// One listing page: `GET /library/sections/{key}/all?type=…` with container start/size.
    async fn listing(
        &self,
        section: &str,
        kind: &str,
        start: u64,
        size: u64,
    ) -> Result<Listing, SyncError> {
        let path = format!("/library/sections/{}/all", path_segment(section)?);
        let start_s = start.to_string();
        let size_s = size.to_string();
        let url = self.url(
            &path,
            &[
                ("type", kind),
                ("includeGuids", "1"),
                ("X-Plex-Container-Start", &start_s),
                ("X-Plex-Container-Size", &size_s),
            ],
        )?;
        let body = self.execute(Method::GET, url, true).await?;
        Ok(parse_json::<Envelope<Listing>>(&body)?.media_container)
    }

    /// Send the calls that move `item_id` from `current` (just read) to `desired`.
    async fn apply_plan(
        &self,
        item_id: &str,
        desired: &DesiredState,
        current: &UserData,
        duration_ms: Option<i64>,
    ) -> Result<Option<UserData>, SyncError> {
        let (writes, after) = plan_writes(current, desired);
        for (i, w) in writes.into_iter().enumerate() {
            let done = match w {
                PlexWrite::Scrobble => self.scrobble(item_id).await,
                PlexWrite::Unscrobble => self.unscrobble(item_id).await,
                PlexWrite::SetOffset(ms) => {
                    self.set_offset(item_id, ms, duration_ms, desired.last_played)
                        .await
                }
            };
            // A later call's failure leaves the earlier calls applied.
            done.map_err(|e| if i > 0 { e.after_first_call() } else { e })?;
        }
        Ok(Some(after))
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SyncError> {
        let mut url = Url::parse(&format!("{}{}", self.base, path))
            .map_err(|e| SyncError::rejected(format!("cannot build request URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Send one request and read its body (capped); failures classified in `backend/error.rs`.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        with_token: bool,
    ) -> Result<Vec<u8>, SyncError> {
        Ok(self.execute_dated(method, url, with_token).await?.0)
    }

    /// [`PlexClient::execute`] with the server's clock when it answered (`Date`).
    async fn execute_dated(
        &self,
        method: Method,
        url: Url,
        with_token: bool,
    ) -> Result<(Vec<u8>, Option<crate::model::Millis>), SyncError> {
        tracing::debug!(method = %method, path = url.path(), "plex request");
        let mut request = self.http.request(method, url);
        if with_token {
            let token = self
                .token
                .clone()
                .ok_or_else(|| SyncError::auth("not signed in"))?;
            request = request.header(TOKEN_HEADER, token);
        }
        execute_dated(request, self.max_body_bytes)
            .await
            .map_err(|e| self.scrub(e))
    }

    fn scrub(&self, mut e: SyncError) -> SyncError {
        if let Some(token) = self.token_text.as_deref().filter(|t| t.len() >= 4) {
            if e.detail.contains(token) {
                e.detail = e.detail.replace(token, "<redacted>");
            }
        }
        e
    }
}

/// A ratingKey or section key as one path segment. Keys are opaque, but one that needs
/// escaping in a path is refused (Rejected) rather than sent somewhere unintended.
fn path_segment(id: &str) -> Result<&str, SyncError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        Ok(id)
    } else {
        Err(SyncError::rejected(format!(
            "\"{id}\" is not a Plex item key"
        )))
    }
}

/// The calls that move an item from `current` to `desired`, in order (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlexWrite {
    /// `/:/scrobble`.
    Scrobble,
    /// `/:/unscrobble`.
    Unscrobble,
    /// `/:/timeline` with `state=paused` at this position.
    SetOffset(i64),
}

/// Plan the writes from the server's `current` state to `desired`, and the state after them.
/// Pure, so the replay rule is unit-tested: planning again from the result plans nothing.
pub fn plan_writes(current: &UserData, desired: &DesiredState) -> (Vec<PlexWrite>, UserData) {
    let mut writes = Vec::new();
    let mut after = *current;
    if desired.played {
        let clear_offset = desired.position_ms == 0 && current.position_ms > 0;
        if current.played && clear_offset {
            writes.push(PlexWrite::Unscrobble);
            after.play_count = 0;
        }
        if !current.played || clear_offset {
            writes.push(PlexWrite::Scrobble);
            after.played = true;
            after.play_count += 1;
            after.position_ms = 0;
            after.last_played = desired.last_played.or(current.last_played);
        }
    } else if current.played || (desired.position_ms == 0 && current.position_ms > 0) {
        writes.push(PlexWrite::Unscrobble);
        after = UserData::default();
    }
    if desired.position_ms > 0 && desired.position_ms != after.position_ms {
        writes.push(PlexWrite::SetOffset(desired.position_ms));
        after.position_ms = desired.position_ms;
    }
    (writes, after)
}

/// The states the server passes through while the calls [`plan_writes`] plans from `current`
/// are applied one by one, the last call's excepted: where a write of several calls whose
/// answer was lost may have stopped (an unscrobble applied, the scrobble or the timeline after
/// it never sent). The classification of an unknown outcome (`store::sent`) takes such a state
/// for a part of our own write, not for another device's change.
pub fn intermediate_states(current: &UserData, desired: &DesiredState) -> Vec<UserData> {
    let (writes, _) = plan_writes(current, desired);
    let mut state = *current;
    let mut out = Vec::new();
    for w in writes.iter().take(writes.len().saturating_sub(1)) {
        match w {
            PlexWrite::Unscrobble => state = UserData::default(),
            PlexWrite::Scrobble => {
                state.played = true;
                state.play_count += 1;
                state.position_ms = 0;
            }
            PlexWrite::SetOffset(ms) => state.position_ms = *ms,
        }
        out.push(state);
    }
    out
}

#[async_trait]
impl MediaServer for PlexClient {
    async fn download_source(
        &self,
        item_id: &str,
    ) -> Result<crate::backend::download::DownloadSource, SyncError> {
        PlexClient::download_source(self, item_id).await
    }

    fn kind(&self) -> ServerKind {
        ServerKind::Plex
    }

    async fn poster(&self, item_id: &str, height: u32) -> Result<Vec<u8>, SyncError> {
        let thumb = format!("/library/metadata/{item_id}/thumb");
        let width = (height * 2 / 3).max(1).to_string();
        let height = height.to_string();
        let url = self.url(
            "/photo/:/transcode",
            &[
                ("url", thumb.as_str()),
                ("width", width.as_str()),
                ("height", height.as_str()),
                ("minSize", "1"),
                ("upscale", "1"),
            ],
        )?;
        let bytes = self.execute(Method::GET, url, true).await?;
        crate::backend::check_image(bytes)
    }

    async fn probe(&self) -> Result<ServerInfo, SyncError> {
        self.identity().await
    }

    async fn push_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
    ) -> Result<Option<UserData>, SyncError> {
        let meta = self.metadata(item_id).await?;
        self.apply_plan(item_id, desired, &meta.to_user_data(), meta.duration)
            .await
    }

    /// The engine has just read the item (`current`): plan from it, no read of our own. A
    /// position goes out with the item's `duration` (`runtime_ms`): a real Plex server leaves
    /// the resume point alone on a timeline without it (docs/SERVERS.md). Without a known
    /// runtime the item is read first for its `duration`.
    async fn write_item(
        &self,
        item_id: &str,
        desired: &DesiredState,
        current: &UserData,
        runtime_ms: Option<i64>,
    ) -> Result<Option<UserData>, SyncError> {
        match runtime_ms.filter(|d| *d > 0) {
            Some(duration) => {
                self.apply_plan(item_id, desired, current, Some(duration))
                    .await
            }
            None => self.push_item(item_id, desired).await,
        }
    }

    /// The engine has just read the children and knows one needs the change: one call on
    /// the parent, no read of the parent first.
    async fn write_group(
        &self,
        parent_id: &str,
        played: bool,
        current: &[(String, UserData)],
    ) -> Result<(), SyncError> {
        if played {
            if current.iter().all(|(_, u)| u.played) {
                return Ok(());
            }
            self.scrobble(parent_id).await
        } else {
            self.unscrobble(parent_id).await
        }
    }

    /// `GET /library/metadata/{ids}` (see [`MediaServer::fetch_by_ids`]). Plex names no server
    /// id in these answers; the engine asks `/identity` when it must check.
    async fn read_user_data(&self, ids: &[String]) -> Result<ServerRead, SyncError> {
        let (items, date) = self.fetch_by_ids_dated(ids).await?;
        Ok(ServerRead {
            server_id: None,
            items: items.into_iter().map(|i| (i.id, i.user_data)).collect(),
            date,
        })
    }

    /// `GET /library/metadata/{id}/allLeaves`: the episodes of a season or of a whole show. A
    /// parent the server no longer has (404) has no children there: its members are then read
    /// (and written) one by one, and each finds out on its own.
    async fn read_children(&self, parent_id: &str) -> Result<Option<ServerRead>, SyncError> {
        let key = path_segment(parent_id)?;
        let url = self.url(&format!("/library/metadata/{key}/allLeaves"), &[])?;
        let (body, date) = match self.execute_dated(Method::GET, url, true).await {
            Ok(answer) => answer,
            Err(e) if e.kind == crate::backend::ErrorKind::NotFound => {
                return Ok(Some(ServerRead::default()))
            }
            Err(e) => return Err(e),
        };
        Ok(Some(ServerRead {
            date,
            server_id: None,
            items: parse_json::<Envelope<Listing>>(&body)?
                .media_container
                .metadata
                .into_iter()
                .filter_map(Metadata::into_remote_item)
                .map(|i| (i.id, i.user_data))
                .collect(),
        }))
    }

    async fn push_group(&self, parent_id: &str, played: bool) -> Result<(), SyncError> {
        if played {
            // Skip when every episode is already watched: a replay must not add a view to
            // each of them again.
            let parent = self.metadata(parent_id).await?;
            if parent.to_user_data().played {
                return Ok(());
            }
            self.scrobble(parent_id).await
        } else {
            self.unscrobble(parent_id).await
        }
    }

    /// The library as one flat, paged sequence: for each TV section its shows, seasons and
    /// episodes, then for each movie section its movies. Each page asks every listing for its
    /// total (`X-Plex-Container-Size=0` when none of its items fall in the page), so a page
    /// costs one request per listing plus the section list.
    async fn fetch_items(&self, start: u64, limit: u64) -> Result<ItemsPage, SyncError> {
        let sections = self.sections().await?;
        let mut items = Vec::new();
        let mut total: u64 = 0;
        for section in &sections {
            let types = if section.kind == "show" {
                SHOW_TYPES
            } else {
                MOVIE_TYPES
            };
            for kind in types {
                let wanted = limit.saturating_sub(items.len() as u64);
                let local_start = start.saturating_sub(total);
                let page = self
                    .listing(&section.key, kind, local_start, wanted)
                    .await?;
                let listed = page.metadata.len() as u64;
                // Without a total (not expected from Plex), what was listed is all there is.
                total += page.total_size.unwrap_or(local_start + listed);
                items.extend(
                    page.metadata
                        .into_iter()
                        .take(usize::try_from(wanted).unwrap_or(usize::MAX))
                        .filter_map(Metadata::into_remote_item),
                );
            }
        }
        Ok(ItemsPage {
            items,
            total,
            start,
        })
    }

    /// `GET /library/metadata/{id1,id2,…}` (comma-separated ratingKeys, 50 per request): the
    /// ones the server still has. A 404 means none of that request's ids is left; any other
    /// failure is returned, so an unconfirmed item is never taken as removed.
    async fn fetch_by_ids(&self, ids: &[String]) -> Result<Vec<RemoteItem>, SyncError> {
        Ok(self.fetch_by_ids_dated(ids).await?.0)
    }
}

impl PlexClient {
    /// [`MediaServer::fetch_by_ids`] with the server's clock at the first answer (`Date`).
    async fn fetch_by_ids_dated(
        &self,
        ids: &[String],
    ) -> Result<(Vec<RemoteItem>, Option<crate::model::Millis>), SyncError> {
        let mut found = Vec::new();
        let mut first_date = None;
        for chunk in ids.chunks(50) {
            let keys = chunk
                .iter()
                .map(|id| path_segment(id))
                .collect::<Result<Vec<_>, _>>()?
                .join(",");
            let url = self.url(&format!("/library/metadata/{keys}"), &[])?;
            let body = match self.execute_dated(Method::GET, url, true).await {
                Ok((body, date)) => {
                    first_date = first_date.or(date);
                    body
                }
                Err(e) if e.kind == crate::backend::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            found.extend(
                parse_json::<Envelope<Listing>>(&body)?
                    .media_container
                    .metadata
                    .into_iter()
                    .filter(|m| chunk.contains(&m.rating_key))
                    .filter_map(Metadata::into_remote_item),
            );
        }
        Ok((found, first_date))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit_tests {
    use super::*;

    fn desired(position_ms: i64, played: bool) -> DesiredState {
        DesiredState {
            position_ms,
            played,
            play_count: i64::from(played),
            last_played: Some(1_700_000_000_000),
        }
    }

    fn state(position_ms: i64, play_count: i64) -> UserData {
        UserData {
            position_ms,
            played: play_count > 0,
            play_count,
            last_played: None,
        }
    }

    #[test]
    fn plans_are_minimal_and_replaying_plans_nothing() {
        use PlexWrite::*;
        let cases = [
            (state(0, 0), desired(0, true), vec![Scrobble]),
            (state(5_000, 0), desired(0, true), vec![Scrobble]),
            (state(0, 3), desired(0, true), vec![]),
            (
                state(9_000, 3),
                desired(0, true),
                vec![Unscrobble, Scrobble],
            ),
            (state(0, 2), desired(0, false), vec![Unscrobble]),
            (state(7_000, 0), desired(0, false), vec![Unscrobble]),
            (state(0, 0), desired(61_000, false), vec![SetOffset(61_000)]),
            (
                state(5_000, 0),
                desired(61_000, false),
                vec![SetOffset(61_000)],
            ),
            (
                state(0, 1),
                desired(61_000, false),
                vec![Unscrobble, SetOffset(61_000)],
            ),
            (state(0, 2), desired(42_000, true), vec![SetOffset(42_000)]),
            (state(0, 0), desired(0, false), vec![]),
        ];
        for (current, want, expected) in cases {
            let (writes, after) = plan_writes(&current, &want);
            assert_eq!(writes, expected, "{current:?} -> {want:?}");
            assert!(want.same_as(&after), "{current:?} -> {want:?}: {after:?}");
            // A replay after a crash starts from the state the first run left behind.
            let (again, _) = plan_writes(&after, &want);
            assert!(
                again.is_empty(),
                "replay of {current:?} -> {want:?}: {again:?}"
            );
        }
    }

    #[test]
    fn keys_that_need_escaping_are_refused() {
        assert_eq!(path_segment("1234").unwrap(), "1234");
        assert!(path_segment("a/b").is_err());
        assert!(path_segment("").is_err());
        assert!(path_segment("../x").is_err());
    }

    #[test]
    fn debug_never_prints_the_token() {
        let c = PlexClient::new(
            "http://h:32400",
            PlexClient::device("id-1"),
            ClientOptions::default(),
        )
        .unwrap()
        .with_token("SECRET-PLEX-TOKEN".into());
        let printed = format!("{c:?}");
        assert!(!printed.contains("SECRET-PLEX-TOKEN"), "{printed}");
        let e = c.scrub(SyncError::transient("echo SECRET-PLEX-TOKEN"));
        assert_eq!(e.detail, "echo <redacted>");
    }
}
