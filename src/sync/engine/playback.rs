//! Player checkpoints and live session reports, on the engine (see `crate::player::session`),
//! and the plays of ours that are running: what their server sessions may do by themselves is
//! theirs, not another device's ([`Engine::open_play`]).

use super::*;
use crate::store::ReportDelivery;

/// What the server stores when one of our sessions reports or reaches a position: (played,
/// position ms), the server's thresholds applied. The player gives it
/// ([`Engine::open_play`]); the engine does not know the thresholds.
pub type ServerEffect = Arc<dyn Fn(i64) -> (bool, i64) + Send + Sync>;

/// Seconds the server may count beyond our own measure of a silence: its session clock steps
/// in whole seconds from its receipt of a report, and positions are compared in seconds.
pub const SESSION_SLACK_MS: i64 = 5_000;

/// How long after its last report a silent session is stopped at the latest (docs/SERVERS.md
/// J2: the idle timer fires every 5 minutes and stops sessions silent for more than 5): the
/// server's session clock never takes a session further than this from its last report.
pub const SESSION_ADVANCES_AT_MOST_MS: i64 = 10 * 60_000;

/// One play of ours, as the server's session may have seen it: while it runs, and after it
/// ended with a change of it still queued (the outbox's send-time read meets what the session
/// left on the server).
pub(super) struct OpenPlay {
    id: u64,
    /// The play ended ([`OpenPlayGuard`] dropped) with a change of it still queued.
    ended: bool,
    effect: ServerEffect,
    /// The last report the server accepted: (position ms, whether the server's session clock
    /// advances from it (playing on Jellyfin), when it was sent on the engine's clock).
    check_in: Option<(i64, bool, Millis)>,
}

/// Plays of ours that are running, by item ([`Engine::open_play`]).
#[derive(Default)]
pub(super) struct OpenPlays {
    next_id: u64,
    plays: HashMap<String, OpenPlay>,
}

impl OpenPlay {
    /// Whether what the server holds (`remote`: played, position ms) at `now` is what this
    /// session may have left there: the effect of its last report, or of any position the
    /// server's session clock advanced it to since (docs/SERVERS.md J1, J2: a silent session
    /// is stopped at its advanced position, through the thresholds).
    fn explains(&self, remote: (bool, i64), now: Millis) -> bool {
        let Some((from, advances, at)) = self.check_in else {
            // No report reached the server yet: nothing there is ours.
            return false;
        };
        let to = if advances {
            from.saturating_add((now - at).clamp(0, SESSION_ADVANCES_AT_MOST_MS))
                .saturating_add(SESSION_SLACK_MS)
        } else {
            from
        };
        let secs = |ms: i64| ms.max(0) / 1000;
        match remote {
            // Watched (position 0): the furthest point reached passes the watched threshold.
            (true, p) => p == 0 && (self.effect)(to).0,
            // No resume point: the session's own position is under the minimum.
            (false, 0) => (self.effect)(from) == (false, 0),
            // A resume point between the report and how far the session clock went.
            (false, p) => {
                (secs(from)..=secs(to)).contains(&secs(p)) && (self.effect)(p) == (false, p)
            }
        }
    }
}

/// A play of ours registered with the engine; dropping it ends the play (the registration
/// stays while a change of the play is queued, see [`Engine::open_play`]).
#[must_use = "the play is known to the engine only while this lives"]
pub struct OpenPlayGuard {
    engine: Engine,
    item: String,
    id: u64,
}

impl std::fmt::Debug for OpenPlayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPlayGuard")
            .field("item", &self.item)
            .finish()
    }
}

impl Drop for OpenPlayGuard {
    fn drop(&mut self) {
        let queued = self.engine.queued(&self.item);
        let mut open = lock(&self.engine.shared.open_plays);
        if let Some(p) = open.plays.get_mut(&self.item).filter(|p| p.id == self.id) {
            if queued && p.check_in.is_some() {
                p.ended = true;
            } else {
                open.plays.remove(&self.item);
            }
        }
    }
}

impl Engine {
    /// Record a player checkpoint like any local change (play state + outbox row, one
    /// transaction), but due only after `hold_ms`: a live report carrying it is under way and,
    /// when it succeeds, completes the row ([`Engine::deliver_report`]); only what it could not
    /// deliver is sent by the outbox.
    pub fn record_checkpoint(
        &self,
        item: &str,
        change: LocalChange,
        hold_ms: i64,
    ) -> Result<(UserData, RecordOutcome), StoreError> {
        let now = self.now();
        let (state, outcome) =
            self.with_store(|s| s.record_change(self.shared.account, item, change, now, hold_ms))?;
        let badge = match outcome {
            RecordOutcome::Queued { .. } => self.queued_badge(),
            RecordOutcome::Dropped => ItemSyncState::Synced,
        };
        self.emit(SyncEvent::ItemState {
            item_id: item.to_string(),
            state: badge,
        });
        self.emit_counts();
        self.shared.notify.notify_one();
        Ok((state, outcome))
    }

