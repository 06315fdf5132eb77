//! Jellyfin: `GET /Items/{id}` for the media source's size, then `GET /Items/{id}/Download`
//! (the endpoint guarded by the user's `Download` policy; the streaming endpoint is never used
//! for downloads, so a server that forbids them is respected).

use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Method;
use serde::Deserialize;

use super::{percent_encode, JellyfinClient};
use crate::backend::download::{safe_container, DownloadSource};
use crate::backend::SyncError;
use crate::model::ServerKind;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemMedia {
    #[serde(default)]
    media_sources: Vec<MediaSource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MediaSource {
    size: Option<i64>,
    container: Option<String>,
}

impl JellyfinClient {
    /// Where to download `item_id` from, with the size the server announces.
    pub async fn download_source(&self, item_id: &str) -> Result<DownloadSource, SyncError> {
        let auth = self
            .auth_session
            .clone()
            .ok_or_else(|| SyncError::auth("not signed in"))?;
        let id = percent_encode(item_id);
        let mut query = vec![("fields", "MediaSources")];
        let user = self.user_id.clone();
        if let Some(u) = user.as_deref() {
            query.push(("userId", u));
        }
        let url = self.url(&format!("/Items/{id}"), &query)?;
        let body = self.execute(Method::GET, url, None, true).await?;
        let item: ItemMedia = serde_json::from_slice(&body)
            .map_err(|e| SyncError::unexpected_response(format!("item {item_id}: {e}")))?;
        let source = item.media_sources.into_iter().next();
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        Ok(DownloadSource {
            url: self.url(&format!("/Items/{id}/Download"), &[])?,
            headers,
            http: self.http.clone(),
            expected_size: source
                .as_ref()
                .and_then(|s| s.size)
                .and_then(|s| u64::try_from(s).ok()),
            container: safe_container(source.as_ref().and_then(|s| s.container.as_deref())),
            kind: ServerKind::Jellyfin,
        })
    }
}
