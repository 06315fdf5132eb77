//! The durable outbox: one row per (account, item) holding the desired state still to be sent.
//!
//! Invariants (DESIGN.md): a local change and its outbox upsert share one transaction; a change
//! back to the base drops the row; a row leaves only by compare-and-delete on `change_seq`;
//! `in_flight` rows carry a lease and return to `pending` when it expires.

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::send::PlannedWrite;
use super::sent;
use super::state::{base_of, kind_of, local_of, read_user_data, write_base, write_local};
use super::{Result, Store, StoreError};
use crate::backend::ErrorKind;
use crate::model::{apply_change, AccountId, DesiredState, LocalChange, Millis, UserData};

/// Where a queued change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Waiting to be sent (or waiting for the connection / a sign-in).
    Pending,
    /// A request carrying it is under way.
    InFlight,
    /// The last attempt failed transiently; retried at `next_attempt_at`.
    Failed,
    /// The server refused it for good (404, 400…): the user decides, Retry or Discard.
    NeedsAttention,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::InFlight => "in_flight",
            RowState::Failed => "failed",
            RowState::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<RowState> {
        match s {
            "pending" => Some(RowState::Pending),
            "in_flight" => Some(RowState::InFlight),
            "failed" => Some(RowState::Failed),
            "needs_attention" => Some(RowState::NeedsAttention),
            _ => None,
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub account_id: AccountId,
    pub item_id: String,
    pub desired: DesiredState,
    pub change_seq: i64,
    pub state: RowState,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub lease_until: Option<Millis>,
    pub error_kind: Option<ErrorKind>,
    pub error_detail: Option<String>,
    pub group_key: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Not sent before this time: a bulk change the app offers to undo (see `store::hold`).
    /// A time in the past is no hold.
    pub hold_until: Option<Millis>,
}

impl OutboxRow {
    /// Is the row held back (not sent) at `now`?
    pub fn held_at(&self, now: Millis) -> bool {
        self.hold_until.is_some_and(|h| h > now)
    }
}

/// What recording a local change did to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The change is queued (new row or coalesced into the existing one).
    Queued { change_seq: i64 },
    /// The item is back at the server's value: nothing to send, the row is gone.
    Dropped,
}

/// What a bulk action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    pub queued: usize,
    pub dropped: usize,
    /// Set when the queued rows form a group sendable as one call on the parent.
    pub group_key: Option<String>,
}

/// A row taken for sending: what to send and the `change_seq` to compare on completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRow {
    pub item_id: String,
    pub desired: DesiredState,
    pub change_seq: i64,
    pub attempts: i64,
}

/// A unit of work for the engine: one item, or an intact bulk group sent as one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Item(ClaimedRow),
    Group {
        group_key: String,
        parent_id: String,
        played: bool,
        rows: Vec<ClaimedRow>,
    },
}

impl Claim {
    /// The rows this claim carries.
    pub fn rows(&self) -> &[ClaimedRow] {
        match self {
            Claim::Item(row) => std::slice::from_ref(row),
            Claim::Group { rows, .. } => rows,
        }
    }
}

/// What a successful send did to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The row was deleted: the server holds what the user wants.
    Delivered,
    /// The user changed the item while the request was in flight: the new state stays queued.
    Requeued,
    /// The row was discarded meanwhile; only the base was updated.
    Gone,
}

/// Rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: usize,
    pub in_flight: usize,
    pub failed: usize,
    pub needs_attention: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.pending + self.in_flight + self.failed + self.needs_attention
    }
}

const ROW_SELECT: &str = "SELECT account_id, item_id, position_ms, played, play_count, last_played, change_seq, state,
        attempts, next_attempt_at, lease_until, error_kind, error_detail, group_key, created_at, updated_at,
        hold_until
     FROM sync_outbox";

fn read_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let state: String = r.get(7)?;
    let kind: Option<String> = r.get(11)?;
    Ok(OutboxRow {
        account_id: r.get(0)?,
        item_id: r.get(1)?,
        desired: DesiredState {
            position_ms: r.get(2)?,
            played: r.get(3)?,
            play_count: r.get(4)?,
            last_played: r.get(5)?,
        },
        change_seq: r.get(6)?,
        state: RowState::parse(&state).unwrap_or(RowState::Pending),
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        lease_until: r.get(10)?,
        error_kind: kind.as_deref().and_then(ErrorKind::parse),
        error_detail: r.get(12)?,
        group_key: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        hold_until: r.get(16)?,
    })
}

pub(super) fn row_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<OutboxRow>> {
    tx.prepare_cached(&format!(
        "{ROW_SELECT} WHERE account_id = ?1 AND item_id = ?2"
    ))?
    .query_row(params![account, item], read_row)
    .optional()
}

