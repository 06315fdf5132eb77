//! The Plex Media Server endpoints the demo server implements (kind [`super::DemoKind::Plex`]),
//! as a pure function of the state and the request, following `specs/plex-ops.md`:
//!
//! - `GET /identity` (no token): `MediaContainer{machineIdentifier, version, claimed}`.
//! - `GET /library/sections/all`: section 1 "TV Shows" (`show`), section 2 "Movies" (`movie`).
//! - `GET /library/sections/{id}/all?type=N`: paged by `X-Plex-Container-Start/Size` (query or
//!   header); `type` 2 shows, 3 seasons, 4 episodes (TV section), 1 movies; `title` filters by
//!   substring, case-insensitively.
//! - `GET /library/metadata/{ids}`: comma-separated ratingKeys.
//! - `GET|PUT /:/scrobble` and `/:/unscrobble` (`identifier` + `key`): scrobble bumps
//!   `viewCount` by one on every call and clears the offset; unscrobble sets the count to 0
//!   and clears the offset. On a season or show they apply to every episode under it.
//! - `GET|POST /:/timeline` (`ratingKey`/`key`, `state`, `time`, optional `duration`,
//!   `offline`, `updated`): `playing`/`paused`/`buffering` set the offset; `stopped` at or past
//!   the server's played threshold ([`PlexRules`], 90 % by default) of the duration counts a completed view (count + 1,
//!   offset cleared, `lastViewedAt` set), below it sets the offset. A `time` of 0 does not reset
//!   the offset (the documented `/:/progress` quirk, assumed for the timeline too: clients must
//!   use unscrobble to clear a position).
//!
//! Every call except `/identity` needs a known `X-Plex-Token` (401 otherwise) and an
//! `X-Plex-Client-Identifier` (400 otherwise), as header or query parameter. JSON is returned
//! only with `Accept: application/json`; otherwise the same container as XML, Plex's default
//! (`plex_xml.rs`). The endpoints a general client browses with (`/`, `/library`, children,
//! On Deck, continue watching, sessions) are in `plex_browse.rs`.
//! `viewOffset`, `viewCount` and `lastViewedAt` are left out when there is none, as the real
//! server does. Positions are milliseconds, dates epoch seconds.

use axum::http::Method;
use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::library::{stable_id, DemoLibrary, LibItem, TICKS_PER_MS};
use super::routes::{Reply, Req};
use super::state::{Session, State};
use super::{
    DEMO_PLEX_GUEST_TOKEN, DEMO_PLEX_LOCAL_TOKEN, DEMO_PLEX_OWNER_TOKEN_2, DEMO_PLEX_TOKEN,
};

/// A plex.tv account: (numeric id, uuid, name).
type PlexTvAccount = (i64, &'static str, &'static str);

/// The demo's users: (token, local account id, plex.tv account — `None` for a server-local
/// token plex.tv does not know).
const DEMO_TOKENS: &[(&str, &str, Option<PlexTvAccount>)] = &[
    (DEMO_PLEX_TOKEN, "1", Some((1, "5f3c2a1b9d8e7f60", "demo"))),
    (
        DEMO_PLEX_OWNER_TOKEN_2,
        "1",
        Some((1, "5f3c2a1b9d8e7f60", "demo")),
    ),
    (
        DEMO_PLEX_GUEST_TOKEN,
        "2",
        Some((2, "a0b1c2d3e4f50617", "guest")),
    ),
    (DEMO_PLEX_LOCAL_TOKEN, "1", None),
];
use crate::model::{ItemKind, UserData};

/// The `identifier` scrobble and unscrobble require.
const LIBRARY_IDENTIFIER: &str = "com.plexapp.plugins.library";
/// Section keys of the two libraries.
const TV_SECTION: &str = "1";
const MOVIE_SECTION: &str = "2";
/// Plex media types (`type=` filter).
const TYPE_MOVIE: i64 = 1;
const TYPE_SHOW: i64 = 2;
const TYPE_SEASON: i64 = 3;
const TYPE_EPISODE: i64 = 4;
/// A Plex server's own rules, as demo settings ([`super::DemoConfig::plex`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlexRules {
    /// The server's "video played threshold" (Settings → Library; 90 % by default): a
    /// `stopped` timeline at or past this percentage of the duration counts a completed view.
    pub played_threshold_pct: u8,
    /// Every timeline that moves the offset also stamps `lastViewedAt` (reported by client
    /// projects for real servers, not verified: docs/SERVERS.md). Off (the default): only a
    /// completed view stamps it, as `specs/plex-ops.md` says.
    pub last_viewed_on_progress: bool,
}

