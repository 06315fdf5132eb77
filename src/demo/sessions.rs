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
//!   under 300 s) the item becomes played with position 0, else the position is stored; an
//!   item without a runtime becomes played with position 0 whatever the position; the
//!   watched flag is otherwise left alone; progress saves are not announced on the socket;
//! - stopped without `PositionTicks`: `PlayCount + 1`, played, position 0;
//! - `Failed: true` changes nothing; a negative position is a 400.
//!
//! Plex (`/:/timeline` with an `X-Plex-Session-Identifier`, i.e. a live player): `playing`,
//! `paused` and `stopped` apply the same thresholds to `time`; a finished view counts once per
//! session (`viewCount + 1`, offset cleared, `lastViewedAt = now`). Timelines without a session
//! (a sync client's `offline=1` writes) keep the rules in `plex.rs`.
//!
//! Both servers remember who is playing what (`DemoServer::now_playing`).
//!
//! Jellyfin's session clock (`docs/SERVERS.md`, "Session clock" and "Idle sessions"): after a
//! start or progress report that is not paused the server advances the session's position by
//! itself, one second per second (`SessionInfo.StartAutomaticProgress`), never to the runtime;
//! these automatic updates change neither the user data nor the check-in time. An idle timer
//! (every 5 minutes from the first report while nothing else runs it) stops every session
//! whose last report is more than 5 minutes old, at its advanced position, through the same
//! stop rules (`SessionManager.CheckForIdlePlayback`). Time is the demo's clock
//! (`DemoConfig::clock`).

use chrono::Utc;
use serde_json::Value;

use super::library::TICKS_PER_MS;
use super::routes::{normalize_id, parse_authorization, Reply, Req};
use super::state::State;
use crate::player::thresholds::{Thresholds, Verdict};

/// Jellyfin's idle check period and the silence after which a session is stopped.
pub(crate) const IDLE_MS: i64 = 5 * 60_000;

/// Why user data is saved (Jellyfin `UserDataSaveReason`): progress saves are not announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Save {
    Progress,
    Finished,
}

/// What the server applies a position report to (`UserDataManager.UpdatePlayState`): an item
/// without a runtime is taken as fully played.
fn update_play_state(state: &mut State, id: &str, position_ms: i64, reason: Save) -> Verdict {
    let runtime = state.get(id).and_then(|i| i.runtime_ms);
    let verdict = if runtime.unwrap_or(0) > 0 {
        Thresholds::default().classify(position_ms, runtime)
    } else {
        Verdict::Watched
    };
    let s = match reason {
        Save::Progress => state.stored_mut_quiet(id),
        Save::Finished => state.stored_mut(id),
    };
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
    let now = state.clock.now();
    let runtime = item.runtime_ms;
    match which {
        "start" => {
            let date = state.now();
            let s = state.stored_mut(&id);
            s.play_count += 1;
            s.last_played = Some(date);
            s.played = false;
            state.sessions.reported(
                &session.device_id,
                &id,
                position_ms.unwrap_or(0),
                paused,
                runtime,
                now,
            );
        }
        "progress" => {
            if let Some(p) = position_ms {
                update_play_state(state, &id, p, Save::Progress);
            }
            state.sessions.reported(
                &session.device_id,
                &id,
                position_ms.unwrap_or(0),
                paused,
                runtime,
                now,
            );
        }
        _ => {
            if !failed {
                stop(state, &id, position_ms);
            }
            state.sessions.stopped(&session.device_id);
        }
    }
    Ok(no_content)
}

/// `SessionManager.OnPlaybackStopped` for one user: the position through the thresholds, or
/// without a position a finished view.
fn stop(state: &mut State, id: &str, position_ms: Option<i64>) {
    match position_ms {
        Some(p) => {
            update_play_state(state, id, p, Save::Finished);
        }
        None => {
            let s = state.stored_mut(id);
            s.play_count += 1;
            s.played = true;
            s.position_ticks = 0;
        }
    }
}