pub(super) fn delete_row(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM sync_outbox WHERE account_id = ?1 AND item_id = ?2")?
        .execute(params![account, item])?;
    Ok(())
}

/// A new, strictly increasing change sequence number (never reused, even after deletes, so a
/// late completion can never match a newer row).
fn next_seq(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    next_counter(tx, "change_seq")
}

/// Move the counter `key` of the `meta` table on by one (from 1 when it has none) and return it.
pub(super) fn next_counter(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
    )?
    .execute([key])?;
    tx.prepare_cached("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
}

/// A pending row holds at most this many debounce intervals after it was created.
pub const DEBOUNCE_MAX_HOLD: i64 = 10;

/// When an edited pending row becomes due: a debounce after the *last* edit of a burst
/// (trailing), so a user who flips a toggle ten times in two seconds causes one call, not one
/// call for the state at the first debounce plus another for the final state. A steady stream
/// of edits cannot hold the row back forever: it is due at the latest `DEBOUNCE_MAX_HOLD`
/// debounce intervals after it was created. Never earlier than it already was (a "Sync now"
/// or an expired backoff is left alone once that window has passed).
fn trailing_due(row: &OutboxRow, now: Millis, debounce_ms: i64) -> Millis {
    let trailing = (now + debounce_ms).min(row.created_at + DEBOUNCE_MAX_HOLD * debounce_ms);
    row.next_attempt_at.max(trailing)
}

/// Replace the desired state of an existing row after a merge (new `change_seq`, so a send
/// under way cannot delete it; the row leaves its bulk group). State and backoff are kept.
pub(super) fn replace_desired(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    desired: &DesiredState,
    now: Millis,
) -> rusqlite::Result<i64> {
    let seq = next_seq(tx)?;
    tx.execute(
        "UPDATE sync_outbox SET position_ms = ?3, played = ?4, play_count = ?5, last_played = ?6,
                change_seq = ?7, group_key = NULL, updated_at = ?8
         WHERE account_id = ?1 AND item_id = ?2",
        params![
            account,
            item,
            desired.position_ms,
            desired.played,
            desired.play_count,
            desired.last_played,
            seq,
            now
        ],
    )?;
    Ok(seq)
}

/// Upsert the desired state of one item (invariant 2: coalescing is structural). Any edit takes
/// the row out of its bulk group (the group is then no longer intact) and ends its hold (a new
/// change is not the held bulk change: see `store::hold`). A change back to a *certain* base
/// drops the row; after a request with an unknown outcome the row is kept and sent.
pub(super) fn upsert_desired(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    desired: &DesiredState,
    now: Millis,
    debounce_ms: i64,
) -> rusqlite::Result<RecordOutcome> {
    let existing = row_of(tx, account, item)?;
    let in_flight = existing
        .as_ref()
        .is_some_and(|r| r.state == RowState::InFlight);
    let back_to_base =
        comparable_base(tx, account, item)?.is_some_and(|base| desired.same_as(&base));
    if back_to_base && !in_flight {
        if existing.is_some() {
            delete_row(tx, account, item)?;
        }
        return Ok(RecordOutcome::Dropped);
    }
    let seq = next_seq(tx)?;
    match existing {
        None => {
            tx.prepare_cached(
                "INSERT INTO sync_outbox (account_id, item_id, position_ms, played, play_count, last_played, change_seq,
                                          state, attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9, ?9)",
            )?
            .execute(params![
                    account,
                    item,
                    desired.position_ms,
                    desired.played,
                    desired.play_count,
                    desired.last_played,
                    seq,
                    now + debounce_ms,
                    now
                ],
            )?;
        }
        Some(row) => {
            // in_flight keeps its lease (the completion will see the new seq); failed keeps its
            // backoff; needs_attention is a new decision by the user, so it starts over; pending
            // waits for the burst to end (trailing debounce, see `trailing_due`).
            let (state, attempts, next) = match row.state {
                RowState::NeedsAttention => (RowState::Pending, 0, now + debounce_ms),
                RowState::Pending => (
                    RowState::Pending,
                    row.attempts,
                    trailing_due(&row, now, debounce_ms),
                ),
                other => (other, row.attempts, row.next_attempt_at),
            };
            let clear_error = row.state == RowState::NeedsAttention;
            tx.prepare_cached(
                "UPDATE sync_outbox SET position_ms = ?3, played = ?4, play_count = ?5, last_played = ?6,
                        change_seq = ?7, state = ?8, attempts = ?9, next_attempt_at = ?10, group_key = NULL,
                        hold_until = NULL, error_kind = CASE WHEN ?11 THEN NULL ELSE error_kind END,
                        error_detail = CASE WHEN ?11 THEN NULL ELSE error_detail END,
                        updated_at = ?12
                 WHERE account_id = ?1 AND item_id = ?2",
            )?
            .execute(params![
                    account,
                    item,
                    desired.position_ms,
                    desired.played,
                    desired.play_count,
                    desired.last_played,
                    seq,
                    state.as_str(),
                    attempts,
                    next,
                    clear_error,
                    now
                ],
            )?;
        }
    }
    Ok(RecordOutcome::Queued { change_seq: seq })
}