impl Default for PlexRules {
    fn default() -> PlexRules {
        PlexRules {
            played_threshold_pct: 90,
            last_viewed_on_progress: false,
        }
    }
}
/// `addedAt` / `updatedAt` of every demo item (2023-11-14).
const ADDED_AT: i64 = 1_700_000_000;

/// The server state for a Plex demo server: the library re-keyed with numeric ratingKeys, the
/// owner's account id "1", and [`DEMO_PLEX_TOKEN`] accepted.
pub(crate) fn new_state(library: DemoLibrary, version: String) -> State {
    let library = library.with_plex_quirks().with_rating_keys();
    let mut normalized = library.clone();
    normalized.initial = library
        .initial
        .iter()
        .map(|(k, v)| (k.clone(), stored_user_data(*v)))
        .collect();
    let mut state = State::new(normalized, version);
    state.user_id = "1".to_string();
    state.server_id = stable_id("plex-server");
    for (token, user, _) in DEMO_TOKENS {
        state.tokens.insert(
            token.to_string(),
            Session {
                user_id: user.to_string(),
                client: String::new(),
                device: String::new(),
                device_id: String::new(),
                version: String::new(),
            },
        );
    }
    state
}

/// plex.tv's `GET /api/v2/user` (`getTokenDetails`): the account behind the token, as a bare
/// `UserPlexAccount` object (no `MediaContainer`); 401 with plex.tv's error body for a token
/// it does not know (a revoked one, or a server-local one).
fn plex_tv_user(state: &State, req: &Req<'_>) -> Reply {
    let token = param(req, "X-Plex-Token").unwrap_or_default();
    let known = state.tokens.contains_key(token);
    match DEMO_TOKENS.iter().find(|(t, _, _)| *t == token) {
        Some((_, _, Some((id, uuid, name)))) if known => reply(
            200,
            Some("application/json"),
            json!({
                "id": id,
                "uuid": uuid,
                "username": name,
                "title": name,
                "friendlyName": name,
                "email": format!("{name}@example.invalid"),
                "hasPassword": true,
                "joinedAt": ADDED_AT,
                "twoFactorEnabled": false,
                "authToken": token,
            })
            .to_string()
            .into_bytes(),
        ),
        _ => reply(
            401,
            Some("application/json"),
            json!({"errors": [{"code": 1001, "message": "User could not be authenticated", "status": 401}]})
                .to_string()
                .into_bytes(),
        ),
    }
}

/// Normalize user data to what Plex can hold: watched means `viewCount > 0`, dates have whole
/// seconds.
pub(crate) fn stored_user_data(mut data: UserData) -> UserData {
    if data.played {
        data.play_count = data.play_count.max(1);
    } else {
        data.play_count = 0;
    }
    reported_user_data(data)
}

/// User data as a Plex server reports it: `lastViewedAt` in whole seconds.
pub(crate) fn reported_user_data(mut data: UserData) -> UserData {
    data.last_played = data.last_played.map(|ms| ms - ms.rem_euclid(1000));
    data
}

pub(super) type R<T> = Result<T, Reply>;

fn reply(status: u16, content_type: Option<&'static str>, body: Vec<u8>) -> Reply {
    Reply {
        status,
        content_type,
        body,
    }
}

pub(super) fn html_error(status: u16, title: &str) -> Reply {
    reply(
        status,
        Some("text/html"),
        format!("<html><head><title>{title}</title></head><body><h1>{status} {title}</h1></body></html>")
            .into_bytes(),
    )
}

pub(super) fn bad_request(detail: &str) -> Reply {
    html_error(400, &format!("Bad Request: {detail}"))
}

