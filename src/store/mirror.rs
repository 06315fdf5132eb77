//! Mirror groups in the database (issue 21; the logic is `crate::mirror`): members, policy and
//! first-pass mode (as their names), per title the agreed state and per side its base, the
//! last pass's health list, and what passes did not keep.

use std::collections::{HashMap, HashSet};

use rusqlite::params;

use super::{Progress, Result, Store};
use crate::model::{AccountId, Millis};

/// A mirror group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorGroupRow {
    pub id: i64,
    pub members: Vec<AccountId>,
    /// `furthest-progress`, `last-writer-wins`, `prefer:ID`.
    pub policy: String,
    /// `agree-only`, `furthest`, `from:ID`.
    pub first_pass: String,
    pub created_at: Millis,
    pub last_run_at: Option<Millis>,
    /// JSON summary of the last pass.
    pub last_run: Option<String>,
    /// JSON array of the last pass's errors.
    pub last_errors: Option<String>,
}

/// A title's stored state: the agreed state (and when it was agreed) and each side's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTitleRow {
    pub agreed: Progress,
    pub agreed_at: Millis,
    pub bases: HashMap<AccountId, Progress>,
}

/// What a pass stores for one title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTitleRecord {
    pub key: String,
    /// The agreed state, when it changed in the pass (and when).
    pub agreed: Option<(Progress, Millis)>,
    /// Bases confirmed in the pass: (account, item, value).
    pub bases: Vec<(AccountId, String, Progress)>,
}

/// Everything one pass stores, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorPassRecord {
    pub titles: Vec<MirrorTitleRecord>,
    /// (kind, reason, items as JSON).
    pub health: Vec<(String, String, String)>,
    pub decisions: Vec<String>,
    pub summary_json: String,
    pub errors_json: String,
}

