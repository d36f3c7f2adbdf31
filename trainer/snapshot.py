"""A refit's view of the history: one consistent read, on a connection of its own.

The refit runs on its own thread while the poll loop goes on writing; an SQLite connection is never
shared between threads, so this opens its own. All of it is read in one read transaction: in WAL
mode that is one snapshot, so the offsets recorded in the artifact cover exactly the points
trained on, whatever the writer commits meanwhile. Only the sample is read (``trainer.sample``):
the cost is bounded by the sample, not by the history.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from trainer.gathered import unpack
from trainer.history import MAX_POINTS_FACT, HistoryError
from trainer.sample import Series, sample_names

# The writer holds its lock for one poll's transaction at most: wait for it rather than fail.
BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    series: dict[str, Series]  # the sampled series, newest points, in arrival order
    offsets: dict[int, int]  # partition -> next offset, as of the same snapshot
    eligible: int  # series with enough points, of which ``series`` is the sample
    total: int  # series in the history


@dataclass(frozen=True)
class SampleBounds:
    min_points: int
    max_series: int
    max_points_per_series: int
    seed: int


def read_snapshot(path: Path, topic: str, bounds: SampleBounds, version: int) -> Snapshot:
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open history {path}: {exc}") from exc
    try:
        db.execute("BEGIN")  # deferred: the first read fixes the snapshot
        try:
            return _read(db, topic, bounds, version)
        finally:
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read history {path}: {exc}") from exc
    finally:
        db.close()


def _read(db: sqlite3.Connection, topic: str, bounds: SampleBounds, version: int) -> Snapshot:
    rows = db.execute("SELECT partition, next_offset FROM offsets WHERE topic = ?", (topic,))
    offsets = {int(p): int(o) for p, o in rows}
    # A series may hold a few rows past the history's bound (deleted lazily): never read.
    fact = db.execute("SELECT value FROM facts WHERE key = ?", (MAX_POINTS_FACT,)).fetchone()
    kept = int(fact[0]) if fact is not None else bounds.max_points_per_series
    sids = {
        str(name): int(sid)
        for sid, name in db.execute(
            "SELECT sid, series_id FROM series WHERE min(points, ?) >= ?",
            (kept, bounds.min_points),
        )
    }
    total = int(db.execute("SELECT count(*) FROM series").fetchone()[0])
    chosen = sample_names(sids, bounds.max_series, bounds.seed, version)
    limit = min(kept, bounds.max_points_per_series)
    series = {name: _newest(db, sids[name], limit) for name in chosen}
    return Snapshot(series, offsets, len(sids), total)


def _newest(db: sqlite3.Connection, sid: int, limit: int) -> Series:
    rows = db.execute(
        "SELECT value FROM observations WHERE sid = ? ORDER BY id DESC LIMIT ?", (sid, limit)
    ).fetchall()
    return unpack([value for (value,) in reversed(rows)])