pub(super) fn not_found() -> Reply {
    html_error(404, "Not Found")
}

/// A request parameter: the query first, then (for `X-Plex-*`) the header.
pub(super) fn param<'a>(req: &'a Req<'_>, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            name.starts_with("X-Plex-")
                .then(|| req.headers.get(name).and_then(|v| v.to_str().ok()))
                .flatten()
        })
}

pub(super) fn int_param(req: &Req<'_>, name: &str) -> R<Option<i64>> {
    match param(req, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad_request(&format!("{name} must be an integer"))),
    }
}

/// A `MediaContainer` reply: JSON when the client asked for it (`Accept: application/json`),
/// else XML, Plex's default (`plex_xml.rs`).
pub(super) fn container(req: &Req<'_>, body: Value) -> Reply {
    let wants_json = req
        .headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"));
    if wants_json {
        reply(
            200,
            Some("application/json"),
            json!({ "MediaContainer": body }).to_string().into_bytes(),
        )
    } else {
        reply(
            200,
            Some("text/xml;charset=utf-8"),
            super::plex_xml::media_container(&body).into_bytes(),
        )
    }
}

/// Answer one request.
pub(crate) fn handle(state: &mut State, req: &Req<'_>) -> Reply {
    if let Some(reply) = super::images::plex(state, req) {
        return reply;
    }
    handle_inner(state, req).unwrap_or_else(|r| r)
}

fn handle_inner(state: &mut State, req: &Req<'_>) -> R<Reply> {
    let path = req.path.trim_end_matches('/');
    let get = req.method == Method::GET;
    if path == "/identity" {
        return if get {
            Ok(container(
                req,
                json!({
                    "size": 0,
                    "claimed": true,
                    "machineIdentifier": state.server_id,
                    "version": state.version,
                }),
            ))
        } else {
            Err(html_error(405, "Method Not Allowed"))
        };
    }
    if path == "/api/v2/user" && get {
        return Ok(plex_tv_user(state, req));
    }
    check_access(state, req)?;
    if let Some(reply) = super::plex_browse::handle(state, req, path)? {
        return Ok(reply);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["library", "sections"] | ["library", "sections", "all"] if get => Ok(sections(req)),
        ["library", "sections", section, "all"] if get => listing(state, req, section),
        ["library", "metadata", ids] if get => metadata(state, req, ids),
        ["library", "metadata", id, "allLeaves"] if get => all_leaves(state, req, id),
        [":", "scrobble"] if get || req.method == Method::PUT => {
            let id = scrobble_target(state, req)?;
            scrobble(state, &id);
            Ok(reply(200, None, Vec::new()))
        }
        [":", "unscrobble"] if get || req.method == Method::PUT => {
            let id = scrobble_target(state, req)?;
            unscrobble(state, &id);
            Ok(reply(200, None, Vec::new()))
        }
        [":", "timeline"] if get || req.method == Method::POST => timeline(state, req),
        ["library", ..] | [":", "scrobble" | "unscrobble" | "timeline"] => {
            Err(html_error(405, "Method Not Allowed"))
        }
        _ => Err(not_found()),
    }
}

/// Every call except `/identity`: a known `X-Plex-Token` (401) and a client identifier (400).
pub(crate) fn check_access(state: &State, req: &Req<'_>) -> R<()> {
    let token = param(req, "X-Plex-Token").unwrap_or_default();
    if token.is_empty() || !state.tokens.contains_key(token) {
        return Err(html_error(401, "Unauthorized"));
    }
    if param(req, "X-Plex-Client-Identifier").is_none_or(|c| c.trim().is_empty()) {
        return Err(bad_request("X-Plex-Client-Identifier is required"));
    }
    Ok(())
}

fn sections(req: &Req<'_>) -> Reply {
    let dir = |key: &str, kind: &str, title: &str, agent: &str| {
        json!({
            "key": key,
            "type": kind,
            "title": title,
            "agent": agent,
            "scanner": "Plex Scanner",
            "language": "en-US",
            "uuid": stable_id(&format!("plex-section/{key}")),
            "updatedAt": ADDED_AT,
            "createdAt": ADDED_AT,
            "scannedAt": ADDED_AT,
            "content": true,
            "directory": true,
            "hidden": 0,
            "allowSync": true,
        })
    };
    container(
        req,
        json!({
            "size": 2,
            "allowSync": false,
            "title1": "Plex Library",
            "Directory": [
                dir(TV_SECTION, "show", "TV Shows", "tv.plex.agents.series"),
                dir(MOVIE_SECTION, "movie", "Movies", "tv.plex.agents.movie"),
            ],
        }),
    )
}