impl Store {
    /// A new group of these accounts; returns its id.
    pub fn create_mirror_group(
        &mut self,
        members: &[AccountId],
        policy: &str,
        first_pass: &str,
        now: Millis,
    ) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO mirror_groups (policy, first_pass, created_at) VALUES (?1, ?2, ?3)",
            params![policy, first_pass, now],
        )?;
        let id = tx.last_insert_rowid();
        for m in members {
            tx.execute(
                "INSERT OR IGNORE INTO mirror_members (group_id, account_id) VALUES (?1, ?2)",
                params![id, m],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Forget a group (its titles, bases and health list); `false` when there is none.
    pub fn remove_mirror_group(&mut self, id: i64) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM mirror_groups WHERE id = ?1", [id])?;
        Ok(n > 0)
    }

    /// Every group, by id.
    pub fn mirror_groups(&self) -> Result<Vec<MirrorGroupRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, policy, first_pass, created_at, last_run_at, last_run, last_errors
             FROM mirror_groups ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(MirrorGroupRow {
                id: r.get(0)?,
                members: Vec::new(),
                policy: r.get(1)?,
                first_pass: r.get(2)?,
                created_at: r.get(3)?,
                last_run_at: r.get(4)?,
                last_run: r.get(5)?,
                last_errors: r.get(6)?,
            })
        })?;
        let mut groups = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        let mut members = self.conn.prepare(
            "SELECT account_id FROM mirror_members WHERE group_id = ?1 ORDER BY account_id",
        )?;
        for g in &mut groups {
            g.members = members
                .query_map([g.id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
        }
        Ok(groups)
    }

    /// The stored titles of a group, by title key.
    pub fn mirror_titles(&self, group: i64) -> Result<HashMap<String, MirrorTitleRow>> {
        let mut out: HashMap<String, MirrorTitleRow> = HashMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT title_key, played, position_ms, agreed_at FROM mirror_titles WHERE group_id = ?1",
        )?;
        let rows = stmt.query_map([group], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Progress {
                    played: r.get(1)?,
                    position_ms: r.get(2)?,
                },
                r.get::<_, Millis>(3)?,
            ))
        })?;
        for row in rows {
            let (key, agreed, agreed_at) = row?;
            out.insert(
                key,
                MirrorTitleRow {
                    agreed,
                    agreed_at,
                    bases: HashMap::new(),
                },
            );
        }
        let mut stmt = self.conn.prepare(
            "SELECT title_key, account_id, played, position_ms FROM mirror_bases WHERE group_id = ?1",
        )?;
        let rows = stmt.query_map([group], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, AccountId>(1)?,
                Progress {
                    played: r.get(2)?,
                    position_ms: r.get(3)?,
                },
            ))
        })?;
        for row in rows {
            let (key, account, base) = row?;
            if let Some(t) = out.get_mut(&key) {
                t.bases.insert(account, base);
            }
        }
        Ok(out)
    }

    /// Store a pass: titles' agreed states and bases, the new health list (replacing the
    /// last), what was not kept, and the summary.
    pub fn save_mirror_pass(
        &mut self,
        group: i64,
        pass: &MirrorPassRecord,
        now: Millis,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        write_titles(&tx, group, &pass.titles)?;
        tx.execute("DELETE FROM mirror_health WHERE group_id = ?1", [group])?;
        for (seq, (kind, reason, items)) in pass.health.iter().enumerate() {
            tx.execute(
                "INSERT INTO mirror_health (group_id, seq, kind, reason, items) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![group, seq as i64, kind, reason, items],
            )?;
        }
        for d in &pass.decisions {
            tx.execute(
                "INSERT INTO mirror_decisions (group_id, decided_at, summary) VALUES (?1, ?2, ?3)",
                params![group, now, d],
            )?;
        }
        tx.execute(
            "UPDATE mirror_groups SET last_run_at = ?2, last_run = ?3, last_errors = ?4 WHERE id = ?1",
            params![group, now, pass.summary_json, pass.errors_json],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Store only the titles' agreed states and bases of `pass` (a write confirmed after the
    /// pass was stored).
    pub fn save_mirror_bases(&mut self, group: i64, pass: &MirrorPassRecord) -> Result<()> {
        let tx = self.conn.transaction()?;
        write_titles(&tx, group, &pass.titles)?;
        tx.commit()?;
        Ok(())
    }

    /// The health list of a group's last pass: (kind, reason, items as JSON).
    pub fn mirror_health(&self, group: i64) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, reason, items FROM mirror_health WHERE group_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([group], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The last `limit` notes of what a group's passes did not keep, newest first.
    pub fn mirror_decisions(&self, group: i64, limit: usize) -> Result<Vec<(Millis, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT decided_at, summary FROM mirror_decisions WHERE group_id = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![group, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Items of an account with a change queued or a write whose outcome is not known.
    pub fn unsettled_items(&self, account: AccountId) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT item_id FROM sync_outbox WHERE account_id = ?1
             UNION SELECT item_id FROM sent_state WHERE account_id = ?1",
        )?;
        let rows = stmt.query_map([account], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
    }
}

fn write_titles(
    tx: &rusqlite::Transaction<'_>,
    group: i64,
    titles: &[MirrorTitleRecord],
) -> rusqlite::Result<()> {
    let mut agreed_stmt = tx.prepare_cached(
        "INSERT INTO mirror_titles (group_id, title_key, played, position_ms, agreed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (group_id, title_key) DO UPDATE SET played = excluded.played,
           position_ms = excluded.position_ms, agreed_at = excluded.agreed_at",
    )?;
    let mut base_stmt = tx.prepare_cached(
        "INSERT INTO mirror_bases (group_id, title_key, account_id, item_id, played, position_ms)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6
         WHERE EXISTS (SELECT 1 FROM mirror_titles WHERE group_id = ?1 AND title_key = ?2)
         ON CONFLICT (group_id, title_key, account_id) DO UPDATE SET
           item_id = excluded.item_id, played = excluded.played,
           position_ms = excluded.position_ms",
    )?;
    for t in titles {
        if let Some((agreed, at)) = &t.agreed {
            agreed_stmt.execute(params![group, t.key, agreed.played, agreed.position_ms, at])?;
        }
        for (account, item, base) in &t.bases {
            base_stmt.execute(params![
                group,
                t.key,
                account,
                item,
                base.played,
                base.position_ms
            ])?;
        }
    }
    Ok(())
}
