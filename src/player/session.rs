//! One play of one item: player events → checkpoints (recorded durably) → live reports.
//!
//! [`SessionCore`] is the pure part: it follows the player's events and says when a checkpoint
//! is due (the [`Checkpointer`]: the first report, one every 15 s of play, every pause, seek
//! and the stop), what it means (the [`Thresholds`]) and which live reports carry it. The
//! local change mirrors what the report makes the server hold (Jellyfin's start adds a play and
//! un-watches; Plex counts a view once per session when finished), so a delivered report leaves
//! the base equal to the server and no phantom change appears at the next pull.
//!
//! A session that stays silent too long on a Jellyfin server starts again: the server advances
//! a playing session by itself and, with no report for 5 minutes, stops it at that advanced
//! position (docs/SERVERS.md J1, J2) — after a laptop's suspend it may say 30:00 or "watched"
//! for a person who stopped at 20:00. So the first checkpoint after more than
//! [`SESSION_RESTART_AFTER_MS`] without a report of a playing (not paused) session carries a
//! new start ([`Checkpoint::restarted_after_ms`]), and with it the start's own effects (a play
//! added, un-watched), then the position the person really reached. While the play runs the
//! engine knows what the server's session may have done to the item
//! ([`Engine::open_play`]): a pull that sees it takes it for ours, never another device's.
//!
//! [`run`] drives it: each checkpoint is recorded through the engine (play state + outbox row,
//! one transaction, held a little so the outbox does not send it while the report is under
//! way), then reported live on a separate task (mpv's events never wait for the network). A
//! successful report completes the row by compare-and-delete; a failed one hands it to the
//! outbox at once (read-merge-write, backoff, offline queue). Reports are never retried or
//! queued. While an item plays, the player is the newest local change: nothing here moves mpv.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::thresholds::{Thresholds, Verdict};
use super::{EndReason, Playback, PlayerEvent};
use crate::backend::session::{PlaybackServer, ReportKind, SessionReport};
use crate::backend::ErrorKind;
use crate::clock::Clock;
use crate::model::{LocalChange, Millis, ServerKind, UserData};
use crate::store::RecordOutcome;
use crate::sync::checkpoint::{Checkpointer, PlaybackEvent};
use crate::sync::Engine;

/// How long a checkpoint's outbox row waits for its live report before the outbox may send it.
pub const REPORT_HOLD_MS: i64 = 20_000;

/// A playing session that has not reported for longer than this starts again on the server at
/// its next checkpoint (a new start report: Jellyfin adds a play and un-watches).
///
/// Jellyfin stops a session whose last report is more than 5 minutes old, at the position its
/// session clock advanced to (docs/SERVERS.md J2); a progress report after that is taken as a
/// check-in of a session it re-creates, and never un-watches (`UpdatePlayState`), so only a
/// new start undoes an idle stop past 90 %. The server answers no error that would tell (it
/// accepts a progress report for a session it stopped: `RequestHelpers.GetSession` creates
/// one), so the gap is the only sign. 4 minutes, a minute under the server's 5: the gap is
/// measured between our checkpoints, the server's from its receipt of the last report, and a
/// start too many costs one play on the count, a start too few can leave the item "watched".
/// Measured on the session's [`Clock`], the wall clock in the app: Linux's monotonic clock
/// stops during a suspend, the wall clock (and the server's) runs on. Only Jellyfin: Plex's
/// sessions are not known to advance or end by themselves (docs/SERVERS.md).
pub const SESSION_RESTART_AFTER_MS: i64 = 4 * 60_000;

/// A checkpoint the session decided to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// What the player did.
    pub event: PlaybackEvent,
    /// Where it stood (ms).
    pub position_ms: i64,
    /// What that position means.
    pub verdict: Verdict,
    /// The local change to record.
    pub change: LocalChange,
    /// The live reports carrying it, in order.
    pub reports: Vec<ReportKind>,
    /// Paused at the time.
    pub paused: bool,
    /// The last checkpoint of the play.
    pub last: bool,
    /// It starts the server's session again, this long (ms) after the last checkpoint (see
    /// [`SESSION_RESTART_AFTER_MS`]).
    pub restarted_after_ms: Option<i64>,
}

