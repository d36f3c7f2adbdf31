"""A refit's view of the history: one consistent read, on a connection of its own.

The refit runs on its own thread while the poll loop goes on writing; an SQLite connection is never
shared between threads, so this opens its own. All of it is read in one read transaction: in WAL
mode that is one snapshot, so the offsets recorded in the artifact cover exactly the points
trained on, whatever the writer commits meanwhile. Only the sample is read (``trainer.sample``):
the cost is bounded by the sample, not by the history.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.history import HistoryError
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
    eligible = [
        str(name)
        for (name,) in db.execute(
            "SELECT series_id FROM series_sizes WHERE points >= ?", (bounds.min_points,)
        )
    ]
    total = int(db.execute("SELECT count(*) FROM series_sizes").fetchone()[0])
    chosen = sample_names(eligible, bounds.max_series, bounds.seed, version)
    series = {name: _newest(db, name, bounds.max_points_per_series) for name in chosen}
    return Snapshot(series, offsets, len(eligible), total)


def _newest(db: sqlite3.Connection, series_id: str, limit: int) -> Series:
    rows = db.execute(
        "SELECT value FROM points WHERE series_id = ? ORDER BY id DESC LIMIT ?", (series_id, limit)
    ).fetchall()
    return np.asarray([json.loads(value) for (value,) in reversed(rows)], np.float64)
