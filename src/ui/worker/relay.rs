//! The relay: engine events to the screen's messages (badges, counts, notices, the
//! account's state), gathered and coalesced on the worker's runtime.

use super::*;

/// What the UI was told about the running engine's items, so every change reaches its badge
/// and the needs-attention list changes one item at a time.
#[derive(Debug, Default)]
pub(super) struct Shown {
    /// Items whose badge shows a change under way, with that state.
    open: HashMap<String, ItemSyncState>,
    /// Items on the needs-attention list.
    attention: HashSet<String>,
    /// The store-trouble sentence shown, per source (the engine's loop, the worker's writes).
    trouble: [Option<String>; 2],
    /// Override notices shown: item → when the merge decided.
    pub(super) overridden: HashMap<String, Millis>,
}

/// Who ran into the store trouble: the engine's loop or a write of the worker.
#[derive(Debug, Clone, Copy)]
pub(super) enum Trouble {
    Engine = 0,
    Worker = 1,
}

/// Tells the UI where each change stands. Shared by the worker and its event task.
#[derive(Clone)]
pub(super) struct Relay {
    engine: Engine,
    out: relm4::Sender<SyncQueueOutput>,
    /// The server's name, for the human messages.
    server: String,
    shown: Arc<Mutex<Shown>>,
}

impl Relay {
    pub(super) fn new(
        engine: Engine,
        out: relm4::Sender<SyncQueueOutput>,
        server: String,
    ) -> Relay {
        Relay {
            engine,
            out,
            server,
            shown: Arc::default(),
        }
    }

    pub(super) fn shown(&self) -> std::sync::MutexGuard<'_, Shown> {
        self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The list entry of a row that needs attention.
    pub(super) fn attention_item(&self, store: &mut Store, row: &OutboxRow) -> AttentionItem {
        let account = self.engine.account();
        let title = match store.item(account, &row.item_id) {
            Ok(Some(i)) => {
                let code = crate::ui::format::episode_code(i.season_number, i.episode_number);
                if code.is_empty() {
                    i.name
                } else {
                    format!("{code} · {}", i.name)
                }
            }
            _ => row.item_id.clone(),
        };
        let detail = row.error_detail.clone().unwrap_or_default();
        AttentionItem {
            item_id: row.item_id.clone(),
            title,
            reason: crate::ui::format::attention_reason(row.error_kind, &detail, &self.server),
            detail,
        }
    }

    /// Send `state` to the item's badge (a needs-attention state keeps its kind and raw
    /// detail: the badge words it), and the needs-attention list follows.
    pub(super) fn item_state(&self, item: String, state: ItemSyncState) {
        if let ItemSyncState::NeedsAttention { kind, detail } = &state {
            let account = self.engine.account();
            let entry = self
                .engine
                .with_store(|s| match s.outbox_row(account, &item) {
                    Ok(Some(row)) => Some(self.attention_item(s, &row)),
                    _ => None,
                });
            let entry = entry.unwrap_or_else(|| AttentionItem {
                item_id: item.clone(),
                title: item.clone(),
                reason: crate::ui::format::attention_reason(Some(*kind), detail, &self.server),
                detail: detail.clone(),
            });
            self.shown().attention.insert(item.clone());
            let _ = self
                .out
                .send(SyncQueueOutput::AttentionAdded { item: entry });
        } else if self.shown().attention.remove(&item) {
            let _ = self
                .out
                .send(SyncQueueOutput::AttentionRemoved { item: item.clone() });
        }
        {
            let mut shown = self.shown();
            if is_open(&state) {
                shown.open.insert(item.clone(), state.clone());
            } else {
                shown.open.remove(&item);
            }
        }
        let _ = self.out.send(SyncQueueOutput::ItemState { item, state });
    }

    /// Make the badges of `items` and their places on the needs-attention list match their
    /// outbox rows (after a merge that may have emptied a row).
    pub(super) fn resync_items(&self, items: &[String]) {
        let account = self.engine.account();
        let state = self.engine.account_state();
        for item in items {
            let row = self
                .engine
                .with_store(|s| s.outbox_row(account, item))
                .ok()
                .flatten();
            let shown = self.shown().open.get(item).cloned();
            let badge = match row {
                Some(row) => ItemSyncState::for_row(&row, state),
                // Left the outbox (delivered, or emptied by a merge): the server holds it.
                None if shown.as_ref().is_some_and(is_open) => ItemSyncState::Synced,
                None => continue,
            };
            if shown.as_ref() != Some(&badge) {
                self.item_state(item.clone(), badge);
            }
        }
    }

