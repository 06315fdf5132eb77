//! The local library: items, what the user sees (`play_state`) and the base (`server_state`).

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::outbox::{self, RowState};
use super::sent;
use super::state::{base_of, base_with_seq, local_of, write_base, write_local};
use super::{Result, Store};
use crate::backend::ErrorKind;
use crate::merge::{merge_on, Decision, LocalSide, Outcome, Policy, ServerDates};
use crate::model::{AccountId, DesiredState, ItemKind, Millis, RemoteItem, UserData};

/// The error detail of a queued change whose item a complete scan no longer found.
pub const REMOVED_DETAIL: &str = "no longer on the server";

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    /// Items seen in this batch.
    pub seen: usize,
    /// Items whose local state was replaced by the server's (no pending change).
    pub updated_local: usize,
    /// Items with a pending change: only the base moved.
    pub kept_local: usize,
    /// Of `updated_local`: items whose local state was there and now reads differently (what
    /// the person sees changed). `updated_local` counts every item without a queued change.
    pub changed_local: usize,
    /// Of `updated_local`: items that had no local state before (first seen).
    pub new_local: usize,
    /// Pending changes dropped because the server already holds the desired state.
    pub already_on_server: usize,
    /// Server changes applied locally (no conflict).
    pub adopted: usize,
    /// Conflicts decided by the policy.
    pub conflicts: usize,
    /// Items a complete scan no longer found (marked removed).
    pub removed: usize,
    /// Items left alone because the store learned something newer about them while the listing
    /// was on its way (a write completed; see [`ReadMark`]). The next pull brings them.
    pub stale: usize,
}

impl std::ops::AddAssign for RefreshStats {
    fn add_assign(&mut self, other: RefreshStats) {
        self.seen += other.seen;
        self.updated_local += other.updated_local;
        self.kept_local += other.kept_local;
        self.changed_local += other.changed_local;
        self.new_local += other.new_local;
        self.already_on_server += other.already_on_server;
        self.adopted += other.adopted;
        self.conflicts += other.conflicts;
        self.removed += other.removed;
        self.stale += other.stale;
    }
}

/// An item with its local state and its sync state, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemView {
    pub item_id: String,
    pub kind: ItemKind,
    pub name: String,
    pub parent_id: Option<String>,
    pub series_id: Option<String>,
    pub season_id: Option<String>,
    pub series_name: Option<String>,
    pub season_number: Option<i64>,
    pub episode_number: Option<i64>,
    pub runtime_ms: Option<i64>,
    pub position_ms: i64,
    pub played: bool,
    pub play_count: i64,
    pub last_played: Option<Millis>,
    /// Outbox state, when a change is still to be sent.
    pub sync_state: Option<RowState>,
    /// A series or season: how many of its episodes are not watched (local state, pending
    /// changes included). `None` for episodes and movies.
    pub unwatched: Option<i64>,
}

/// Where the store stood when a read of the server was sent ([`Store::read_mark`]).
///
/// A listing and a write can be under way at the same time (the pull loop and the drain loop
/// run side by side). A listing asked for before a write reached the server describes the
/// server before that write; if it is merged after the write's completion recorded the new
/// base, the merge sees "the server went back to the old state", takes it as another device's
/// change and puts the old state back on screen (seen in `ui::offline_then_back…`: three
/// episodes marked watched came back unwatched, "from another device", until the next pull).
/// So every base is stamped with the counter when it is written, taking a mark moves the
/// counter on, and a listing leaves alone any item whose base was written at or after its
/// mark: the store already knows something newer, and the next pull brings the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReadMark(i64);

impl ReadMark {
    /// A read taken now: no base recorded so far is newer (for listings merged as soon as
    /// they arrive, and for tests).
    pub const LATEST: ReadMark = ReadMark(i64::MAX);
}

