"""The history's tables, and the one-time move of a history written by an older trainer.

Layout, chosen by measurement (``bench.trainer_scale``): points go into ``observations`` keyed by
arrival (``id``), so a batch's rows land at the end of that B-tree; what is random per event is
only the series index, whose entries are two small integers (series number, id) rather than the
series' name, so it holds ~3x more entries per page and a batch dirties that many fewer pages.
``series`` numbers the series and counts the rows each holds. ``points`` is a view with the old
columns, for people and tests reading the file.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from trainer.gathered import pack

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    sid INTEGER PRIMARY KEY,
    series_id TEXT NOT NULL UNIQUE,
    points INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY,
    sid INTEGER NOT NULL,
    ts REAL NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_by_series ON observations (sid);
CREATE VIEW IF NOT EXISTS points (id, series_id, ts, value) AS
    SELECT o.id, s.series_id, o.ts, o.value FROM observations o JOIN series s USING (sid);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# The index on (sid) alone: SQLite appends the rowid to every index entry and keeps them in that
# order, so "newest points of a series" (ORDER BY id DESC) is read from it without a sort.

MMAP_BYTES = 1 << 30
PAGE_BYTES = 16384
PRAGMAS = (
    # Before anything is written (a no-op on an existing file): 16 KiB pages instead of 4, so a
    # batch dirties a quarter as many pages of the series index, each with its own overhead (WAL
    # frame, checksum, cache lookup). Measured on the index alone at 2M points held: 3.6 us of
    # SQLite per event with 4 KiB pages, 2.8 with 16 KiB, 2.5-2.7 with 32-64 KiB, 5.8 with 1 KiB.
    f"page_size={PAGE_BYTES}",
    "journal_mode=WAL",
    # NORMAL: a commit is not fsynced, so a power cut may lose the newest batches, but points and
    # offsets go together, so the trainer then re-reads them from Kafka.
    "synchronous=NORMAL",
    # The series index outgrows SQLite's default 2 MiB cache past ~100k points, and reading its
    # pages through read() calls costs a few us each: a larger cache and a memory map.
    "cache_size=-65536",  # KiB
    f"mmap_size={MMAP_BYTES}",
)


# A page dirtied by several commits goes back to the database once per checkpoint.
CHECKPOINT_BYTES = 64 << 20


def checkpoint_pages(db: sqlite3.Connection) -> str:
    """The WAL checkpoint interval in the file's own pages: a history made before 16 KiB pages
    keeps its 4 KiB ones (WAL mode cannot change them), and must still checkpoint at 64 MiB."""
    (page_bytes,) = db.execute("PRAGMA page_size").fetchone()
    return f"wal_autocheckpoint={CHECKPOINT_BYTES // int(page_bytes)}"


def create(db: sqlite3.Connection) -> None:
    """Create the tables, first moving a history of the older layout into them if there is one
    (in one transaction: a crash leaves either layout whole)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        old = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'points'"
        ).fetchone()
        if old is not None:
            db.execute("ALTER TABLE points RENAME TO points_v1")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        if old is not None:
            _move_v1(db)
    except BaseException:
        if db.in_transaction:  # not after SQLite rolled back by itself (disk full, I/O error)
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _move_v1(db: sqlite3.Connection) -> None:
    """The older layout (``points`` keyed by series name, ISO time and JSON value; the counts in
    ``series_sizes``) into this one, order and offsets kept."""
    db.create_function("v1_ts", 1, _epoch, deterministic=True)
    db.create_function("v1_value", 1, lambda text: pack(json.loads(text)), deterministic=True)
    db.execute(
        "INSERT INTO series (series_id, points) "
        "SELECT series_id, count(*) FROM points_v1 GROUP BY series_id ORDER BY min(id)"
    )
    db.execute(
        "INSERT INTO observations (id, sid, ts, value) "
        "SELECT p.id, s.sid, v1_ts(p.ts), v1_value(p.value) "
        "FROM points_v1 p JOIN series s USING (series_id) ORDER BY p.id"
    )
    db.execute("DROP TABLE points_v1")
    db.execute("DROP TABLE IF EXISTS series_sizes")
    db.execute("DELETE FROM facts WHERE key = 'series_sizes_complete'")


def _epoch(text: str) -> float:
    """An older history's ISO time as epoch seconds (0 for what is no ISO time: the time is
    kept for people reading the file; nothing in twincast reads it)."""
    try:
        when = datetime.fromisoformat(text)
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    except (TypeError, ValueError, OverflowError):
        return 0.0
