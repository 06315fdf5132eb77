//! The Plex endpoints a general client library browses with (python-plexapi: docs/SERVERS.md,
//! "Real client libraries"), beside the sync endpoints of `plex.rs`. Shapes follow the Plex
//! API document (`specs/plex-openapi-1.1.1.yaml`) where it has the endpoint, else what
//! python-plexapi reads from a real server:
//!
//! - `GET /`: the server's `MediaContainer` (`getServerInfo`: `friendlyName`,
//!   `machineIdentifier`, `version`, `myPlex*`, … and a `Directory` per top-level path).
//! - `GET /library`: the library's root (`identifier`, `title1`, a `Directory` each for
//!   `sections`, `recentlyAdded`, `onDeck`); python-plexapi's `server.library` reads it.
//! - `GET /library/metadata/{id}/children`: a show's seasons, a season's episodes.
//! - `GET /library/onDeck`, `GET /library/sections/{id}/onDeck`: in-progress items, then the
//!   next episode of each show in progress (`home.rs`).
//! - `GET /hubs/continueWatching` (`getContinueWatching`: one `Hub` with its `Metadata`),
//!   `GET /hubs/continueWatching/items` and `GET /hubs/sections/{id}/continueWatching/items`
//!   (the items alone, what python-plexapi's `continueWatching()` asks for).
//! - `GET /status/sessions` (`listSessions`, owner only): every playing item with its
//!   `Player`, `Session` and `User`.
//!
//! Lists page with `X-Plex-Container-Start`/`-Size` and report `offset`, `size`, `totalSize`.

use axum::http::Method;
use serde_json::{json, Value};

use super::library::{stable_id, LibItem};
use super::plex::{
    bad_request, container, html_error, int_param, metadata_dto, not_found, param, R,
};
use super::routes::{Reply, Req, SERVER_NAME};
use super::state::State;
use crate::model::ItemKind;

/// `addedAt` of the demo's items (the library's "updated" date).
const UPDATED_AT: i64 = 1_700_000_000;

/// The section a kind lives in ("1" TV shows, "2" movies).
fn section_of(kind: ItemKind) -> &'static str {
    if kind == ItemKind::Movie {
        "2"
    } else {
        "1"
    }
}

/// Answer a browsing request; `Ok(None)` for any other path (`plex.rs` routes it).
pub(super) fn handle(state: &State, req: &Req<'_>, path: &str) -> R<Option<Reply>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = *req.method == Method::GET;
    let reply = match segments.as_slice() {
        [""] if get => root(state, req),
        ["library"] if get => library(req),
        ["library", "onDeck"] if get => on_deck(state, req, None)?,
        ["library", "sections", section, "onDeck"] if get => {
            on_deck(state, req, Some(known_section(section)?))?
        }
        ["library", "metadata", id, "children"] if get => children(state, req, id)?,
        ["hubs", "continueWatching"] if get => continue_hub(state, req, None)?,
        ["hubs", "continueWatching", "items"] if get => continue_items(state, req, None)?,
        ["hubs", "sections", section, "continueWatching", "items"] if get => {
            continue_items(state, req, Some(known_section(section)?))?
        }
        ["status", "sessions"] if get => sessions(state, req)?,
        [""]
        | ["library"]
        | ["library", "onDeck"]
        | ["library", "sections", _, "onDeck"]
        | ["library", "metadata", _, "children"]
        | ["hubs", "continueWatching", ..]
        | ["hubs", "sections", _, "continueWatching", "items"]
        | ["status", "sessions"] => return Err(html_error(405, "Method Not Allowed")),
        _ => return Ok(None),
    };
    Ok(Some(reply))
}

fn known_section(section: &str) -> R<&str> {
    match section {
        "1" | "2" => Ok(section),
        _ => Err(not_found()),
    }
}

/// The page `X-Plex-Container-Start`/`-Size` ask for: (offset, the page).
fn page<T: Clone>(req: &Req<'_>, all: &[T]) -> R<(usize, Vec<T>)> {
    let start = int_param(req, "X-Plex-Container-Start")?.unwrap_or(0);
    let size = int_param(req, "X-Plex-Container-Size")?;
    if start < 0 || size.is_some_and(|s| s < 0) {
        return Err(bad_request("negative container start or size"));
    }
    let start = usize::try_from(start).unwrap_or(usize::MAX).min(all.len());
    let size = size.map_or(usize::MAX, |s| usize::try_from(s).unwrap_or(usize::MAX));
    Ok((start, all.iter().skip(start).take(size).cloned().collect()))
}