fn plex_type(kind: ItemKind) -> (&'static str, i64) {
    match kind {
        ItemKind::Movie => ("movie", TYPE_MOVIE),
        ItemKind::Series => ("show", TYPE_SHOW),
        ItemKind::Season => ("season", TYPE_SEASON),
        ItemKind::Episode => ("episode", TYPE_EPISODE),
    }
}

fn section_of(kind: ItemKind) -> &'static str {
    if kind == ItemKind::Movie {
        MOVIE_SECTION
    } else {
        TV_SECTION
    }
}

fn listing(state: &State, req: &Req<'_>, section: &str) -> R<Reply> {
    let allowed: &[i64] = match section {
        TV_SECTION => &[TYPE_SHOW, TYPE_SEASON, TYPE_EPISODE],
        MOVIE_SECTION => &[TYPE_MOVIE],
        _ => return Err(not_found()),
    };
    let wanted = int_param(req, "type")?.unwrap_or(allowed[0]);
    if !allowed.contains(&wanted) {
        return Err(bad_request("type does not fit this section"));
    }
    let start = int_param(req, "X-Plex-Container-Start")?.unwrap_or(0);
    let size = int_param(req, "X-Plex-Container-Size")?;
    if start < 0 || size.is_some_and(|s| s < 0) {
        return Err(bad_request("negative container start or size"));
    }
    // `title=` filters on the title, case-insensitively, by substring (Plex's string filter,
    // what python-plexapi's `section.search(title=…)` sends).
    let title_filter = param(req, "title").map(str::to_lowercase);
    let matching: Vec<&LibItem> = state
        .items()
        .iter()
        .filter(|i| plex_type(i.kind).1 == wanted)
        .filter(|i| {
            title_filter
                .as_ref()
                .is_none_or(|t| i.name.to_lowercase().contains(t))
        })
        .collect();
    let total = matching.len();
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let size = size.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(size)
        .map(|i| with_guids(req, metadata_dto(state, i), i))
        .collect();
    let title = if section == TV_SECTION {
        "TV Shows"
    } else {
        "Movies"
    };
    Ok(container(
        req,
        json!({
            "size": page.len(),
            "offset": start.min(total),
            "totalSize": total,
            "librarySectionID": section.parse::<i64>().unwrap_or(0),
            "librarySectionTitle": title,
            "allowSync": state.downloads_allowed,
            "Metadata": page,
        }),
    ))
}

fn metadata(state: &State, req: &Req<'_>, ids: &str) -> R<Reply> {
    let found: Vec<Value> = ids
        .split(',')
        .filter_map(|id| state.get(id.trim()))
        .map(|i| with_guids(req, metadata_dto(state, i), i))
        .collect();
    if found.is_empty() {
        return Err(not_found());
    }
    Ok(container(
        req,
        json!({
            "size": found.len(),
            "allowSync": state.downloads_allowed,
            "Metadata": found,
        }),
    ))
}

/// `GET /library/metadata/{id}/allLeaves`: the playable items under a show or season (an
/// episode or movie lists itself), in library order, with their user data.
fn all_leaves(state: &State, req: &Req<'_>, id: &str) -> R<Reply> {
    let Some(parent) = state.get(id.trim()) else {
        return Err(not_found());
    };
    let leaves: Vec<Value> = state
        .playable_targets(&parent.id)
        .iter()
        .filter_map(|id| state.get(id))
        .map(|i| with_guids(req, metadata_dto(state, i), i))
        .collect();
    Ok(container(
        req,
        json!({
            "size": leaves.len(),
            "totalSize": leaves.len(),
            "offset": 0,
            "allowSync": state.downloads_allowed,
            "key": parent.id,
            "title1": parent.name,
            "Metadata": leaves,
        }),
    ))
}