/// Run Jellyfin's idle timer up to now on the demo's clock: every session silent for more
/// than 5 minutes at a tick is stopped at its advanced position (`CheckForIdlePlayback`).
/// Returns whether any session was stopped.
pub(crate) fn expire_idle(state: &mut State) -> bool {
    let now = state.clock.now();
    let mut any = false;
    while let Some(tick) = state.sessions.next_tick().filter(|t| *t <= now) {
        for (device, item, position_ms) in state.sessions.idle_at(tick) {
            stop(state, &item, Some(position_ms));
            state.sessions.stopped(&device);
            any = true;
        }
    }
    any
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
    // The server's played threshold decides, as on the timeline without a session (no
    // minimum, no rule for short items: docs/SERVERS.md P3).
    let rule = Thresholds {
        min_resume_pct: 0.0,
        max_resume_pct: f64::from(state.plex.played_threshold_pct),
        min_resume_duration_s: 0,
    };
    let verdict = rule.classify(time_ms, runtime);
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

/// One playing device.
#[derive(Debug, Clone)]
struct Playing {
    item: String,
    /// The last reported position (ms).
    position_ms: i64,
    paused: bool,
    /// Jellyfin: (when the position was reported, the runtime) — the session advances by
    /// itself from there. `None` (Plex): it stays where it was reported.
    clock: Option<(i64, Option<i64>)>,
}

impl Playing {
    /// The session's position at `now` (`SessionInfo.OnProgressTimerCallback`: one second per
    /// second while not paused, never reaching the runtime).
    fn position_at(&self, now: i64) -> i64 {
        let Some((at, runtime)) = self.clock.filter(|_| !self.paused) else {
            return self.position_ms;
        };
        let mut steps = (now - at).max(0) / 1_000;
        if let Some(r) = runtime.filter(|r| *r > 0) {
            steps = steps.min(((r - self.position_ms - 1) / 1_000).max(0));
        }
        self.position_ms + steps * 1_000
    }
}

/// Who is playing what, and (Plex) which sessions already counted their view.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sessions {
    /// device id → what it plays.
    now: std::collections::HashMap<String, Playing>,
    counted: std::collections::HashSet<(String, String)>,
    /// Jellyfin: the last report (check-in) of each playing device, on the demo's clock.
    check_in: std::collections::HashMap<String, i64>,
    /// Jellyfin's idle timer, while it runs: when it started or last fired (it fires every 5
    /// minutes).
    idle_timer: Option<i64>,
}

impl Sessions {
    fn playing(&mut self, device: &str, item: &str, position_ms: i64, paused: bool) {
        self.now.insert(
            device.to_string(),
            Playing {
                item: item.to_string(),
                position_ms,
                paused,
                clock: None,
            },
        );
    }

    /// A Jellyfin start or progress report at `now`: the session's position restarts from the
    /// reported one, the device checks in, and the idle timer runs (`StartCheckTimers`).
    fn reported(
        &mut self,
        device: &str,
        item: &str,
        position_ms: i64,
        paused: bool,
        runtime_ms: Option<i64>,
        now: i64,
    ) {
        self.now.insert(
            device.to_string(),
            Playing {
                item: item.to_string(),
                position_ms,
                paused,
                clock: Some((now, runtime_ms)),
            },
        );
        self.check_in.insert(device.to_string(), now);
        self.idle_timer.get_or_insert(now);
    }

    /// When the idle timer fires next, while it runs.
    pub(crate) fn next_tick(&self) -> Option<i64> {
        self.idle_timer.map(|last| last + IDLE_MS)
    }

    /// The idle timer fires at `tick`: the (device, item, advanced position) of every session
    /// silent for more than 5 minutes; with nothing playing the timer stops.
    fn idle_at(&mut self, tick: i64) -> Vec<(String, String, i64)> {
        self.idle_timer = Some(tick);
        let clocked: Vec<_> = self
            .now
            .iter()
            .filter(|(_, p)| p.clock.is_some())
            .map(|(d, p)| (d.clone(), p.clone()))
            .collect();
        if clocked.is_empty() {
            self.idle_timer = None;
            return Vec::new();
        }
        let mut idle: Vec<_> = clocked
            .into_iter()
            .filter(|(d, _)| self.check_in.get(d).is_some_and(|c| tick - c > IDLE_MS))
            .map(|(d, p)| {
                let at = p.position_at(tick);
                (d, p.item, at)
            })
            .collect();
        idle.sort();
        idle
    }

    fn stopped(&mut self, device: &str) {
        self.now.remove(device);
        self.check_in.remove(device);
    }

    fn counted(&self, session: &str, item: &str) -> bool {
        self.counted
            .contains(&(session.to_string(), item.to_string()))
    }

    fn count(&mut self, session: &str, item: &str) {
        self.counted.insert((session.to_string(), item.to_string()));
    }