/// Children (episodes/movies) of a season or series, known locally.
fn playable_children(
    tx: &Transaction<'_>,
    account: AccountId,
    parent: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare(
        "SELECT item_id FROM items
         WHERE account_id = ?1 AND removed = 0 AND kind IN ('Episode', 'Movie')
           AND (parent_id = ?2 OR season_id = ?2 OR series_id = ?2)
         ORDER BY item_id",
    )?;
    let rows = stmt.query_map(params![account, parent], |r| r.get(0))?;
    rows.collect()
}

impl Store {
    /// Record a local change: `play_state` and the outbox row in **one** transaction.
    /// Returns the new local state and what happened to the queue.
    pub fn record_change(
        &mut self,
        account: AccountId,
        item: &str,
        change: LocalChange,
        now: Millis,
        debounce_ms: i64,
    ) -> Result<(UserData, RecordOutcome)> {
        let tx = self.conn.transaction()?;
        let done = record_change_in(&tx, account, item, change, now, debounce_ms)?;
        tx.commit()?;
        Ok((done.after, done.outcome))
    }

    /// Mark every known episode of a season or series watched / not watched, in one
    /// transaction. When every child is queued they form a group that the engine sends as
    /// one call on the parent while it stays intact.
    pub fn record_bulk(
        &mut self,
        account: AccountId,
        parent: &str,
        played: bool,
        now: Millis,
        debounce_ms: i64,
    ) -> Result<BulkOutcome> {
        let tx = self.conn.transaction()?;
        let (outcome, _) = record_bulk_in(&tx, account, parent, played, now, debounce_ms)?;
        tx.commit()?;
        Ok(outcome)
    }
}

/// What a bulk action did to one child: its local state before and after, and what happened
/// to its outbox row (for an undo, see `store::hold`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BulkChild {
    pub item_id: String,
    pub before: UserData,
    pub before_changed_at: Option<Millis>,
    pub after: UserData,
    pub outcome: RecordOutcome,
}

/// [`Store::record_change`] inside the caller's transaction, with the item's state before
/// (for an undo, see `store::hold`).
pub(super) fn record_change_in(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    change: LocalChange,
    now: Millis,
    debounce_ms: i64,
) -> Result<BulkChild> {
    match kind_of(tx, account, item)? {
        Some(k) if k.is_playable() => {}
        Some(_) => return Err(StoreError::NoChildren(item.to_string())),
        None => return Err(StoreError::UnknownItem(item.to_string())),
    }
    let base = base_of(tx, account, item)?.unwrap_or_default();
    let current = local_of(tx, account, item)?.unwrap_or(base);
    let before_changed_at = changed_at_of(tx, account, item)?;
    let next = apply_change(&current, change, now);
    write_local(tx, account, item, &next, Some(now))?;
    // A new decision of the person's: an older "kept the server's value" notice is over.
    sent::forget_overridden(tx, account, item)?;
    let outcome = upsert_desired(
        tx,
        account,
        item,
        &DesiredState::from_user_data(&next),
        now,
        debounce_ms,
    )?;
    Ok(BulkChild {
        item_id: item.to_string(),
        before: current,
        before_changed_at,
        after: next,
        outcome,
    })
}