    /// A live report carrying `change` (queued as `change_seq`) succeeded: the base learns
    /// what the server now holds (`server_now` when it was read back) and the row is completed
    /// by compare-and-delete.
    pub fn deliver_report(
        &self,
        item: &str,
        change: LocalChange,
        change_seq: Option<i64>,
        server_now: Option<UserData>,
    ) -> Result<ReportDelivery, StoreError> {
        let now = self.now();
        let (_, outcome) = self.with_store(|s| {
            s.deliver_report(
                self.shared.account,
                item,
                change,
                change_seq,
                server_now,
                now,
            )
        })?;
        if outcome == ReportDelivery::StillQueued {
            self.shared.notify.notify_one();
        } else {
            self.emit(SyncEvent::ItemState {
                item_id: item.to_string(),
                state: ItemSyncState::Synced,
            });
            self.emit_counts();
        }
        Ok(outcome)
    }

    /// A live report for `item` failed: its queued change becomes due now, so the outbox's
    /// read-merge-write delivers it (or waits for the server like any change).
    pub fn report_failed(&self, item: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.with_store(|s| s.make_item_due(self.shared.account, item, now))?;
        self.shared.notify.notify_one();
        Ok(())
    }

    /// A play of `item` began: until the guard is dropped, what the server's session may do
    /// to the item by itself is ours, not another device's. Jellyfin advances a playing
    /// session and stops it at the advanced position after 5 minutes without a report
    /// (docs/SERVERS.md J1, J2); a pull, a live message or its read that sees such a value
    /// (`effect` says what the server stores for a position) leaves the item alone: the
    /// player's next report puts the person's position there (after a long silence through a
    /// new start, `crate::player::session::SESSION_RESTART_AFTER_MS`). A value the session
    /// cannot explain goes through the merge as before.
    ///
    /// A play that ends with a change of it still queued (its reports failed: offline on
    /// waking) stays known until the outbox's send-time read meets it: what the session left
    /// on the server then becomes the base ([`Store::take_session_base`]), so the merge sends
    /// the person's change instead of deciding a conflict with ourselves. Known in memory only:
    /// after a restart of Playmark the queued change merges as any.
    pub fn open_play(&self, item: &str, effect: ServerEffect) -> OpenPlayGuard {
        let mut open = lock(&self.shared.open_plays);
        open.next_id += 1;
        let id = open.next_id;
        open.plays.insert(
            item.to_string(),
            OpenPlay {
                id,
                ended: false,
                effect,
                check_in: None,
            },
        );
        OpenPlayGuard {
            engine: self.clone(),
            item: item.to_string(),
            id,
        }
    }

    /// A live report of an open play of `item`, sent at `sent_at` (on the engine's clock, the
    /// one the session runs on) with
    /// `position_ms`, was accepted; `advances`: the server's session clock runs from it
    /// (Jellyfin, playing, not a stop).
    pub fn play_checked_in(&self, item: &str, position_ms: i64, advances: bool, sent_at: Millis) {
        if let Some(p) = lock(&self.shared.open_plays).plays.get_mut(item) {
            p.check_in = Some((position_ms, advances, sent_at));
        }
    }

    /// Whether a change of `item` is queued (a store failure counts as queued: the
    /// registration then stays, bounded by [`SESSION_ADVANCES_AT_MOST_MS`]).
    fn queued(&self, item: &str) -> bool {
        self.with_store(|s| s.outbox_row(self.shared.account, item))
            .map_or(true, |row| row.is_some())
    }

    /// Forget the ended plays whose queued change is gone (delivered or discarded).
    fn forget_ended_plays(&self) {
        let ended: Vec<String> = lock(&self.shared.open_plays)
            .plays
            .iter()
            .filter(|(_, p)| p.ended)
            .map(|(item, _)| item.clone())
            .collect();
        for item in ended {
            if !self.queued(&item) {
                let mut open = lock(&self.shared.open_plays);
                if open.plays.get(&item).is_some_and(|p| p.ended) {
                    open.plays.remove(&item);
                }
            }
        }
    }

