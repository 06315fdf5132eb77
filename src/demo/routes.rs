//! The Jellyfin 10.11 endpoints the demo server implements, as a pure function of the state
//! and the request (no I/O here).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use axum::http::{HeaderMap, Method};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use super::library::LibItem;
use super::state::{Reported, Session, State};
use super::{DEMO_PASSWORD, DEMO_USER};
use crate::model::ItemKind;

/// The name the server reports.
pub(crate) const SERVER_NAME: &str = "Playmark Demo";

/// A request as the router sees it.
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub local_address: String,
}

/// A response before it becomes HTTP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json; charset=utf-8";
const PROBLEM: &str = "application/problem+json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

impl Reply {
    pub(crate) fn json(v: &Value) -> Reply {
        Reply {
            status: 200,
            content_type: Some(JSON),
            body: v.to_string().into_bytes(),
        }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    fn text(status: u16, msg: &str) -> Reply {
        Reply {
            status,
            content_type: Some(TEXT),
            body: msg.as_bytes().to_vec(),
        }
    }

    /// ASP.NET Core ProblemDetails, as Jellyfin's `NotFound()` / validation errors produce.
    fn problem(status: u16, title: &str, detail: Option<&str>) -> Reply {
        let section = match status {
            400 => "15.5.1",
            404 => "15.5.5",
            405 => "15.5.6",
            415 => "15.5.16",
            _ => "15.6.1",
        };
        let mut v = json!({
            "type": format!("https://tools.ietf.org/html/rfc9110#section-{section}"),
            "title": title,
            "status": status,
            "traceId": "00-00000000000000000000000000000000-0000000000000000-00",
        });
        if let Some(d) = detail {
            v["detail"] = Value::String(d.to_string());
        }
        Reply {
            status,
            content_type: Some(PROBLEM),
            body: v.to_string().into_bytes(),
        }
    }

    pub(crate) fn bad_request(detail: &str) -> Reply {
        Reply::problem(400, "One or more validation errors occurred.", Some(detail))
    }

    pub(crate) fn not_found() -> Reply {
        Reply::problem(404, "Not Found", None)
    }
}

pub(crate) type R<T> = Result<T, Reply>;

// ---------------------------------------------------------------------------------------------
// Small parsers

/// Parse a Jellyfin `Authorization: MediaBrowser k="v", ...` header the way the server does:
/// scheme case-insensitive, parameters split on commas outside quotes, quotes stripped, values
/// URL-decoded, keys case-insensitive (returned lowercased).
pub(crate) fn parse_authorization(value: &str) -> Option<HashMap<String, String>> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("MediaBrowser") {
        return None;
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let mut out = HashMap::new();
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let k = k.trim();
            let v = v.trim().trim_matches('"');
            if !k.is_empty() && !v.is_empty() {
                out.insert(k.to_ascii_lowercase(), url_decode(v));
            }
        }
    }
    Some(out)
}

/// `WebUtility.UrlDecode`: `+` is a space, `%XX` a byte; invalid escapes are kept as they are.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Normalise an item or user id: dashes and braces removed, lowercase; `None` unless it is a
/// GUID (32 hex digits).
pub(crate) fn normalize_id(s: &str) -> Option<String> {
    let t: String = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    (t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())).then_some(t)
}

/// Jellyfin's JSON date format: `2024-01-02T03:04:05.0000000Z`.
pub(crate) fn format_date(d: &DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        d.format("%Y-%m-%dT%H:%M:%S"),
        d.timestamp_subsec_nanos() / 100
    )
}

/// ISO-8601 (with or without offset; no offset means UTC), a bare date, or the legacy
/// `yyyyMMddHHmmss` form.
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%d%H%M%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// Case-insensitive query access; repeated keys and comma lists are both accepted for lists.
pub(crate) struct Query<'a>(pub(crate) &'a [(String, String)]);