/// `includeGuids=1` adds the `Guid` array (`imdb://…`, `tmdb://…`, `tvdb://…`).
fn with_guids(req: &Req<'_>, mut dto: Value, item: &LibItem) -> Value {
    if param(req, "includeGuids") == Some("1") {
        let guids: Vec<Value> = item
            .provider_ids
            .iter()
            .map(|p| json!({ "id": format!("{}://{}", p.provider.as_str(), p.value) }))
            .collect();
        dto["Guid"] = json!(guids);
    }
    dto
}

pub(super) fn metadata_dto(state: &State, item: &LibItem) -> Value {
    let (kind, _) = plex_type(item.kind);
    let section = section_of(item.kind);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("ratingKey", json!(item.id));
    // A show's or season's details key lists its children, as on a real server (python-plexapi
    // strips the `/children` again: "FIX_BUG_50").
    let key = if item.kind.is_playable() {
        format!("/library/metadata/{}", item.id)
    } else {
        format!("/library/metadata/{}/children", item.id)
    };
    put("key", json!(key));
    put("guid", json!(format!("plex://{kind}/{}", item.id)));
    put("type", json!(kind));
    put("title", json!(item.name));
    put("addedAt", json!(ADDED_AT));
    put("updatedAt", json!(ADDED_AT));
    put(
        "librarySectionID",
        json!(section.parse::<i64>().unwrap_or(0)),
    );
    if let Some(y) = item.year {
        put("year", json!(y));
    }
    let parent = |id: &Option<String>| id.as_ref().and_then(|p| state.get(p));
    match item.kind {
        ItemKind::Episode => {
            if let Some(n) = item.episode_number {
                put("index", json!(n));
            }
            if let Some(n) = item.season_number {
                put("parentIndex", json!(n));
            }
            if let Some(season) = parent(&item.parent_id) {
                put("parentRatingKey", json!(season.id));
                put(
                    "parentKey",
                    json!(format!("/library/metadata/{}", season.id)),
                );
                put("parentTitle", json!(season.name));
            }
            if let Some(show) = parent(&item.series_id) {
                put("grandparentRatingKey", json!(show.id));
                put(
                    "grandparentKey",
                    json!(format!("/library/metadata/{}", show.id)),
                );
                put("grandparentTitle", json!(show.name));
            }
        }
        ItemKind::Season => {
            if let Some(n) = item.season_number {
                put("index", json!(n));
            }
            if let Some(show) = parent(&item.parent_id) {
                put("parentRatingKey", json!(show.id));
                put("parentKey", json!(format!("/library/metadata/{}", show.id)));
                put("parentTitle", json!(show.name));
            }
        }
        ItemKind::Series => {
            put(
                "childCount",
                json!(state
                    .children(&item.id)
                    .into_iter()
                    .filter_map(|i| state.items().get(i))
                    .filter(|c| c.kind == ItemKind::Season)
                    .count()),
            );
        }
        ItemKind::Movie => {}
    }
    if let Some(d) = item.runtime_ms {
        put("duration", json!(d));
    }
    if let Some(media) = super::media::plex_media(item, ADDED_AT) {
        put("Media", media);
    }
    if let Some(r) = state.reported(&item.id) {
        let s = &r.stored;
        if let Some((unplayed, total)) = r.folder {
            put("leafCount", json!(total));
            put("viewedLeafCount", json!(total - unplayed));
        } else {
            let offset = s.position_ticks / TICKS_PER_MS;
            if offset > 0 {
                put("viewOffset", json!(offset));
            }
            if s.play_count > 0 {
                put("viewCount", json!(s.play_count));
            }
        }
        if let Some(d) = s.last_played {
            put("lastViewedAt", json!(d.timestamp()));
        }
    }
    Value::Object(m)
}