/// [`Store::record_bulk`] inside the caller's transaction.
pub(super) fn record_bulk_in(
    tx: &Transaction<'_>,
    account: AccountId,
    parent: &str,
    played: bool,
    now: Millis,
    debounce_ms: i64,
) -> Result<(BulkOutcome, Vec<BulkChild>)> {
    if kind_of(tx, account, parent)?.is_none() {
        return Err(StoreError::UnknownItem(parent.to_string()));
    }
    let children = playable_children(tx, account, parent)?;
    if children.is_empty() {
        return Err(StoreError::NoChildren(parent.to_string()));
    }
    let group_key = format!("{account}:{parent}:{}", next_seq(tx)?);
    let change = if played {
        LocalChange::MarkWatched
    } else {
        LocalChange::MarkUnwatched
    };
    let mut outcome = BulkOutcome {
        queued: 0,
        dropped: 0,
        group_key: None,
    };
    let mut members = Vec::new();
    let mut done = Vec::with_capacity(children.len());
    for child in &children {
        let base = base_of(tx, account, child)?.unwrap_or_default();
        let current = local_of(tx, account, child)?.unwrap_or(base);
        let before_changed_at = changed_at_of(tx, account, child)?;
        let next = apply_change(&current, change, now);
        write_local(tx, account, child, &next, Some(now))?;
        let in_flight = row_of(tx, account, child)?.is_some_and(|r| r.state == RowState::InFlight);
        let recorded = upsert_desired(
            tx,
            account,
            child,
            &DesiredState::from_user_data(&next),
            now,
            debounce_ms,
        )?;
        done.push(BulkChild {
            item_id: child.clone(),
            before: current,
            before_changed_at,
            after: next,
            outcome: recorded,
        });
        match recorded {
            RecordOutcome::Queued { .. } => {
                outcome.queued += 1;
                // A row already in flight is being sent on its own; it cannot join the group.
                if !in_flight {
                    members.push(child.clone());
                }
            }
            RecordOutcome::Dropped => outcome.dropped += 1,
        }
    }
    // One call on the parent changes every child on the server. That is only the change
    // asked for when every child is a member: a child left out (already in that state
    // here, or in flight on its own) would be written again, and on Plex each scrobble
    // adds a view to it. Otherwise each queued child goes on its own.
    if members.len() >= 2 && members.len() == children.len() {
        tx.execute(
                "INSERT INTO sync_groups (group_key, account_id, parent_id, played, member_count, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![group_key, account, parent, played, members.len() as i64, now],
            )?;
        for m in &members {
            tx.execute(
                "UPDATE sync_outbox SET group_key = ?3 WHERE account_id = ?1 AND item_id = ?2",
                params![account, m, group_key],
            )?;
        }
        outcome.group_key = Some(group_key);
    }
    Ok((outcome, done))
}

/// When the person last changed the item here (`play_state.changed_at`).
fn changed_at_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<Millis>> {
    Ok(tx
        .prepare_cached("SELECT changed_at FROM play_state WHERE account_id = ?1 AND item_id = ?2")?
        .query_row(params![account, item], |r| r.get::<_, Option<Millis>>(0))
        .optional()?
        .flatten())
}

