//! Plex JSON shapes (`Accept: application/json`) and their mapping to Playmark's model.
//!
//! Where Plex's data differs from Jellyfin's (written down here because the merge relies on it):
//! - There is **no played flag**: watched is derived as `viewCount > 0`; a season or show is
//!   watched when `viewedLeafCount == leafCount` (and it has episodes).
//! - `lastViewedAt` (epoch **seconds**) is set only by a **completed** view (scrobble or a
//!   `stopped` timeline past the watched threshold); moving the position does not change it,
//!   so it cannot serve as "last changed" for positions. Unscrobble removes it.
//! - `viewOffset`, `viewCount` and `lastViewedAt` are left out when there is none: missing
//!   means 0 / never.
//! - Positions and durations are milliseconds (Jellyfin: 100-ns ticks); `ratingKey` is an
//!   opaque string (some servers send it as a number; both are accepted).

use serde::{Deserialize, Deserializer};

use crate::backend::ServerInfo;
use crate::backend::SyncError;
use crate::model::{ItemKind, Millis, RemoteItem, UserData};

/// `{"MediaContainer": …}`, the envelope of every Plex JSON response.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// The container.
    #[serde(rename = "MediaContainer")]
    pub media_container: T,
}

/// `GET /identity`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The server's stable id.
    pub machine_identifier: String,
    /// Server version, e.g. "1.41.3.9314-a0bfb8370".
    #[serde(default)]
    pub version: String,
}

impl Identity {
    /// As a probe result. An empty machine identifier is not a Plex server.
    pub fn into_server_info(self) -> Result<ServerInfo, SyncError> {
        if self.machine_identifier.trim().is_empty() {
            return Err(SyncError::unexpected_response(
                "no machineIdentifier in /identity",
            ));
        }
        Ok(ServerInfo {
            server_id: self.machine_identifier,
            server_name: "Plex Media Server".to_string(),
            version: self.version,
        })
    }
}

/// One entry of a `Guid` array.
#[derive(Debug, Clone, Deserialize)]
pub struct GuidEntry {
    /// `imdb://…`, `tmdb://…` or `tvdb://…`.
    #[serde(default)]
    pub id: String,
}

/// `GET /library/sections/all`.
#[derive(Debug, Deserialize)]
pub struct Sections {
    /// The libraries.
    #[serde(rename = "Directory", default)]
    pub directory: Vec<Section>,
}

/// One library section.
#[derive(Debug, Clone, Deserialize)]
pub struct Section {
    /// Section id, used in `/library/sections/{key}/all`.
    #[serde(deserialize_with = "string_or_number")]
    pub key: String,
    /// `show`, `movie`, `artist`, `photo`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    #[serde(default)]
    pub title: String,
}

/// A listing (`/library/sections/{id}/all`, `/library/metadata/{ids}`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// Total matching items (the listing without paging).
    #[serde(default)]
    pub total_size: Option<u64>,
    /// Items on this page.
    #[serde(rename = "Metadata", default)]
    pub metadata: Vec<Metadata>,
}