    /// The send-time read (`remote`) of claimed rows: where it holds what a play of ours left
    /// there by itself, that becomes the base before the merge (our own session's doing, not
    /// another device's), and an ended play is forgotten.
    pub(super) fn rebase_our_sessions(
        &self,
        remote: &HashMap<String, UserData>,
    ) -> Result<(), StoreError> {
        if lock(&self.shared.open_plays).plays.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let ours: Vec<(String, UserData)> = {
            let mut open = lock(&self.shared.open_plays);
            let ours: Vec<(String, UserData)> = open
                .plays
                .iter()
                .filter_map(|(item, p)| {
                    let u = remote.get(item)?;
                    p.explains((u.played, u.position_ms), now)
                        .then(|| (item.clone(), *u))
                })
                .collect();
            for (item, _) in &ours {
                if open.plays.get(item).is_some_and(|p| p.ended) {
                    open.plays.remove(item);
                }
            }
            ours
        };
        for (item, u) in &ours {
            tracing::debug!(
                item,
                position_ms = u.position_ms,
                played = u.played,
                "the server's value is our play session's: it becomes the base"
            );
            self.with_store(|s| s.take_session_base(self.shared.account, item, u, now))?;
        }
        Ok(())
    }

    /// Of `updates` (item, what the server holds), those our open plays do not explain.
    pub(super) fn not_our_sessions<T>(
        &self,
        updates: Vec<T>,
        of: impl Fn(&T) -> (&str, &UserData),
    ) -> Vec<T> {
        if lock(&self.shared.open_plays).plays.is_empty() {
            return updates;
        }
        self.forget_ended_plays();
        let open = lock(&self.shared.open_plays);
        let now = self.now();
        updates
            .into_iter()
            .filter(|u| {
                let (item, data) = of(u);
                let ours = open
                    .plays
                    .get(item)
                    .is_some_and(|p| p.explains((data.played, data.position_ms), now));
                if ours {
                    tracing::debug!(
                        item,
                        position_ms = data.position_ms,
                        played = data.played,
                        "the server's value is our open session's; left to the player"
                    );
                }
                !ours
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const RUNTIME: i64 = 44 * MIN;

    /// Jellyfin's defaults on a 44-minute episode: under 5 % no resume point, past 90 %
    /// watched.
    fn play(check_in: Option<(i64, bool, Millis)>) -> OpenPlay {
        OpenPlay {
            id: 1,
            effect: Arc::new(|p| {
                if p * 100 < RUNTIME * 5 {
                    (false, 0)
                } else if p * 100 > RUNTIME * 90 {
                    (true, 0)
                } else {
                    (false, p)
                }
            }),
            check_in,
            ended: false,
        }
    }

    #[test]
    fn what_the_servers_session_may_have_done_is_ours_and_nothing_else() {
        // No report reached the server: nothing there is ours.
        assert!(!play(None).explains((false, 20 * MIN), 0));
        // Playing from 20:00, reported at 0; 9 minutes later the server may hold anything
        // its session clock reached since: 20:00 … 29:00 (and a few seconds).
        let p = play(Some((20 * MIN, true, 0)));
        let now = 9 * MIN;
        for at in [20 * MIN, 25 * MIN, 29 * MIN, 29 * MIN + 4_000] {
            assert!(p.explains((false, at), now), "{at}");
        }
        // Not beyond, not behind (another device), not watched (29:00 is under 90 %).
        for remote in [(false, 31 * MIN), (false, 19 * MIN), (true, 0), (false, 0)] {
            assert!(!p.explains(remote, now), "{remote:?}");
        }
        // The server stops a silent session 10 minutes after its last report at the latest:
        // an hour later nothing beyond 30:00 is ours.
        assert!(p.explains((false, 30 * MIN), 60 * MIN));
        assert!(!p.explains((false, 40 * MIN), 60 * MIN));
        // Near the end the advanced session passes 90 %: watched, position 0 is ours.
        let near = play(Some((38 * MIN, true, 0)));
        assert!(near.explains((true, 0), 3 * MIN));
        assert!(!near.explains((true, 0), 30_000), "not reached yet");
        assert!(!near.explains((true, 5_000), 3 * MIN));
        // Paused (or stopped): the server's session did not move.
        let paused = play(Some((20 * MIN, false, 0)));
        assert!(paused.explains((false, 20 * MIN), 9 * MIN));
        assert!(!paused.explains((false, 21 * MIN), 9 * MIN));
        // Under 5 %: the server stores no resume point.
        assert!(play(Some((MIN, false, 0))).explains((false, 0), MIN));
    }
}
