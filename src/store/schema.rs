//! Named, append-only migrations tracked by `PRAGMA user_version`.
//!
//! Never edit or reorder an entry once it has shipped: add a new one at the end.

/// (name, SQL) in order; migration `i` brings `user_version` from `i` to `i + 1`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", INITIAL),
    ("0002_lease_owner", LEASE_OWNER),
    ("0003_base_uncertain", BASE_UNCERTAIN),
    ("0004_outbox_in_flight_index", IN_FLIGHT_INDEX),
    ("0005_merge_policy", MERGE_POLICY),
    ("0006_accounts_by_identity", ACCOUNTS_BY_IDENTITY),
    ("0007_settings", SETTINGS),
    ("0008_title_search", TITLE_SEARCH),
    ("0009_outbox_counts", OUTBOX_COUNTS),
    ("0010_downloads", DOWNLOADS),
    ("0011_base_seq", BASE_SEQ),
    ("0012_sent_and_overridden", SENT_AND_OVERRIDDEN),
    ("0013_outbox_hold", OUTBOX_HOLD),
    ("0014_provider_ids", PROVIDER_IDS),
    ("0015_mirror", MIRROR),
];

/// A row held back until `hold_until` (epoch ms) is not sent before then: a bulk change the
/// app offers to undo (see `store::hold`). A timestamp, not a flag, so a hold whose app was
/// killed ends by itself. The partial index keeps the held rows one look-up away.
const OUTBOX_HOLD: &str = r#"
ALTER TABLE sync_outbox ADD COLUMN hold_until INTEGER;
CREATE INDEX outbox_held ON sync_outbox (account_id, hold_until) WHERE hold_until IS NOT NULL;
"#;