impl Store {
    /// Take due rows (pending or failed, `next_attempt_at <= now`, not held: `hold_until`
    /// unset or past) for sending: mark them `in_flight` with a lease. An intact group is
    /// claimed whole as one [`Claim::Group`]; a broken one is dissolved into per-item claims.
    pub fn claim_due(
        &mut self,
        account: AccountId,
        now: Millis,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<Claim>> {
        let tx = self.conn.transaction()?;
        let due: Vec<OutboxRow> = {
            // One indexed range per state (an `IN` over both would sort the whole due set).
            let mut stmt = tx.prepare(&format!(
                "SELECT * FROM ({ROW_SELECT} WHERE account_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2
                                 AND (hold_until IS NULL OR hold_until <= ?2)
                                 ORDER BY next_attempt_at, item_id LIMIT ?3)
                 UNION ALL
                 SELECT * FROM ({ROW_SELECT} WHERE account_id = ?1 AND state = 'failed' AND next_attempt_at <= ?2
                                 AND (hold_until IS NULL OR hold_until <= ?2)
                                 ORDER BY next_attempt_at, item_id LIMIT ?3)
                 ORDER BY next_attempt_at, item_id LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![account, now, limit as i64], read_row)?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut claims = Vec::new();
        let mut claimed_groups = std::collections::HashSet::new();
        let mut dissolved_groups = std::collections::HashSet::new();
        for row in due {
            if let Some(key) = row.group_key.clone() {
                if claimed_groups.contains(&key) {
                    continue;
                }
                if !dissolved_groups.contains(&key) {
                    if let Some(group) = claim_group_if_intact(&tx, account, &key, now)? {
                        claimed_groups.insert(key);
                        claims.push(group);
                        continue;
                    }
                    dissolve_group(&tx, &key)?;
                    dissolved_groups.insert(key);
                }
            }
            claims.push(Claim::Item(ClaimedRow {
                item_id: row.item_id.clone(),
                desired: row.desired,
                change_seq: row.change_seq,
                attempts: row.attempts,
            }));
        }
        for claim in &claims {
            let rows = match claim {
                Claim::Item(r) => std::slice::from_ref(r),
                Claim::Group { rows, .. } => rows.as_slice(),
            };
            for r in rows {
                tx.prepare_cached(
                    "UPDATE sync_outbox SET state = 'in_flight', lease_until = ?3, lease_owner = ?5, updated_at = ?4,
                            hold_until = NULL
                     WHERE account_id = ?1 AND item_id = ?2",
                )?
                .execute(params![account, r.item_id, now + lease_ms, now, self.lease_owner])?;
            }
        }
        tx.commit()?;
        Ok(claims)
    }

    /// A send succeeded: update the base and compare-and-delete the row on `change_seq`
    /// (invariant 3). `server_after` is what the server reported, else what was sent.
    pub fn complete(
        &mut self,
        account: AccountId,
        sent: &ClaimedRow,
        server_after: Option<UserData>,
        now: Millis,
    ) -> Result<CompleteOutcome> {
        let tx = self.conn.transaction()?;
        let outcome = complete_in(&tx, account, sent, server_after, now)?;
        tx.commit()?;
        Ok(outcome)
    }

    /// The read after a Plex write (DESIGN.md invariant 10: a Plex write's answer carries no
    /// state) found `remote` for the item the write should have left at `expected`. Compared
    /// like [`sent::classify`] (played and position, to the second):
    /// - the server holds what was expected → the write completes, `remote` is the base;
    /// - it still holds the old base → [`Verified::NotApplied`]: nothing is stored (the caller
    ///   marks the row needs-attention; the base stays, and so does the sent record, so a late
    ///   arrival is still recognised as ours);
    /// - anything else (the server applied its own rules, or another device wrote since) →
    ///   [`Verified::Settling`]: the row goes back to the queue with its sent record, and the
    ///   next read settles it like any unknown outcome (silently, under every policy).
    pub fn verify_write(
        &mut self,
        account: AccountId,
        sent: &ClaimedRow,
        expected: &UserData,
        remote: &UserData,
        now: Millis,
    ) -> Result<Verified> {
        let tx = self.conn.transaction()?;
        let base = base_of(&tx, account, &sent.item_id)?;
        let verified = match sent::classify(expected, None, base.as_ref(), remote) {
            sent::Landed::Ours => {
                Verified::Delivered(complete_in(&tx, account, sent, Some(*remote), now)?)
            }
            sent::Landed::NotLanded => Verified::NotApplied,
            sent::Landed::Overwritten | sent::Landed::Partly => {
                tx.execute(
                    "UPDATE sync_outbox SET state = 'pending', lease_until = NULL, lease_owner = NULL,
                            updated_at = ?3, next_attempt_at = MIN(next_attempt_at, ?3)
                     WHERE account_id = ?1 AND item_id = ?2 AND state = 'in_flight'",
                    params![account, sent.item_id, now],
                )?;
                Verified::Settling
            }
        };
        tx.commit()?;
        Ok(verified)
    }

    /// Complete every row of a group sent as one call, in one transaction. `server_after`: what
    /// a read after the write found (the server's own dates and counts); a row missing there
    /// gets what was sent as its base.
    pub fn complete_group(
        &mut self,
        account: AccountId,
        group_key: &str,
        sent: &[ClaimedRow],
        server_after: &std::collections::HashMap<String, UserData>,
        now: Millis,
    ) -> Result<Vec<CompleteOutcome>> {
        let tx = self.conn.transaction()?;
        let out = complete_group_in(&tx, account, group_key, sent, server_after, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// Complete the writes that finished together, in one transaction (one commit instead of
    /// one per write: the drain loop stores a round of writes at once). Each is completed
    /// exactly like [`Store::complete`] (an item) or [`Store::complete_group`] (a group), with
    /// `after` (what its answer reported, by item id) as `server_after`. One list of outcomes
    /// per write, one outcome per row, in order. On an error nothing is stored.
    pub fn complete_writes(
        &mut self,
        account: AccountId,
        writes: &[(&PlannedWrite, &std::collections::HashMap<String, UserData>)],
        now: Millis,
    ) -> Result<Vec<Vec<CompleteOutcome>>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(writes.len());
        for (write, after) in writes {
            out.push(match write {
                PlannedWrite::Item { row, .. } => vec![complete_in(
                    &tx,
                    account,
                    row,
                    after.get(&row.item_id).copied(),
                    now,
                )?],
                PlannedWrite::Group {
                    group_key, rows, ..
                } => complete_group_in(&tx, account, group_key, rows, after, now)?,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// A send failed: record the error and the next state according to its class.
    /// - offline / auth: back to `pending`, no attempt counted (the account is paused);
    /// - transient: `failed`, one more attempt, retried at `next_attempt_at`;
    /// - not found / rejected: `needs_attention`.
    ///
    /// Compare-and-set on `change_seq`: a row the user changed while the request was in flight
    /// is not what failed. It goes back to `pending` without the old request's error (a new
    /// edit never inherits an old 404); after a transient failure it waits for the same backoff.
    pub fn fail(
        &mut self,
        account: AccountId,
        sent: &[ClaimedRow],
        kind: ErrorKind,
        detail: &str,
        next_attempt_at: Millis,
        now: Millis,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for sent in sent {
            let item = &sent.item_id;
            // A transient failure may have come after the server applied the write: its record
            // (`store::sent`) stays, and a listing asked for before now cannot settle it.
            if kind == ErrorKind::Transient {
                sent::restamp(&tx, account, item)?;
            }
            let Some(row) = row_of(&tx, account, item)? else {
                continue;
            };
            if row.change_seq != sent.change_seq {
                let due = if kind == ErrorKind::Transient {
                    next_attempt_at.max(row.next_attempt_at)
                } else {
                    row.next_attempt_at.min(now)
                };
                tx.execute(
                    "UPDATE sync_outbox SET state = 'pending', next_attempt_at = ?3, lease_until = NULL,
                            error_kind = NULL, error_detail = NULL, updated_at = ?4
                     WHERE account_id = ?1 AND item_id = ?2 AND state IN ('in_flight', 'pending')",
                    params![account, item, due, now],
                )?;
                continue;
            }
            let (state, add_attempt) = match kind {
                ErrorKind::Offline | ErrorKind::Auth => (RowState::Pending, 0),
                ErrorKind::Transient => (RowState::Failed, 1),
                ErrorKind::NotFound | ErrorKind::Rejected => (RowState::NeedsAttention, 1),
            };
            tx.execute(
                "UPDATE sync_outbox SET state = ?3, attempts = attempts + ?4,
                        next_attempt_at = CASE WHEN ?3 = 'failed' THEN ?5 ELSE MIN(next_attempt_at, ?6) END,
                        lease_until = NULL, error_kind = ?7, error_detail = ?8, updated_at = ?6
                 WHERE account_id = ?1 AND item_id = ?2",
                params![account, item, state.as_str(), add_attempt, next_attempt_at, now, kind.as_str(), detail],
            )?;
        }
        // A failed group keeps its members together: the retry is again one call on the parent.
        // Groups left without members are removed.
        tx.execute(
            "DELETE FROM sync_groups WHERE account_id = ?1 AND group_key NOT IN
               (SELECT group_key FROM sync_outbox WHERE group_key IS NOT NULL)",
            [account],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A write carrying these rows failed in a way that proves the server applied nothing of it
    /// (see `SyncError::proves_nothing_applied`): their sent records are forgotten, so a change
    /// back to the base is dropped again and the next read is no classification.
    pub fn nothing_applied(&mut self, account: AccountId, sent: &[ClaimedRow]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for row in sent {
            sent::clear_sent(&tx, account, &row.item_id, row.change_seq)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Return `in_flight` rows whose lease has expired to `pending` (crash recovery).
    pub fn recover_expired_leases(&mut self, now: Millis) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE sync_outbox SET state = 'pending', lease_until = NULL, updated_at = ?1
                 WHERE state = 'in_flight' AND lease_until <= ?1",
            )?
            .execute([now])?)
    }

    /// Return `in_flight` rows held by processes that no longer run (a crashed CLI or app) to
    /// `pending` at once, without waiting for their lease to expire.
    pub fn recover_orphaned_leases(&mut self, now: Millis) -> Result<usize> {
        let owners: Vec<String> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT DISTINCT lease_owner FROM sync_outbox
                 WHERE state = 'in_flight' AND lease_owner IS NOT NULL AND lease_owner != ?1",
            )?;
            let rows = stmt.query_map([&self.lease_owner], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut n = 0;
        for owner in owners.iter().filter(|o| !super::lease::owner_alive(o)) {
            n += self.conn.execute(
                "UPDATE sync_outbox SET state = 'pending', lease_until = NULL, lease_owner = NULL, updated_at = ?1
                 WHERE state = 'in_flight' AND lease_owner = ?2",
                params![now, owner],
            )?;
        }
        Ok(n)
    }

    /// When the engine next has something to do for this account: the earliest due row (a
    /// held row when its hold ends) or the earliest lease to expire. `None` when the queue
    /// holds nothing actionable.
    pub fn next_wakeup(&self, account: AccountId) -> Result<Option<Millis>> {
        Ok(self.conn.query_row(
            // Index look-ups (first row of each range; the held rows through their partial
            // index), not a scan of the queue.
            "SELECT MIN(t) FROM (
               SELECT * FROM (SELECT next_attempt_at AS t FROM sync_outbox
                              WHERE account_id = ?1 AND state = 'pending' AND hold_until IS NULL
                              ORDER BY next_attempt_at LIMIT 1)
               UNION ALL
               SELECT * FROM (SELECT next_attempt_at FROM sync_outbox
                              WHERE account_id = ?1 AND state = 'failed' AND hold_until IS NULL
                              ORDER BY next_attempt_at LIMIT 1)
               UNION ALL
               SELECT MIN(MAX(next_attempt_at, hold_until)) FROM sync_outbox
                              WHERE account_id = ?1 AND hold_until IS NOT NULL
                                AND state IN ('pending', 'failed')
               UNION ALL
               SELECT * FROM (SELECT lease_until FROM sync_outbox INDEXED BY outbox_in_flight
                              WHERE state = 'in_flight' AND account_id = ?1 ORDER BY lease_until LIMIT 1))",
            [account],
            |r| r.get(0),
        )?)
    }

    /// Retry now: rows that failed or need attention (all, or the given items) go back to
    /// `pending`, due immediately, attempts reset. A held row stays held (`store::hold`).
    pub fn retry(
        &mut self,
        account: AccountId,
        items: Option<&[String]>,
        now: Millis,
    ) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let sql = "UPDATE sync_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?2,
                          error_kind = NULL, error_detail = NULL, updated_at = ?2
                   WHERE account_id = ?1 AND state != 'in_flight'
                     AND (hold_until IS NULL OR hold_until <= ?2)";
        let n = match items {
            None => tx.execute(sql, params![account, now])?,
            Some(items) => {
                let mut n = 0;
                for item in items {
                    n += tx.execute(
                        &format!("{sql} AND item_id = ?3"),
                        params![account, now, item],
                    )?;
                }
                n
            }
        };
        tx.commit()?;
        Ok(n)
    }

    /// Give up on queued changes: delete the rows and put the local state back to the server's
    /// (so the UI shows what the server holds). Returns how many rows were discarded.
    pub fn discard(&mut self, account: AccountId, items: &[String], now: Millis) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for item in items {
            let Some(row) = row_of(&tx, account, item)? else {
                continue;
            };
            let base = base_of(&tx, account, item)?.unwrap_or_default();
            if row.state == RowState::InFlight {
                // A request carrying the change is under way and may land: the row stays, now
                // wanting the server's old state (compare-and-set on change_seq), so the
                // completion cannot make the discarded change stick; the next send reads,
                // merges and writes the old state back if the change did land.
                replace_desired(
                    &tx,
                    account,
                    item,
                    &DesiredState::from_user_data(&base),
                    now,
                )?;
            } else {
                delete_row(&tx, account, item)?;
            }
            write_local(&tx, account, item, &base, Some(now))?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Every outbox row of an account, oldest first.
    pub fn outbox(&self, account: AccountId) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "{ROW_SELECT} WHERE account_id = ?1 ORDER BY created_at, item_id"
        ))?;
        let rows = stmt.query_map([account], read_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// One outbox row.
    pub fn outbox_row(&mut self, account: AccountId, item: &str) -> Result<Option<OutboxRow>> {
        let tx = self.conn.transaction()?;
        let row = row_of(&tx, account, item)?;
        tx.commit()?;
        Ok(row)
    }

    /// Is anything waiting to be sent (pending or failed)? One index look-up.
    pub fn has_sendable(&self, account: AccountId) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sync_outbox WHERE account_id = ?1 AND state IN ('pending', 'failed'))",
            [account],
            |r| r.get(0),
        )?)
    }

    /// Rows per state: a look-up in the trigger-kept `outbox_counts` (no scan of the queue).
    pub fn counts(&self, account: AccountId) -> Result<Counts> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, n FROM outbox_counts WHERE account_id = ?1")?;
        let mut counts = Counts::default();
        let rows = stmt.query_map([account], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (state, n) = row?;
            let n = n as usize;
            match RowState::parse(&state) {
                Some(RowState::Pending) => counts.pending = n,
                Some(RowState::InFlight) => counts.in_flight = n,
                Some(RowState::Failed) => counts.failed = n,
                Some(RowState::NeedsAttention) => counts.needs_attention = n,
                None => {}
            }
        }
        Ok(counts)
    }
}

/// What the read after a write found ([`Store::verify_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The server holds what the write should have left: completed.
    Delivered(CompleteOutcome),
    /// The server still holds the old base: the write was ignored.
    NotApplied,
    /// The server holds something else: back to the queue, the next read settles it.
    Settling,
}