/// The item a scrobble or unscrobble names: `identifier` must be the library's, `key` a
/// ratingKey (or `uri` ending in `/library/metadata/N`).
fn scrobble_target(state: &State, req: &Req<'_>) -> R<String> {
    match param(req, "identifier") {
        Some(LIBRARY_IDENTIFIER) => {}
        Some(_) => return Err(not_found()),
        None => return Err(bad_request("identifier is required")),
    }
    let id = match (param(req, "key"), param(req, "uri")) {
        (Some(k), _) => k.trim().to_string(),
        (None, Some(uri)) => uri
            .rsplit_once("/library/metadata/")
            .map(|(_, id)| id.to_string())
            .ok_or_else(|| bad_request("uri does not name a library item"))?,
        (None, None) => return Err(bad_request("key or uri is required")),
    };
    if state.get(&id).is_none() {
        return Err(not_found());
    }
    Ok(id)
}

/// Mark played: every call bumps `viewCount` by one and clears the offset.
fn scrobble(state: &mut State, id: &str) {
    let now = state.now();
    for t in state.playable_targets(id) {
        let s = state.stored_mut(&t);
        s.play_count += 1;
        s.played = true;
        s.position_ticks = 0;
        s.last_played = Some(now);
    }
}

/// Mark unplayed: count 0, no offset, no last view.
fn unscrobble(state: &mut State, id: &str) {
    for t in state.playable_targets(id) {
        let s = state.stored_mut(&t);
        s.play_count = 0;
        s.played = false;
        s.position_ticks = 0;
        s.last_played = None;
    }
}

