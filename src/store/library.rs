//! The local library: items, what the user sees (`play_state`) and the base (`server_state`).

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::outbox::{self, RowState};
use super::{Result, Store};
use crate::model::{AccountId, DesiredState, ItemKind, Millis, RemoteItem, UserData};

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    /// Items seen in this batch.
    pub seen: usize,
    /// Items whose local state was replaced by the server's (no pending change).
    pub updated_local: usize,
    /// Items with a pending change: only the base moved.
    pub kept_local: usize,
    /// Pending changes dropped because the server already holds the desired state.
    pub already_on_server: usize,
}

impl std::ops::AddAssign for RefreshStats {
    fn add_assign(&mut self, other: RefreshStats) {
        self.seen += other.seen;
        self.updated_local += other.updated_local;
        self.kept_local += other.kept_local;
        self.already_on_server += other.already_on_server;
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
}

pub(super) fn read_user_data(row: &Row<'_>, first: usize) -> rusqlite::Result<UserData> {
    Ok(UserData {
        position_ms: row.get(first)?,
        played: row.get(first + 1)?,
        play_count: row.get(first + 2)?,
        last_played: row.get(first + 3)?,
    })
}

pub(super) fn base_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    tx.query_row(
        "SELECT position_ms, played, play_count, last_played FROM server_state WHERE account_id = ?1 AND item_id = ?2",
        params![account, item],
        |r| read_user_data(r, 0),
    )
    .optional()
}

/// The base to compare a desired state with: `None` when it is uncertain (a request with an
/// unknown outcome was sent since it was seen). An item never seen counts as the default state.
pub(super) fn comparable_base(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    let row = tx
        .query_row(
            "SELECT position_ms, played, play_count, last_played, uncertain FROM server_state
             WHERE account_id = ?1 AND item_id = ?2",
            params![account, item],
            |r| Ok((read_user_data(r, 0)?, r.get::<_, bool>(4)?)),
        )
        .optional()?;
    Ok(match row {
        None => Some(UserData::default()),
        Some((_, true)) => None,
        Some((base, false)) => Some(base),
    })
}

/// Mark the base of items uncertain (see [`comparable_base`]).
pub(super) fn mark_base_uncertain(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE server_state SET uncertain = 1 WHERE account_id = ?1 AND item_id = ?2",
        params![account, item],
    )?;
    Ok(())
}

/// Record what the server holds (seen in a listing or confirmed by a write): a certain base.
pub(super) fn write_base(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    u: &UserData,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO server_state (account_id, item_id, position_ms, played, play_count, last_played, seen_at, uncertain)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
         ON CONFLICT (account_id, item_id) DO UPDATE SET position_ms = excluded.position_ms,
           played = excluded.played, play_count = excluded.play_count,
           last_played = excluded.last_played, seen_at = excluded.seen_at, uncertain = 0",
        params![account, item, u.position_ms, u.played, u.play_count, u.last_played, now],
    )?;
    Ok(())
}

pub(super) fn local_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    tx.query_row(
        "SELECT position_ms, played, play_count, last_played FROM play_state WHERE account_id = ?1 AND item_id = ?2",
        params![account, item],
        |r| read_user_data(r, 0),
    )
    .optional()
}

pub(super) fn write_local(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    u: &UserData,
    changed_at: Option<Millis>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO play_state (account_id, item_id, position_ms, played, play_count, last_played, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (account_id, item_id) DO UPDATE SET position_ms = excluded.position_ms,
           played = excluded.played, play_count = excluded.play_count,
           last_played = excluded.last_played, changed_at = excluded.changed_at",
        params![account, item, u.position_ms, u.played, u.play_count, u.last_played, changed_at],
    )?;
    Ok(())
}

/// The kind of an item known locally (None if unknown or removed).
pub(super) fn kind_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<ItemKind>> {
    let kind: Option<String> = tx
        .query_row(
            "SELECT kind FROM items WHERE account_id = ?1 AND item_id = ?2 AND removed = 0",
            params![account, item],
            |r| r.get(0),
        )
        .optional()?;
    Ok(kind.and_then(|k| ItemKind::parse(&k)))
}

const VIEW_SELECT: &str = "SELECT i.item_id, i.kind, i.name, i.parent_id, i.series_id, i.season_id, i.series_name,
        i.season_number, i.episode_number, i.runtime_ms,
        COALESCE(p.position_ms, 0), COALESCE(p.played, 0), COALESCE(p.play_count, 0), p.last_played, o.state
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
    })
}

impl Store {
    /// Store one page of a library listing. Items without a pending change take the server's
    /// values; items with one keep the local values and only their base moves (invariant 5). A
    /// pending change that the server already holds is dropped (nothing to send).
    pub fn apply_remote_items(
        &mut self,
        account: AccountId,
        items: &[RemoteItem],
        now: Millis,
    ) -> Result<RefreshStats> {
        let tx = self.conn.transaction()?;
        let mut stats = RefreshStats::default();
        for it in items {
            stats.seen += 1;
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
            if !it.kind.is_playable() {
                continue;
            }
            let remote = UserData {
                position_ms: it.user_data.position_ms.max(0),
                ..it.user_data
            };
            write_base(&tx, account, &it.id, &remote, now)?;
            match outbox::row_of(&tx, account, &it.id)? {
                None => {
                    write_local(&tx, account, &it.id, &remote, None)?;
                    stats.updated_local += 1;
                }
                Some(row) => {
                    if row.state != RowState::InFlight && row.desired.same_as(&remote) {
                        outbox::delete_row(&tx, account, &it.id)?;
                        stats.already_on_server += 1;
                    } else {
                        stats.kept_local += 1;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(stats)
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

    /// The desired state of a pending change, if any.
    pub fn desired(&mut self, account: AccountId, item_id: &str) -> Result<Option<DesiredState>> {
        let tx = self.conn.transaction()?;
        let row = outbox::row_of(&tx, account, item_id)?;
        tx.commit()?;
        Ok(row.map(|r| r.desired))
    }
}
