//! Merge at send time: the store's half of read-merge-write (DESIGN.md invariant 6).
//!
//! The engine claims a batch of due rows, reads what the server holds now for all of them in
//! one request, and hands the answer to [`Store::merge_claims`]. Each row goes through the same
//! pure [`merge`] as a pull, in one transaction:
//!
//! - the server already holds the merged result → the row is settled without a write (base and
//!   local state become the server's; compare-and-delete of the row);
//! - otherwise the merged result is what will be written: the base becomes what was read, the
//!   row's desired state (and the local state) the merged result.
//!
//! A bulk group stays one call on the parent only while every member's merge still asks for
//! exactly the group's state and the parent's children on the server, listed in the same
//! claim's read, are exactly its members (invariant 9); otherwise it splits into per-item
//! writes of what each merge decided, and a child the listing found beyond the members gets
//! none.
//!
//! The window that remains is one round trip: another device's write that lands on the
//! server between our read and our write is overwritten. It is as small as a client can make it
//! with these APIs (neither Jellyfin nor Plex offers a conditional write), and the other
//! device's change is not lost from its own device: its next send reads ours and merges again.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Transaction};

use super::library::{
    dates_for, policy_of, record_decision, server_kind_of, worth_showing, ItemMerge, MergeReport,
};
use super::outbox::{delete_row, replace_desired, row_of, Claim, ClaimedRow, RowState};
use super::sent;
use super::state::{base_of, write_base, write_local};
use super::{Result, Store};
use crate::merge::{merge_on, Decision, LocalSide, Policy, ServerDates};
use crate::model::{AccountId, DesiredState, Millis, UserData};

/// One write the merge asks for, with what the server held when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedWrite {
    /// One item: write `row.desired` (the merged result). `current` is what the read found;
    /// `None` when the server did not list the item (the write then finds out why).
    Item {
        row: ClaimedRow,
        current: Option<UserData>,
    },
    /// An intact group: one call on the parent.
    Group {
        group_key: String,
        parent_id: String,
        played: bool,
        rows: Vec<ClaimedRow>,
        current: Vec<(String, UserData)>,
    },
}

impl PlannedWrite {
    /// The rows this write carries.
    pub fn rows(&self) -> &[ClaimedRow] {
        match self {
            PlannedWrite::Item { row, .. } => std::slice::from_ref(row),
            PlannedWrite::Group { rows, .. } => rows,
        }
    }
}

/// What [`Store::merge_claims`] decided for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendPlan {
    /// The writes to send.
    pub writes: Vec<PlannedWrite>,
    /// Items whose merge equals what the server holds: done, no write.
    pub settled: Vec<String>,
    /// Items no longer claimed by this batch (discarded meanwhile): nothing to do.
    pub released: Vec<String>,
    /// Merges that took something from the server or decided a conflict.
    pub report: MergeReport,
}

/// What the merge decided for one claimed row.
enum RowPlan {
    /// Not ours any more.
    Released,
    /// The server holds the result already.
    Settled,
    /// Write this (desired = merged result; `changed` when the merge altered the row).
    Write {
        row: ClaimedRow,
        current: Option<UserData>,
        changed: bool,
    },
}

