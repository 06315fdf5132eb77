//! Jellyfin wire types (PascalCase JSON, 10.9+) and their conversion to [`crate::model`].
//!
//! Only the fields Playmark reads are declared; everything else in a response is ignored.

use serde::{Deserialize, Serialize};

use crate::backend::error::SyncError;
use crate::backend::ServerInfo;
use crate::model::{ItemKind, ItemsPage, Millis, RemoteItem, UserData};

/// Jellyfin ticks (100 ns) per millisecond.
pub const TICKS_PER_MS: i64 = 10_000;

/// Milliseconds → ticks, saturating, never negative.
pub fn ms_to_ticks(ms: i64) -> i64 {
    ms.max(0).saturating_mul(TICKS_PER_MS)
}

/// Ticks → milliseconds (rounded down), never negative.
pub fn ticks_to_ms(ticks: i64) -> i64 {
    ticks.max(0) / TICKS_PER_MS
}

/// Parse a Jellyfin date-time (`2024-01-02T03:04:05.0000000Z`, seven fractional digits; also
/// without fraction, with an offset, or without a zone, which Jellyfin means as UTC) into epoch
/// milliseconds.
pub fn parse_date(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().timestamp_millis())
}

/// Epoch milliseconds → ISO-8601 UTC (`2024-01-02T03:04:05.000Z`), as Jellyfin accepts it.
pub fn format_date(ms: Millis) -> Option<String> {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `GET /System/Info/Public` → `PublicSystemInfo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicSystemInfo {
    /// Server id.
    pub id: Option<String>,
    /// Display name of the server.
    pub server_name: Option<String>,
    /// Version, e.g. "10.11.11".
    pub version: Option<String>,
}

impl PublicSystemInfo {
    /// Convert; a response without `Id` or `Version` is not a Jellyfin server we can use.
    pub fn into_server_info(self) -> Result<ServerInfo, SyncError> {
        let server_id = self
            .id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SyncError::unexpected_response("no server Id in /System/Info/Public"))?;
        let version = self
            .version
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SyncError::unexpected_response("no Version in /System/Info/Public"))?;
        Ok(ServerInfo {
            server_id,
            server_name: self.server_name.unwrap_or_default(),
            version,
        })
    }
}

/// `POST /Users/AuthenticateByName` body.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticateUserByName<'a> {
    /// User name.
    pub username: &'a str,
    /// Plain-text password.
    pub pw: &'a str,
}

/// `AuthenticationResult` (only what we need). Debug is not derived: it holds the token.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthenticationResult {
    /// The access token for this device.
    pub access_token: Option<String>,
    /// The signed-in user.
    pub user: Option<UserDto>,
    /// Server id.
    pub server_id: Option<String>,
}

/// `UserDto` (only what we need).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserDto {
    /// User id (uuid).
    pub id: String,
    /// User name.
    pub name: Option<String>,
}

/// `UserItemDataDto`, as returned in `BaseItemDto.UserData` and by the user-data calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserItemDataDto {
    /// The item (in `UserDataChanged` messages; GUID, with or without dashes).
    #[serde(default)]
    pub item_id: Option<String>,
    /// Resume position in ticks.
    #[serde(default)]
    pub playback_position_ticks: Option<i64>,
    /// Play count.
    #[serde(default)]
    pub play_count: Option<i64>,
    /// Watched flag.
    #[serde(default)]
    pub played: Option<bool>,
    /// Last played date (Jellyfin format).
    #[serde(default)]
    pub last_played_date: Option<String>,
}

impl UserItemDataDto {
    /// Convert to [`UserData`] (ticks → ms, date → epoch ms). An unparsable date is dropped with
    /// a warning rather than failing the item.
    pub fn to_user_data(&self) -> UserData {
        let last_played = self.last_played_date.as_deref().and_then(|d| {
            let parsed = parse_date(d);
            if parsed.is_none() {
                tracing::warn!(date = d, "ignoring unparsable LastPlayedDate");
            }
            parsed
        });
        UserData {
            position_ms: ticks_to_ms(self.playback_position_ticks.unwrap_or(0)),
            played: self.played.unwrap_or(false),
            play_count: self.play_count.unwrap_or(0).max(0),
            last_played,
        }
    }
}

/// `UpdateUserItemDataDto`: only the non-null fields are applied by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateUserItemDataDto {
    /// Absolute resume position in ticks.
    pub playback_position_ticks: i64,
    /// Watched flag.
    pub played: bool,
    /// Play count.
    pub play_count: i64,
    /// Last played date, ISO-8601; omitted when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_played_date: Option<String>,
}

/// `BaseItemDto` (only what we need). `Id`, `Type` and `UserData` are required for an item to
/// be used.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BaseItemDto {
    /// Item id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `BaseItemKind`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Parent folder (needs `fields=ParentId`).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Series of an episode or season.
    #[serde(default)]
    pub series_id: Option<String>,
    /// Season of an episode.
    #[serde(default)]
    pub season_id: Option<String>,
    /// Series name of an episode or season.
    #[serde(default)]
    pub series_name: Option<String>,
    /// Season number of an episode.
    #[serde(default)]
    pub parent_index_number: Option<i64>,
    /// Episode number, or a season's own number.
    #[serde(default)]
    pub index_number: Option<i64>,
    /// Runtime in ticks.
    #[serde(default)]
    pub run_time_ticks: Option<i64>,
    /// The requesting user's data for this item.
    pub user_data: UserItemDataDto,
    /// `{"Imdb": "tt…", "Tmdb": "65", "Tvdb": "…"}` (needs `fields=ProviderIds`); other
    /// providers and empty or non-string values are ignored.
    #[serde(default)]
    pub provider_ids: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The ids of a Jellyfin `ProviderIds` map Playmark knows, sorted.
pub fn provider_ids_of(
    map: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Vec<crate::model::ProviderId> {
    let mut ids: Vec<crate::model::ProviderId> = map
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            crate::model::ProviderId::new(crate::model::Provider::parse(k)?, v.as_str()?)
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl BaseItemDto {
    /// Convert to a [`RemoteItem`]; `None` for item types Playmark does not track.
    pub fn into_remote_item(self) -> Option<RemoteItem> {
        let kind = ItemKind::parse(&self.kind)?;
        let (parent_id, season_number, episode_number) = match kind {
            ItemKind::Episode => (
                self.season_id.clone().or_else(|| self.parent_id.clone()),
                self.parent_index_number,
                self.index_number,
            ),
            ItemKind::Season => (
                self.parent_id.clone().or_else(|| self.series_id.clone()),
                self.index_number,
                None,
            ),
            ItemKind::Series | ItemKind::Movie => (None, None, None),
        };
        let user_data = self.user_data.to_user_data();
        Some(RemoteItem {
            id: self.id,
            kind,
            name: self.name.unwrap_or_default(),
            parent_id,
            series_id: self.series_id,
            season_id: if kind == ItemKind::Episode {
                self.season_id
            } else {
                None
            },
            series_name: self.series_name,
            season_number,
            episode_number,
            runtime_ms: self.run_time_ticks.map(ticks_to_ms),
            user_data,
            provider_ids: provider_ids_of(self.provider_ids.as_ref()),
        })
    }
}

/// `BaseItemDtoQueryResult`, with items kept raw so one bad item does not fail the page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ItemsResult {
    /// The items of this page.
    #[serde(default)]
    pub items: Vec<serde_json::Value>,
    /// Total number of matching items.
    #[serde(default)]
    pub total_record_count: Option<i64>,
    /// Index of the first item.
    #[serde(default)]
    pub start_index: Option<i64>,
}

/// The `ServerId` the items of an `/Items` answer carry (the first one found), if any.
pub fn first_server_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Item {
        #[serde(rename = "ServerId", default)]
        server_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Items {
        #[serde(rename = "Items", default)]
        items: Vec<serde_json::Value>,
    }
    serde_json::from_slice::<Items>(body)
        .ok()?
        .items
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Item>(v).ok())
        .find_map(|i| i.server_id)
        .filter(|id| !id.trim().is_empty())
}

/// Parse a `GET /Items` body into a page. Wrong types at the top level fail the page
/// (Transient "unexpected response"); an item with missing or mistyped required fields is
/// skipped with a warning; items of other types are skipped silently.
pub fn parse_items_page(body: &[u8], requested_start: u64) -> Result<ItemsPage, SyncError> {
    let result: ItemsResult = parse_json(body)?;
    let mut items = Vec::with_capacity(result.items.len());
    for raw in result.items {
        let kind = raw.get("Type").and_then(|t| t.as_str());
        if let Some(kind) = kind {
            if ItemKind::parse(kind).is_none() {
                tracing::debug!(kind, "skipping item of untracked type");
                continue;
            }
        }
        let id = raw
            .get("Id")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        match serde_json::from_value::<BaseItemDto>(raw) {
            Ok(dto) => {
                if dto.id.is_empty() {
                    tracing::warn!("skipping item with an empty Id");
                    continue;
                }
                if let Some(item) = dto.into_remote_item() {
                    items.push(item);
                }
            }
            Err(e) => tracing::warn!(item = %id, error = %e, "skipping malformed item"),
        }
    }
    let start = result
        .start_index
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(requested_start);
    let total = result
        .total_record_count
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0);
    Ok(ItemsPage {
        items,
        total,
        start,
    })
}

pub use crate::backend::transport::parse_json;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::ErrorKind;

    #[test]
    fn ticks_and_ms() {
        assert_eq!(ms_to_ticks(1_500), 15_000_000);
        assert_eq!(ms_to_ticks(-4), 0);
        assert_eq!(ms_to_ticks(i64::MAX), i64::MAX);
        assert_eq!(ticks_to_ms(15_009_999), 1_500);
        assert_eq!(ticks_to_ms(-1), 0);
    }

    #[test]
    fn dates_with_seven_fraction_digits() {
        // 2024-01-02T03:04:05Z = 1704164645 s
        assert_eq!(
            parse_date("2024-01-02T03:04:05.0000000Z"),
            Some(1_704_164_645_000)
        );
        assert_eq!(
            parse_date("2024-01-02T03:04:05.1239999Z"),
            Some(1_704_164_645_123)
        );
        assert_eq!(parse_date("2024-01-02T03:04:05Z"), Some(1_704_164_645_000));
        assert_eq!(
            parse_date("2024-01-02T04:04:05.5+01:00"),
            Some(1_704_164_645_500)
        );
        // No zone: Jellyfin means UTC.
        assert_eq!(
            parse_date("2024-01-02T03:04:05.0000000"),
            Some(1_704_164_645_000)
        );
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(
            format_date(1_704_164_645_123).as_deref(),
            Some("2024-01-02T03:04:05.123Z")
        );
        let back = parse_date(&format_date(1_704_164_645_123).unwrap());
        assert_eq!(back, Some(1_704_164_645_123));
    }

    #[test]
    fn update_body_shape() {
        let body = UpdateUserItemDataDto {
            playback_position_ticks: ms_to_ticks(42_000),
            played: false,
            play_count: 2,
            last_played_date: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"PlaybackPositionTicks": 420_000_000, "Played": false, "PlayCount": 2})
        );
        let body = UpdateUserItemDataDto {
            last_played_date: format_date(0),
            ..body
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap()["LastPlayedDate"],
            "1970-01-01T00:00:00.000Z"
        );
    }

    fn page(items: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "Items": items, "TotalRecordCount": 40, "StartIndex": 20
        }))
        .unwrap()
    }

    fn episode() -> serde_json::Value {
        serde_json::json!({
            "Id": "e1", "Name": "Pilot", "Type": "Episode", "ParentId": "p-season",
            "SeasonId": "s1", "SeriesId": "sr1", "SeriesName": "Show",
            "ParentIndexNumber": 1, "IndexNumber": 3, "RunTimeTicks": 26_000_000_000_i64,
            "ServerId": "abc", "IsFolder": false,
            "UserData": {"PlaybackPositionTicks": 6_000_000_000_i64, "PlayCount": 2,
                "IsFavorite": false, "Played": false,
                "LastPlayedDate": "2024-01-02T03:04:05.0000000Z", "Key": "k", "ItemId": "e1"}
        })
    }

    #[test]
    fn provider_ids_are_read_with_their_provider() {
        let mut e = episode();
        e["ProviderIds"] = serde_json::json!({
            "Tvdb": "349232", "Imdb": "tt0959621", "Tmdb": null, "AniDb": "5", "TvRage": ""
        });
        let p = parse_items_page(&page(serde_json::json!([e])), 0).unwrap();
        let ids: Vec<String> = p.items[0]
            .provider_ids
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids, ["imdb:tt0959621", "tvdb:349232"]);
    }

    #[test]
    fn items_page_parses_episode() {
        let p = parse_items_page(&page(serde_json::json!([episode()])), 0).unwrap();
        assert_eq!(p.total, 40);
        assert_eq!(p.start, 20);
        assert_eq!(
            p.items,
            vec![RemoteItem {
                provider_ids: Vec::new(),
                id: "e1".into(),
                kind: ItemKind::Episode,
                name: "Pilot".into(),
                parent_id: Some("s1".into()),
                series_id: Some("sr1".into()),
                season_id: Some("s1".into()),
                series_name: Some("Show".into()),
                season_number: Some(1),
                episode_number: Some(3),
                runtime_ms: Some(2_600_000),
                user_data: UserData {
                    position_ms: 600_000,
                    played: false,
                    play_count: 2,
                    last_played: Some(1_704_164_645_000),
                },
            }]
        );
    }

    #[test]
    fn season_series_movie_parents() {
        let items = serde_json::json!([
            {"Id": "s1", "Name": "Season 1", "Type": "Season", "ParentId": "sr1",
             "SeriesId": "sr1", "IndexNumber": 1, "UserData": {"Played": true}},
            {"Id": "s2", "Name": "Season 2", "Type": "Season", "SeriesId": "sr1",
             "IndexNumber": 2, "UserData": {}},
            {"Id": "sr1", "Name": "Show", "Type": "Series", "ParentId": "lib", "UserData": {}},
            {"Id": "m1", "Name": "Film", "Type": "Movie", "ParentId": "lib",
             "UserData": {"Played": true, "PlayCount": 1, "LastPlayedDate": null}},
            {"Id": "e2", "Name": "No season id", "Type": "Episode", "ParentId": "s1",
             "UserData": {}}
        ]);
        let p = parse_items_page(&page(items), 0).unwrap();
        let ids: Vec<_> = p.items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["s1", "s2", "sr1", "m1", "e2"]);
        assert_eq!(p.items[0].parent_id.as_deref(), Some("sr1"));
        assert_eq!(p.items[0].season_number, Some(1));
        assert!(p.items[0].user_data.played);
        assert_eq!(p.items[1].parent_id.as_deref(), Some("sr1"));
        assert_eq!(p.items[2].parent_id, None);
        assert_eq!(p.items[3].parent_id, None);
        assert_eq!(p.items[3].user_data.last_played, None);
        assert_eq!(p.items[4].parent_id.as_deref(), Some("s1"));
    }

    #[test]
    fn unknown_types_and_malformed_items_are_skipped() {
        let mut no_user_data = episode();
        no_user_data.as_object_mut().unwrap().remove("UserData");
        let mut bad_ticks = episode();
        bad_ticks["UserData"]["PlaybackPositionTicks"] = serde_json::json!("lots");
        let mut no_id = episode();
        no_id.as_object_mut().unwrap().remove("Id");
        let mut no_type = episode();
        no_type.as_object_mut().unwrap().remove("Type");
        let items = serde_json::json!([
            {"Id": "a1", "Type": "MusicAlbum", "UserData": {}},
            {"Id": "x", "Type": "SomethingNew", "UserData": {}},
            no_user_data, bad_ticks, no_id, no_type, 17, "str",
            episode()
        ]);
        let p = parse_items_page(&page(items), 0).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].id, "e1");
    }

    #[test]
    fn wrong_top_level_types_are_transient() {
        for body in [
            &br#"{"Items": {"a": 1}, "TotalRecordCount": 1}"#[..],
            br#"{"Items": [], "TotalRecordCount": "many"}"#,
            br#"[1, 2]"#,
            br#"{"Items": [ {"Id": "#,
            b"",
            b"<!DOCTYPE html><html><body>Jellyfin is starting</body></html>",
        ] {
            let e = parse_items_page(body, 0).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Transient);
            assert!(
                e.detail.starts_with("unexpected response from server: "),
                "{}",
                e.detail
            );
        }
        let e = parse_items_page(b"<html>", 0).unwrap_err();
        assert!(e.detail.contains("HTML"), "{}", e.detail);
        let e = parse_items_page(br#"{"Items": [ {"Id": "#, 0).unwrap_err();
        assert!(e.detail.contains("truncated"), "{}", e.detail);
    }

    #[test]
    fn public_info_requires_id_and_version() {
        let info: PublicSystemInfo = parse_json(
            br#"{"LocalAddress":"http://x","ServerName":"Den","Version":"10.11.11","ProductName":"Jellyfin Server","Id":"abc","StartupWizardCompleted":true}"#,
        )
        .unwrap();
        let info = info.into_server_info().unwrap();
        assert_eq!(info.server_id, "abc");
        assert_eq!(info.server_name, "Den");
        assert_eq!(info.version, "10.11.11");
        let info: PublicSystemInfo = parse_json(br#"{"ServerName":"Den"}"#).unwrap();
        assert_eq!(
            info.into_server_info().unwrap_err().kind,
            ErrorKind::Transient
        );
    }
}