/// The pure state of one play.
#[derive(Debug, Clone)]
pub struct SessionCore {
    item_id: String,
    kind: ServerKind,
    runtime_ms: Option<i64>,
    duration_ms: Option<i64>,
    thresholds: Thresholds,
    checkpointer: Checkpointer,
    position_ms: i64,
    /// Playback began (the first `Restarted`): positions before it are not the item's.
    playing: bool,
    seeking: bool,
    paused: bool,
    recorded_any: bool,
    /// Plex: a view was counted in this session.
    counted: bool,
    ended: bool,
    /// The live reports reach a server (the session may start again after a silence).
    live: bool,
    /// When the last checkpoint was made, and whether the session was playing (not paused)
    /// then: the server's session clock advances from it.
    last_checkpoint: Option<(Millis, bool)>,
}

impl SessionCore {
    /// A play of `item_id` (`runtime_ms` as the server lists it) on a `kind` server, starting
    /// at `start_ms`.
    pub fn new(
        item_id: &str,
        kind: ServerKind,
        runtime_ms: Option<i64>,
        start_ms: i64,
        thresholds: Thresholds,
        interval_ms: i64,
    ) -> SessionCore {
        SessionCore {
            item_id: item_id.to_string(),
            kind,
            runtime_ms: runtime_ms.filter(|r| *r > 0),
            duration_ms: None,
            thresholds,
            checkpointer: Checkpointer::new(interval_ms),
            position_ms: start_ms.max(0),
            playing: false,
            seeking: false,
            paused: false,
            recorded_any: false,
            counted: false,
            ended: false,
            live: true,
            last_checkpoint: None,
        }
    }

    /// Whether the live reports reach a server (default `true`): a play without one (offline)
    /// has no server session to start again.
    pub fn with_live_reports(mut self, live: bool) -> SessionCore {
        self.live = live;
        self
    }

    /// The last position the player reported.
    pub fn position_ms(&self) -> i64 {
        self.position_ms
    }

    fn runtime(&self) -> Option<i64> {
        self.runtime_ms.or(self.duration_ms)
    }

    /// Follow one player event; `Some` when it makes a checkpoint.
    pub fn on_event(&mut self, event: &PlayerEvent, now: Millis) -> Option<Checkpoint> {
        if self.ended {
            return None;
        }
        match event {
            PlayerEvent::Duration(d) => {
                self.duration_ms = Some(*d).filter(|d| *d > 0);
                None
            }
            PlayerEvent::SeekStarted => {
                // The seek of loading (to the start position) comes before playback begins.
                if self.playing {
                    self.seeking = true;
                }
                None
            }
            PlayerEvent::Restarted(at) => {
                if let Some(p) = at {
                    self.position_ms = *p;
                }
                if !self.playing {
                    self.playing = true;
                    self.checkpoint(PlaybackEvent::Tick, now)
                } else if std::mem::take(&mut self.seeking) {
                    self.checkpoint(PlaybackEvent::Seek, now)
                } else {
                    None
                }
            }
            PlayerEvent::Position(p) => {
                self.position_ms = *p;
                if !self.playing || self.seeking || self.paused {
                    return None;
                }
                self.checkpoint(PlaybackEvent::Tick, now)
            }
            PlayerEvent::Paused(paused) => {
                let was = std::mem::replace(&mut self.paused, *paused);
                if *paused && !was && self.playing {
                    self.checkpoint(PlaybackEvent::Pause, now)
                } else {
                    None
                }
            }
            PlayerEvent::Ended(reason) => {
                self.ended = true;
                if *reason == EndReason::Eof {
                    if let Some(r) = self.runtime() {
                        self.position_ms = r;
                    }
                }
                if !self.playing && !self.recorded_any {
                    // Nothing was played (the file did not load): nothing to record.
                    return None;
                }
                let forced_watched = *reason == EndReason::Eof;
                Some(self.make(PlaybackEvent::Stop, forced_watched, now))
            }
        }
    }

