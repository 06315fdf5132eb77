//! The relay: engine events to the screen's messages (badges, counts, notices, the
//! account's state), gathered and coalesced on the worker's runtime.

use super::*;
use crate::sync::SyncSnapshot;

/// Who ran into the store trouble: the engine's loop or a write of the worker.
#[derive(Debug, Clone, Copy)]
pub(super) enum Trouble {
    Engine = 0,
    Worker = 1,
}

/// Tells the UI where each change stands, from the engine's snapshot and the events that
/// follow it ([`Engine::subscribe_with_snapshot`]); it keeps no copy of what the screen
/// shows. Shared by the worker and its event task.
#[derive(Clone)]
pub(super) struct Relay {
    engine: Engine,
    out: relm4::Sender<SyncQueueOutput>,
    /// The server's name, for the human messages.
    server: String,
    /// The store-trouble sentence of each source (the engine's loop, the worker's writes): one
    /// message shows while either is in trouble. Not the engine's to know: the worker's
    /// writes are its own.
    trouble: Arc<Mutex<[Option<String>; 2]>>,
    /// The override notices toasted already (item → when the merge decided): a notice is
    /// announced once, however often it is read.
    announced: Arc<Mutex<HashMap<String, Millis>>>,
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
            trouble: Arc::default(),
            announced: Arc::default(),
        }
    }

    fn announced(&self) -> std::sync::MutexGuard<'_, HashMap<String, Millis>> {
        self.announced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether an override notice is known for `item` (a new change of the person's replaces
    /// it: the notices are read again).
    pub(super) fn has_notice(&self, item: &str) -> bool {
        self.announced().contains_key(item)
    }

    /// Whether any override notice is known.
    pub(super) fn has_notices(&self) -> bool {
        !self.announced().is_empty()
    }

    /// The list entry of a row that needs attention.
    pub(super) fn attention_item(&self, store: &mut Store, row: &OutboxRow) -> AttentionItem {
        let account = self.engine.account();
        let title = match store.item(account, &row.item_id) {
            Ok(Some(i)) => display_title(&i),
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
    /// detail: the badge words it); a change that needs attention joins the list. The app
    /// takes an item off the list when its badge says something else.
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
            let _ = self
                .out
                .send(SyncQueueOutput::AttentionAdded { item: entry });
        }
        let _ = self.out.send(SyncQueueOutput::ItemState { item, state });
    }

    /// Show the engine's snapshot: every queued change's badge (the screen settles the
    /// others), the whole needs-attention list, the override notices (with `announce`, the
    /// ones not toasted before are), the counts and the account's state. At start and when
    /// the event receiver lagged: the only re-read.
    pub(super) fn show(&self, snapshot: SyncSnapshot, announce: bool) {
        let SyncSnapshot {
            account,
            counts,
            items,
            attention,
            overridden,
        } = snapshot;
        let entries: Vec<AttentionItem> = self.engine.with_store(|s| {
            attention
                .iter()
                .map(|row| self.attention_item(s, row))
                .collect()
        });
        let _ = self.out.send(SyncQueueOutput::Attention { items: entries });
        let _ = self.out.send(SyncQueueOutput::Snapshot { states: items });
        self.notices(overridden, announce);
        let _ = self.out.send(SyncQueueOutput::Counts { counts });
        let _ = self
            .out
            .send(SyncQueueOutput::AccountState { state: account });
    }

    /// The store of `source` failed (`Some(raw)`: the error, never shown as is) or worked
    /// again. One message is shown while any source is in trouble.
    pub(super) fn store_trouble(&self, source: Trouble, raw: Option<&str>) {
        let message = {
            let mut trouble = self.trouble.lock().unwrap_or_else(|p| p.into_inner());
            let before = trouble.iter().flatten().next().cloned();
            trouble[source as usize] = raw.map(crate::ui::format::store_trouble);
            let after = trouble.iter().flatten().next().cloned();
            if before == after {
                return;
            }
            after
        };
        let _ = self.out.send(SyncQueueOutput::StoreTrouble { message });
    }

    /// Read the override notices again and send them; with `announce`, the ones not toasted
    /// before are marked new (the app toasts them). A re-read after a change, or at start,
    /// only updates the rows.
    pub(super) fn overridden(&self, announce: bool) {
        match self.engine.overridden() {
            Ok(entries) => self.notices(entries, announce),
            Err(e) => tracing::warn!(error = %e, "override notices not read"),
        }
    }

    /// Send the override notices `entries` when they changed (see [`Relay::overridden`]).
    fn notices(&self, entries: Vec<crate::store::Overridden>, announce: bool) {
        let now: HashMap<String, Millis> =
            entries.iter().map(|o| (o.item_id.clone(), o.at)).collect();
        let new: Vec<String> = {
            let mut announced = self.announced();
            if *announced == now {
                return;
            }
            let new = entries
                .iter()
                .filter(|o| announce && announced.get(&o.item_id) != Some(&o.at))
                .map(|o| o.item_id.clone())
                .collect();
            *announced = now;
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
            .map(|o| OverriddenItem {
                title: views
                    .iter()
                    .find(|v| v.item_id == o.item_id)
                    .map(display_title)
                    .unwrap_or_else(|| o.item_id.clone()),
                item_id: o.item_id,
                kept: o.kept,
                yours: o.yours,
                after_unknown_outcome: o.after_unknown_outcome,
            })
            .collect();
        let _ = self.out.send(SyncQueueOutput::Overridden { items, new });
    }
}

/// "S01E03 · Title", or the title alone.
fn display_title(i: &ItemView) -> String {
    let code = crate::ui::format::episode_code(i.season_number, i.episode_number);
    if code.is_empty() {
        i.name.clone()
    } else {
        format!("{code} · {}", i.name)
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
    let account_id = engine.account();
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
                    // the row: a "queued" badge must not stay (the screen settles it).
                    None => {
                        let row = engine.with_store(|s| s.outbox_row(account_id, &item_id));
                        match row {
                            Ok(Some(row)) => {
                                relay.item_state(item_id, ItemSyncState::for_row(&row, account))
                            }
                            Ok(None) => {
                                let _ = out.send(SyncQueueOutput::Settled { item: item_id });
                            }
                            Err(e) => tracing::warn!(error = %e, "merged row not read"),
                        }
                    }
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
            Ok(SyncEvent::Counts { counts }) => {
                let _ = out.send(SyncQueueOutput::Counts { counts });
            }
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
                // Missed events: a fresh snapshot and the events after it, and the items' data
                // again. The only re-read.
                tracing::debug!(missed = n, "event receiver lagged");
                match engine.subscribe_with_snapshot() {
                    Ok((snapshot, fresh)) => {
                        events = fresh;
                        let items = engine
                            .with_store(|s| s.items(account_id))
                            .unwrap_or_default();
                        for item in items {
                            let _ = out.send(SyncQueueOutput::ItemData { item });
                        }
                        account = snapshot.account;
                        relay.show(snapshot, true);
                    }
                    // The store fails: the events go on; its trouble is reported by the engine.
                    Err(e) => tracing::warn!(error = %e, "no snapshot after missed events"),
                }
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
