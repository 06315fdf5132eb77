//! Watched thresholds: what a stopped (or checkpointed) position means.
//!
//! Jellyfin's defaults (`ServerConfiguration`: `MinResumePct` 5, `MaxResumePct` 90,
//! `MinResumeDurationSeconds` 300) and its rule (`UserDataManager.UpdatePlayState`, 10.11):
//! - under `min_resume_pct` → no resume point (position 0, the watched flag is left alone);
//! - past `max_resume_pct` (strictly more), or within one second of the end → watched;
//! - otherwise an item shorter than `min_resume_duration_s` → watched;
//! - otherwise a resume point at the position.
//!
//! Exactly 5 % is a resume point and exactly 90 % still is one ("past 90 %" is more than 90 %),
//! as on the server. `POST /UserItems/{id}/UserData` applies none of this on the server, so the
//! client must; the same function gives the demo servers their session-report rules, and Plex
//! uses it too (its own defaults are not documented). Pure; unit-tested at the boundaries.

/// The three settings. [`Default`] is Jellyfin's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Below this percentage of the runtime: no resume point.
    pub min_resume_pct: f64,
    /// Past this percentage: watched.
    pub max_resume_pct: f64,
    /// Items shorter than this (seconds) are watched once started past `min_resume_pct`.
    pub min_resume_duration_s: i64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            min_resume_pct: 5.0,
            max_resume_pct: 90.0,
            min_resume_duration_s: 300,
        }
    }
}

impl Thresholds {
    /// The rules of the server the item is on: Jellyfin's three settings for Jellyfin; for
    /// Plex its one rule — past the server's played threshold (`plex_played_pct`, default 90)
    /// counts a view, any other position is a resume point (Plex has no minimum and no rule
    /// for short items). The item's row then predicts what the server will do; a read that
    /// says otherwise settles it silently (the merge).
    pub fn for_server(
        kind: crate::model::ServerKind,
        settings: &crate::store::WatchedThresholds,
    ) -> Thresholds {
        match kind {
            crate::model::ServerKind::Plex => Thresholds {
                min_resume_pct: 0.0,
                max_resume_pct: f64::from(settings.plex_played_pct),
                min_resume_duration_s: 0,
            },
            crate::model::ServerKind::Jellyfin | crate::model::ServerKind::Demo => Thresholds {
                min_resume_pct: f64::from(settings.min_resume_pct),
                max_resume_pct: f64::from(settings.max_resume_pct),
                min_resume_duration_s: i64::from(settings.min_resume_duration_s),
            },
        }
    }
}

/// What a position means for the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Resume from here (milliseconds).
    Resume(i64),
    /// Too early to be worth a resume point: position 0, watched flag unchanged.
    NoResume,
    /// Finished: watched, position 0.
    Watched,
}

