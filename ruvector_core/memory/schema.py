"""The memory's SQLite schema (created if absent).

WAL, so readers never block the writer and see the last committed state; ``synchronous =
FULL``, so a write is durable when its transaction commits. Items keep their vectors, so
the HNSW index can always be rebuilt from SQLite alone. ``items_fts`` is an external-content
FTS5 index over the texts, kept in step by triggers inside the same transactions.

What the memory learns lives here too: ``feedback`` holds each recorded trajectory (the
query, its embedding, the item's vector at the time, the reward), ``adapters`` every
trained adapter version with its Fisher information and its training report, and
``patterns`` the current pattern library. The active adapter and the activation history
are ``meta`` entries. These tables were added beside schema 2 (created on open when
absent), so a store written before them opens unchanged.
"""

SCHEMA_VERSION = "2"

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,     -- the item's key in the HNSW index (as text)
    id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,        -- one JSON object
    vector BLOB NOT NULL,          -- float32 little-endian
    added REAL NOT NULL,
    UNIQUE (namespace, id)
);
CREATE INDEX IF NOT EXISTS items_by_namespace ON items(namespace);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(text, content='items', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_update AFTER UPDATE OF text ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO items_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY,       -- order of recording; an adapter learns up to one of these
    namespace TEXT NOT NULL,
    item_id TEXT NOT NULL,
    query TEXT NOT NULL,
    query_vector BLOB NOT NULL,    -- float32 little-endian, the base model's embedding
    item_vector BLOB NOT NULL,     -- the item's vector when the feedback was given
    reward REAL NOT NULL,          -- in [-1, 1]
    recorded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS adapters (
    version INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    through INTEGER NOT NULL,      -- the last feedback seq it learned from
    weights BLOB NOT NULL,         -- the adapter (npz, see learning.persistence)
    fisher BLOB NOT NULL,          -- Fisher information accumulated up to this adapter
    report TEXT NOT NULL           -- the training report, one JSON object
);
CREATE TABLE IF NOT EXISTS patterns (
    id TEXT PRIMARY KEY,
    embedding BLOB NOT NULL,       -- float32 little-endian, unit length
    uses INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
"""
