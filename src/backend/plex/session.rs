//! Plex playback: the media part URL and `/:/timeline` reports with `state`.

use async_trait::async_trait;
use reqwest::Method;

use super::download::MediaItems;
use super::dto::Envelope;
use super::{path_segment, PlexClient};
use crate::backend::jellyfin::dto::parse_json;
use crate::backend::session::{MediaSource, PlaybackServer, ReportKind, SessionReport};
use crate::backend::SyncError;

#[async_trait]
impl PlaybackServer for PlexClient {
    async fn media_source(&self, item_id: &str, client_id: &str) -> Result<MediaSource, SyncError> {
        let path = format!("/library/metadata/{}", path_segment(item_id)?);
        let url = self.url(&path, &[])?;
        let body = self.execute(Method::GET, url, true).await?;
        let doc: Envelope<MediaItems> = parse_json(&body)?;
        let key = doc
            .media_container
            .parts()
            .find_map(|p| p.key)
            .filter(|k| k.starts_with('/'))
            .ok_or_else(|| {
                SyncError::rejected("the server lists no playable media for this item")
            })?;
        let url = url::Url::parse(&format!("{}{}", self.base, key))
            .map_err(|e| SyncError::rejected(format!("bad media address: {e}")))?;
        let token = self
            .token
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| SyncError::auth("not signed in"))?;
        Ok(MediaSource {
            url: url.to_string(),
            headers: vec![
                format!("X-Plex-Token: {token}"),
                format!("X-Plex-Client-Identifier: {client_id}"),
            ],
        })
    }

    async fn report(&self, report: &SessionReport) -> Result<(), SyncError> {
        let key = format!("/library/metadata/{}", path_segment(&report.item_id)?);
        let state = match (report.kind, report.paused) {
            (ReportKind::Stopped, _) => "stopped",
            (_, true) => "paused",
            (_, false) => "playing",
        };
        let time = report.position_ms.max(0).to_string();
        let duration = report.duration_ms.map(|d| d.to_string());
        let mut query: Vec<(&str, &str)> = vec![
            ("ratingKey", &report.item_id),
            ("key", &key),
            ("state", state),
            ("time", &time),
        ];
        if let Some(d) = &duration {
            query.push(("duration", d));
        }
        let url = self.url("/:/timeline", &query)?;
        let token = self
            .token
            .clone()
            .ok_or_else(|| SyncError::auth("not signed in"))?;
        let request = self
            .http
            .request(self.verbs.timeline(), url)
            .header(super::TOKEN_HEADER, token)
            .header("X-Plex-Session-Identifier", report.play_session_id.as_str());
        super::execute(request, self.max_body_bytes)
            .await
            .map_err(|e| self.scrub(e))?;
        Ok(())
    }

    async fn user_data(&self, item_id: &str) -> Result<Option<crate::model::UserData>, SyncError> {
        crate::backend::session::user_data_by_id(self, item_id).await
    }
}
