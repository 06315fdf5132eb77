//! Jellyfin playback: the stream URL and `/Sessions/Playing*` reports.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

use super::dto::ms_to_ticks;
use super::{percent_encode, JellyfinClient};
use crate::backend::session::{MediaSource, PlaybackServer, ReportKind, SessionReport};
use crate::backend::SyncError;

#[async_trait]
impl PlaybackServer for JellyfinClient {
    async fn media_source(
        &self,
        item_id: &str,
        _client_id: &str,
    ) -> Result<MediaSource, SyncError> {
        let auth = self
            .auth_session
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| SyncError::auth("not signed in"))?;
        let path = format!("/Videos/{}/stream", percent_encode(item_id));
        // `static=true`: the file as it is (direct play), so byte ranges (seeking) work.
        let url = self.url(&path, &[("static", "true"), ("mediaSourceId", item_id)])?;
        Ok(MediaSource {
            url: url.to_string(),
            headers: vec![format!("Authorization: {auth}")],
        })
    }

    async fn report(&self, report: &SessionReport) -> Result<(), SyncError> {
        let ticks = ms_to_ticks(report.position_ms.max(0));
        let (path, body) = match report.kind {
            ReportKind::Start | ReportKind::Progress => (
                if report.kind == ReportKind::Start {
                    "/Sessions/Playing"
                } else {
                    "/Sessions/Playing/Progress"
                },
                json!({
                    "ItemId": report.item_id,
                    "MediaSourceId": report.item_id,
                    "PlaySessionId": report.play_session_id,
                    "PositionTicks": ticks,
                    "IsPaused": report.paused,
                    "IsMuted": false,
                    "CanSeek": true,
                    "PlayMethod": "DirectPlay",
                    "RepeatMode": "RepeatNone",
                    "PlaybackOrder": "Default",
                }),
            ),
            ReportKind::Stopped => (
                "/Sessions/Playing/Stopped",
                json!({
                    "ItemId": report.item_id,
                    "MediaSourceId": report.item_id,
                    "PlaySessionId": report.play_session_id,
                    "PositionTicks": ticks,
                    "Failed": false,
                }),
            ),
        };
        let url = self.url(path, &[])?;
        self.execute(Method::POST, url, Some(body), true).await?;
        Ok(())
    }

    async fn user_data(&self, item_id: &str) -> Result<Option<crate::model::UserData>, SyncError> {
        crate::backend::session::user_data_by_id(self, item_id).await
    }
}