impl Query<'_> {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub(crate) fn bool(&self, name: &str) -> R<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(Reply::bad_request(&format!(
                "The value '{v}' is not valid for {name}."
            ))),
        }
    }

    pub(crate) fn int(&self, name: &str) -> R<Option<usize>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i32>()
                .ok()
                .map(|n| Some(n.max(0) as usize))
                .ok_or_else(|| {
                    Reply::bad_request(&format!("The value '{v}' is not valid for {name}."))
                }),
        }
    }

    pub(crate) fn id(&self, name: &str) -> R<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => normalize_id(v).map(Some).ok_or_else(|| {
                Reply::bad_request(&format!("The value '{v}' is not valid for {name}."))
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

enum Route {
    PublicInfo,
    SystemInfo,
    Authenticate,
    Logout,
    Me,
    Items {
        user: Option<String>,
    },
    Item {
        id: String,
        user: Option<String>,
    },
    UserData {
        id: String,
        user: Option<String>,
    },
    Played {
        id: String,
        user: Option<String>,
    },
    /// `GET /Users/{userId}`.
    User {
        id: String,
    },
    /// `GET /Shows/NextUp`.
    NextUp,
    /// `GET /UserItems/Resume` (legacy `/Users/{userId}/Items/Resume`).
    Resume {
        user: Option<String>,
    },
    /// `GET /Sessions`.
    Sessions,
}

impl Route {
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::PublicInfo
            | Route::SystemInfo
            | Route::Me
            | Route::Items { .. }
            | Route::User { .. }
            | Route::NextUp
            | Route::Resume { .. }
            | Route::Sessions => &[Method::GET],
            Route::Item { .. } => &[Method::GET],
            Route::Authenticate | Route::Logout => &[Method::POST],
            Route::UserData { .. } => &[Method::GET, Method::POST],
            Route::Played { .. } => &[Method::POST, Method::DELETE],
        }
    }
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let seg = |i: usize| segs.get(i).map(|s| s.to_string()).unwrap_or_default();
    Some(match l.as_slice() {
        ["system", "info", "public"] => Route::PublicInfo,
        ["system", "info"] => Route::SystemInfo,
        ["users", "authenticatebyname"] => Route::Authenticate,
        ["sessions", "logout"] => Route::Logout,
        ["users", "me"] => Route::Me,
        ["users", _] => Route::User { id: seg(1) },
        ["shows", "nextup"] => Route::NextUp,
        ["useritems", "resume"] => Route::Resume { user: None },
        ["sessions"] => Route::Sessions,
        ["items"] => Route::Items { user: None },
        ["items", _] => Route::Item {
            id: seg(1),
            user: None,
        },
        ["useritems", _, "userdata"] => Route::UserData {
            id: seg(1),
            user: None,
        },
        ["userplayeditems", _] => Route::Played {
            id: seg(1),
            user: None,
        },
        // Legacy routes, hidden from the spec but still served by 10.9 – 12.0.
        ["users", _, "items"] => Route::Items { user: Some(seg(1)) },
        ["users", _, "items", "resume"] => Route::Resume { user: Some(seg(1)) },
        ["users", _, "items", _] => Route::Item {
            id: seg(3),
            user: Some(seg(1)),
        },
        ["users", _, "items", _, "userdata"] => Route::UserData {
            id: seg(3),
            user: Some(seg(1)),
        },
        ["users", _, "playeditems", _] => Route::Played {
            id: seg(3),
            user: Some(seg(1)),
        },
        _ => return None,
    })
}

/// Answer one request.
pub(crate) fn handle(state: &mut State, req: &Req<'_>) -> Reply {
    if let Some(reply) = super::images::jellyfin(state, req) {
        return reply;
    }
    if let Some(reply) = super::sessions::jellyfin(state, req) {
        return reply;
    }
    match handle_inner(state, req) {
        Ok(r) | Err(r) => r,
    }
}

