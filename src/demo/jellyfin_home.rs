//! Jellyfin endpoints a general client library uses beside the sync ones (jellyfin-apiclient-
//! python: docs/SERVERS.md, "Real client libraries"), following the Jellyfin 10.11.11 API
//! document and the server's code:
//!
//! - `GET /Shows/NextUp` (`TVSeriesManager.GetNextUp`): `home::next_up`, paged, as a
//!   `BaseItemDtoQueryResult`.
//! - `GET /UserItems/Resume` (and the legacy `/Users/{userId}/Items/Resume`,
//!   `ItemsController.GetResumeItems`): `home::resume`, filtered by `parentId`, item and media
//!   types and `searchTerm`, paged.
//! - `GET /Sessions` (`SessionManager.GetSessions`): one `SessionInfoDto` per signed-in device
//!   with what it plays (`NowPlayingItem`, `PlayState` from the session clock); a user who is
//!   not an administrator sees only their own sessions; `controllableByUserId` keeps only
//!   sessions that support remote control (none here: no client of the demo posts
//!   capabilities); `deviceId` and `activeWithinSeconds` filter too.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::library::{stable_id, LibItem, TICKS_PER_MS};
use super::routes::{format_date, item_dto, resolve_user, DtoOptions, Query, Reply, R};
use super::state::{Session, State};
use super::DEMO_USER;

/// A paged `BaseItemDtoQueryResult`.
fn query_result(state: &State, q: &Query<'_>, items: &[&LibItem]) -> R<Reply> {
    let opts = DtoOptions::from_query(q)?;
    let start = q.int("startIndex")?.unwrap_or(0);
    let limit = q.int("limit")?;
    let total = if q.bool("enableTotalRecordCount")?.unwrap_or(true) {
        items.len()
    } else {
        0
    };
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(limit.unwrap_or(usize::MAX))
        .map(|i| item_dto(state, i, &opts))
        .collect();
    Ok(Reply::json(&json!({
        "Items": page,
        "TotalRecordCount": total,
        "StartIndex": start,
    })))
}

/// Only items under `parentId`, when given.
fn under_parent<'s>(
    state: &'s State,
    q: &Query<'_>,
    items: Vec<&'s LibItem>,
) -> R<Vec<&'s LibItem>> {
    let Some(parent) = q.id("parentId")? else {
        return Ok(items);
    };
    let below: HashSet<&str> = state
        .descendants(&parent)
        .into_iter()
        .filter_map(|i| state.items().get(i))
        .map(|i| i.id.as_str())
        .collect();
    Ok(items
        .into_iter()
        .filter(|i| below.contains(i.id.as_str()))
        .collect())
}

/// `GET /Shows/NextUp`.
pub(crate) fn next_up(state: &State, session: &Session, q: &Query<'_>) -> R<Reply> {
    resolve_user(session, None, q)?;
    let series = q.id("seriesId")?;
    let query = super::home::NextUpQuery {
        series: series.as_deref(),
        resumable: q.bool("enableResumable")?.unwrap_or(true),
    };
    let items = under_parent(state, q, super::home::next_up(state, &query))?;
    query_result(state, q, &items)
}

/// `GET /UserItems/Resume`.
pub(crate) fn resume(state: &State, q: &Query<'_>) -> R<Reply> {
    let lower = |name: &str| -> HashSet<String> {
        q.list(name)
            .into_iter()
            .map(|k| k.to_ascii_lowercase())
            .collect()
    };
    let include = lower("includeItemTypes");
    let exclude = lower("excludeItemTypes");
    let media = lower("mediaTypes");
    let term = q.get("searchTerm").map(str::to_lowercase);
    let items: Vec<&LibItem> = super::home::resume(state)
        .into_iter()
        .filter(|i| {
            let kind = i.kind.as_str().to_ascii_lowercase();
            (include.is_empty() || include.contains(&kind))
                && !exclude.contains(&kind)
                && (media.is_empty() || media.contains("video"))
                && term
                    .as_ref()
                    .is_none_or(|t| i.name.to_lowercase().contains(t))
        })
        .collect();
    let items = under_parent(state, q, items)?;
    query_result(state, q, &items)
}

/// One `SessionInfoDto`: a signed-in device, with what it plays (position ms, paused).
pub(crate) fn session_dto(
    state: &State,
    session: &Session,
    playing: Option<(&LibItem, i64, bool)>,
) -> Value {
    let now = format_date(&state.now());
    let (position, paused) = playing.map_or((None, false), |(_, p, paused)| (Some(p), paused));
    let mut play_state = json!({
        "CanSeek": playing.is_some(),
        "IsPaused": paused,
        "IsMuted": false,
        "RepeatMode": "RepeatNone",
        "PlaybackOrder": "Default",
    });
    if let Some(p) = position {
        play_state["PositionTicks"] = json!(p.saturating_mul(TICKS_PER_MS));
        play_state["PlayMethod"] = json!("DirectPlay");
    }
    let mut dto = json!({
        "PlayState": play_state,
        "AdditionalUsers": [],
        "Capabilities": {
            "PlayableMediaTypes": [], "SupportedCommands": [],
            "SupportsMediaControl": false, "SupportsPersistentIdentifier": true
        },
        "RemoteEndPoint": "127.0.0.1",
        "PlayableMediaTypes": [],
        "Id": stable_id(&format!("session/{}", session.device_id)),
        "UserId": session.user_id,
        "UserName": DEMO_USER,
        "Client": session.client,
        "LastActivityDate": now,
        "LastPlaybackCheckIn": "0001-01-01T00:00:00.0000000Z",
        "DeviceName": session.device,
        "DeviceId": session.device_id,
        "ApplicationVersion": session.version,
        "IsActive": true,
        "SupportsMediaControl": false,
        "SupportsRemoteControl": false,
        "NowPlayingQueue": [],
        "NowPlayingQueueFullItems": [],
        "HasCustomDeviceName": false,
        "ServerId": state.server_id,
        "SupportedCommands": []
    });
    if let Some((item, _, _)) = playing {
        dto["NowPlayingItem"] = item_dto(state, item, &DtoOptions::defaults());
    }
    dto
}

/// `GET /Sessions`.
pub(crate) fn sessions(state: &State, session: &Session, q: &Query<'_>) -> R<Reply> {
    let device = q.get("deviceId");
    let controllable = q.id("controllableByUserId")?;
    // Parsed for its 400; every demo session was active just now.
    let _ = q.int("activeWithinSeconds")?;
    let playing = state.sessions.by_device(state.clock.now());
    let mut seen = HashSet::new();
    let mut mine: Vec<&Session> = state
        .tokens
        .values()
        .filter(|s| s.user_id == session.user_id)
        .filter(|s| device.is_none_or(|d| s.device_id.eq_ignore_ascii_case(d)))
        // Sessions that support remote control only (none of the demo's).
        .filter(|_| controllable.is_none())
        .collect();
    mine.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    mine.retain(|s| seen.insert(s.device_id.clone()));
    let list: Vec<Value> = mine
        .into_iter()
        .map(|s| {
            let now = playing
                .iter()
                .find(|(d, ..)| *d == s.device_id)
                .and_then(|(_, item, p, paused)| Some((state.get(item)?, *p, *paused)));
            session_dto(state, s, now)
        })
        .collect();
    Ok(Reply::json(&Value::Array(list)))
}