impl Thresholds {
    /// The verdict for `position_ms` of an item `runtime_ms` long. An unknown (or zero)
    /// runtime keeps the position as it is: nothing can be judged against it.
    pub fn classify(&self, position_ms: i64, runtime_ms: Option<i64>) -> Verdict {
        let position_ms = position_ms.max(0);
        let Some(runtime) = runtime_ms.filter(|r| *r > 0) else {
            return if position_ms > 0 {
                Verdict::Resume(position_ms)
            } else {
                Verdict::NoResume
            };
        };
        if position_ms == 0 {
            return Verdict::NoResume;
        }
        // Integer arithmetic in basis points keeps 5 % and 90 % exact (no float rounding at
        // the boundaries): pct_bp = position / runtime * 10_000.
        let scaled = i128::from(position_ms) * 10_000;
        let runtime128 = i128::from(runtime);
        let min_bp = (self.min_resume_pct * 100.0).round() as i128;
        let max_bp = (self.max_resume_pct * 100.0).round() as i128;
        if scaled < min_bp * runtime128 {
            Verdict::NoResume
        } else if scaled > max_bp * runtime128
            || position_ms >= runtime - 1_000
            || runtime < self.min_resume_duration_s.saturating_mul(1_000)
        {
            // Past the maximum, in the last second, or a short item started past the minimum.
            Verdict::Watched
        } else {
            Verdict::Resume(position_ms)
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn plex_items_follow_the_servers_played_threshold_only() {
        use crate::model::ServerKind;
        let mut settings = crate::store::WatchedThresholds::default();
        let rt = Some(60 * 60_000);
        let plex = Thresholds::for_server(ServerKind::Plex, &settings);
        // No minimum: 1 % is a resume point (Jellyfin keeps none under 5 %).
        assert_eq!(plex.classify(36_000, rt), Verdict::Resume(36_000));
        let jellyfin = Thresholds::for_server(ServerKind::Jellyfin, &settings);
        assert_eq!(jellyfin.classify(36_000, rt), Verdict::NoResume);
        // No rule for short items: a 4-minute item at a minute resumes on Plex.
        assert_eq!(
            plex.classify(60_000, Some(4 * 60_000)),
            Verdict::Resume(60_000)
        );
        assert_eq!(
            jellyfin.classify(60_000, Some(4 * 60_000)),
            Verdict::Watched
        );
        // The server's threshold, as set.
        assert_eq!(plex.classify(55 * 60_000, rt), Verdict::Watched);
        settings.plex_played_pct = 95;
        let plex = Thresholds::for_server(ServerKind::Plex, &settings);
        assert_eq!(plex.classify(55 * 60_000, rt), Verdict::Resume(55 * 60_000));
        assert_eq!(plex.classify(58 * 60_000, rt), Verdict::Watched);
    }
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn at(pct_tenths: i64, runtime: i64) -> Verdict {
        Thresholds::default().classify(runtime * pct_tenths / 1_000, Some(runtime))
    }

    #[test]
    fn boundaries_of_an_hour_long_item() {
        assert_eq!(at(49, HOUR), Verdict::NoResume, "4.9 %");
        assert_eq!(at(50, HOUR), Verdict::Resume(HOUR / 20), "5 %");
        assert_eq!(at(899, HOUR), Verdict::Resume(HOUR * 899 / 1000), "89.9 %");
        assert_eq!(
            at(900, HOUR),
            Verdict::Resume(HOUR * 9 / 10),
            "90 % is not past 90 %"
        );
        assert_eq!(at(901, HOUR), Verdict::Watched, "90.1 %");
        assert_eq!(
            Thresholds::default().classify(HOUR * 9 / 10 + 1, Some(HOUR)),
            Verdict::Watched,
            "one millisecond past 90 %"
        );
        assert_eq!(
            Thresholds::default().classify(HOUR, Some(HOUR)),
            Verdict::Watched
        );
    }

    #[test]
    fn the_last_second_is_watched_even_below_the_percentage() {
        let t = Thresholds {
            max_resume_pct: 100.0,
            ..Thresholds::default()
        };
        assert_eq!(t.classify(HOUR - 1_000, Some(HOUR)), Verdict::Watched);
        assert_eq!(
            t.classify(HOUR - 1_001, Some(HOUR)),
            Verdict::Resume(HOUR - 1_001)
        );
    }

    #[test]
    fn a_200_second_item_is_watched_once_started_past_5_percent() {
        let runtime = 200_000;
        assert_eq!(at(49, runtime), Verdict::NoResume, "4.9 % = 9.8 s");
        assert_eq!(at(50, runtime), Verdict::Watched, "5 % = 10 s");
        assert_eq!(at(500, runtime), Verdict::Watched, "half-way");
        // 300 s exactly is not shorter than 300 s.
        assert_eq!(
            Thresholds::default().classify(150_000, Some(300_000)),
            Verdict::Resume(150_000)
        );
    }

    #[test]
    fn start_and_unknown_runtime() {
        let t = Thresholds::default();
        assert_eq!(t.classify(0, Some(HOUR)), Verdict::NoResume);
        assert_eq!(t.classify(-5, Some(HOUR)), Verdict::NoResume);
        assert_eq!(t.classify(42_000, None), Verdict::Resume(42_000));
        assert_eq!(t.classify(42_000, Some(0)), Verdict::Resume(42_000));
    }

    #[test]
    fn settings_override_the_defaults() {
        let t = Thresholds {
            min_resume_pct: 10.0,
            max_resume_pct: 80.0,
            min_resume_duration_s: 60,
        };
        assert_eq!(t.classify(HOUR / 20, Some(HOUR)), Verdict::NoResume);
        assert_eq!(t.classify(HOUR * 81 / 100, Some(HOUR)), Verdict::Watched);
        assert_eq!(t.classify(50_000, Some(120_000)), Verdict::Resume(50_000));
    }
}