fn handle_inner(state: &mut State, req: &Req<'_>) -> R<Reply> {
    let Some(route) = route(req.path) else {
        return Ok(Reply::empty(404));
    };
    if !route.methods().contains(req.method) {
        return Ok(Reply::empty(405));
    }
    let q = Query(req.query);
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_authorization)
        .unwrap_or_default();
    match route {
        Route::PublicInfo => return Ok(Reply::json(&public_info(state, req))),
        Route::Authenticate => return authenticate(state, req, &auth),
        _ => {}
    }
    let session = auth
        .get("token")
        .and_then(|t| state.tokens.get(t))
        .cloned()
        .ok_or_else(|| Reply::empty(401))?;
    match route {
        Route::PublicInfo | Route::Authenticate => Ok(Reply::empty(500)),
        Route::SystemInfo => {
            let mut v = public_info(state, req);
            v["HasPendingRestart"] = json!(false);
            v["IsShuttingDown"] = json!(false);
            v["SupportsLibraryMonitor"] = json!(true);
            v["WebSocketPortNumber"] = json!(0);
            Ok(Reply::json(&v))
        }
        Route::Logout => {
            if let Some(t) = auth.get("token") {
                state.tokens.remove(t);
            }
            Ok(Reply::empty(204))
        }
        Route::Me => Ok(Reply::json(&user_dto(state))),
        Route::User { id } => {
            let id = path_id(&id)?;
            if id != state.user_id {
                return Err(Reply::problem(404, "Not Found", Some("User not found")));
            }
            Ok(Reply::json(&user_dto(state)))
        }
        Route::NextUp => super::jellyfin_home::next_up(state, &session, &q),
        Route::Resume { user } => {
            resolve_user(&session, user.as_deref(), &q)?;
            super::jellyfin_home::resume(state, &q)
        }
        Route::Sessions => super::jellyfin_home::sessions(state, &session, &q),
        Route::Items { user } => {
            resolve_user(&session, user.as_deref(), &q)?;
            get_items(state, &q)
        }
        Route::Item { id, user } => {
            resolve_user(&session, user.as_deref(), &q)?;
            let id = path_id(&id)?;
            let item = state.get(&id).ok_or_else(Reply::not_found)?;
            let mut opts = DtoOptions::from_query(&q)?;
            // A single item comes with every field (`UserLibraryController.GetItem`).
            opts.fields.insert("mediasources".to_string());
            Ok(Reply::json(&item_dto(state, item, &opts)))
        }
        Route::UserData { id, user } => {
            resolve_user(&session, user.as_deref(), &q)?;
            let id = path_id(&id)?;
            state.get(&id).ok_or_else(Reply::not_found)?;
            if req.method == Method::POST {
                update_user_data(state, &id, req)?;
            }
            Ok(Reply::json(&user_data_dto(state, &id)))
        }
        Route::Played { id, user } => {
            resolve_user(&session, user.as_deref(), &q)?;
            let id = path_id(&id)?;
            state.get(&id).ok_or_else(Reply::not_found)?;
            if req.method == Method::POST {
                let date = match q.get("datePlayed") {
                    None => None,
                    Some(s) => Some(parse_date(s).ok_or_else(|| {
                        Reply::bad_request(&format!("The value '{s}' is not valid for datePlayed."))
                    })?),
                };
                state.mark_played(&id, date);
            } else {
                state.mark_unplayed(&id);
            }
            Ok(Reply::json(&user_data_dto(state, &id)))
        }
    }
}

pub(crate) fn path_id(raw: &str) -> R<String> {
    normalize_id(&url_decode(raw))
        .ok_or_else(|| Reply::bad_request(&format!("The value '{raw}' is not valid.")))
}

/// `RequestHelpers.GetUserId`: no (or the empty) user id means the token's user; another
/// user needs an administrator, which the demo user is not.
pub(crate) fn resolve_user(session: &Session, path_user: Option<&str>, q: &Query<'_>) -> R<()> {
    let given = match path_user {
        Some(p) => Some(path_id(p)?),
        None => q.id("userId")?,
    };
    match given {
        Some(u) if u != "0".repeat(32) && u != session.user_id => Err(Reply::empty(403)),
        _ => Ok(()),
    }
}

fn require_json(req: &Req<'_>) -> R<Value> {
    let ct = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("application/json") && !ct.starts_with("text/json") {
        return Err(Reply::problem(415, "Unsupported Media Type", None));
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::bad_request("A non-empty request body is required."));
    }
    match serde_json::from_slice::<Value>(req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) | Err(_) => Err(Reply::bad_request(
            "The request body is not a valid JSON object.",
        )),
    }
}

/// Case-insensitive property lookup (System.Text.Json with `PropertyNameCaseInsensitive`).
fn prop<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

// ---------------------------------------------------------------------------------------------
// Handlers

