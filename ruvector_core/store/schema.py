"""The store's SQLite schema (created if absent; WAL so readers never block the writer)."""

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL REFERENCES sources(path),
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL  -- float32 little-endian: lets the index be rebuilt without tombstones
);
CREATE INDEX IF NOT EXISTS passages_by_source ON passages(source);
"""