/// The `Metadata` fields Playmark reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Opaque id used by scrobble, unscrobble and timeline.
    #[serde(deserialize_with = "string_or_number")]
    pub rating_key: String,
    /// `movie`, `show`, `season`, `episode`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Episode number (episodes) or season number (seasons).
    pub index: Option<i64>,
    /// Season number (episodes).
    pub parent_index: Option<i64>,
    /// Season (episodes) or show (seasons).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub parent_rating_key: Option<String>,
    /// Show (episodes).
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub grandparent_rating_key: Option<String>,
    /// Show title (seasons).
    pub parent_title: Option<String>,
    /// Show title (episodes).
    pub grandparent_title: Option<String>,
    /// Length in ms.
    pub duration: Option<i64>,
    /// Resume offset in ms.
    pub view_offset: Option<i64>,
    /// Completed views.
    pub view_count: Option<i64>,
    /// The item's own guid: `plex://…` for the modern agents; a legacy agent's id, e.g.
    /// `com.plexapp.agents.thetvdb://81189?lang=en`.
    #[serde(default)]
    pub guid: Option<String>,
    /// `[{"id": "imdb://tt…"}, {"id": "tmdb://65"}, …]` (needs `includeGuids=1`).
    #[serde(rename = "Guid", default)]
    pub guids: Vec<GuidEntry>,
    /// Epoch seconds of the last completed view.
    pub last_viewed_at: Option<i64>,
    /// Episodes under a season or show.
    pub leaf_count: Option<i64>,
    /// Watched episodes under a season or show.
    pub viewed_leaf_count: Option<i64>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Key {
        S(String),
        N(i64),
    }
    Ok(match Key::deserialize(d)? {
        Key::S(s) => s,
        Key::N(n) => n.to_string(),
    })
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Key {
        S(String),
        N(i64),
    }
    Ok(Option::<Key>::deserialize(d)?.map(|k| match k {
        Key::S(s) => s,
        Key::N(n) => n.to_string(),
    }))
}

/// Epoch seconds → epoch milliseconds.
pub fn secs_to_ms(secs: i64) -> Millis {
    secs.saturating_mul(1000)
}

impl Metadata {
    /// Playmark's kind for a Plex `type`; `None` for anything that is not video.
    pub fn item_kind(&self) -> Option<ItemKind> {
        match self.kind.as_str() {
            "movie" => Some(ItemKind::Movie),
            "show" => Some(ItemKind::Series),
            "season" => Some(ItemKind::Season),
            "episode" => Some(ItemKind::Episode),
            _ => None,
        }
    }

    /// The user data Plex reports: watched is `viewCount > 0` (folders: every episode
    /// watched); missing fields are 0 / never.
    pub fn to_user_data(&self) -> UserData {
        let folder = matches!(self.kind.as_str(), "show" | "season");
        let (played, play_count, position_ms) = if folder {
            let leaves = self.leaf_count.unwrap_or(0);
            (
                leaves > 0 && self.viewed_leaf_count.unwrap_or(0) >= leaves,
                0,
                0,
            )
        } else {
            let count = self.view_count.unwrap_or(0).max(0);
            (count > 0, count, self.view_offset.unwrap_or(0).max(0))
        };
        UserData {
            position_ms,
            played,
            play_count,
            last_played: self.last_viewed_at.map(secs_to_ms),
        }
    }