fn runtime_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<i64>> {
    Ok(tx
        .query_row(
            "SELECT runtime_ms FROM items WHERE account_id = ?1 AND item_id = ?2",
            params![account, item],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

fn changed_at_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<Millis>> {
    Ok(tx
        .query_row(
            "SELECT changed_at FROM play_state WHERE account_id = ?1 AND item_id = ?2",
            params![account, item],
            |r| r.get::<_, Option<Millis>>(0),
        )
        .optional()?
        .flatten())
}

/// Merge one claimed row with what the server holds now.
#[allow(clippy::too_many_arguments)]
fn plan_row(
    tx: &Transaction<'_>,
    account: AccountId,
    (policy, dates): (Policy, ServerDates),
    claimed: &ClaimedRow,
    remote: Option<&UserData>,
    (read_date, now): (Option<Millis>, Millis),
    report: &mut MergeReport,
) -> rusqlite::Result<RowPlan> {
    let item = claimed.item_id.as_str();
    // Still ours? A discard deletes the row (or, while in flight, re-queues the base under a
    // new change_seq, which is then what we carry: compare-and-set on the current row).
    let Some(row) = row_of(tx, account, item)? else {
        return Ok(RowPlan::Released);
    };
    if row.state != RowState::InFlight {
        return Ok(RowPlan::Released);
    }
    let current = ClaimedRow {
        item_id: row.item_id.clone(),
        desired: row.desired,
        change_seq: row.change_seq,
        attempts: row.attempts,
    };
    let Some(remote) = remote else {
        // Not listed by the server: nothing to merge with; the write tells (404 → attention).
        sent::record_sent(
            tx,
            account,
            item,
            &current.desired,
            current.change_seq,
            read_date,
            now,
        )?;
        return Ok(RowPlan::Write {
            changed: current.change_seq != claimed.change_seq,
            row: current,
            current: None,
        });
    };
    let known_base = base_of(tx, account, item)?;
    // A write of ours whose outcome is unknown: this read says whether it landed, and so
    // which base the merge runs over (invariant 8, `store::sent`).
    let (settled_base, landed) = sent::settle(tx, account, item, known_base, remote)?;
    let base = settled_base.unwrap_or(*remote);
    let changed_at = changed_at_of(tx, account, item)?;
    let local = LocalSide {
        state: row.desired.to_user_data(),
        changed_at: changed_at.or(Some(row.created_at)),
    };
    let outcome = merge_on(
        dates,
        &local,
        &base,
        remote,
        policy,
        runtime_of(tx, account, item)?,
    );
    sent::note_merge(tx, account, item, &local.state, &outcome, landed, now)?;
    // The base is what the server holds now.
    if known_base != Some(*remote) {
        write_base(tx, account, item, remote, now)?;
    }
    if !matches!(outcome.decision, Decision::Unchanged | Decision::KeptLocal)
        && worth_showing(&local.state, &base, remote, &outcome)
    {
        if matches!(outcome.decision, Decision::Conflict { .. }) {
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
    if !outcome.push {
        // The server holds the result: settled without a write.
        delete_row(tx, account, item)?;
        write_local(tx, account, item, &outcome.result, changed_at)?;
        report.stats.already_on_server += 1;
        return Ok(RowPlan::Settled);
    }
    let desired = DesiredState::from_user_data(&outcome.result);
    if desired == row.desired {
        sent::record_sent(
            tx,
            account,
            item,
            &desired,
            current.change_seq,
            read_date,
            now,
        )?;
        return Ok(RowPlan::Write {
            changed: current.change_seq != claimed.change_seq,
            row: current,
            current: Some(*remote),
        });
    }
    let change_seq = replace_desired(tx, account, item, &desired, now)?;
    write_local(tx, account, item, &outcome.result, changed_at)?;
    sent::record_sent(tx, account, item, &desired, change_seq, read_date, now)?;
    Ok(RowPlan::Write {
        row: ClaimedRow {
            desired,
            change_seq,
            ..current
        },
        current: Some(*remote),
        changed: true,
    })
}

impl Store {
    /// Merge a claimed batch with what the server holds now (`remote`: the items the read
    /// found) and decide the writes. One transaction. See the module docs.
    pub fn merge_claims(
        &mut self,
        account: AccountId,
        claims: &[Claim],
        remote: &HashMap<String, UserData>,
        now: Millis,
    ) -> Result<SendPlan> {
        self.merge_claims_listed_at(account, claims, remote, &HashMap::new(), None, now)
    }

    /// [`Store::merge_claims`] with what the engine's read also learned: for each claimed group
    /// (by key), the children its parent's listing on the server named in this claim's read (a
    /// group is sent as one call on the parent only when that listing is exactly its members,
    /// DESIGN.md invariant 9; a group without a listing goes item by item), and the server's
    /// clock when it answered the read (its `Date` header), which the classification of an
    /// unknown outcome may use (see `store::sent`).
    pub fn merge_claims_listed_at(
        &mut self,
        account: AccountId,
        claims: &[Claim],
        remote: &HashMap<String, UserData>,
        listed: &HashMap<String, HashSet<String>>,
        read_date: Option<Millis>,
        now: Millis,
    ) -> Result<SendPlan> {
        let tx = self.conn.transaction()?;
        let policy = policy_of(&tx, account)?;
        let kind = server_kind_of(&tx, account)?;
        let dates = dates_for(kind);
        // Under last-writer-wins on a server that keeps dates, each "watched" carries its own
        // date (see `merge_on`); the season call sets none, so such a bulk goes item by item.
        let group_keeps_dates = !(policy == Policy::LastWriterWins && dates == ServerDates::Kept);
        // Where a parent "mark watched" adds a view to episodes already watched, a bulk with
        // such an episode goes item by item (see `ServerKind::parent_mark_watched_recounts`).
        let recounts = kind.is_some_and(|k| k.parent_mark_watched_recounts());
        let mut plan = SendPlan::default();
        for claim in claims {
            match claim {
                Claim::Item(row) => {
                    match plan_row(
                        &tx,
                        account,
                        (policy, dates),
                        row,
                        remote.get(&row.item_id),
                        (read_date, now),
                        &mut plan.report,
                    )? {
                        RowPlan::Released => plan.released.push(row.item_id.clone()),
                        RowPlan::Settled => plan.settled.push(row.item_id.clone()),
                        RowPlan::Write { row, current, .. } => {
                            plan.writes.push(PlannedWrite::Item { row, current })
                        }
                    }
                }
                Claim::Group {
                    group_key,
                    parent_id,
                    played,
                    rows,
                } => {
                    let mut writes = Vec::new();
                    let mut intact = true;
                    for row in rows {
                        let current = remote.get(&row.item_id);
                        let rules = (policy, dates);
                        let when = (read_date, now);
                        match plan_row(&tx, account, rules, row, current, when, &mut plan.report)? {
                            RowPlan::Released => {
                                intact = false;
                                plan.released.push(row.item_id.clone());
                            }
                            RowPlan::Settled => {
                                intact = false;
                                plan.settled.push(row.item_id.clone());
                            }
                            RowPlan::Write {
                                row,
                                current,
                                changed,
                            } => {
                                intact &= !changed
                                    && current.is_some_and(|c| !(recounts && *played && c.played))
                                    && row.desired.played == *played
                                    && row.desired.position_ms == 0;
                                writes.push((row, current));
                            }
                        }
                    }
                    // Invariant 9: the call on the parent touches only children read in this
                    // claim, so the server's children must be exactly the members.
                    let listed_exactly = listed.get(group_key).is_some_and(|children| {
                        children.len() == rows.len()
                            && rows.iter().all(|r| children.contains(&r.item_id))
                    });
                    if intact
                        && listed_exactly
                        && writes.len() >= 2
                        && (group_keeps_dates || !*played)
                    {
                        let current = writes
                            .iter()
                            .filter_map(|(r, c)| c.map(|c| (r.item_id.clone(), c)))
                            .collect();
                        plan.writes.push(PlannedWrite::Group {
                            group_key: group_key.clone(),
                            parent_id: parent_id.clone(),
                            played: *played,
                            rows: writes.into_iter().map(|(r, _)| r).collect(),
                            current,
                        });
                    } else {
                        // The merges differ: one write per item that still needs one.
                        tx.execute(
                            "UPDATE sync_outbox SET group_key = NULL WHERE group_key = ?1",
                            [group_key],
                        )?;
                        tx.execute("DELETE FROM sync_groups WHERE group_key = ?1", [group_key])?;
                        plan.writes.extend(
                            writes
                                .into_iter()
                                .map(|(row, current)| PlannedWrite::Item { row, current }),
                        );
                    }
                }
            }
        }
        tx.execute(
            "DELETE FROM sync_groups WHERE account_id = ?1 AND group_key NOT IN
               (SELECT group_key FROM sync_outbox WHERE group_key IS NOT NULL)",
            [account],
        )?;
        tx.commit()?;
        Ok(plan)
    }

    /// Give claimed rows back (`pending`, lease cleared, due at once) without a send: the
    /// account stopped being able to send before their write started.
    pub fn release_claims(
        &mut self,
        account: AccountId,
        rows: &[ClaimedRow],
        now: Millis,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for r in rows {
            // Compare-and-set on the lease: a row another process has claimed since (after our
            // lease expired) is that process's to send, not ours to give back.
            tx.execute(
                "UPDATE sync_outbox SET state = 'pending', lease_until = NULL, lease_owner = NULL,
                        updated_at = ?3, next_attempt_at = MIN(next_attempt_at, ?3)
                 WHERE account_id = ?1 AND item_id = ?2 AND state = 'in_flight'
                   AND (lease_owner IS NULL OR lease_owner = ?4)",
                params![account, r.item_id, now, self.lease_owner],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