fn complete_in(
    tx: &Transaction<'_>,
    account: AccountId,
    sent: &ClaimedRow,
    server_after: Option<UserData>,
    now: Millis,
) -> rusqlite::Result<CompleteOutcome> {
    let new_base = server_after.unwrap_or_else(|| sent.desired.to_user_data());
    write_base(tx, account, &sent.item_id, &new_base, now)?;
    // The outcome is known: the server holds what was sent.
    sent::clear_sent(tx, account, &sent.item_id, sent.change_seq)?;
    let Some(row) = row_of(tx, account, &sent.item_id)? else {
        return Ok(CompleteOutcome::Gone);
    };
    if row.change_seq == sent.change_seq {
        delete_row(tx, account, &sent.item_id)?;
        return Ok(CompleteOutcome::Delivered);
    }
    if row.desired.same_as(&new_base) {
        delete_row(tx, account, &sent.item_id)?;
        return Ok(CompleteOutcome::Delivered);
    }
    tx.execute(
        "UPDATE sync_outbox SET state = 'pending', lease_until = NULL, attempts = 0, next_attempt_at = ?3,
                error_kind = NULL, error_detail = NULL, updated_at = ?3
         WHERE account_id = ?1 AND item_id = ?2",
        params![account, sent.item_id, now],
    )?;
    Ok(CompleteOutcome::Requeued)
}

