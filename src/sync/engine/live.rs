//! Live updates: the server's push channel, applied through the merge.

use super::*;

impl Engine {
    /// Apply user data the server pushed (live update) through the same merge as a scan, as
    /// the message says it (the simulation and tests; the live loop reads the items first, see
    /// [`Engine::apply_live_hint`]).
    pub fn apply_live_user_data(
        &self,
        updates: &[(String, UserData)],
    ) -> Result<RefreshStats, StoreError> {
        let updates = self.not_our_sessions(updates.to_vec(), |(id, u)| (id, u));
        let now = self.now();
        let report =
            self.with_store(|s| s.merge_remote_user_data(self.shared.account, &updates, now))?;
        Ok(self.live_merged(&report))
    }

    /// A live message was merged: count it and tell the listeners.
    fn live_merged(&self, report: &MergeReport) -> RefreshStats {
        self.shared
            .stats
            .live_updates
            .fetch_add(1, Ordering::Relaxed);
        self.emit_merges(report);
        if !report.merges.is_empty() {
            self.emit_counts();
        }
        report.stats
    }

    /// A live message as the app's live loop takes it: a hint, not news. Its values may be
    /// older than what the store knows — computed by the server before one of our writes
    /// landed, delivered after that write's answer (two connections, no order between them),
    /// and applied as they are it would move the item back and call our own value "another
    /// device's". So the playable items it names that are known here are read by id, with a
    /// read mark taken first, and merged like a listing: a write of ours completing meanwhile
    /// is newer and its item is left alone (see `ReadMark`). One request per message (Jellyfin
    /// sends at most one per 500 ms, debounced). A failed read changes nothing: the next pull
    /// catches up.
    pub async fn apply_live_hint(
        &self,
        updates: &[(String, UserData)],
    ) -> Result<RefreshStats, EngineError> {
        let account = self.shared.account;
        let named: Vec<String> = updates.iter().map(|(id, _)| id.clone()).collect();
        let ids: Vec<String> = self
            .with_store(|s| s.items_by_ids(account, &named))?
            .into_iter()
            .filter(|i| i.kind.is_playable())
            .map(|i| i.item_id)
            .collect();
        if ids.is_empty() {
            return Ok(RefreshStats::default());
        }
        let read_at = self.with_store(|s| s.read_mark())?;
        let mut found = Vec::new();
        for chunk in ids.chunks(MAX_READ_IDS) {
            found.extend(self.shared.server.fetch_by_ids(chunk).await?);
        }
        let found = self.not_our_sessions(found, |i| (&i.id, &i.user_data));
        let now = self.now();
        let report = self.with_store(|s| s.merge_remote_items(account, &found, read_at, now))?;
        Ok(self.live_merged(&report))
    }

    /// Live updates ([`MediaServer::live_updates`]): keep a connection open and apply each
    /// change through the merge ([`Engine::apply_live_hint`]). On a drop, reconnect with backoff and scan once (changes made
    /// while disconnected are caught up). Returns at once when the server has no live
    /// channel (scans then are the only pull), and on [`Engine::shutdown`].
    pub async fn run_live(&self) {
        let mut attempt: u32 = 0;
        let mut connected_before = false;
        loop {
            let shutdown = self.shared.side_notify.notified();
            tokio::pin!(shutdown);
            // Registered before the flag is checked, so a shutdown in between is not missed.
            shutdown.as_mut().enable();
            if self.shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            let connected = tokio::select! {
                r = self.shared.server.live_updates() => r,
                _ = &mut shutdown => return,
            };
            match connected {
                Ok(None) => return,
                Ok(Some(mut stream)) => {
                    attempt = 0;
                    self.shared
                        .stats
                        .live_connects
                        .fetch_add(1, Ordering::Relaxed);
                    self.emit(SyncEvent::Live { connected: true });
                    if connected_before {
                        if let Err(e) = self.pull(DEFAULT_PAGE_SIZE).await {
                            tracing::debug!(error = %e, "catch-up scan failed");
                        }
                    }
                    connected_before = true;
                    loop {
                        let next = tokio::select! {
                            n = stream.next() => n,
                            _ = &mut shutdown => return,
                        };
                        match next {
                            // Not from our server: nothing of it is ours to store.
                            Some(Ok(_)) if self.account_state() == AccountState::ServerChanged => {}
                            Some(Ok(updates)) => {
                                if let Err(e) = self.apply_live_hint(&updates).await {
                                    tracing::warn!(error = %e, "live update not applied");
                                }
                            }
                            Some(Err(e)) => {
                                tracing::debug!(detail = %e.detail, "live connection lost");
                                break;
                            }
                            None => break,
                        }
                    }
                    self.emit(SyncEvent::Live { connected: false });
                }
                Err(e) => {
                    tracing::debug!(detail = %e.detail, "live connection failed");
                    if !matches!(e.kind, ErrorKind::Offline | ErrorKind::Transient) {
                        // No socket here (404, a proxy), or not allowed: retrying soon will
                        // not help; scans carry on, the socket is tried again at the cap.
                        attempt = attempt.max(16);
                    }
                }
            }
            attempt = attempt.saturating_add(1);
            let delay = {
                let mut rng = lock(&self.shared.rng);
                let b = self.shared.config.live_backoff;
                b.next_delay(attempt.min(64), &mut *rng, None)
                    .max(b.ceiling(attempt.min(64)) / 4)
            };
            let wake = self.now() + delay;
            tokio::select! {
                _ = self.shared.clock.sleep_until(wake) => {}
                _ = &mut shutdown => return,
            }
        }
    }
}