    fn checkpoint(&mut self, event: PlaybackEvent, now: Millis) -> Option<Checkpoint> {
        let first = !self.recorded_any;
        // Pauses and seeks are the person's explicit actions: each one is a checkpoint (and a
        // live report), even at a position already recorded. Ticks follow the interval.
        let record = event != PlaybackEvent::Tick
            || self
                .checkpointer
                .should_record(&self.item_id, self.position_ms, event, now);
        if !(record || first) {
            return None;
        }
        Some(self.make(event, false, now))
    }

    fn make(&mut self, event: PlaybackEvent, forced_watched: bool, now: Millis) -> Checkpoint {
        let first = !self.recorded_any;
        self.recorded_any = true;
        // Keep the checkpointer's memory in step (the stop and forced checkpoints included).
        self.checkpointer
            .should_record(&self.item_id, self.position_ms, event, now);
        let verdict = if forced_watched {
            Verdict::Watched
        } else {
            self.thresholds.classify(self.position_ms, self.runtime())
        };
        let watched = verdict == Verdict::Watched;
        let position_ms = match verdict {
            Verdict::Resume(p) => p,
            Verdict::NoResume | Verdict::Watched => 0,
        };
        let jellyfin = self.kind != ServerKind::Plex;
        // A silence the server may have ended the session in (it advanced a playing one): the
        // session starts again, as the first time.
        let restarted_after_ms = match self.last_checkpoint {
            Some((at, true)) if jellyfin && self.live && now - at > SESSION_RESTART_AFTER_MS => {
                Some(now - at)
            }
            _ => None,
        };
        self.last_checkpoint = Some((now, !self.paused));
        let start = first || restarted_after_ms.is_some();
        let (add_play, unwatch) = if jellyfin {
            (start, start)
        } else {
            (watched && !self.counted, false)
        };
        if watched {
            self.counted = true;
        }
        let last = event == PlaybackEvent::Stop;
        let reports = match (start, last, jellyfin) {
            (true, true, true) => vec![ReportKind::Start, ReportKind::Stopped],
            (true, false, true) => vec![ReportKind::Start, ReportKind::Progress],
            (true, false, false) => vec![ReportKind::Start],
            (_, true, _) => vec![ReportKind::Stopped],
            (false, false, _) => vec![ReportKind::Progress],
        };
        Checkpoint {
            event,
            position_ms: self.position_ms,
            verdict,
            change: LocalChange::Playback {
                position_ms,
                watched,
                add_play,
                unwatch,
            },
            reports,
            paused: self.paused,
            last,
            restarted_after_ms,
        }
    }

    /// The live report of `kind` for `checkpoint`.
    pub fn report(&self, kind: ReportKind, c: &Checkpoint, play_session_id: &str) -> SessionReport {
        SessionReport {
            kind,
            item_id: self.item_id.clone(),
            position_ms: c.position_ms,
            duration_ms: self.runtime(),
            paused: c.paused,
            play_session_id: play_session_id.to_string(),
        }
    }
}

/// A checkpoint as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub checkpoint: Checkpoint,
    /// The local state after it.
    pub state: UserData,
}

/// How a play went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Every checkpoint, in order.
    pub recorded: Vec<Recorded>,
    /// Live reports the server accepted / that failed.
    pub reports_sent: usize,
    pub reports_failed: usize,
    /// Why playback ended.
    pub end: EndReason,
}

impl Summary {
    /// The last checkpoint.
    pub fn last(&self) -> Option<&Recorded> {
        self.recorded.last()
    }
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub thresholds: Thresholds,
    /// Checkpoint interval while playing (ms).
    pub interval_ms: i64,
    /// See [`REPORT_HOLD_MS`].
    pub hold_ms: i64,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            thresholds: Thresholds::default(),
            interval_ms: 15_000,
            hold_ms: REPORT_HOLD_MS,
        }
    }
}

/// What to play: the item as known locally.
#[derive(Debug, Clone)]
pub struct Target {
    pub item_id: String,
    pub kind: ServerKind,
    pub runtime_ms: Option<i64>,
    pub start_ms: i64,
}