/// A paged `Metadata` list with the container's own fields.
fn metadata_list(state: &State, req: &Req<'_>, items: &[&LibItem], mut fields: Value) -> R<Reply> {
    let (offset, page) = page(req, items)?;
    let metadata: Vec<Value> = page.iter().map(|i| metadata_dto(state, i)).collect();
    if let Some(obj) = fields.as_object_mut() {
        obj.insert("size".into(), json!(metadata.len()));
        obj.insert("offset".into(), json!(offset));
        obj.insert("totalSize".into(), json!(items.len()));
        obj.insert("allowSync".into(), json!(state.downloads_allowed));
        obj.insert("Metadata".into(), Value::Array(metadata));
    }
    Ok(container(req, fields))
}

fn root(state: &State, req: &Req<'_>) -> Reply {
    let dirs: Vec<Value> = [
        "butler",
        "channels",
        "clients",
        "hubs",
        "library",
        "playlists",
        "search",
        "status",
        "system",
    ]
    .iter()
    .map(|k| json!({"count": 1, "key": k, "title": k}))
    .collect();
    let mut fields = json!({
            "size": dirs.len(),
            "allowCameraUpload": false,
            "allowChannelAccess": false,
            "allowMediaDeletion": false,
            "allowSharing": true,
            "allowSync": state.downloads_allowed,
            "allowTuners": false,
            "backgroundProcessing": false,
            "certificate": false,
            "companionProxy": false,
            "countryCode": "",
            "diagnostics": "logs,databases",
            "eventStream": true,
            "friendlyName": SERVER_NAME,
            "hubSearch": true,
            "livetv": 0,
            "machineIdentifier": state.server_id,
            "mediaProviders": true,
            "multiuser": true,
            "myPlex": true,
            "myPlexMappingState": "mapped",
            "myPlexSigninState": "ok",
            "myPlexSubscription": false,
            "myPlexUsername": "demo@example.invalid",
            "offlineTranscode": 1,
            "ownerFeatures": "",
            "photoAutoTag": false,
            "platform": "Linux",
            "platformVersion": "",
            "pluginHost": false,
    });
    let more = json!({
            "pushNotifications": false,
            "readOnlyLibraries": false,
            "streamingBrainABRVersion": 3,
            "streamingBrainVersion": 2,
            "sync": false,
            "transcoderActiveVideoSessions": 0,
            "transcoderAudio": false,
            "transcoderLyrics": false,
            "transcoderPhoto": false,
            "transcoderSubtitles": false,
            "transcoderVideo": false,
            "updatedAt": UPDATED_AT,
            "updater": false,
            "version": state.version,
            "voiceSearch": false,
            "Directory": dirs,
    });
    if let (Some(f), Value::Object(more)) = (fields.as_object_mut(), more) {
        f.extend(more);
    }
    container(req, fields)
}

fn library(req: &Req<'_>) -> Reply {
    container(
        req,
        json!({
            "size": 3,
            "allowSync": false,
            "art": "/:/resources/library-art.png",
            "content": "",
            "identifier": "com.plexapp.plugins.library",
            "mediaTagPrefix": "/system/bundle/media/flags/",
            "mediaTagVersion": UPDATED_AT,
            "title1": "Plex Library",
            "title2": "",
            "Directory": [
                {"key": "sections", "title": "Library Sections"},
                {"key": "recentlyAdded", "title": "Recently Added Content"},
                {"key": "onDeck", "title": "On Deck"},
            ],
        }),
    )
}

