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

/// `GET /library/metadata/{id}` as far as its media parts go (download and playback).
#[derive(Deserialize)]
pub(super) struct MediaItems {
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

/// One media part: its key (a server path), size and container.
#[derive(Deserialize)]
pub(super) struct Part {
    pub key: Option<String>,
    pub size: Option<i64>,
    pub container: Option<String>,
}

impl MediaItems {
    /// Every media part of the listed items, in order.
    pub(super) fn parts(self) -> impl Iterator<Item = Part> {
        self.metadata
            .into_iter()
            .flat_map(|m| m.media)
            .flat_map(|m| m.part)
    }
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
        let envelope: Envelope<MediaItems> = serde_json::from_slice(&body)
            .map_err(|e| SyncError::unexpected_response(format!("item {item_id}: {e}")))?;
        let part = envelope.media_container.parts().next().ok_or_else(|| {
            SyncError::new(
                crate::backend::ErrorKind::NotFound,
                format!("item {item_id} has no media file to download"),
            )
        })?;
        let key = part.key.unwrap_or_default();
        if !key.starts_with('/') || key.contains("://") {
            return Err(SyncError::unexpected_response(format!(
                "item {item_id}: part key {key:?} is not a server path"
            )));
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-plex-token", token);
        let (path, _) = key.split_once('?').unwrap_or((key.as_str(), ""));
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
