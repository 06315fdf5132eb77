//! Live playback-session reports in both demo servers, with the real servers' side effects
//! (`specs/jellyfin-ops.md`, "Session playback reporting"; `specs/plex-ops.md`, timeline):
//!
//! Jellyfin (`POST /Sessions/Playing`, `/Progress`, `/Stopped`, `/Ping`; token required, body
//! `PlaybackStartInfo` / `PlaybackProgressInfo` / `PlaybackStopInfo`, answer 204):
//! - start: `PlayCount + 1`, `LastPlayedDate = now`, `Played = false` (every demo item is a
//!   resumable video);
//! - progress and stopped with `PositionTicks`: `UserDataManager.UpdatePlayState` — the
//!   watched thresholds (`crate::player::thresholds`, the server's defaults): under 5 % the
//!   position becomes 0, past 90 % or in the last second (or any point past 5 % of an item
//!   under 300 s) the item becomes played with position 0, else the position is stored; the
//!   watched flag is otherwise left alone;
//! - stopped without `PositionTicks`: `PlayCount + 1`, played, position 0;
//! - `Failed: true` changes nothing; a negative position is a 400.
//!
//! Plex (`/:/timeline` with an `X-Plex-Session-Identifier`, i.e. a live player): `playing`,
//! `paused` and `stopped` apply the same thresholds to `time`; a finished view counts once per
//! session (`viewCount + 1`, offset cleared, `lastViewedAt = now`). Timelines without a session
//! (a sync client's `offline=1` writes) keep the rules in `plex.rs`.
//!
//! Both servers remember who is playing what (`DemoServer::now_playing`).

use chrono::Utc;
use serde_json::Value;

use super::library::TICKS_PER_MS;
use super::routes::{normalize_id, parse_authorization, Reply, Req};
use super::state::State;
use crate::player::thresholds::{Thresholds, Verdict};

/// What the server applies a position report to.
fn update_play_state(state: &mut State, id: &str, position_ms: i64) -> Verdict {
    let runtime = state.get(id).and_then(|i| i.runtime_ms);
    let verdict = Thresholds::default().classify(position_ms, runtime);
    let s = state.stored_mut(id);
    match verdict {
        Verdict::Resume(p) => s.position_ticks = p.saturating_mul(TICKS_PER_MS),
        Verdict::NoResume => s.position_ticks = 0,
        Verdict::Watched => {
            s.position_ticks = 0;
            s.played = true;
        }
    }
    verdict
}

fn problem(status: u16, detail: &str) -> Reply {
    Reply {
        status,
        content_type: Some("text/plain; charset=utf-8"),
        body: detail.as_bytes().to_vec(),
    }
}

/// Jellyfin's `/Sessions/Playing*`; `None` for any other path.
pub(crate) fn jellyfin(state: &mut State, req: &Req<'_>) -> Option<Reply> {
    let path = req.path.trim_end_matches('/').to_ascii_lowercase();
    let which = match path.as_str() {
        "/sessions/playing" => "start",
        "/sessions/playing/progress" => "progress",
        "/sessions/playing/stopped" => "stopped",
        "/sessions/playing/ping" => "ping",
        _ => return None,
    };
    Some(match jellyfin_inner(state, req, which) {
        Ok(r) | Err(r) => r,
    })
}