fn public_info(state: &State, req: &Req<'_>) -> Value {
    json!({
        "LocalAddress": req.local_address,
        "ServerName": SERVER_NAME,
        "Version": state.version,
        "ProductName": "Jellyfin Server",
        "OperatingSystem": "",
        "Id": state.server_id,
        "StartupWizardCompleted": true,
    })
}

pub(crate) fn user_dto(state: &State) -> Value {
    let mut v = json!({
        "Name": DEMO_USER,
        "ServerId": state.server_id,
        "ServerName": SERVER_NAME,
        "Id": state.user_id,
        "HasPassword": true,
        "HasConfiguredPassword": true,
        "HasConfiguredEasyPassword": false,
        "EnableAutoLogin": false,
        "LastLoginDate": format_date(&state.now()),
        "LastActivityDate": format_date(&state.now())
    });
    v["Configuration"] = json!({
        "PlayDefaultAudioTrack": true,
        "SubtitleLanguagePreference": "",
        "DisplayMissingEpisodes": false,
        "GroupedFolders": [],
        "SubtitleMode": "Default",
        "DisplayCollectionsView": false,
        "EnableLocalPassword": false,
        "OrderedViews": [],
        "LatestItemsExcludes": [],
        "MyMediaExcludes": [],
        "HidePlayedInLatest": true,
        "RememberAudioSelections": true,
        "RememberSubtitleSelections": true,
        "EnableNextEpisodeAutoPlay": true,
        "CastReceiverId": "F007D354"
    });
    let mut policy = json!({
        "IsAdministrator": false,
        "IsHidden": false,
        "EnableCollectionManagement": false,
        "EnableSubtitleManagement": false,
        "EnableLyricManagement": false,
        "IsDisabled": false,
        "BlockedTags": [],
        "AllowedTags": [],
        "EnableUserPreferenceAccess": true,
        "AccessSchedules": [],
        "BlockUnratedItems": [],
        "EnableRemoteControlOfOtherUsers": false,
        "EnableSharedDeviceControl": true,
        "EnableRemoteAccess": true,
        "EnableLiveTvManagement": false,
        "EnableLiveTvAccess": false,
        "EnableMediaPlayback": true,
        "EnableAudioPlaybackTranscoding": true,
        "EnableVideoPlaybackTranscoding": true,
        "EnablePlaybackRemuxing": true,
        "ForceRemoteSourceTranscoding": false
    });
    if let (Some(p), Value::Object(more)) = (
        policy.as_object_mut(),
        json!({
            "EnableContentDeletion": false,
            "EnableContentDeletionFromFolders": [],
            "EnableContentDownloading": state.downloads_allowed,
            "EnableSyncTranscoding": true,
            "EnableMediaConversion": true,
            "EnabledDevices": [],
            "EnableAllDevices": true,
            "EnabledChannels": [],
            "EnableAllChannels": true,
            "EnabledFolders": [],
            "EnableAllFolders": true,
            "InvalidLoginAttemptCount": 0,
            "LoginAttemptsBeforeLockout": -1,
            "MaxActiveSessions": 0,
            "EnablePublicSharing": true,
            "BlockedMediaFolders": [],
            "BlockedChannels": [],
            "RemoteClientBitrateLimit": 0,
            "AuthenticationProviderId": "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
            "PasswordResetProviderId": "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider",
            "SyncPlayAccess": "CreateAndJoinGroups"
        }),
    ) {
        p.extend(more);
    }
    v["Policy"] = policy;
    v
}