/// Drive `playback` to its end: record each checkpoint through `engine`, report it live
/// through `reporter` (`None`: offline, e.g. a downloaded item with the server unreachable),
/// call `on_recorded` after each. Returns when the player has gone and every report is done.
pub async fn run(
    engine: &Engine,
    clock: Arc<dyn Clock>,
    reporter: Option<Arc<dyn PlaybackServer>>,
    mut playback: Playback,
    target: &Target,
    config: &SessionConfig,
    mut on_recorded: impl FnMut(&Recorded) + Send,
) -> Summary {
    let mut core = SessionCore::new(
        &target.item_id,
        target.kind,
        target.runtime_ms,
        target.start_ms,
        config.thresholds,
        config.interval_ms,
    )
    .with_live_reports(reporter.is_some());
    let play_session_id = uuid::Uuid::new_v4().simple().to_string();
    // Until the play ends, what its server session does by itself is ours (a pull that sees
    // it leaves the item to the player).
    let (thresholds, runtime) = (config.thresholds, target.runtime_ms);
    let _open = engine.open_play(
        &target.item_id,
        Arc::new(move |p| match thresholds.classify(p, runtime) {
            Verdict::Watched => (true, 0),
            Verdict::NoResume => (false, 0),
            Verdict::Resume(p) => (false, p),
        }),
    );
    let (to_reporter, queue) = mpsc::unbounded_channel::<Carried>();
    let reporting = reporter.map(|server| {
        tokio::spawn(report_loop(
            engine.clone(),
            clock.clone(),
            server,
            target.item_id.clone(),
            target.kind != ServerKind::Plex,
            queue,
        ))
    });
    let mut recorded = Vec::new();
    let mut end = EndReason::Gone("the player sent no end".into());
    while let Some(event) = playback.events.recv().await {
        if let PlayerEvent::Ended(reason) = &event {
            end = reason.clone();
        }
        let Some(checkpoint) = core.on_event(&event, clock.now()) else {
            continue;
        };
        let outcome = engine.record_checkpoint(&target.item_id, checkpoint.change, config.hold_ms);
        let (state, change_seq) = match outcome {
            Ok((state, RecordOutcome::Queued { change_seq })) => (state, Some(change_seq)),
            Ok((state, RecordOutcome::Dropped)) => (state, None),
            Err(e) => {
                tracing::error!(error = %e, "checkpoint not recorded");
                continue;
            }
        };
        if reporting.is_some() {
            let reports = checkpoint
                .reports
                .iter()
                .map(|k| core.report(*k, &checkpoint, &play_session_id))
                .collect();
            // Read back what the server holds where its effects include what the client cannot
            // compute (its last-played date at the start, its count at the end).
            let read_back = checkpoint.reports.first() == Some(&ReportKind::Start)
                || checkpoint.last
                || checkpoint.verdict == Verdict::Watched;
            // The reporter is gone only if it panicked; the outbox has the change anyway.
            let _ = to_reporter.send(Carried {
                reports,
                change: checkpoint.change,
                change_seq,
                read_back,
            });
        }
        let r = Recorded { checkpoint, state };
        on_recorded(&r);
        recorded.push(r);
    }
    drop(to_reporter);
    let (sent, failed) = match reporting {
        Some(task) => task.await.unwrap_or((0, 0)),
        None => (0, 0),
    };
    Summary {
        recorded,
        reports_sent: sent,
        reports_failed: failed,
        end,
    }
}

/// One checkpoint on its way to the server.
struct Carried {
    reports: Vec<SessionReport>,
    change: LocalChange,
    change_seq: Option<i64>,
    read_back: bool,
}