fn jellyfin_inner(state: &mut State, req: &Req<'_>, which: &str) -> Result<Reply, Reply> {
    if *req.method != axum::http::Method::POST {
        return Err(Reply {
            status: 405,
            content_type: None,
            body: Vec::new(),
        });
    }
    let token = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_authorization)
        .and_then(|a| a.get("token").cloned());
    let Some(session) = token.and_then(|t| state.tokens.get(&t).cloned()) else {
        return Err(Reply {
            status: 401,
            content_type: None,
            body: Vec::new(),
        });
    };
    let no_content = Reply {
        status: 204,
        content_type: None,
        body: Vec::new(),
    };
    if which == "ping" {
        return Ok(no_content);
    }
    let body: Value = serde_json::from_slice(req.body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| problem(400, "The request body is not a valid JSON object."))?;
    let prop = |name: &str| {
        body.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        })
    };
    let id = prop("ItemId")
        .and_then(Value::as_str)
        .and_then(normalize_id)
        .ok_or_else(|| problem(400, "ItemId is required."))?;
    let item = state
        .get(&id)
        .ok_or_else(|| problem(404, "Item not found."))?;
    if !item.kind.is_playable() {
        return Err(problem(400, "Only videos can be played."));
    }
    let position = match prop("PositionTicks") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| problem(400, "PositionTicks must be an integer."))?,
        ),
    };
    if position.is_some_and(|p| p < 0) {
        return Err(problem(400, "PositionTicks must be a non-negative value."));
    }
    let paused = prop("IsPaused").and_then(Value::as_bool).unwrap_or(false);
    let failed = prop("Failed").and_then(Value::as_bool).unwrap_or(false);
    let position_ms = position.map(|p| p / TICKS_PER_MS);
    match which {
        "start" => {
            let s = state.stored_mut(&id);
            s.play_count += 1;
            s.last_played = Some(Utc::now());
            s.played = false;
            state
                .sessions
                .playing(&session.device_id, &id, position_ms.unwrap_or(0), paused);
        }
        "progress" => {
            if let Some(p) = position_ms {
                update_play_state(state, &id, p);
            }
            state
                .sessions
                .playing(&session.device_id, &id, position_ms.unwrap_or(0), paused);
        }
        _ => {
            if !failed {
                match position_ms {
                    Some(p) => {
                        update_play_state(state, &id, p);
                    }
                    None => {
                        let s = state.stored_mut(&id);
                        s.play_count += 1;
                        s.played = true;
                        s.position_ticks = 0;
                    }
                }
            }
            state.sessions.stopped(&session.device_id);
        }
    }
    Ok(no_content)
}

/// Plex `/:/timeline` from a live player (one with `X-Plex-Session-Identifier`).
pub(crate) fn plex_timeline(
    state: &mut State,
    session: &str,
    client: &str,
    id: &str,
    playback: &str,
    time_ms: i64,
) {
    let counted = state.sessions.counted(session, id);
    let runtime = state.get(id).and_then(|i| i.runtime_ms);
    let verdict = Thresholds::default().classify(time_ms, runtime);
    let s = state.stored_mut(id);
    match verdict {
        Verdict::Resume(p) => s.position_ticks = p.saturating_mul(TICKS_PER_MS),
        Verdict::NoResume => s.position_ticks = 0,
        Verdict::Watched => {
            s.position_ticks = 0;
            if !counted {
                s.play_count += 1;
                s.played = true;
                s.last_played = Some(Utc::now());
            }
        }
    }
    if verdict == Verdict::Watched {
        state.sessions.count(session, id);
    }
    if playback == "stopped" {
        state.sessions.stopped(client);
    } else {
        state
            .sessions
            .playing(client, id, time_ms, playback == "paused");
    }
}

/// Who is playing what, and (Plex) which sessions already counted their view.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sessions {
    /// device id → (item, position ms, paused).
    now: std::collections::HashMap<String, (String, i64, bool)>,
    counted: std::collections::HashSet<(String, String)>,
}

impl Sessions {
    fn playing(&mut self, device: &str, item: &str, position_ms: i64, paused: bool) {
        self.now
            .insert(device.to_string(), (item.to_string(), position_ms, paused));
    }

    fn stopped(&mut self, device: &str) {
        self.now.remove(device);
    }

    fn counted(&self, session: &str, item: &str) -> bool {
        self.counted
            .contains(&(session.to_string(), item.to_string()))
    }

    fn count(&mut self, session: &str, item: &str) {
        self.counted.insert((session.to_string(), item.to_string()));
    }

    /// (item, position ms, paused) of every device playing now.
    pub(crate) fn now_playing(&self) -> Vec<(String, i64, bool)> {
        let mut v: Vec<_> = self.now.values().cloned().collect();
        v.sort();
        v
    }
}