/// `POST /Users/AuthenticateByName`. Like `SessionManager.AuthenticateNewSessionInternal`:
/// Client, Device, DeviceId and Version are required (400 otherwise); signing in again from
/// the same device logs the device's previous token out.
fn authenticate(state: &mut State, req: &Req<'_>, auth: &HashMap<String, String>) -> R<Reply> {
    let body = require_json(req)?;
    for key in ["client", "deviceid", "device", "version"] {
        if auth.get(key).is_none_or(|v| v.trim().is_empty()) {
            let name = match key {
                "client" => "App",
                "deviceid" => "DeviceId",
                "device" => "DeviceName",
                _ => "AppVersion",
            };
            return Err(Reply::text(
                400,
                &format!("The value cannot be an empty string or composed entirely of whitespace. (Parameter 'request.{name}')"),
            ));
        }
    }
    let username = prop(&body, "Username")
        .and_then(Value::as_str)
        .unwrap_or("");
    let pw = prop(&body, "Pw").and_then(Value::as_str).unwrap_or("");
    if !username.eq_ignore_ascii_case(DEMO_USER) || pw != DEMO_PASSWORD {
        return Err(Reply::text(401, "Invalid username or password entered."));
    }
    let get = |k: &str| auth.get(k).cloned().unwrap_or_default();
    let session = Session {
        user_id: state.user_id.clone(),
        client: get("client"),
        device: get("device"),
        device_id: get("deviceid"),
        version: get("version"),
    };
    state
        .tokens
        .retain(|_, s| !(s.user_id == session.user_id && s.device_id == session.device_id));
    let token = uuid::Uuid::new_v4().simple().to_string();
    let session_dto = super::jellyfin_home::session_dto(state, &session, None);
    state.tokens.insert(token.clone(), session);
    Ok(Reply::json(&json!({
        "User": user_dto(state),
        "SessionInfo": session_dto,
        "AccessToken": token,
        "ServerId": state.server_id,
    })))
}

/// `UserDataManager.SaveUserData(User, BaseItem, UpdateUserItemDataDto, …)`: only non-null
/// fields are applied; a negative position is rejected.
fn update_user_data(state: &mut State, id: &str, req: &Req<'_>) -> R<()> {
    let body = require_json(req)?;
    let bad =
        |f: &str| Reply::bad_request(&format!("The JSON value could not be converted for $.{f}."));
    let int = |f: &str| -> R<Option<i64>> {
        prop(&body, f)
            .map(|v| v.as_i64().ok_or_else(|| bad(f)))
            .transpose()
    };
    let boolean = |f: &str| -> R<Option<bool>> {
        prop(&body, f)
            .map(|v| v.as_bool().ok_or_else(|| bad(f)))
            .transpose()
    };
    let position = int("PlaybackPositionTicks")?;
    let play_count = int("PlayCount")?;
    let favorite = boolean("IsFavorite")?;
    let likes = boolean("Likes")?;
    let played = boolean("Played")?;
    let rating = prop(&body, "Rating")
        .map(|v| v.as_f64().ok_or_else(|| bad("Rating")))
        .transpose()?;
    let last = prop(&body, "LastPlayedDate")
        .map(|v| {
            v.as_str()
                .and_then(parse_date)
                .ok_or_else(|| bad("LastPlayedDate"))
        })
        .transpose()?;
    if position.is_some_and(|p| p < 0) {
        return Err(Reply::text(
            400,
            "PlaybackPositionTicks must be a non-negative value. (Parameter 'PlaybackPositionTicks')",
        ));
    }
    let play_count = play_count
        .map(|c| i32::try_from(c).map_err(|_| bad("PlayCount")))
        .transpose()?;
    let s = state.stored_mut(id);
    if let Some(p) = position {
        s.position_ticks = p;
    }
    if let Some(c) = play_count {
        s.play_count = i64::from(c);
    }
    if let Some(f) = favorite {
        s.is_favorite = f;
    }
    if likes.is_some() {
        s.likes = likes;
    }
    if let Some(p) = played {
        s.played = p;
    }
    if rating.is_some() {
        s.rating = rating;
    }
    if last.is_some() {
        s.last_played = last;
    }
    Ok(())
}

pub(crate) fn user_data_dto(state: &State, id: &str) -> Value {
    state
        .reported(id)
        .map(|r| user_data_value(&r, id))
        .unwrap_or(Value::Null)
}

fn user_data_value(r: &Reported, id: &str) -> Value {
    let s = &r.stored;
    let mut m = Map::new();
    if let Some(v) = s.rating {
        m.insert("Rating".into(), json!(v));
    }
    match r.folder {
        Some((unplayed, total)) => {
            if total > 0 {
                let pct = 100.0 * (total - unplayed) as f64 / total as f64;
                m.insert("PlayedPercentage".into(), json!(pct));
            }
            m.insert("UnplayedItemCount".into(), json!(unplayed));
        }
        None => {
            if let Some(rt) = r.runtime_ticks.filter(|t| *t > 0) {
                if s.position_ticks > 0 {
                    let pct = 100.0 * s.position_ticks as f64 / rt as f64;
                    m.insert("PlayedPercentage".into(), json!(pct));
                }
            }
        }
    }
    m.insert("PlaybackPositionTicks".into(), json!(s.position_ticks));
    m.insert(
        "PlayCount".into(),
        json!(if r.folder.is_some() { 0 } else { s.play_count }),
    );
    m.insert("IsFavorite".into(), json!(s.is_favorite));
    if let Some(l) = s.likes {
        m.insert("Likes".into(), json!(l));
    }
    if let Some(d) = &s.last_played {
        m.insert("LastPlayedDate".into(), json!(format_date(d)));
    }
    m.insert("Played".into(), json!(s.played));
    m.insert("Key".into(), json!(id));
    m.insert("ItemId".into(), json!(id));
    Value::Object(m)
}