/// Send each checkpoint's reports in order; deliver or hand over to the outbox. Each accepted
/// report is the server session's check-in (`advancing`: a Jellyfin session clock runs from a
/// playing one).
async fn report_loop(
    engine: Engine,
    clock: Arc<dyn Clock>,
    server: Arc<dyn PlaybackServer>,
    item: String,
    advancing: bool,
    mut queue: mpsc::UnboundedReceiver<Carried>,
) -> (usize, usize) {
    let (mut sent, mut failed) = (0, 0);
    let mut offline = false;
    while let Some(Carried {
        reports,
        change,
        change_seq,
        read_back,
    }) = queue.recv().await
    {
        let mut ok = !offline;
        if !offline {
            for report in &reports {
                let sent_at = clock.now();
                match server.report(report).await {
                    Ok(()) => {
                        sent += 1;
                        let advances =
                            advancing && !report.paused && report.kind != ReportKind::Stopped;
                        engine.play_checked_in(&item, report.position_ms, advances, sent_at);
                    }
                    Err(e) => {
                        failed += 1;
                        ok = false;
                        tracing::info!(kind = e.kind.as_str(), detail = %e.detail, "live report failed; the outbox delivers the change");
                        // An unreachable server is not asked again during this play.
                        offline = e.kind == ErrorKind::Offline;
                        break;
                    }
                }
            }
        }
        let result = if ok {
            let server_now = if read_back {
                server.user_data(&item).await.ok().flatten()
            } else {
                None
            };
            engine
                .deliver_report(&item, change, change_seq, server_now)
                .map(|_| ())
        } else {
            engine.report_failed(&item)
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "report outcome not stored");
        }
    }
    (sent, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNTIME: i64 = 1_800_000;

    fn core(kind: ServerKind) -> SessionCore {
        SessionCore::new(
            "e",
            kind,
            Some(RUNTIME),
            720_000,
            Thresholds::default(),
            15_000,
        )
    }

    fn play(c: &mut SessionCore, events: &[PlayerEvent], t0: Millis) -> Vec<Checkpoint> {
        events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| c.on_event(e, t0 + i as i64 * 1_000))
            .collect()
    }

    #[test]
    fn first_report_interval_pause_seek_and_eof() {
        use PlayerEvent::*;
        let mut c = core(ServerKind::Jellyfin);
        // Before playback restarts, positions are not the item's.
        assert_eq!(c.on_event(&SeekStarted, 0), None);
        assert_eq!(c.on_event(&Position(720_000), 0), None);
        let first = c.on_event(&Restarted(None), 10).unwrap();
        assert_eq!(first.position_ms, 720_000);
        assert_eq!(first.reports, vec![ReportKind::Start, ReportKind::Progress]);
        assert_eq!(
            first.change,
            LocalChange::Playback {
                position_ms: 720_000,
                watched: false,
                add_play: true,
                unwatch: true
            }
        );
        // Ticks within 15 s: nothing; at 15 s: one.
        assert_eq!(c.on_event(&Position(725_000), 5_000), None);
        let tick = c.on_event(&Position(735_000), 15_010).unwrap();
        assert_eq!(tick.event, PlaybackEvent::Tick);
        assert_eq!(tick.reports, vec![ReportKind::Progress]);
        // Pause: at once; no ticks while paused.
        let pause = c.on_event(&Paused(true), 16_000).unwrap();
        assert_eq!((pause.event, pause.paused), (PlaybackEvent::Pause, true));
        assert_eq!(c.on_event(&Paused(true), 16_500), None);
        // Seek (while paused): recorded at the new position once playback restarts.
        assert_eq!(c.on_event(&SeekStarted, 17_000), None);
        assert_eq!(c.on_event(&Position(300_000), 17_100), None, "mid-seek");
        let seek = c.on_event(&Restarted(None), 17_300).unwrap();
        assert_eq!(
            (seek.event, seek.position_ms),
            (PlaybackEvent::Seek, 300_000)
        );
        assert_eq!(c.on_event(&Paused(false), 18_000), None);
        let end = c.on_event(&Ended(EndReason::Eof), 19_000).unwrap();
        assert!(end.last);
        assert_eq!(end.verdict, Verdict::Watched);
        assert_eq!(end.reports, vec![ReportKind::Stopped]);
        assert_eq!(end.position_ms, RUNTIME);
        assert_eq!(
            c.on_event(&Position(1), 20_000),
            None,
            "nothing after the end"
        );
    }

    #[test]
    fn past_90_percent_records_watched_and_a_seek_back_a_position_again() {
        use PlayerEvent::*;
        let mut c = core(ServerKind::Plex);
        let cps = play(
            &mut c,
            &[
                Position(1_650_000),
                Restarted(None),
                Paused(true),
                SeekStarted,
                Position(600_000),
                Restarted(None),
                Paused(false),
                Ended(EndReason::Quit),
            ],
            0,
        );
        let verdicts: Vec<Verdict> = cps.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Watched,
                Verdict::Watched,
                Verdict::Resume(600_000),
                Verdict::Resume(600_000)
            ]
        );
        // Plex counts the view once per session, not at the start.
        let plays: Vec<bool> = cps
            .iter()
            .map(|c| matches!(c.change, LocalChange::Playback { add_play: true, .. }))
            .collect();
        assert_eq!(plays, vec![true, false, false, false]);
        assert_eq!(cps[0].reports, vec![ReportKind::Start]);
    }

    #[test]
    fn a_player_killed_mid_play_records_the_last_known_position() {
        use PlayerEvent::*;
        let mut c = core(ServerKind::Jellyfin);
        let cps = play(
            &mut c,
            &[
                Position(720_000),
                Restarted(None),
                Position(721_000),
                Position(722_000),
                Ended(EndReason::Gone("killed".into())),
            ],
            0,
        );
        assert_eq!(cps.len(), 2);
        assert_eq!(cps[1].verdict, Verdict::Resume(722_000));
        assert!(cps[1].last);
    }

    /// More than [`SESSION_RESTART_AFTER_MS`] without a checkpoint while playing: the next
    /// one starts the Jellyfin session again (a play added, un-watched, like the first). Not
    /// after exactly that long, not after a pause (the server's session did not advance), not
    /// on Plex, not offline.
    #[test]
    fn a_silence_longer_than_the_servers_timeout_starts_the_session_again() {
        use PlayerEvent::*;
        let gap = SESSION_RESTART_AFTER_MS;
        let after = |kind: ServerKind, live: bool, pause: bool, silence: i64| {
            let mut c = core(kind).with_live_reports(live);
            let first = c.on_event(&Restarted(None), 0).unwrap();
            assert_eq!(first.restarted_after_ms, None);
            let mut last = 0;
            if pause {
                last = 1_000;
                c.on_event(&Paused(true), last).unwrap();
                assert_eq!(c.on_event(&Paused(false), last + silence), None);
            }
            c.on_event(&Position(800_000), last + silence).unwrap()
        };
        let again = after(ServerKind::Jellyfin, true, false, gap + 1);
        assert_eq!(again.restarted_after_ms, Some(gap + 1));
        assert_eq!(again.reports, vec![ReportKind::Start, ReportKind::Progress]);
        assert_eq!(
            again.change,
            LocalChange::Playback {
                position_ms: 800_000,
                watched: false,
                add_play: true,
                unwatch: true
            }
        );
        let on = after(ServerKind::Jellyfin, true, false, gap);
        assert_eq!(
            (on.restarted_after_ms, on.reports),
            (None, vec![ReportKind::Progress])
        );
        for (kind, live, pause) in [
            (ServerKind::Jellyfin, true, true),
            (ServerKind::Plex, true, false),
            (ServerKind::Jellyfin, false, false),
        ] {
            let c = after(kind, live, pause, 10 * gap);
            assert_eq!(
                c.restarted_after_ms, None,
                "{kind:?} live {live} paused {pause}"
            );
            assert!(!c.reports.contains(&ReportKind::Start));
        }
        // The stop after a silence starts again too: start, then stopped.
        let mut c = core(ServerKind::Jellyfin);
        c.on_event(&Restarted(None), 0).unwrap();
        let end = c.on_event(&Ended(EndReason::Quit), gap + 2).unwrap();
        assert_eq!(end.reports, vec![ReportKind::Start, ReportKind::Stopped]);
    }

    #[test]
    fn a_file_that_never_played_records_nothing() {
        let mut c = core(ServerKind::Jellyfin);
        assert_eq!(
            c.on_event(&PlayerEvent::Ended(EndReason::Error("404".into())), 0),
            None
        );
    }
}
