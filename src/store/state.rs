//! What the store knows of each item's play state: the base (`server_state`, what the server
//! held when last seen, stamped with the read mark) and the local state (`play_state`, what the
//! person sees). The library (merges, views) and the outbox (changes, their sending) both read
//! and write them here, so neither imports the other for it; this module imports neither.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::model::{AccountId, ItemKind, Millis, UserData};

pub(super) fn read_user_data(row: &Row<'_>, first: usize) -> rusqlite::Result<UserData> {
    Ok(UserData {
        position_ms: row.get(first)?,
        played: row.get(first + 1)?,
        play_count: row.get(first + 2)?,
        last_played: row.get(first + 3)?,
    })
}

/// An item's base with its read-mark stamp (see [`ReadMark`](super::ReadMark)); `None` when it
/// has none.
pub(super) fn base_with_seq(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<(UserData, i64)>> {
    tx.prepare_cached(
        "SELECT position_ms, played, play_count, last_played, base_seq FROM server_state
         WHERE account_id = ?1 AND item_id = ?2",
    )?
    .query_row(params![account, item], |r| {
        Ok((read_user_data(r, 0)?, r.get(4)?))
    })
    .optional()
}

pub(super) fn base_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    Ok(base_with_seq(tx, account, item)?.map(|(base, _)| base))
}

/// The read-mark counter as it stands (SQL): a base written now is stamped with it. A macro so
/// that the statements using it stay literals (`concat!`) and are prepared once.
macro_rules! current_mark {
    () => {
        "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'base_seq'), 0)"
    };
}
pub(super) use current_mark;

/// Record what the server holds (seen in a listing or confirmed by a write): a certain base.
pub(super) fn write_base(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    u: &UserData,
    now: Millis,
) -> rusqlite::Result<()> {
    tx.prepare_cached(concat!(
        "INSERT INTO server_state (account_id, item_id, position_ms, played, play_count,
                                   last_played, seen_at, uncertain, base_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ",
        current_mark!(),
        ")
         ON CONFLICT (account_id, item_id) DO UPDATE SET position_ms = excluded.position_ms,
           played = excluded.played, play_count = excluded.play_count,
           last_played = excluded.last_played, seen_at = excluded.seen_at, uncertain = 0,
           base_seq = excluded.base_seq"
    ))?
    .execute(params![
        account,
        item,
        u.position_ms,
        u.played,
        u.play_count,
        u.last_played,
        now
    ])?;
    Ok(())
}

pub(super) fn local_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<UserData>> {
    tx.prepare_cached(
        "SELECT position_ms, played, play_count, last_played FROM play_state WHERE account_id = ?1 AND item_id = ?2",
    )?
    .query_row(params![account, item], |r| read_user_data(r, 0))
    .optional()
}

pub(super) fn write_local(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
    u: &UserData,
    changed_at: Option<Millis>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO play_state (account_id, item_id, position_ms, played, play_count, last_played, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (account_id, item_id) DO UPDATE SET position_ms = excluded.position_ms,
           played = excluded.played, play_count = excluded.play_count,
           last_played = excluded.last_played, changed_at = excluded.changed_at",
    )?
    .execute(params![account, item, u.position_ms, u.played, u.play_count, u.last_played, changed_at])?;
    Ok(())
}

/// The kind of an item known locally (None if unknown or removed).
pub(super) fn kind_of(
    tx: &Transaction<'_>,
    account: AccountId,
    item: &str,
) -> rusqlite::Result<Option<ItemKind>> {
    let kind: Option<String> = tx
        .prepare_cached(
            "SELECT kind FROM items WHERE account_id = ?1 AND item_id = ?2 AND removed = 0",
        )?
        .query_row(params![account, item], |r| r.get(0))
        .optional()?;
    Ok(kind.and_then(|k| ItemKind::parse(&k)))
}