pub(crate) struct DtoOptions {
    user_data: bool,
    images: bool,
    fields: HashSet<String>,
}

impl DtoOptions {
    /// What a request with no options gets: user data and images, no extra fields.
    pub(crate) fn defaults() -> DtoOptions {
        DtoOptions {
            user_data: true,
            images: true,
            fields: HashSet::new(),
        }
    }

    pub(crate) fn from_query(q: &Query<'_>) -> R<DtoOptions> {
        Ok(DtoOptions {
            user_data: q.bool("enableUserData")?.unwrap_or(true),
            images: q.bool("enableImages")?.unwrap_or(true),
            fields: q
                .list("fields")
                .into_iter()
                .map(|f| f.to_ascii_lowercase())
                .collect(),
        })
    }

    fn has(&self, field: &str) -> bool {
        self.fields.contains(&field.to_ascii_lowercase())
    }
}

pub(crate) fn item_dto(state: &State, item: &LibItem, opts: &DtoOptions) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    let folder = !item.kind.is_playable();
    put("Name", json!(item.name));
    put("ServerId", json!(state.server_id));
    put("Id", json!(item.id));
    if opts.has("Etag") {
        put("Etag", json!(&item.id[..16]));
    }
    if opts.has("DateCreated") {
        put("DateCreated", json!("2024-01-01T00:00:00.0000000Z"));
    }
    if opts.has("DateLastSaved") {
        put("DateLastSaved", json!("2024-01-01T00:00:00.0000000Z"));
    }
    if opts.has("SortName") {
        put("SortName", json!(item.sort_name));
    }
    if opts.has("Path") {
        put("Path", json!(item.path));
    }
    if opts.has("ProviderIds") {
        let ids: Map<String, Value> = item
            .provider_ids
            .iter()
            .map(|p| {
                let key = match p.provider {
                    crate::model::Provider::Imdb => "Imdb",
                    crate::model::Provider::Tmdb => "Tmdb",
                    crate::model::Provider::Tvdb => "Tvdb",
                };
                (key.to_string(), json!(p.value))
            })
            .collect();
        put("ProviderIds", Value::Object(ids));
    }
    if let Some(rt) = item.runtime_ms {
        put("RunTimeTicks", json!(rt * super::library::TICKS_PER_MS));
    }
    if let Some(y) = item.year {
        put("ProductionYear", json!(y));
    }
    match item.kind {
        ItemKind::Episode => {
            put("IndexNumber", json!(item.episode_number));
            put("ParentIndexNumber", json!(item.season_number));
        }
        ItemKind::Season => put("IndexNumber", json!(item.season_number)),
        _ => {}
    }
    put("IsFolder", json!(folder));
    put("Type", json!(item.kind.as_str()));
    if let Some(p) = &item.parent_id {
        put("ParentId", json!(p));
    }
    if let Some(v) = &item.series_name {
        put("SeriesName", json!(v));
    }
    if let Some(v) = &item.series_id {
        put("SeriesId", json!(v));
    }
    if let Some(v) = &item.season_id {
        put("SeasonId", json!(v));
    }
    if let Some(v) = &item.season_name {
        put("SeasonName", json!(v));
    }
    if opts.user_data {
        if let Some(r) = state.reported(&item.id) {
            put("UserData", user_data_value(&r, &item.id));
        }
    }
    if folder {
        if opts.has("ChildCount") {
            put("ChildCount", json!(state.children(&item.id).len()));
        }
        if opts.has("RecursiveItemCount") {
            put(
                "RecursiveItemCount",
                json!(state.descendants(&item.id).len()),
            );
        }
    } else {
        put("VideoType", json!("VideoFile"));
        if opts.has("MediaSources") {
            if let Some(m) = super::media::Media::of(item) {
                put("MediaSources", json!([media_source(item, &m)]));
            }
        }
    }
    put("LocationType", json!("FileSystem"));
    put("MediaType", json!(if folder { "Unknown" } else { "Video" }));
    if opts.images {
        put("ImageTags", json!({}));
        put("BackdropImageTags", json!([]));
    }
    Value::Object(m)
}