    /// The ids of the `Guid` array, or, where it has none, of a legacy agent's `guid`; sorted.
    pub fn provider_ids(&self) -> Vec<crate::model::ProviderId> {
        use crate::model::ProviderId;
        let mut ids: Vec<ProviderId> = self
            .guids
            .iter()
            .filter_map(|g| ProviderId::from_plex_guid(&g.id))
            .collect();
        if ids.is_empty() {
            ids.extend(self.guid.as_deref().and_then(ProviderId::from_plex_guid));
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// As a library entry; `None` for non-video types.
    pub fn into_remote_item(self) -> Option<RemoteItem> {
        let kind = self.item_kind()?;
        let user_data = self.to_user_data();
        let provider_ids = self.provider_ids();
        let (parent_id, series_id, season_id, series_name, season_number, episode_number) =
            match kind {
                ItemKind::Episode => (
                    self.parent_rating_key.clone(),
                    self.grandparent_rating_key.clone(),
                    self.parent_rating_key.clone(),
                    self.grandparent_title.clone(),
                    self.parent_index,
                    self.index,
                ),
                ItemKind::Season => (
                    self.parent_rating_key.clone(),
                    self.parent_rating_key.clone(),
                    None,
                    self.parent_title.clone(),
                    self.index,
                    None,
                ),
                ItemKind::Series | ItemKind::Movie => (None, None, None, None, None, None),
            };
        Some(RemoteItem {
            id: self.rating_key,
            kind,
            name: self.title,
            parent_id,
            series_id,
            season_id,
            series_name,
            season_number,
            episode_number,
            runtime_ms: if kind.is_playable() {
                self.duration
            } else {
                None
            },
            user_data,
            provider_ids,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn episode_maps_with_links_and_user_data() {
        let m: Metadata = serde_json::from_str(
            r#"{"ratingKey":"12","type":"episode","title":"Low Tide","index":3,
                "parentIndex":1,"parentRatingKey":"11","grandparentRatingKey":10,
                "grandparentTitle":"Show","duration":2400000,"viewOffset":60000,
                "viewCount":2,"lastViewedAt":1700000000,"key":"/library/metadata/12"}"#,
        )
        .unwrap();
        let r = m.into_remote_item().unwrap();
        assert_eq!(r.kind, ItemKind::Episode);
        assert_eq!(r.parent_id.as_deref(), Some("11"));
        assert_eq!(r.season_id.as_deref(), Some("11"));
        assert_eq!(r.series_id.as_deref(), Some("10"));
        assert_eq!((r.season_number, r.episode_number), (Some(1), Some(3)));
        assert_eq!(
            r.user_data,
            UserData {
                position_ms: 60_000,
                played: true,
                play_count: 2,
                last_played: Some(1_700_000_000_000)
            }
        );
    }

    #[test]
    fn guids_become_provider_ids_and_a_legacy_guid_counts_where_there_are_none() {
        let m: Metadata = serde_json::from_str(
            r#"{"ratingKey":"7","type":"movie","title":"M","guid":"plex://movie/5d77",
                "Guid":[{"id":"imdb://tt0111161"},{"id":"tmdb://278"},{"id":"local://1"}]}"#,
        )
        .unwrap();
        let ids: Vec<String> = m
            .into_remote_item()
            .unwrap()
            .provider_ids
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(ids, ["imdb:tt0111161", "tmdb:278"]);
        let legacy: Metadata = serde_json::from_str(
            r#"{"ratingKey":"8","type":"show","title":"S",
                "guid":"com.plexapp.agents.thetvdb://81189?lang=en"}"#,
        )
        .unwrap();
        let ids: Vec<String> = legacy
            .provider_ids()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(ids, ["tvdb:81189"]);
        let none: Metadata =
            serde_json::from_str(r#"{"ratingKey":"9","type":"movie","title":"N"}"#).unwrap();
        assert!(none.provider_ids().is_empty());
    }

    #[test]
    fn missing_fields_mean_unwatched_and_folders_aggregate() {
        let m: Metadata =
            serde_json::from_str(r#"{"ratingKey":5,"type":"movie","title":"M"}"#).unwrap();
        assert_eq!(m.to_user_data(), UserData::default());
        let season: Metadata = serde_json::from_str(
            r#"{"ratingKey":"7","type":"season","title":"S","index":2,"parentRatingKey":"6",
                "leafCount":8,"viewedLeafCount":8}"#,
        )
        .unwrap();
        assert!(season.to_user_data().played);
        let r = season.into_remote_item().unwrap();
        assert_eq!(
            (r.kind, r.parent_id.as_deref(), r.series_id.as_deref()),
            (ItemKind::Season, Some("6"), Some("6"))
        );
        let partial: Metadata = serde_json::from_str(
            r#"{"ratingKey":"7","type":"show","leafCount":8,"viewedLeafCount":7}"#,
        )
        .unwrap();
        assert!(!partial.to_user_data().played);
        let empty: Metadata =
            serde_json::from_str(r#"{"ratingKey":"7","type":"season","leafCount":0}"#).unwrap();
        assert!(!empty.to_user_data().played);
        let track: Metadata = serde_json::from_str(r#"{"ratingKey":"9","type":"track"}"#).unwrap();
        assert!(track.into_remote_item().is_none());
    }
}