    /// Make every badge and the whole needs-attention list match the outbox again: at start,
    /// after missed events, or when the counts disagree with the list.
    pub(super) fn resync(&self) {
        let account = self.engine.account();
        let state = self.engine.account_state();
        let (rows, entries) = self.engine.with_store(|s| {
            let rows = s.outbox(account).unwrap_or_default();
            let entries: Vec<AttentionItem> = rows
                .iter()
                .filter(|r| r.state == RowState::NeedsAttention)
                .map(|r| self.attention_item(s, r))
                .collect();
            (rows, entries)
        });
        let mut badges: Vec<(String, ItemSyncState)> = Vec::new();
        {
            let shown = self.shown();
            let queued: HashSet<&str> = rows.iter().map(|r| r.item_id.as_str()).collect();
            // Changes that left the outbox meanwhile (delivered, or emptied by a merge).
            for id in shown.open.keys() {
                if !queued.contains(id.as_str()) {
                    badges.push((id.clone(), ItemSyncState::Synced));
                }
            }
            for row in &rows {
                let badge = ItemSyncState::for_row(row, state);
                if shown.open.get(&row.item_id) != Some(&badge) {
                    badges.push((row.item_id.clone(), badge));
                }
            }
        }
        {
            let mut shown = self.shown();
            shown.attention = entries.iter().map(|e| e.item_id.clone()).collect();
            for (id, badge) in &badges {
                if is_open(badge) {
                    shown.open.insert(id.clone(), badge.clone());
                } else {
                    shown.open.remove(id);
                }
            }
        }
        let _ = self.out.send(SyncQueueOutput::Attention { items: entries });
        for (item, state) in badges {
            let _ = self.out.send(SyncQueueOutput::ItemState { item, state });
        }
    }

    /// The store of `source` failed (`Some(raw)`: the error, never shown as is) or worked
    /// again. One message is shown while any source is in trouble.
    pub(super) fn store_trouble(&self, source: Trouble, raw: Option<&str>) {
        let message = {
            let mut shown = self.shown();
            let before = shown.trouble.iter().flatten().next().cloned();
            shown.trouble[source as usize] = raw.map(crate::ui::format::store_trouble);
            let after = shown.trouble.iter().flatten().next().cloned();
            if before == after {
                return;
            }
            after
        };
        let _ = self.out.send(SyncQueueOutput::StoreTrouble { message });
    }

    /// Read the override notices again and send them when they changed; with `announce`, the
    /// ones not shown before are marked new (the app toasts them). A notice already shown is not
    /// announced again (a re-read after a change, or at start, only updates the rows).
    pub(super) fn overridden(&self, announce: bool) {
        let entries = match self.engine.overridden() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "override notices not read");
                return;
            }
        };
        let now: HashMap<String, Millis> =
            entries.iter().map(|o| (o.item_id.clone(), o.at)).collect();
        let new: Vec<String> = {
            let mut shown = self.shown();
            if shown.overridden == now {
                return;
            }
            let new = entries
                .iter()
                .filter(|o| announce && shown.overridden.get(&o.item_id) != Some(&o.at))
                .map(|o| o.item_id.clone())
                .collect();
            shown.overridden = now;
            new
        };
        let account = self.engine.account();
        let ids: Vec<String> = entries.iter().map(|o| o.item_id.clone()).collect();
        let views = self
            .engine
            .with_store(|s| s.items_by_ids(account, &ids))
            .unwrap_or_default();
        let items = entries
            .into_iter()
            .map(|o| {
                let title = views
                    .iter()
                    .find(|v| v.item_id == o.item_id)
                    .map(|i| {
                        let code =
                            crate::ui::format::episode_code(i.season_number, i.episode_number);
                        if code.is_empty() {
                            i.name.clone()
                        } else {
                            format!("{code} · {}", i.name)
                        }
                    })
                    .unwrap_or_else(|| o.item_id.clone());
                OverriddenItem {
                    item_id: o.item_id,
                    title,
                    kept: o.kept,
                    yours: o.yours,
                    after_unknown_outcome: o.after_unknown_outcome,
                }
            })
            .collect();
        let _ = self.out.send(SyncQueueOutput::Overridden { items, new });
    }

    /// New counts: the list is repaired first if it disagrees, so the popover's header, its
    /// list and the button always count the same changes.
    pub(super) fn counts(&self, counts: Counts) {
        if counts.needs_attention != self.shown().attention.len() {
            self.resync();
        }
        let _ = self.out.send(SyncQueueOutput::Counts { counts });
    }
}

