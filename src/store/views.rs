//! Read-only queries behind the app's views: Home (*Continue watching*, *Next up*) and the
//! full-text search over titles (SQLite FTS5, see migration `0006_title_search`).
//!
//! Each returns item ids in display order; the UI already holds every item's data, so a view is
//! one query, never one query per row.

use rusqlite::params;

use super::{Result, Store};
use crate::model::AccountId;

/// The most rows a Home section or a search returns (the lists are virtualised, but nobody
/// scrolls through more than this and the queries stay fast at 100k items).
pub const VIEW_LIMIT: usize = 500;

/// Turn what a person typed into an FTS5 query: every word becomes a quoted prefix term
/// (`"lig"*`), so FTS5 syntax in the text (quotes, `NEAR`, `-`, `:`) is never interpreted.
/// `None` when there is no word to look for.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// *Continue watching*: playable items with a resume position (started, not finished), most
    /// recently played first.
    pub fn continue_watching(&self, account: AccountId, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.item_id FROM items i
             JOIN play_state p ON p.account_id = i.account_id AND p.item_id = i.item_id
             WHERE i.account_id = ?1 AND i.removed = 0 AND i.kind IN ('Episode', 'Movie')
               AND p.position_ms > 0 AND p.played = 0
             ORDER BY COALESCE(p.last_played, p.changed_at, 0) DESC, i.item_id
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![account, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// *Next up*: for each series in progress, the first unwatched episode after the last
    /// watched one in season/episode order (not simply the first unwatched: a person who
    /// skipped the pilot still gets the episode after the one they watched last). Series whose
    /// episodes were played most recently come first. An episode already started is on
    /// *Continue watching*, so its series has no *Next up* entry: an item is on Home once.
    pub fn next_up(&self, account: AccountId, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            // Driven by the watched episodes (play_state rows with played = 1), then only the
            // episodes of those series (items_by_series): Home waits for this query, and at
            // 100,000 items a join of every episode with its play state took 94-226 ms.
            "WITH watched AS MATERIALIZED (
                SELECT i.item_id, i.series_id,
                       COALESCE(i.season_number, 0) AS s, COALESCE(i.episode_number, 0) AS e
                FROM play_state p
                JOIN items i ON i.account_id = p.account_id AND i.item_id = p.item_id
                WHERE p.account_id = ?1 AND p.played = 1 AND i.removed = 0
                  AND i.kind = 'Episode' AND i.series_id IS NOT NULL
             ),
             last_watched AS MATERIALIZED (
                SELECT series_id, s, e FROM (
                    SELECT series_id, s, e,
                           ROW_NUMBER() OVER (PARTITION BY series_id ORDER BY s DESC, e DESC, item_id DESC) AS rn
                    FROM watched
                ) WHERE rn = 1
             ),
             eps AS MATERIALIZED (
                SELECT i.item_id, i.series_id,
                       COALESCE(i.season_number, 0) AS s, COALESCE(i.episode_number, 0) AS e,
                       COALESCE(p.played, 0) AS played, COALESCE(p.position_ms, 0) AS pos,
                       p.last_played
                FROM last_watched w
                JOIN items i ON i.account_id = ?1 AND i.series_id = w.series_id
                LEFT JOIN play_state p ON p.account_id = i.account_id AND p.item_id = i.item_id
                WHERE i.removed = 0 AND i.kind = 'Episode'
             ),
             recent AS (
                SELECT series_id, MAX(COALESCE(last_played, 0)) AS at FROM eps GROUP BY series_id
             ),
             candidates AS (
                SELECT eps.item_id, eps.series_id, eps.pos,
                       ROW_NUMBER() OVER (PARTITION BY eps.series_id ORDER BY eps.s, eps.e, eps.item_id) AS rn
                FROM eps JOIN last_watched w ON w.series_id = eps.series_id
                WHERE eps.played = 0 AND (eps.s, eps.e) > (w.s, w.e)
             )
             SELECT c.item_id FROM candidates c JOIN recent r ON r.series_id = c.series_id
             WHERE c.rn = 1 AND c.pos = 0
             ORDER BY r.at DESC, c.series_id
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![account, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// Items whose title (or series title) matches every word of `text` as a prefix, accents
    /// folded (`cafe` finds "Café"): series, then movies, then episodes; best match first, a
    /// series' episodes together in season and episode order.
    pub fn search(&self, account: AccountId, text: &str, limit: usize) -> Result<Vec<String>> {
        let Some(query) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            // A series' episodes stay together in season/episode order: they rank by the best
            // match among them (an episode's own bm25 differs with its title's length, which
            // scattered S02E05 before S01E06 before S02E02).
            "WITH hits AS MATERIALIZED (
                SELECT i.item_id, i.kind, i.series_id, i.series_name, i.season_number,
                       i.episode_number, i.name, bm25(items_fts, 10.0, 1.0) AS rank
                FROM items_fts f
                JOIN item_search s ON s.id = f.rowid
                JOIN items i ON i.account_id = s.account_id AND i.item_id = s.item_id
                WHERE items_fts MATCH ?2 AND s.account_id = ?1 AND i.removed = 0
                  AND i.kind IN ('Series', 'Episode', 'Movie')
             ),
             grouped AS (
                SELECT *, MIN(rank) OVER (PARTITION BY COALESCE(series_id, item_id)) AS group_rank
                FROM hits
             )
             SELECT item_id FROM grouped
             ORDER BY CASE kind WHEN 'Series' THEN 0 WHEN 'Movie' THEN 1 ELSE 2 END,
                      group_rank, series_name, season_number, episode_number, name, item_id
             LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![account, query, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_query_quotes_every_word_as_a_prefix() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("light keep").as_deref(),
            Some("\"light\"* \"keep\"*")
        );
        // FTS5 operators and quotes are words or separators, never syntax.
        assert_eq!(
            fts_query("a\" OR NEAR(x -y:").as_deref(),
            Some("\"a\"* \"OR\"* \"NEAR\"* \"x\"* \"y\"*")
        );
        assert_eq!(fts_query("Café").as_deref(), Some("\"Café\"*"));
    }
}