fn timeline(state: &mut State, req: &Req<'_>) -> R<Reply> {
    let id = match (param(req, "ratingKey"), param(req, "key")) {
        (Some(r), _) => r.trim().to_string(),
        (None, Some(k)) => k
            .strip_prefix("/library/metadata/")
            .map(str::to_string)
            .ok_or_else(|| bad_request("key must be /library/metadata/N"))?,
        (None, None) => return Err(bad_request("ratingKey or key is required")),
    };
    let playback = param(req, "state").ok_or_else(|| bad_request("state is required"))?;
    if !matches!(playback, "playing" | "paused" | "buffering" | "stopped") {
        return Err(bad_request(
            "state must be playing, paused, buffering or stopped",
        ));
    }
    let time = int_param(req, "time")?.ok_or_else(|| bad_request("time is required"))?;
    if time < 0 {
        return Err(bad_request("time must not be negative"));
    }
    let item = state.get(&id).ok_or_else(not_found)?;
    if !item.kind.is_playable() {
        return Err(bad_request("only movies and episodes have a timeline"));
    }
    let duration = int_param(req, "duration")?.or(item.runtime_ms);
    let updated = match (param(req, "offline"), int_param(req, "updated")?) {
        (Some("1"), Some(secs)) => Utc.timestamp_opt(secs, 0).single(),
        _ => None,
    };
    if let Some(session) = param(req, "X-Plex-Session-Identifier").filter(|s| !s.is_empty()) {
        let client = param(req, "X-Plex-Client-Identifier").unwrap_or_default();
        super::sessions::plex_timeline(state, session, client, &id, playback, time);
        return Ok(container(req, json!({ "size": 0 })));
    }
    // A real Plex server leaves the resume point alone on a timeline without `duration`
    // (reported by client projects that talk to real servers; docs/SERVERS.md): so does the
    // demo, or a client that forgets it would pass here and lose positions there.
    if param(req, "duration").is_none() {
        return Ok(container(req, json!({ "size": 0 })));
    }
    let rules = state.plex;
    let completed = playback == "stopped"
        && duration.is_some_and(|d| {
            d > 0
                && i128::from(time) * 100 >= i128::from(d) * i128::from(rules.played_threshold_pct)
        });
    let now = state.now();
    let s = state.stored_mut(&id);
    if completed {
        s.play_count += 1;
        s.played = true;
        s.position_ticks = 0;
        s.last_played = Some(updated.unwrap_or(now));
    } else if time > 0 {
        s.position_ticks = time.saturating_mul(TICKS_PER_MS);
        if rules.last_viewed_on_progress {
            s.last_played = Some(updated.unwrap_or(now));
        }
    }
    Ok(container(req, json!({ "size": 0 })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn state() -> State {
        new_state(DemoLibrary::seeded().without_progress(), "1.41".to_string())
    }

    fn call(state: &mut State, method: Method, path: &str, query: &[(&str, &str)]) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert("accept", "application/json".parse().unwrap());
        headers.insert("x-plex-token", DEMO_PLEX_TOKEN.parse().unwrap());
        headers.insert("x-plex-client-identifier", "c1".parse().unwrap());
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        handle(
            state,
            &Req {
                method: &method,
                path,
                query: &query,
                headers: &headers,
                body: &[],
                local_address: String::new(),
            },
        )
    }

    fn first(state: &State, kind: ItemKind) -> LibItem {
        state
            .items()
            .iter()
            .find(|i| i.kind == kind)
            .unwrap()
            .clone()
    }

    #[test]
    fn scrobble_counts_every_call_and_unscrobble_clears() {
        let mut s = state();
        let ep = first(&s, ItemKind::Episode);
        let q = [("identifier", LIBRARY_IDENTIFIER), ("key", ep.id.as_str())];
        for _ in 0..2 {
            assert_eq!(call(&mut s, Method::PUT, "/:/scrobble", &q).status, 200);
        }
        assert_eq!(s.stored(&ep.id).play_count, 2);
        assert_eq!(call(&mut s, Method::GET, "/:/unscrobble", &q).status, 200);
        let st = s.stored(&ep.id);
        assert_eq!((st.play_count, st.played, st.last_played), (0, false, None));
        let wrong = [("identifier", "other"), ("key", ep.id.as_str())];
        assert_eq!(call(&mut s, Method::GET, "/:/scrobble", &wrong).status, 404);
        assert_eq!(
            call(&mut s, Method::GET, "/:/scrobble", &[("key", "1")]).status,
            400
        );
        assert_eq!(call(&mut s, Method::DELETE, "/:/scrobble", &q).status, 405);
    }

    #[test]
    fn timeline_stopped_past_the_threshold_counts_a_view_and_zero_does_not_reset() {
        let mut s = state();
        let ep = first(&s, ItemKind::Episode);
        let runtime = ep.runtime_ms.unwrap();
        let t = |time: i64, state: &str| {
            vec![
                ("ratingKey".to_string(), ep.id.clone()),
                ("state".to_string(), state.to_string()),
                ("time".to_string(), time.to_string()),
                ("duration".to_string(), runtime.to_string()),
            ]
        };
        let send = |s: &mut State, q: Vec<(String, String)>| {
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            call(s, Method::POST, "/:/timeline", &q).status
        };
        // Without `duration` a real server leaves the resume point alone, and so does the demo.
        let mut bare = t(60_000, "paused");
        bare.pop();
        assert_eq!(send(&mut s, bare), 200);
        assert_eq!(s.stored(&ep.id).position_ticks, 0);
        let mut bare = t(runtime * 95 / 100, "stopped");
        bare.pop();
        assert_eq!(send(&mut s, bare), 200);
        assert_eq!(s.stored(&ep.id).play_count, 0);
        assert_eq!(send(&mut s, t(60_000, "paused")), 200);
        assert_eq!(s.stored(&ep.id).position_ticks / TICKS_PER_MS, 60_000);
        assert_eq!(send(&mut s, t(0, "paused")), 200);
        assert_eq!(s.stored(&ep.id).position_ticks / TICKS_PER_MS, 60_000);
        assert_eq!(send(&mut s, t(runtime * 95 / 100, "paused")), 200);
        assert_eq!(s.stored(&ep.id).play_count, 0);
        assert_eq!(send(&mut s, t(runtime * 95 / 100, "stopped")), 200);
        let st = s.stored(&ep.id);
        assert_eq!((st.play_count, st.position_ticks), (1, 0));
        assert_eq!(send(&mut s, t(10, "rewinding")), 400);
    }

    fn timeline(s: &mut State, id: &str, time: i64, duration: i64, playback: &str) {
        let (time, duration) = (time.to_string(), duration.to_string());
        let q = [
            ("ratingKey", id),
            ("state", playback),
            ("time", time.as_str()),
            ("duration", duration.as_str()),
        ];
        assert_eq!(call(s, Method::POST, "/:/timeline", &q).status, 200);
    }

    #[test]
    fn the_played_threshold_is_the_servers_setting() {
        for (pct, at, counted) in [
            (90, 89, false),
            (90, 90, true),
            (80, 80, true),
            (80, 79, false),
        ] {
            let mut s = state();
            s.plex.played_threshold_pct = pct;
            let ep = first(&s, ItemKind::Episode);
            let runtime = ep.runtime_ms.unwrap();
            timeline(&mut s, &ep.id, runtime * at / 100, runtime, "stopped");
            let st = s.stored(&ep.id);
            assert_eq!(st.played, counted, "{pct} % threshold, stopped at {at} %");
            assert_eq!(st.play_count, i64::from(counted));
        }
    }

    #[test]
    fn last_viewed_at_on_progress_is_a_setting() {
        // Default: only a completed view stamps `lastViewedAt`.
        let mut s = state();
        let ep = first(&s, ItemKind::Episode);
        let runtime = ep.runtime_ms.unwrap();
        timeline(&mut s, &ep.id, 60_000, runtime, "paused");
        assert_eq!(s.stored(&ep.id).last_played, None);
        timeline(&mut s, &ep.id, runtime, runtime, "stopped");
        assert!(s.stored(&ep.id).last_played.is_some());
        // The other behaviour: every timeline that moves the offset stamps it.
        let mut s = state();
        s.plex.last_viewed_on_progress = true;
        timeline(&mut s, &ep.id, 60_000, runtime, "paused");
        let st = s.stored(&ep.id);
        assert_eq!(st.position_ticks / TICKS_PER_MS, 60_000);
        assert!(st.last_played.is_some());
        assert!(!st.played);
    }

    #[test]
    fn token_client_id_and_json_are_required() {
        let mut s = state();
        let mut headers = HeaderMap::new();
        let query = Vec::new();
        let mut go = |headers: &HeaderMap, path: &str| {
            handle(
                &mut s,
                &Req {
                    method: &Method::GET,
                    path,
                    query: &query,
                    headers,
                    body: &[],
                    local_address: String::new(),
                },
            )
        };
        assert_eq!(go(&headers, "/identity").status, 200);
        assert_eq!(go(&headers, "/library/sections/all").status, 401);
        headers.insert("x-plex-token", DEMO_PLEX_TOKEN.parse().unwrap());
        assert_eq!(go(&headers, "/library/sections/all").status, 400);
        headers.insert("x-plex-client-identifier", "c".parse().unwrap());
        let xml = go(&headers, "/library/sections/all");
        assert_eq!(xml.content_type, Some("text/xml;charset=utf-8"));
        headers.insert("accept", "application/json".parse().unwrap());
        let json: Value =
            serde_json::from_slice(&go(&headers, "/library/sections/all").body).unwrap();
        assert_eq!(json["MediaContainer"]["Directory"][0]["type"], "show");
    }

    #[test]
    fn listings_page_and_report_totals() {
        let mut s = state();
        let all = call(
            &mut s,
            Method::GET,
            "/library/sections/1/all",
            &[("type", "4")],
        );
        let all: Value = serde_json::from_slice(&all.body).unwrap();
        let total = all["MediaContainer"]["totalSize"].as_u64().unwrap();
        assert!(total > 10);
        let page = call(
            &mut s,
            Method::GET,
            "/library/sections/1/all",
            &[
                ("type", "4"),
                ("X-Plex-Container-Start", "3"),
                ("X-Plex-Container-Size", "4"),
            ],
        );
        let page: Value = serde_json::from_slice(&page.body).unwrap();
        let mc = &page["MediaContainer"];
        assert_eq!(
            (mc["offset"].as_u64(), mc["size"].as_u64()),
            (Some(3), Some(4))
        );
        assert_eq!(mc["totalSize"].as_u64(), Some(total));
        assert_eq!(mc["Metadata"][0], all["MediaContainer"]["Metadata"][3]);
        assert_eq!(
            call(
                &mut s,
                Method::GET,
                "/library/sections/2/all",
                &[("type", "4")]
            )
            .status,
            400
        );
        assert_eq!(
            call(&mut s, Method::GET, "/library/sections/9/all", &[]).status,
            404
        );
    }
}