/// Sleeps until `deadline`; with none, never wakes (a `select!` arm that is off).
pub(super) async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Turn engine events into worker outputs, gathering failures for [`FAILURE_WINDOW`].
pub(super) async fn forward_events(
    relay: Relay,
    mut events: tokio::sync::broadcast::Receiver<SyncEvent>,
) {
    let engine = relay.engine.clone();
    let out = relay.out.clone();
    let mut burst: HashMap<&'static str, (SyncError, std::collections::BTreeSet<String>)> =
        HashMap::new();
    let mut burst_until: Option<tokio::time::Instant> = None;
    let mut overridden_until: Option<tokio::time::Instant> = None;
    let mut account = engine.account_state();
    loop {
        let deadline = burst_until;
        let event = tokio::select! {
            e = events.recv() => e,
            _ = until(overridden_until) => {
                overridden_until = None;
                relay.overridden(true);
                continue;
            }
            _ = until(deadline) => {
                let pending = engine.counts().map(|c| c.total()).unwrap_or(0);
                let account_id = engine.account();
                for (_, (error, items)) in burst.drain() {
                    // The burst is gathered for a moment; a server that came back meanwhile
                    // makes its "can't be reached" notice stale.
                    if error.kind == ErrorKind::Offline
                        && engine.account_state() != AccountState::Offline
                    {
                        continue;
                    }
                    // A change discarded or delivered meanwhile is no longer one that "couldn't
                    // be saved".
                    let items: Vec<String> = items
                        .into_iter()
                        .filter(|id| {
                            engine.with_store(|s| {
                                s.outbox_row(account_id, id).map_or(true, |r| r.is_some())
                            })
                        })
                        .collect();
                    if items.is_empty() {
                        continue;
                    }
                    let _ = out.send(SyncQueueOutput::Notice {
                        error,
                        items,
                        pending,
                        server: relay.server.clone(),
                    });
                }
                burst_until = None;
                continue;
            }
        };
        match event {
            Ok(SyncEvent::ItemState { item_id, state }) => {
                if matches!(state, ItemSyncState::Synced | ItemSyncState::Discarded) {
                    send_item(&engine, &out, &item_id);
                }
                if state == ItemSyncState::Synced {
                    let _ = out.send(SyncQueueOutput::Synced {
                        at: SystemClock.now(),
                    });
                }
                relay.item_state(item_id, state);
            }
            Ok(SyncEvent::Merged { item_id, outcome }) => {
                send_item(&engine, &out, &item_id);
                // It may have kept another device's value over the person's: the notices are
                // read again once the merges of the moment are done.
                if overridden_until.is_none() {
                    overridden_until = Some(tokio::time::Instant::now() + OVERRIDDEN_WINDOW);
                }
                match merged_badge(&outcome) {
                    Some(state) => relay.item_state(item_id, state),
                    // A merge that left nothing to send (the server already holds it) empties
                    // the row: its "queued" badge must not stay.
                    None => relay.resync_items(&[item_id]),
                }
            }
            // The live connection only changes how fast remote changes arrive; nothing to show.
            Ok(SyncEvent::Live { .. }) => {}
            Ok(SyncEvent::Account { state }) => {
                // Back from offline: the engine flushes the queue at once (its reads make that
                // safe); a pull follows for what other devices changed meanwhile.
                if state == AccountState::Online && account == AccountState::Offline {
                    engine.pull_soon();
                }
                account = state;
                // Persisted, so `playmark status` / `accounts` know it too.
                let status = crate::account::session::account_status(state);
                let id = engine.account();
                if let Err(e) = engine.with_store(|s| s.set_account_state(id, status)) {
                    tracing::warn!(error = %e, "account state not persisted");
                }
                let _ = out.send(SyncQueueOutput::AccountState { state });
            }
            Ok(SyncEvent::Counts { counts }) => relay.counts(counts),
            Ok(SyncEvent::StoreTrouble { message }) => {
                relay.store_trouble(Trouble::Engine, Some(&message));
            }
            Ok(SyncEvent::StoreRecovered) => relay.store_trouble(Trouble::Engine, None),
            Ok(SyncEvent::Failure { error, items }) => {
                let entry = burst
                    .entry(error.kind.as_str())
                    .or_insert_with(|| (error, Default::default()));
                entry.1.extend(items);
                if burst_until.is_none() {
                    burst_until = Some(tokio::time::Instant::now() + FAILURE_WINDOW);
                }
            }
            Err(RecvError::Lagged(n)) => {
                // Missed events: send the whole picture again, data and states.
                tracing::debug!(missed = n, "event receiver lagged");
                let account = engine.account();
                let items = engine.with_store(|s| s.items(account)).unwrap_or_default();
                for item in items {
                    let _ = out.send(SyncQueueOutput::ItemData { item });
                }
                relay.resync();
                relay.overridden(true);
                if let Ok(counts) = engine.counts() {
                    relay.counts(counts);
                }
                let _ = out.send(SyncQueueOutput::AccountState {
                    state: engine.account_state(),
                });
            }
            Err(RecvError::Closed) => break,
        }
    }
}

/// The badge a merge deserves: only when another device's change reached this one.
pub(super) fn merged_badge(outcome: &Outcome) -> Option<ItemSyncState> {
    let (conflict, kept_server) = match outcome.decision {
        Decision::AdoptedServer => (false, true),
        Decision::Conflict { winner, .. } => (true, winner == Side::Server),
        Decision::Unchanged | Decision::KeptLocal | Decision::Combined => return None,
    };
    Some(ItemSyncState::Merged {
        conflict,
        kept_server,
        position_ms: outcome.result.position_ms,
        played: outcome.result.played,
    })
}