fn children(state: &State, req: &Req<'_>, id: &str) -> R<Reply> {
    let parent = state.get(id.trim()).ok_or_else(not_found)?;
    let kids: Vec<&LibItem> = state
        .children(&parent.id)
        .into_iter()
        .filter_map(|i| state.items().get(i))
        .collect();
    let view_group = match parent.kind {
        ItemKind::Series => "season",
        _ => "episode",
    };
    let mut fields = json!({
        "key": parent.id,
        "librarySectionID": section_of(parent.kind).parse::<i64>().unwrap_or(0),
        "title1": parent.series_name.as_deref().unwrap_or(&parent.name),
        "title2": parent.name,
        "viewGroup": view_group,
        "parentRatingKey": parent.id,
        "parentTitle": parent.name,
    });
    if let Some(n) = parent.season_number {
        fields["parentIndex"] = json!(n);
    }
    metadata_list(state, req, &kids, fields)
}

fn in_section<'s>(items: Vec<&'s LibItem>, section: Option<&str>) -> Vec<&'s LibItem> {
    items
        .into_iter()
        .filter(|i| section.is_none_or(|s| section_of(i.kind) == s))
        .collect()
}

fn on_deck(state: &State, req: &Req<'_>, section: Option<&str>) -> R<Reply> {
    let items = in_section(super::home::on_deck(state), section);
    metadata_list(
        state,
        req,
        &items,
        json!({
            "identifier": "com.plexapp.plugins.library",
            "mediaTagPrefix": "/system/bundle/media/flags/",
            "mixedParents": true,
            "title1": "On Deck",
        }),
    )
}

fn continue_items(state: &State, req: &Req<'_>, section: Option<&str>) -> R<Reply> {
    let items = in_section(super::home::on_deck(state), section);
    metadata_list(
        state,
        req,
        &items,
        json!({
            "hubIdentifier": "home.continue",
            "identifier": "com.plexapp.plugins.library",
            "mixedParents": true,
            "title": "Continue Watching",
        }),
    )
}

/// `getContinueWatching`: one `Hub` (`home.continue`) holding the items (`count` of them).
fn continue_hub(state: &State, req: &Req<'_>, section: Option<&str>) -> R<Reply> {
    let items = in_section(super::home::on_deck(state), section);
    let count = int_param(req, "count")?
        .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(0))
        .min(items.len());
    let metadata: Vec<Value> = items
        .iter()
        .take(count)
        .map(|i| metadata_dto(state, i))
        .collect();
    Ok(container(
        req,
        json!({
            "size": 1,
            "allowSync": false,
            "identifier": "com.plexapp.plugins.library",
            "Hub": [{
                "hubIdentifier": "home.continue",
                "key": "/hubs/continueWatching/items",
                "title": "Continue Watching",
                "type": "mixed",
                "hubKey": format!(
                    "/library/metadata/{}",
                    items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(",")
                ),
                "context": "hub.home.continue",
                "more": count < items.len(),
                "promoted": true,
                "style": "hero",
                "size": metadata.len(),
                "Metadata": metadata,
            }],
        }),
    ))
}

/// `listSessions`: the owner sees every playing item; another user's token gets 401.
fn sessions(state: &State, req: &Req<'_>) -> R<Reply> {
    let token = param(req, "X-Plex-Token").unwrap_or_default();
    if state.tokens.get(token).is_none_or(|s| s.user_id != "1") {
        return Err(html_error(401, "Unauthorized"));
    }
    let playing = state.sessions.by_device(state.clock.now());
    let metadata: Vec<Value> = playing
        .iter()
        .enumerate()
        .filter_map(|(n, (device, item, position, paused))| {
            let item = state.get(item)?;
            let mut m = metadata_dto(state, item);
            let obj = m.as_object_mut()?;
            obj.insert("sessionKey".into(), json!((n + 1).to_string()));
            obj.insert("viewOffset".into(), json!(position));
            obj.insert(
                "User".into(),
                json!({"id": "1", "title": "demo", "thumb": ""}),
            );
            obj.insert(
                "Player".into(),
                json!({
                    "address": "127.0.0.1",
                    "local": true,
                    "machineIdentifier": device,
                    "platform": "",
                    "product": "",
                    "state": if *paused { "paused" } else { "playing" },
                    "title": device,
                }),
            );
            obj.insert(
                "Session".into(),
                json!({
                    "id": stable_id(&format!("plex-session/{device}")),
                    "bandwidth": 0,
                    "location": "lan",
                }),
            );
            Some(m)
        })
        .collect();
    Ok(container(
        req,
        json!({ "size": metadata.len(), "Metadata": metadata }),
    ))
}
