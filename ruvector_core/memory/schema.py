"""The memory's SQLite schema (created if absent).

WAL, so readers never block the writer and see the last committed state; ``synchronous =
FULL``, so a write is durable when its transaction commits. Items keep their vectors, so
the HNSW index can always be rebuilt from SQLite alone. ``items_fts`` is an external-content
FTS5 index over the texts, kept in step by triggers inside the same transactions.
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
"""