/// Mirror groups (issue 21, `store::mirror`): their accounts, policy and first-pass mode; per
/// matched title the agreed state and per side the base (the server value last confirmed equal
/// to it); the health list of the last pass; what a pass did not keep. Idempotent.
const MIRROR: &str = r#"
CREATE TABLE IF NOT EXISTS mirror_groups (
    id          INTEGER PRIMARY KEY,
    policy      TEXT NOT NULL DEFAULT 'furthest-progress',
    first_pass  TEXT NOT NULL DEFAULT 'agree-only',
    created_at  INTEGER NOT NULL,
    last_run_at INTEGER,
    last_run    TEXT,
    last_errors TEXT
);
CREATE TABLE IF NOT EXISTS mirror_members (
    group_id   INTEGER NOT NULL REFERENCES mirror_groups (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, account_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_titles (
    group_id    INTEGER NOT NULL REFERENCES mirror_groups (id) ON DELETE CASCADE,
    title_key   TEXT NOT NULL,
    played      INTEGER NOT NULL,
    position_ms INTEGER NOT NULL,
    agreed_at   INTEGER NOT NULL,
    PRIMARY KEY (group_id, title_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_bases (
    group_id    INTEGER NOT NULL,
    title_key   TEXT NOT NULL,
    account_id  INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    played      INTEGER NOT NULL,
    position_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, title_key, account_id),
    FOREIGN KEY (group_id, title_key) REFERENCES mirror_titles (group_id, title_key) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_health (
    group_id INTEGER NOT NULL REFERENCES mirror_groups (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    reason   TEXT NOT NULL,
    items    TEXT NOT NULL,
    PRIMARY KEY (group_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirror_decisions (
    id         INTEGER PRIMARY KEY,
    group_id   INTEGER NOT NULL REFERENCES mirror_groups (id) ON DELETE CASCADE,
    decided_at INTEGER NOT NULL,
    summary    TEXT NOT NULL
);
"#;

/// The ids other databases give an item (IMDb, TMDB, TVDB: `model::ProviderId`), as its
/// server lists them, for matching items between servers (`mirror::matching`). Written by
/// every listing that carries them. Idempotent (`IF NOT EXISTS`).
const PROVIDER_IDS: &str = r#"
CREATE TABLE IF NOT EXISTS item_provider_ids (
    account_id INTEGER NOT NULL,
    item_id    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (account_id, item_id, provider, value),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;
"#;

/// What was sent and whose outcome is not known yet (DESIGN.md invariant 8; see
/// `store::sent`), beside the base rather than in `sync_outbox` so that dropping, discarding
/// or completing a row cannot lose it; and the person's values a merge kept the server's
/// value over (invariant 11; `overridden`, shown with "Use mine" for 7 days).
const SENT_AND_OVERRIDDEN: &str = r#"
CREATE TABLE sent_state (
    account_id  INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    position_ms INTEGER NOT NULL,
    played      INTEGER NOT NULL,
    play_count  INTEGER NOT NULL,
    last_played INTEGER,
    change_seq  INTEGER NOT NULL,
    read_date   INTEGER,
    stamp       INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE overridden (
    account_id        INTEGER NOT NULL,
    item_id           TEXT NOT NULL,
    decided_at        INTEGER NOT NULL,
    kept_position_ms  INTEGER NOT NULL,
    kept_played       INTEGER NOT NULL,
    yours_position_ms INTEGER NOT NULL,
    yours_played      INTEGER NOT NULL,
    why               TEXT NOT NULL,
    unknown_outcome   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;
"#;

/// When each base was written, on the store's read-mark counter (`meta` key `base_seq`, see
/// `Store::read_mark`): a listing asked for before a base was written cannot overwrite it.
const BASE_SEQ: &str = "ALTER TABLE server_state ADD COLUMN base_seq INTEGER NOT NULL DEFAULT 0;";

/// Global settings by key (see `store::settings`); a missing row is the default.
const SETTINGS: &str =
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";

/// The download queue (see `store::downloads`): one row per (account, item), leases and backoff
/// like the outbox; `path` is the absolute final file (the `.part` sits next to it).
const DOWNLOADS: &str = r#"
CREATE TABLE downloads (
    account_id      INTEGER NOT NULL,
    item_id         TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('queued', 'downloading', 'paused', 'done', 'failed')),
    bytes           INTEGER NOT NULL DEFAULT 0,
    total_bytes     INTEGER,
    path            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    lease_owner     TEXT,
    error_kind      TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX downloads_due ON downloads (account_id, state, next_attempt_at);
"#;

/// Queue counts per (account, state), kept by triggers in the same transaction as every outbox
/// change: the counts the UI shows after each change cost one look-up instead of a `COUNT(*)`
/// over the whole queue (491 µs at 10k rows, see docs/PERFORMANCE.md).
const OUTBOX_COUNTS: &str = r#"
CREATE TABLE outbox_counts (
    account_id INTEGER NOT NULL,
    state      TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (account_id, state)
) WITHOUT ROWID;
INSERT INTO outbox_counts (account_id, state, n)
    SELECT account_id, state, COUNT(*) FROM sync_outbox GROUP BY account_id, state;
CREATE TRIGGER outbox_counts_insert AFTER INSERT ON sync_outbox BEGIN
    INSERT OR IGNORE INTO outbox_counts (account_id, state, n) VALUES (NEW.account_id, NEW.state, 0);
    UPDATE outbox_counts SET n = n + 1 WHERE account_id = NEW.account_id AND state = NEW.state;
END;
CREATE TRIGGER outbox_counts_delete AFTER DELETE ON sync_outbox BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE account_id = OLD.account_id AND state = OLD.state;
END;
CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state, account_id ON sync_outbox
WHEN OLD.state IS NOT NEW.state OR OLD.account_id IS NOT NEW.account_id BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE account_id = OLD.account_id AND state = OLD.state;
    INSERT OR IGNORE INTO outbox_counts (account_id, state, n) VALUES (NEW.account_id, NEW.state, 0);
    UPDATE outbox_counts SET n = n + 1 WHERE account_id = NEW.account_id AND state = NEW.state;
END;
"#;

/// An account is one user on one server: keyed by (kind, server id, user id), not by URL (one
/// server under two addresses is one account; its base URL follows the last sign-in). Adds the
/// persisted account state (`online | offline | sign_in_needed | server_changed`) and the time
/// of the last sign-in (the current account is the last signed in).
///
/// Existing rows are kept, with their ids (items, queue and tokens hang on them): a Plex row
/// keyed by the literal user id `token` (before Plex users were established) becomes
/// `unverified-<id>` (its user is unknown, see `sign_in::sign_in_plex`); a row that would
/// collide with an older one on the new key (the same user on the same server under two
/// addresses) keeps its queue under the user id `<user>#<id>`.
///
/// SQLite cannot drop a UNIQUE constraint, so the table is rebuilt; the migration runs with
/// foreign keys off (see `Store::migrate`) so dropping the old table cascades nothing.
const ACCOUNTS_BY_IDENTITY: &str = r#"
CREATE TABLE accounts_new (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('jellyfin', 'plex', 'demo')),
    base_url     TEXT NOT NULL,
    server_id    TEXT NOT NULL DEFAULT '',
    server_name  TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL DEFAULT '',
    device_id    TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    policy       TEXT NOT NULL DEFAULT 'furthest-progress',
    state        TEXT NOT NULL DEFAULT 'online'
                 CHECK (state IN ('online', 'offline', 'sign_in_needed', 'server_changed')),
    signed_in_at INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, server_id, user_id)
);
INSERT INTO accounts_new (id, kind, base_url, server_id, server_name, user_id, user_name,
                          device_id, display_name, created_at, policy, state, signed_in_at)
SELECT a.id, a.kind, a.base_url, a.server_id, a.server_name,
       CASE
         WHEN a.kind = 'plex' AND a.user_id = 'token' THEN 'unverified-' || a.id
         WHEN EXISTS (SELECT 1 FROM accounts o
                      WHERE o.kind = a.kind AND o.server_id = a.server_id
                        AND o.user_id = a.user_id AND o.id < a.id)
           THEN a.user_id || '#' || a.id
         ELSE a.user_id
       END,
       a.user_name, a.device_id, a.display_name, a.created_at, a.policy, 'online', a.created_at
FROM accounts a ORDER BY a.id;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
"#;

/// Full-text search over titles (FTS5 in the bundled SQLite): prefix matches through the query
/// (`"word"*`), accents folded by the tokenizer (`remove_diacritics 2`). `items` has no rowid, so
/// `item_search` gives each item the integer id the index is keyed by; triggers keep both in step
/// (by rowid: no scan of the index per change), and a refresh that rewrites unchanged titles
/// does not touch the index.
const TITLE_SEARCH: &str = r#"
CREATE TABLE item_search (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    item_id    TEXT NOT NULL,
    UNIQUE (account_id, item_id)
);
CREATE VIRTUAL TABLE items_fts USING fts5(
    name, series_name, tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO item_search (account_id, item_id) SELECT account_id, item_id FROM items;
INSERT INTO items_fts (rowid, name, series_name)
    SELECT s.id, i.name, COALESCE(i.series_name, '') FROM items i
    JOIN item_search s ON s.account_id = i.account_id AND s.item_id = i.item_id;
CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO item_search (account_id, item_id) VALUES (new.account_id, new.item_id);
    INSERT INTO items_fts (rowid, name, series_name)
    VALUES ((SELECT id FROM item_search WHERE account_id = new.account_id AND item_id = new.item_id),
            new.name, COALESCE(new.series_name, ''));
END;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_fts WHERE rowid =
        (SELECT id FROM item_search WHERE account_id = old.account_id AND item_id = old.item_id);
    DELETE FROM item_search WHERE account_id = old.account_id AND item_id = old.item_id;
END;
CREATE TRIGGER items_fts_update AFTER UPDATE OF name, series_name ON items
WHEN old.name IS NOT new.name OR old.series_name IS NOT new.series_name BEGIN
    UPDATE items_fts SET name = new.name, series_name = COALESCE(new.series_name, '')
    WHERE rowid =
        (SELECT id FROM item_search WHERE account_id = new.account_id AND item_id = new.item_id);
END;
"#;

/// Lease recovery looks only at `in_flight` rows: a small partial index instead of a scan of
/// the whole queue on every scheduler wake-up.
const IN_FLIGHT_INDEX: &str =
    "CREATE INDEX outbox_in_flight ON sync_outbox (lease_until, lease_owner) WHERE state = 'in_flight';";

/// A base is uncertain after a request whose outcome is unknown (timeout, reset, truncated
/// answer): the server may or may not have applied it, so "back to the base" no longer means
/// "nothing to send".
const BASE_UNCERTAIN: &str =
    "ALTER TABLE server_state ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;";

/// Which process holds an `in_flight` lease (see `store::lease`).
const LEASE_OWNER: &str = "ALTER TABLE sync_outbox ADD COLUMN lease_owner TEXT;";

/// The conflict policy of each account (see `merge::Policy`), and the last merge decision
/// per item so the UI can show "merged from the server" after a restart too.
const MERGE_POLICY: &str = r#"
ALTER TABLE accounts ADD COLUMN policy TEXT NOT NULL DEFAULT 'furthest-progress';

CREATE TABLE merge_decisions (
    account_id INTEGER NOT NULL,
    item_id    TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    decision   TEXT NOT NULL,
    summary    TEXT NOT NULL,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;
"#;

const INITIAL: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('jellyfin', 'plex', 'demo')),
    base_url     TEXT NOT NULL,
    server_id    TEXT NOT NULL DEFAULT '',
    server_name  TEXT NOT NULL DEFAULT '',
    user_id      TEXT NOT NULL,
    user_name    TEXT NOT NULL DEFAULT '',
    device_id    TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    UNIQUE (kind, base_url, user_id)
);

CREATE TABLE items (
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    item_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    parent_id      TEXT,
    series_id      TEXT,
    season_id      TEXT,
    series_name    TEXT,
    season_number  INTEGER,
    episode_number INTEGER,
    runtime_ms     INTEGER,
    removed        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, item_id)
) WITHOUT ROWID;
CREATE INDEX items_by_parent ON items (account_id, parent_id);
CREATE INDEX items_by_season ON items (account_id, season_id);
CREATE INDEX items_by_series ON items (account_id, series_id);

-- What the user sees.
CREATE TABLE play_state (
    account_id  INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    position_ms INTEGER NOT NULL DEFAULT 0,
    played      INTEGER NOT NULL DEFAULT 0,
    play_count  INTEGER NOT NULL DEFAULT 0,
    last_played INTEGER,
    changed_at  INTEGER,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The base: the server's values as last seen.
CREATE TABLE server_state (
    account_id  INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    position_ms INTEGER NOT NULL DEFAULT 0,
    played      INTEGER NOT NULL DEFAULT 0,
    play_count  INTEGER NOT NULL DEFAULT 0,
    last_played INTEGER,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- A bulk action (season or series marked watched/unwatched) still sendable as one call.
CREATE TABLE sync_groups (
    group_key    TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    parent_id    TEXT NOT NULL,
    played       INTEGER NOT NULL,
    member_count INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per (account, item): the desired state still to be sent.
CREATE TABLE sync_outbox (
    account_id      INTEGER NOT NULL,
    item_id         TEXT NOT NULL,
    position_ms     INTEGER NOT NULL,
    played          INTEGER NOT NULL,
    play_count      INTEGER NOT NULL,
    last_played     INTEGER,
    change_seq      INTEGER NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'in_flight', 'failed', 'needs_attention')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    error_kind      TEXT,
    error_detail    TEXT,
    group_key       TEXT REFERENCES sync_groups (group_key) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, item_id),
    FOREIGN KEY (account_id, item_id) REFERENCES items (account_id, item_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX outbox_due ON sync_outbox (account_id, state, next_attempt_at);
CREATE INDEX outbox_group ON sync_outbox (group_key);
"#;
