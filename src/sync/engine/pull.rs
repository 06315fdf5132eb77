//! The pull direction: full scans through the merge, and the periodic pull loop.

use super::*;

/// The wait before the next periodic scan: the idle schedule's, or the foreground interval
/// when the app is in front and that is shorter.
fn pull_interval(idle_ms: i64, foreground_ms: Option<i64>) -> i64 {
    match foreground_ms {
        Some(fg) => idle_ms.min(fg),
        None => idle_ms,
    }
}

impl Engine {
    /// Fetch the whole library with user data, page by page, into the store; every playable
    /// item goes through the three-way merge (items with a queued change are never
    /// overwritten: their base moves and the account's policy decides). After a complete scan,
    /// items the server no longer lists are marked removed and their queued changes need
    /// attention ("no longer on the server").
    pub async fn refresh(&self, page_size: u64) -> Result<RefreshStats, EngineError> {
        self.shared.stats.scans.fetch_add(1, Ordering::Relaxed);
        let mut start = 0;
        let mut report = MergeReport::default();
        let mut seen = HashSet::new();
        let mut first_total = None;
        let complete =
            loop {
                // Taken before asking: a write completing while the page is on its way is newer
                // than the page (see `ReadMark`).
                let read_at = self.with_store(|s| s.read_mark())?;
                let page = self
                    .shared
                    .server
                    .fetch_items(start, page_size.max(1))
                    .await?;
                // A server that ignores `startIndex` would hand out the same page forever.
                if page.start != start {
                    return Err(EngineError::Server(SyncError::unexpected_response(
                        format!(
                        "the library listing ignored paging (asked for items from {start}, got \
                     items from {})",
                        page.start
                    ),
                    )));
                }
                let n = page.items.len() as u64;
                let first_total = *first_total.get_or_insert(page.total);
                seen.extend(page.items.iter().map(|i| i.id.clone()));
                // What our own running plays' server sessions did is theirs (`open_play`).
                let items = self.not_our_sessions(page.items, |i| (&i.id, &i.user_data));
                let now = self.now();
                report.absorb(self.with_store(|s| {
                    s.merge_remote_items(self.shared.account, &items, read_at, now)
                })?);
                start += n;
                if n == 0 || start >= page.total {
                    // A library that changed size during the scan may have shifted pages: then
                    // absence proves nothing and no item is marked removed.
                    break start >= page.total && page.total == first_total;
                }
            };
        if complete {
            // Confirm before removing: an item a scan skipped (pages shifting under the sort
            // order) is still there when asked for by id.
            let unseen = self.with_store(|s| s.unseen_items(self.shared.account, &seen))?;
            if !unseen.is_empty() {
                let read_at = self.with_store(|s| s.read_mark())?;
                let found = self.shared.server.fetch_by_ids(&unseen).await?;
                seen.extend(found.iter().map(|i| i.id.clone()));
                let found = self.not_our_sessions(found, |i| (&i.id, &i.user_data));
                let now = self.now();
                report.absorb(self.with_store(|s| {
                    s.merge_remote_items(self.shared.account, &found, read_at, now)
                })?);
            }
            let now = self.now();
            let (removed, attention) =
                self.with_store(|s| s.mark_unseen_removed(self.shared.account, &seen, now))?;
            report.stats.removed += removed;
            for item_id in attention {
                self.emit(SyncEvent::ItemState {
                    item_id,
                    state: ItemSyncState::NeedsAttention {
                        kind: ErrorKind::NotFound,
                        detail: REMOVED_DETAIL.to_string(),
                    },
                });
            }
        }
        self.emit_merges(&report);
        self.emit_counts();
        self.shared
            .last_scan_at
            .store(self.now().max(1), Ordering::SeqCst);
        Ok(report.stats)
    }

    /// [`Engine::refresh`] after checking who answers, when the account expects a server id
    /// ([`EngineConfig::expected_server_id`]): another server at the account's address gets no
    /// scan (its library would mark every item of ours removed) and the account goes to
    /// [`AccountState::ServerChanged`]. The app's loops ([`Engine::run_pull`],
    /// [`Engine::run_live`]'s catch-up) pull this way; one probe request more per scan.
    pub async fn pull(&self, page_size: u64) -> Result<RefreshStats, EngineError> {
        if self.shared.config.expected_server_id.is_some() {
            let info = self.shared.server.probe().await?;
            if self.server_changed(&info.server_id) {
                tracing::warn!(
                    server_id = info.server_id,
                    "another server answers at the account's address; no scan"
                );
                self.set_account(AccountState::ServerChanged);
                return Err(EngineError::ServerChanged {
                    server_id: info.server_id,
                });
            }
        }
        self.refresh(page_size).await
    }

    pub(super) fn emit_merges(&self, report: &MergeReport) {
        for m in &report.merges {
            tracing::info!(item = %m.item_id, outcome = %m.outcome.summary(), "merged");
            self.emit(SyncEvent::Merged {
                item_id: m.item_id.clone(),
                outcome: m.outcome,
            });
        }
        if report.merges.iter().any(|m| m.outcome.push) {
            // A merge queued a state for the server: the drain loop sends it.
            self.shared.notify.notify_one();
        }
    }