/// Every view of items. The unwatched counts of series and seasons name their index: without
/// statistics SQLite takes the table's own key (`account_id` first, one value for the whole
/// library) over `items_by_series`, and scanned the whole account once per series and season:
/// the listing of 100,000 items took 262 s (1.6 s with the index; docs/PERFORMANCE.md).
const VIEW_SELECT: &str = "SELECT i.item_id, i.kind, i.name, i.parent_id, i.series_id, i.season_id, i.series_name,
        i.season_number, i.episode_number, i.runtime_ms,
        COALESCE(p.position_ms, 0), COALESCE(p.played, 0), COALESCE(p.play_count, 0), p.last_played, o.state,
        CASE i.kind
          WHEN 'Series' THEN (SELECT COUNT(*) FROM items e INDEXED BY items_by_series
             LEFT JOIN play_state ep ON ep.account_id = e.account_id AND ep.item_id = e.item_id
             WHERE e.account_id = i.account_id AND e.series_id = i.item_id AND e.kind = 'Episode'
               AND e.removed = 0 AND COALESCE(ep.played, 0) = 0)
          WHEN 'Season' THEN (SELECT COUNT(*) FROM items e INDEXED BY items_by_season
             LEFT JOIN play_state ep ON ep.account_id = e.account_id AND ep.item_id = e.item_id
             WHERE e.account_id = i.account_id AND e.season_id = i.item_id AND e.kind = 'Episode'
               AND e.removed = 0 AND COALESCE(ep.played, 0) = 0)
        END
     FROM items i
     LEFT JOIN play_state p ON p.account_id = i.account_id AND p.item_id = i.item_id
     LEFT JOIN sync_outbox o ON o.account_id = i.account_id AND o.item_id = i.item_id
     WHERE i.account_id = ?1 AND i.removed = 0";

fn read_view(r: &Row<'_>) -> rusqlite::Result<ItemView> {
    let kind: String = r.get(1)?;
    let state: Option<String> = r.get(14)?;
    Ok(ItemView {
        item_id: r.get(0)?,
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Episode),
        name: r.get(2)?,
        parent_id: r.get(3)?,
        series_id: r.get(4)?,
        season_id: r.get(5)?,
        series_name: r.get(6)?,
        season_number: r.get(7)?,
        episode_number: r.get(8)?,
        runtime_ms: r.get(9)?,
        position_ms: r.get(10)?,
        played: r.get(11)?,
        play_count: r.get(12)?,
        last_played: r.get(13)?,
        sync_state: state.as_deref().and_then(RowState::parse),
        unwatched: r.get(15)?,
    })
}

/// A merge that did something the user may want to see (anything but "unchanged").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemMerge {
    /// The merged item.
    pub item_id: String,
    /// What the merge decided.
    pub outcome: Outcome,
}

/// What applying remote state did: counters and the merges worth showing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Counters.
    pub stats: RefreshStats,
    /// Every merge whose decision is not [`Decision::Unchanged`].
    pub merges: Vec<ItemMerge>,
}

impl MergeReport {
    /// Add another report (e.g. the next page) to this one.
    pub fn absorb(&mut self, other: MergeReport) {
        self.stats += other.stats;
        self.merges.extend(other.merges);
    }
}

/// The conflict policy of an account.
pub(super) fn policy_of(tx: &Transaction<'_>, account: AccountId) -> rusqlite::Result<Policy> {
    let name: Option<String> = tx
        .query_row(
            "SELECT policy FROM accounts WHERE id = ?1",
            [account],
            |r| r.get(0),
        )
        .optional()?;
    Ok(name.as_deref().and_then(Policy::parse).unwrap_or_default())
}

/// Whether the account's server keeps the dates written to it (see [`ServerDates`]). An
/// account that is gone merges as a server that stamps its own (no date-only writes).
pub(super) fn dates_of(tx: &Transaction<'_>, account: AccountId) -> rusqlite::Result<ServerDates> {
    Ok(dates_for(server_kind_of(tx, account)?))
}

/// What a server of `kind` does with dates (an unknown kind: as if it stamped its own).
pub(super) fn dates_for(kind: Option<crate::model::ServerKind>) -> ServerDates {
    kind.map_or(ServerDates::Stamped, ServerDates::of)
}