fn complete_group_in(
    tx: &Transaction<'_>,
    account: AccountId,
    group_key: &str,
    sent: &[ClaimedRow],
    server_after: &std::collections::HashMap<String, UserData>,
    now: Millis,
) -> rusqlite::Result<Vec<CompleteOutcome>> {
    let mut out = Vec::with_capacity(sent.len());
    for row in sent {
        let after = server_after.get(&row.item_id).copied();
        out.push(complete_in(tx, account, row, after, now)?);
    }
    tx.prepare_cached("DELETE FROM sync_groups WHERE group_key = ?1")?
        .execute([group_key])?;
    Ok(out)
}

/// Claim a group whole if every member is still in it and due; otherwise `None`.
fn claim_group_if_intact(
    tx: &Transaction<'_>,
    account: AccountId,
    key: &str,
    now: Millis,
) -> rusqlite::Result<Option<Claim>> {
    let group: Option<(String, bool, i64)> = tx
        .query_row(
            "SELECT parent_id, played, member_count FROM sync_groups WHERE group_key = ?1 AND account_id = ?2",
            params![key, account],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((parent_id, played, member_count)) = group else {
        return Ok(None);
    };
    let members: Vec<OutboxRow> = {
        let mut stmt = tx.prepare(&format!(
            "{ROW_SELECT} WHERE account_id = ?1 AND group_key = ?2 ORDER BY item_id"
        ))?;
        let rows = stmt.query_map(params![account, key], read_row)?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let intact = members.len() as i64 == member_count
        && members.iter().all(|m| {
            matches!(m.state, RowState::Pending | RowState::Failed)
                && m.next_attempt_at <= now
                && !m.held_at(now)
                && m.desired.played == played
                && m.desired.position_ms == 0
        });
    if !intact {
        return Ok(None);
    }
    let rows = members
        .into_iter()
        .map(|m| ClaimedRow {
            item_id: m.item_id,
            desired: m.desired,
            change_seq: m.change_seq,
            attempts: m.attempts,
        })
        .collect();
    Ok(Some(Claim::Group {
        group_key: key.to_string(),
        parent_id,
        played,
        rows,
    }))
}

fn dissolve_group(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE sync_outbox SET group_key = NULL WHERE group_key = ?1",
        [key],
    )?;
    tx.execute("DELETE FROM sync_groups WHERE group_key = ?1", [key])?;
    Ok(())
}

impl Store {
    /// "Sync now": pending and failed rows become due at `now` (debounce and backoff skipped).
    pub fn make_due(&mut self, account: AccountId, now: Millis) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE sync_outbox SET next_attempt_at = ?2
             WHERE account_id = ?1 AND state IN ('pending', 'failed') AND next_attempt_at > ?2",
            params![account, now],
        )?)
    }
}

/// The base to compare a desired state with: `None` when it is uncertain (a write whose outcome
/// is not known was sent since it was seen: invariant 8, `store::sent`; or, in databases from
/// before that record, the old `uncertain` flag). An item never seen counts as the default state.
fn comparable_base(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    if sent::sent_of(tx, account, item)?.is_some() {
        return Ok(None);
    }
    let row = tx
        .prepare_cached(
            "SELECT position_ms, played, play_count, last_played, uncertain FROM server_state
             WHERE account_id = ?1 AND item_id = ?2",
        )?
        .query_row(params![account, item], |r| {
            Ok((read_user_data(r, 0)?, r.get::<_, bool>(4)?))
        })
        .optional()?;
    Ok(match row {
        None => Some(UserData::default()),
        Some((_, true)) => None,
        Some((base, false)) => Some(base),
    })
}