    /// The periodic pull ([`EngineConfig::pull`]): a scan at once (unless one just finished),
    /// then one every interval,
    /// backing off while nothing changes on the server. Returns at once when disabled, and on
    /// [`Engine::shutdown`]. Failed scans (offline…) back off the same way. Any finished scan
    /// (a start-up refresh, a live catch-up) restarts the wait; while the app is in front
    /// ([`Engine::set_foreground_pull`]) the wait is at most the foreground interval, a new
    /// idle interval ([`Engine::set_pull_interval`]) applies at once, and
    /// [`Engine::pull_soon`] scans at once.
    pub async fn run_pull(&self) {
        if self.shared.config.pull.is_none() {
            return;
        }
        let mut interval: Option<i64> = None;
        loop {
            let Some(schedule) = self.pull_schedule() else {
                return;
            };
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            // A scan that finished before the loop started (the app's start-up refresh) is
            // this loop's first one.
            let skip = interval.is_none()
                && self.last_scan().is_some()
                && !self.shared.pull_requested.load(Ordering::SeqCst);
            let changed = if skip {
                false
            } else {
                self.shared.pull_requested.store(false, Ordering::SeqCst);
                let epoch = lock(&self.shared.status).epoch;
                let result = self.pull(schedule.page_size).await;
                self.pull_reached(epoch, &result);
                match result {
                    Ok(stats) => stats.adopted + stats.conflicts + stats.removed > 0,
                    Err(e) => {
                        tracing::debug!(error = %e, "periodic pull failed");
                        false
                    }
                }
            };
            let attempted_at = if skip { 0 } else { self.now() };
            // The first sleep is the shortest; then it doubles while nothing changes.
            let mut next = match interval {
                None => schedule.interval_ms,
                Some(prev) => schedule.next_interval(prev, changed),
            };
            interval = Some(next);
            let mut shortest = schedule.interval_ms;
            // Sleep until the next scan is due; a change of the foreground or idle interval or
            // a `pull_soon` wakes the loop to look again.
            loop {
                let shutdown = self.shared.side_notify.notified();
                tokio::pin!(shutdown);
                let poked = self.shared.pull_notify.notified();
                tokio::pin!(poked);
                // Registered before the flags are checked, so nothing in between is missed.
                shutdown.as_mut().enable();
                poked.as_mut().enable();
                if self.shared.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                // Any scan counts (a live reconnect's catch-up, "Sync now"), and so does a failed
                // attempt (no retry storm while offline).
                let scanned_at = attempted_at.max(self.last_scan().unwrap_or(0));
                // A new idle interval (Preferences) starts the schedule afresh from it.
                let now_shortest = self.pull_schedule().map_or(shortest, |s| s.interval_ms);
                if now_shortest != shortest {
                    shortest = now_shortest;
                    next = now_shortest;
                    interval = Some(next);
                }
                let wake = scanned_at + pull_interval(next, self.foreground_pull());
                if self.shared.pull_requested.load(Ordering::SeqCst) || self.now() >= wake {
                    break;
                }
                tokio::select! {
                    _ = self.shared.clock.sleep_until(wake) => {}
                    _ = poked => {}
                    _ = shutdown => return,
                }
            }
        }
    }

    /// What a pull sent at `epoch` says about the account, like any request: a server that
    /// cannot be reached makes it offline (the probe takes over: nothing says "Up to date" while
    /// the server is down, even with nothing queued), a refused sign-in asks for a new one, and
    /// an answer brings an offline account back.
    fn pull_reached(&self, epoch: u64, result: &Result<RefreshStats, EngineError>) {
        let state = match result {
            Ok(_) if self.account_state() == AccountState::Offline => AccountState::Online,
            Err(EngineError::Server(e)) if e.kind == ErrorKind::Offline => AccountState::Offline,
            Err(EngineError::Server(e)) if e.kind == ErrorKind::Auth => AccountState::SignInNeeded,
            _ => return,
        };
        self.set_account_from(epoch, state);
        // The drain loop probes (offline) or sends what waits (online).
        self.shared.notify.notify_one();
    }

    /// The app's window came to the front (`Some(interval)`: pull at least that often) or went
    /// to the back (`None`: the idle schedule of [`EngineConfig::pull`] again). A scan that is
    /// already overdue under the new interval starts at once.
    pub fn set_foreground_pull(&self, interval_ms: Option<i64>) {
        let ms = interval_ms.map_or(0, |ms| ms.max(1));
        self.shared.foreground_pull_ms.store(ms, Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    /// The idle pull schedule's shortest interval changed (the app's Preferences): the
    /// running pull loop uses it from now on, starting from it again (no restart needed). A
    /// scan already overdue under the new interval starts at once. Intervals longer than the
    /// schedule's cap are not doubled.
    pub fn set_pull_interval(&self, interval_ms: i64) {
        self.shared
            .pull_interval_ms
            .store(interval_ms.max(1), Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    /// The idle pull schedule now: [`EngineConfig::pull`] with the interval of
    /// [`Engine::set_pull_interval`] when one was set.
    fn pull_schedule(&self) -> Option<PullSchedule> {
        let schedule = self.shared.config.pull?;
        Some(match self.shared.pull_interval_ms.load(Ordering::SeqCst) {
            0 => schedule,
            ms => PullSchedule {
                interval_ms: ms,
                ..schedule
            },
        })
    }

    /// Ask the pull loop ([`Engine::run_pull`]) for a scan now (e.g. after the server came
    /// back, or "Sync now"). Does nothing without a running pull loop.
    pub fn pull_soon(&self) {
        self.shared.pull_requested.store(true, Ordering::SeqCst);
        self.shared.pull_notify.notify_one();
    }

    fn last_scan(&self) -> Option<Millis> {
        match self.shared.last_scan_at.load(Ordering::SeqCst) {
            0 => None,
            at => Some(at),
        }
    }

    fn foreground_pull(&self) -> Option<i64> {
        match self.shared.foreground_pull_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(ms),
        }
    }
}
