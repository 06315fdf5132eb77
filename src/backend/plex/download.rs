//! Plex: `GET /library/metadata/{id}` for the item's `Media[0].Part[0]` (key and size), then
//! the part key with `download=1` (a server whose owner forbids downloads answers 403; the
//! streaming form of the same URL is never used for downloads).

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::Deserialize;

use super::dto::Envelope;
use super::{path_segment, PlexClient};
use crate::backend::download::{safe_container, DownloadSource};
use crate::backend::SyncError;
use crate::model::ServerKind;

#[derive(Deserialize)]
struct Container {
    #[serde(rename = "Metadata", default)]
    metadata: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "Media", default)]
    media: Vec<Media>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(rename = "Part", default)]
    part: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    key: String,
    size: Option<i64>,
    container: Option<String>,
}

impl PlexClient {
    /// Where to download `item_id` from (its first media part), with the size Plex announces.
    pub async fn download_source(&self, item_id: &str) -> Result<DownloadSource, SyncError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| SyncError::auth("not signed in"))?;
        let url = self.url(
            &format!("/library/metadata/{}", path_segment(item_id)?),
            &[],
        )?;
        let body = self.execute(Method::GET, url, true).await?;
        let envelope: Envelope<Container> = serde_json::from_slice(&body)
            .map_err(|e| SyncError::unexpected_response(format!("item {item_id}: {e}")))?;
        let part = envelope
            .media_container
            .metadata
            .into_iter()
            .flat_map(|m| m.media)
            .flat_map(|m| m.part)
            .next()
            .ok_or_else(|| {
                SyncError::new(
                    crate::backend::ErrorKind::NotFound,
                    format!("item {item_id} has no media file to download"),
                )
            })?;
        if !part.key.starts_with('/') || part.key.contains("://") {
            return Err(SyncError::unexpected_response(format!(
                "item {item_id}: part key {:?} is not a server path",
                part.key
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-plex-token", token);
        let (path, _) = part.key.split_once('?').unwrap_or((part.key.as_str(), ""));
        Ok(DownloadSource {
            url: self.url(path, &[("download", "1")])?,
            headers,
            http: self.http.clone(),
            expected_size: part.size.and_then(|s| u64::try_from(s).ok()),
            container: safe_container(part.container.as_deref()),
            kind: ServerKind::Plex,
        })
    }
}