/// The one `MediaSourceInfo` of a playable item: its generated media (size, container).
fn media_source(item: &LibItem, m: &super::media::Media) -> Value {
    json!({
        "Protocol": "File",
        "Id": item.id,
        "Path": super::media::file_path(item),
        "Type": "Default",
        "Container": super::media::CONTAINER,
        "Size": m.len(),
        "Name": item.name,
        "IsRemote": false,
        "RunTimeTicks": i64::try_from(m.duration_ms()).unwrap_or(i64::MAX)
            .saturating_mul(super::library::TICKS_PER_MS),
        "ReadAtNativeFramerate": false,
        "IgnoreDts": false,
        "IgnoreIndex": false,
        "GenPtsInput": false,
        "SupportsTranscoding": false,
        "SupportsDirectStream": true,
        "SupportsDirectPlay": true,
        "IsInfiniteStream": false,
        "RequiresOpening": false,
        "RequiresClosing": false,
        "RequiresLooping": false,
        "SupportsProbing": true,
        "VideoType": "VideoFile",
        "MediaStreams": [],
        "MediaAttachments": [],
        "Formats": [],
        "Bitrate": super::media::FRAME_LEN * 8,
        "RequiredHttpHeaders": {},
        "HasSegments": false
    })
}

/// `GET /Items`.
fn get_items(state: &State, q: &Query<'_>) -> R<Reply> {
    let opts = DtoOptions::from_query(q)?;
    let recursive = q.bool("recursive")?.unwrap_or(false);
    let parent = q.id("parentId")?;
    let mut ids = Vec::new();
    for raw in q.list("ids") {
        ids.push(normalize_id(&raw).ok_or_else(|| {
            Reply::bad_request(&format!("The value '{raw}' is not valid for ids."))
        })?);
    }
    let kinds = |name: &str| -> HashSet<String> {
        q.list(name)
            .into_iter()
            .map(|k| k.to_ascii_lowercase())
            .collect()
    };
    let include = kinds("includeItemTypes");
    let exclude = kinds("excludeItemTypes");
    let filters = kinds("filters");
    let is_played = q.bool("isPlayed")?;
    let is_favorite = q.bool("isFavorite")?;
    let start = q.int("startIndex")?.unwrap_or(0);
    let limit = q.int("limit")?;
    let total_enabled = q.bool("enableTotalRecordCount")?.unwrap_or(true);

    let candidates: Vec<usize> = if !ids.is_empty() {
        let set: HashSet<&String> = ids.iter().collect();
        (0..state.items().len())
            .filter(|&i| state.items().get(i).is_some_and(|it| set.contains(&it.id)))
            .collect()
    } else if let Some(p) = &parent {
        if state.get(p).is_none() {
            Vec::new()
        } else if recursive {
            state.descendants(p)
        } else {
            state.children(p)
        }
    } else if recursive {
        (0..state.items().len()).collect()
    } else {
        (0..state.items().len())
            .filter(|&i| {
                state
                    .items()
                    .get(i)
                    .is_some_and(|it| it.parent_id.is_none())
            })
            .collect()
    };

    let mut rows: Vec<(usize, &LibItem, Reported)> = Vec::new();
    for i in candidates {
        let Some(item) = state.items().get(i) else {
            continue;
        };
        let kind = item.kind.as_str().to_ascii_lowercase();
        if !include.is_empty() && !include.contains(&kind) {
            continue;
        }
        if exclude.contains(&kind) {
            continue;
        }
        let Some(r) = state.reported(&item.id) else {
            continue;
        };
        let folder = !item.kind.is_playable();
        let played = r.stored.played;
        let keep = filters.iter().all(|f| match f.as_str() {
            "isplayed" => played,
            "isunplayed" => !played,
            "isresumable" => !folder && r.stored.position_ticks > 0,
            "isfavorite" => r.stored.is_favorite,
            "isfolder" => folder,
            "isnotfolder" => !folder,
            "likes" => r.stored.likes == Some(true),
            "dislikes" => r.stored.likes == Some(false),
            "isfavoriteorlikes" => r.stored.is_favorite || r.stored.likes == Some(true),
            _ => true,
        }) && is_played.is_none_or(|p| p == played)
            && is_favorite.is_none_or(|f| f == r.stored.is_favorite);
        if keep {
            rows.push((i, item, r));
        }
    }

    let sort_by: Vec<String> = q
        .list("sortBy")
        .into_iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let orders: Vec<bool> = q
        .list("sortOrder")
        .into_iter()
        .map(|s| s.eq_ignore_ascii_case("descending"))
        .collect();
    if !sort_by.is_empty() {
        rows.sort_by(|a, b| {
            for (n, key) in sort_by.iter().enumerate() {
                let desc = orders.get(n).or(orders.last()).copied().unwrap_or(false);
                let ord = compare(key, a, b);
                let ord = if desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.0.cmp(&b.0)
        });
    }

    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(limit.unwrap_or(usize::MAX))
        .map(|(_, item, _)| item_dto(state, item, &opts))
        .collect();
    Ok(Reply::json(&json!({
        "Items": page,
        "TotalRecordCount": if total_enabled { total } else { 0 },
        "StartIndex": start,
    })))
}

fn compare(
    key: &str,
    a: &(usize, &LibItem, Reported),
    b: &(usize, &LibItem, Reported),
) -> Ordering {
    let (ia, ib) = (a.1, b.1);
    match key {
        "sortname" => ia.sort_name.cmp(&ib.sort_name),
        "name" => ia.name.to_lowercase().cmp(&ib.name.to_lowercase()),
        "dateplayed" => a.2.stored.last_played.cmp(&b.2.stored.last_played),
        "playcount" => a.2.stored.play_count.cmp(&b.2.stored.play_count),
        "indexnumber" => ia
            .episode_number
            .or(ia.season_number)
            .cmp(&ib.episode_number.or(ib.season_number)),
        "parentindexnumber" => ia.season_number.cmp(&ib.season_number),
        "productionyear" | "premieredate" => ia.year.cmp(&ib.year),
        "runtime" => ia.runtime_ms.cmp(&ib.runtime_ms),
        "seriessortname" => ia.series_name.cmp(&ib.series_name),
        "isplayed" => a.2.stored.played.cmp(&b.2.stored.played),
        "isfavoriteorliked" => a.2.stored.is_favorite.cmp(&b.2.stored.is_favorite),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_parsing() {
        let h = parse_authorization(
            r#"mediabrowser Client="My%20Player", Device="a, b", DeviceId=abc+1 ,Version="1.0", Token="t0k""#,
        )
        .unwrap();
        assert_eq!(h["client"], "My Player");
        assert_eq!(h["device"], "a, b");
        assert_eq!(h["deviceid"], "abc 1");
        assert_eq!(h["version"], "1.0");
        assert_eq!(h["token"], "t0k");
        assert!(parse_authorization("Bearer x").is_none());
        assert!(parse_authorization("MediaBrowser").is_none());
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn ids_and_dates() {
        assert_eq!(
            normalize_id("{0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9}").as_deref(),
            Some("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
        );
        assert!(normalize_id("abc").is_none());
        let d = parse_date("2024-01-02T03:04:05.1234567Z").unwrap();
        assert_eq!(format_date(&d), "2024-01-02T03:04:05.1234567Z");
        let d = parse_date("20240102030405").unwrap();
        assert_eq!(format_date(&d), "2024-01-02T03:04:05.0000000Z");
        let d = parse_date("2024-01-02T05:04:05+02:00").unwrap();
        assert_eq!(format_date(&d), "2024-01-02T03:04:05.0000000Z");
        assert_eq!(
            parse_date("2024-01-02T03:04:05")
                .map(|d| format_date(&d))
                .as_deref(),
            Some("2024-01-02T03:04:05.0000000Z")
        );
        assert!(parse_date("yesterday").is_none());
    }
}