/// The kind of server the account signs in to (`None` for an unknown account or kind).
pub(super) fn server_kind_of(
    tx: &Transaction<'_>,
    account: AccountId,
) -> rusqlite::Result<Option<crate::model::ServerKind>> {
    let kind: Option<String> = tx
        .query_row("SELECT kind FROM accounts WHERE id = ?1", [account], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(kind.as_deref().and_then(crate::model::ServerKind::parse))
}

/// The account-wide inputs of a merge.
#[derive(Clone, Copy)]
struct MergeCtx {
    account: AccountId,
    policy: Policy,
    dates: ServerDates,
    /// When the merged states were asked for: items with a newer base are left alone.
    read_at: ReadMark,
    now: Millis,
}

/// Merge one playable item's remote user data into the local state: the ONE code path of a
/// library scan and of a live update (invariant 5: an item with a queued change is never
/// overwritten; the base moves and the merge decides).
fn merge_remote_in(
    tx: &Transaction<'_>,
    ctx: &MergeCtx,
    item: &str,
    remote: &UserData,
    runtime_ms: Option<i64>,
    report: &mut MergeReport,
) -> rusqlite::Result<()> {
    let MergeCtx {
        account,
        policy,
        dates,
        read_at,
        now,
    } = *ctx;
    let known = base_with_seq(tx, account, item)?;
    let sent_stamp = sent::sent_of(tx, account, item)?.map(|s| s.stamp);
    if known.is_some_and(|(_, seq)| seq >= read_at.0) || sent_stamp.is_some_and(|s| s >= read_at.0)
    {
        report.stats.stale += 1;
        return Ok(());
    }
    let known_base = known.map(|(base, _)| base);
    let row = outbox::row_of(tx, account, item)?;
    if row.as_ref().is_some_and(|r| r.state == RowState::InFlight) {
        // A send is under way: it read the server and merged before writing, and its
        // completion (compare-and-delete) sets the base. Nothing moves here: the base is the
        // server state the local state has taken in, and this remote state has not been
        // merged. Moving it would make a failed send's retry see "no remote change" and
        // overwrite another device's progress (simulation seed 26: a crash mid-read left the
        // row in flight, a pull moved its base to the other device's 5542 s, the retry wrote
        // its 411 s over it).
        report.stats.kept_local += 1;
        return Ok(());
    }
    // A write of ours whose outcome is unknown: what the server holds says whether it landed,
    // and so which base the merge runs over (invariant 8).
    let (settled_base, landed) = sent::settle(tx, account, item, known_base, remote)?;
    // First sight: no history, so the server's state is the base.
    let base = settled_base.unwrap_or(*remote);
    let changed_at: Option<Millis> = tx
        .query_row(
            "SELECT changed_at FROM play_state WHERE account_id = ?1 AND item_id = ?2",
            params![account, item],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let local = match &row {
        Some(r) => LocalSide {
            state: r.desired.to_user_data(),
            changed_at: changed_at.or(Some(r.created_at)),
        },
        None => LocalSide {
            state: base,
            changed_at: None,
        },
    };
    let outcome = merge_on(dates, &local, &base, remote, policy, runtime_ms);
    if row.is_some() {
        sent::note_merge(tx, account, item, &local.state, &outcome, landed, now)?;
    }
    // An unchanged item costs reads only (a rescan of a large library writes nothing).
    if known_base != Some(outcome.base) {
        write_base(tx, account, item, &outcome.base, now)?;
    }
    match (&row, outcome.push) {
        (None, _) => {
            // Nothing queued: what the user sees becomes the server's state.
            match local_of(tx, account, item)? {
                Some(before) if before == outcome.result => {}
                before => {
                    write_local(tx, account, item, &outcome.result, None)?;
                    if before.is_some() {
                        report.stats.changed_local += 1;
                    } else {
                        report.stats.new_local += 1;
                    }
                }
            }
            report.stats.updated_local += 1;
        }
        (Some(_), false) => {
            outbox::delete_row(tx, account, item)?;
            write_local(tx, account, item, &outcome.result, None)?;
            report.stats.already_on_server += 1;
        }
        (Some(r), true) => {
            let desired = DesiredState::from_user_data(&outcome.result);
            if desired != r.desired {
                outbox::replace_desired(tx, account, item, &desired, now)?;
                write_local(tx, account, item, &outcome.result, changed_at)?;
            }
            report.stats.kept_local += 1;
        }
    }
    match outcome.decision {
        Decision::Unchanged | Decision::KeptLocal => {}
        _ if !worth_showing(&local.state, &base, remote, &outcome) => {
            // Only the server's date or count moved (e.g. the date it set for our own season
            // write): the base and the local state take it quietly; nothing to tell the user.
        }
        decision => {
            if matches!(decision, Decision::Conflict { .. }) {
                report.stats.conflicts += 1;
            } else {
                report.stats.adopted += 1;
            }
            record_decision(tx, account, item, now, &outcome)?;
            report.merges.push(ItemMerge {
                item_id: item.to_string(),
                outcome,
            });
        }
    }
    Ok(())
}

/// Whether a merge changed anything the user sees: the progress (position, watched) they had
/// changed, or the server's progress moved and was overridden. A merge that only adopts the
/// server's play count or date (which the server sets itself, e.g. after our own season write)
/// is not "progress from another device".
pub(super) fn worth_showing(
    local: &UserData,
    base: &UserData,
    remote: &UserData,
    outcome: &Outcome,
) -> bool {
    let prog = |u: &UserData| (u.position_ms, u.played);
    prog(&outcome.result) != prog(local)
        || (prog(remote) != prog(base) && prog(remote) != prog(&outcome.result))
}

/// Keep the provider ids a listing gave for `it`. A listing without any (a read that did not
/// ask for them) leaves those already known.
fn write_provider_ids(
    tx: &Transaction<'_>,
    account: AccountId,
    it: &RemoteItem,
) -> rusqlite::Result<()> {
    if it.provider_ids.is_empty() {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM item_provider_ids WHERE account_id = ?1 AND item_id = ?2",
        params![account, it.id],
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO item_provider_ids (account_id, item_id, provider, value)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in &it.provider_ids {
        insert.execute(params![account, it.id, p.provider.as_str(), p.value])?;
    }
    Ok(())
}

/// Remember the last merge decision of an item (shown by `status` and the UI).
pub(super) fn record_decision(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    now: Millis,
    outcome: &Outcome,
) -> rusqlite::Result<()> {
    let name = serde_json::to_value(outcome.decision)
        .ok()
        .and_then(|v| {
            v.get("decision")
                .and_then(|d| d.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    tx.execute(
        "INSERT INTO merge_decisions (account_id, item_id, decided_at, decision, summary)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, item_id) DO UPDATE SET decided_at = excluded.decided_at,
           decision = excluded.decision, summary = excluded.summary",
        params![account, item, now, name, outcome.summary()],
    )?;
    Ok(())
}

impl Store {
    /// Store one page of a library listing (see [`Store::merge_remote_items`]).
    pub fn apply_remote_items(
        &mut self,
        account: AccountId,
        items: &[RemoteItem],
        now: Millis,
    ) -> Result<RefreshStats> {
        Ok(self
            .merge_remote_items(account, items, ReadMark::LATEST, now)?
            .stats)
    }

    /// Take a mark before asking the server for a listing, and give it to
    /// [`Store::merge_remote_items`] with the answer: an item whose base was recorded after the
    /// mark (a write completed meanwhile) is not moved back by the older listing.
    pub fn read_mark(&mut self) -> Result<ReadMark> {
        let tx = self.conn.transaction()?;
        let mark = outbox::next_counter(&tx, "base_seq")?;
        tx.commit()?;
        Ok(ReadMark(mark))
    }

    /// Store one page of a library listing: items are written (and un-removed), and each
    /// playable item's user data goes through the three-way merge under the account's policy.
    /// Items with a pending change are never overwritten: the base moves, the merge decides.
    /// `read_at` is the [`Store::read_mark`] taken before the listing was asked for: items
    /// whose base is newer keep their state (counted as [`RefreshStats::stale`]).
    pub fn merge_remote_items(
        &mut self,
        account: AccountId,
        items: &[RemoteItem],
        read_at: ReadMark,
        now: Millis,
    ) -> Result<MergeReport> {
        let tx = self.conn.transaction()?;
        let ctx = MergeCtx {
            account,
            policy: policy_of(&tx, account)?,
            dates: dates_of(&tx, account)?,
            read_at,
            now,
        };
        let mut report = MergeReport::default();
        for it in items {
            report.stats.seen += 1;
            tx.execute(
                "INSERT INTO items (account_id, item_id, kind, name, parent_id, series_id, season_id, series_name,
                                    season_number, episode_number, runtime_ms, removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)
                 ON CONFLICT (account_id, item_id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
                   parent_id = excluded.parent_id, series_id = excluded.series_id, season_id = excluded.season_id,
                   series_name = excluded.series_name, season_number = excluded.season_number,
                   episode_number = excluded.episode_number, runtime_ms = excluded.runtime_ms, removed = 0",
                params![
                    account,
                    it.id,
                    it.kind.as_str(),
                    it.name,
                    it.parent_id,
                    it.series_id,
                    it.season_id,
                    it.series_name,
                    it.season_number,
                    it.episode_number,
                    it.runtime_ms
                ],
            )?;
            write_provider_ids(&tx, account, it)?;
            if !it.kind.is_playable() {
                continue;
            }
            merge_remote_in(&tx, &ctx, &it.id, &it.user_data, it.runtime_ms, &mut report)?;
        }
        tx.commit()?;
        Ok(report)
    }

    /// Apply user data pushed live by the server (WebSocket `UserDataChanged`) through the same
    /// merge. Items unknown locally, removed, or not playable are skipped (the next scan brings
    /// them).
    pub fn merge_remote_user_data(
        &mut self,
        account: AccountId,
        updates: &[(String, UserData)],
        now: Millis,
    ) -> Result<MergeReport> {
        let tx = self.conn.transaction()?;
        let ctx = MergeCtx {
            account,
            policy: policy_of(&tx, account)?,
            dates: dates_of(&tx, account)?,
            // Live updates are merged as they arrive.
            read_at: ReadMark::LATEST,
            now,
        };
        let mut report = MergeReport::default();
        for (item, remote) in updates {
            let known: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT kind, runtime_ms FROM items WHERE account_id = ?1 AND item_id = ?2 AND removed = 0",
                    params![account, item],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((kind, runtime)) = known else {
                continue;
            };
            if !ItemKind::parse(&kind).is_some_and(ItemKind::is_playable) {
                continue;
            }
            report.stats.seen += 1;
            merge_remote_in(&tx, &ctx, item, remote, runtime, &mut report)?;
        }
        tx.commit()?;
        Ok(report)
    }

    /// Items of the account (not removed) that are not in `seen`.
    pub fn unseen_items(
        &self,
        account: AccountId,
        seen: &std::collections::HashSet<String>,
    ) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT item_id FROM items WHERE account_id = ?1 AND removed = 0")?;
        let rows = stmt.query_map([account], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for id in rows {
            let id = id?;
            if !seen.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// After a **complete** scan: items of the account not in `seen` are marked removed. A
    /// queued change for such an item is never dropped: it becomes needs-attention ("no longer
    /// on the server", the user discards it). Returns the items whose changes need attention.
    pub fn mark_unseen_removed(
        &mut self,
        account: AccountId,
        seen: &std::collections::HashSet<String>,
        now: Millis,
    ) -> Result<(usize, Vec<String>)> {
        let tx = self.conn.transaction()?;
        let known: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT item_id FROM items WHERE account_id = ?1 AND removed = 0")?;
            let rows = stmt.query_map([account], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut removed = 0;
        let mut attention = Vec::new();
        for item in known.iter().filter(|i| !seen.contains(*i)) {
            tx.execute(
                "UPDATE items SET removed = 1 WHERE account_id = ?1 AND item_id = ?2",
                params![account, item],
            )?;
            removed += 1;
            let n = tx.execute(
                "UPDATE sync_outbox SET state = 'needs_attention', lease_until = NULL, group_key = NULL,
                        error_kind = ?3, error_detail = ?4, updated_at = ?5
                 WHERE account_id = ?1 AND item_id = ?2",
                params![
                    account,
                    item,
                    ErrorKind::NotFound.as_str(),
                    REMOVED_DETAIL,
                    now
                ],
            )?;
            if n > 0 {
                attention.push(item.clone());
            }
        }
        tx.execute(
            "DELETE FROM sync_groups WHERE account_id = ?1 AND group_key NOT IN
               (SELECT group_key FROM sync_outbox WHERE group_key IS NOT NULL)",
            [account],
        )?;
        tx.commit()?;
        Ok((removed, attention))
    }

    /// The conflict policy of an account.
    pub fn policy(&mut self, account: AccountId) -> Result<Policy> {
        let tx = self.conn.transaction()?;
        let p = policy_of(&tx, account)?;
        tx.commit()?;
        Ok(p)
    }

    /// Change the conflict policy of an account (applies from the next merge on).
    pub fn set_policy(&mut self, account: AccountId, policy: Policy) -> Result<()> {
        self.conn.execute(
            "UPDATE accounts SET policy = ?2 WHERE id = ?1",
            params![account, policy.as_str()],
        )?;
        Ok(())
    }

    /// The last merge decision recorded for an item: (when, decision name, summary).
    pub fn last_merge(
        &self,
        account: AccountId,
        item_id: &str,
    ) -> Result<Option<(Millis, String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT decided_at, decision, summary FROM merge_decisions WHERE account_id = ?1 AND item_id = ?2",
                params![account, item_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Every (non-removed) item of an account, ordered for display.
    pub fn items(&self, account: AccountId) -> Result<Vec<ItemView>> {
        let sql = format!(
            "{VIEW_SELECT} ORDER BY COALESCE(i.series_name, i.name), i.season_number, i.episode_number, i.name, i.item_id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([account], read_view)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The items with these ids (those known), in no particular order: one query for a
    /// view's rows (Home), never one per row.
    pub fn items_by_ids(&self, account: AccountId, ids: &[String]) -> Result<Vec<ItemView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let sql = format!("{VIEW_SELECT} AND i.item_id IN (SELECT value FROM json_each(?2))");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![account, ids], read_view)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// One item, if known.
    pub fn item(&self, account: AccountId, item_id: &str) -> Result<Option<ItemView>> {
        let sql = format!("{VIEW_SELECT} AND i.item_id = ?2");
        Ok(self
            .conn
            .query_row(&sql, params![account, item_id], read_view)
            .optional()?)
    }

    /// The server base of one item, if seen.
    pub fn base(&mut self, account: AccountId, item_id: &str) -> Result<Option<UserData>> {
        let tx = self.conn.transaction()?;
        let base = base_of(&tx, account, item_id)?;
        tx.commit()?;
        Ok(base)
    }

    /// The provider ids of every (non-removed) item of an account, by item id (items without
    /// any are left out).
    pub fn provider_ids(
        &self,
        account: AccountId,
    ) -> Result<std::collections::HashMap<String, Vec<crate::model::ProviderId>>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.item_id, p.provider, p.value FROM item_provider_ids p
             JOIN items i ON i.account_id = p.account_id AND i.item_id = p.item_id
             WHERE p.account_id = ?1 AND i.removed = 0
             ORDER BY p.item_id, p.provider, p.value",
        )?;
        let rows = stmt.query_map([account], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out: std::collections::HashMap<String, Vec<crate::model::ProviderId>> =
            std::collections::HashMap::new();
        for row in rows {
            let (item, provider, value) = row?;
            if let Some(id) = crate::model::Provider::parse(&provider)
                .and_then(|p| crate::model::ProviderId::new(p, &value))
            {
                out.entry(item).or_default().push(id);
            }
        }
        Ok(out)
    }

    /// The desired state of a pending change, if any.
    pub fn desired(&mut self, account: AccountId, item_id: &str) -> Result<Option<DesiredState>> {
        let tx = self.conn.transaction()?;
        let row = outbox::row_of(&tx, account, item_id)?;
        tx.commit()?;
        Ok(row.map(|r| r.desired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of the library's listing (`Store::items`): each series' and season's unwatched
    /// count looks up that parent's episodes through its index, never a scan of the account
    /// (without statistics SQLite took the table's key, one scan of the whole library per
    /// series and season: over 4 minutes at 100,000 items).
    #[test]
    fn the_unwatched_counts_look_up_their_episodes_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&super::super::database_path(dir.path())).unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {VIEW_SELECT} ORDER BY i.item_id");
        let mut stmt = store.conn.prepare(&sql).unwrap();
        let plan: Vec<String> = stmt
            .query_map([1], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let searches_of_e: Vec<&String> = plan
            .iter()
            .filter(|l| l.starts_with("SEARCH e ") || l.starts_with("SCAN e"))
            .collect();
        assert_eq!(searches_of_e.len(), 2, "{plan:#?}");
        assert!(
            searches_of_e[0].contains("items_by_series (account_id=? AND series_id=?)"),
            "{plan:#?}"
        );
        assert!(
            searches_of_e[1].contains("items_by_season (account_id=? AND season_id=?)"),
            "{plan:#?}"
        );
    }
}