    /// (item, position ms, paused) of every device playing at `now` (Jellyfin sessions
    /// advanced by the session clock).
    pub(crate) fn now_playing(&self, now: i64) -> Vec<(String, i64, bool)> {
        let mut v: Vec<_> = self
            .now
            .values()
            .map(|p| (p.item.clone(), p.position_at(now), p.paused))
            .collect();
        v.sort();
        v
    }

    /// (device id, item, position ms, paused) of every device playing at `now`, by device.
    pub(crate) fn by_device(&self, now: i64) -> Vec<(String, String, i64, bool)> {
        let mut v: Vec<_> = self
            .now
            .iter()
            .map(|(d, p)| (d.clone(), p.item.clone(), p.position_at(now), p.paused))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, Method};

    use super::*;
    use crate::demo::library::DemoLibrary;
    use crate::demo::state::Session;
    use crate::model::ItemKind;

    fn state_with_token() -> State {
        let mut state = State::new(DemoLibrary::seeded().without_progress(), "10.11.11".into());
        state.tokens.insert(
            "tok".into(),
            Session {
                user_id: state.user_id.clone(),
                client: "t".into(),
                device: "t".into(),
                device_id: "dev".into(),
                version: "1".into(),
            },
        );
        state
    }

    fn post(state: &mut State, path: &str, body: Value) -> u16 {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            r#"MediaBrowser Client="t", Device="t", DeviceId="dev", Version="1", Token="tok""#
                .parse()
                .unwrap(),
        );
        let raw = body.to_string().into_bytes();
        let req = Req {
            method: &Method::POST,
            path,
            query: &[],
            headers: &headers,
            body: &raw,
            local_address: String::new(),
        };
        jellyfin(state, &req).unwrap().status
    }

    /// `UserDataManager.UpdatePlayState`: an item without `RunTimeTicks` is taken as fully
    /// played on any progress or stop report that carries a position, even 0 (`!hasRuntime`).
    #[test]
    fn items_without_a_runtime_become_played_on_any_report() {
        for report in ["/Sessions/Playing/Progress", "/Sessions/Playing/Stopped"] {
            let mut state = state_with_token();
            let id = {
                let it = state
                    .items_mut()
                    .iter_mut()
                    .find(|i| i.kind == ItemKind::Movie)
                    .unwrap();
                it.runtime_ms = None;
                it.id.clone()
            };
            state.stored_mut(&id).position_ticks = 7;
            let start = serde_json::json!({"ItemId": id, "PositionTicks": 0});
            assert_eq!(post(&mut state, "/Sessions/Playing", start), 204);
            assert!(!state.stored(&id).played);
            let body = serde_json::json!({"ItemId": id, "PositionTicks": 0});
            assert_eq!(post(&mut state, report, body), 204);
            let s = state.stored(&id);
            assert_eq!((s.played, s.position_ticks), (true, 0), "{report}");
        }
    }

    /// With a runtime the same reports follow the 5 %/90 % rules (a start position of 0 stays
    /// unwatched).
    #[test]
    fn items_with_a_runtime_keep_the_thresholds() {
        let mut state = state_with_token();
        let it = state
            .items()
            .iter()
            .find(|i| i.kind == ItemKind::Movie)
            .unwrap()
            .clone();
        let body = serde_json::json!({"ItemId": it.id, "PositionTicks": 0});
        assert_eq!(post(&mut state, "/Sessions/Playing/Progress", body), 204);
        assert!(!state.stored(&it.id).played);
    }

    /// Progress saves are not announced; start and stop are.
    #[test]
    fn progress_saves_are_quiet() {
        let mut state = state_with_token();
        let it = state
            .items()
            .iter()
            .find(|i| i.kind == ItemKind::Movie)
            .unwrap()
            .clone();
        let at = it.runtime_ms.unwrap() / 2 * TICKS_PER_MS;
        let _ = state.take_changed();
        let body = serde_json::json!({"ItemId": it.id, "PositionTicks": at});
        post(&mut state, "/Sessions/Playing/Progress", body.clone());
        assert_eq!(state.stored(&it.id).position_ticks, at);
        assert!(state.take_changed().is_empty());
        assert!(!state.take_fresh());
        post(&mut state, "/Sessions/Playing/Stopped", body);
        assert_eq!(state.take_changed(), vec![it.id.clone()]);
        assert!(state.take_fresh());
    }
}
