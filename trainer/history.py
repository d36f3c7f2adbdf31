"""The trainer's accumulated history: SQLite (WAL), bounded per series.

Points and the consumed offsets are written in the same transaction, so after a crash the trainer
resumes exactly where its history ends: no event is lost or counted twice.

Ingesting costs the same whatever the history holds: the points kept per series are counted in
``series_sizes`` (same transaction) and in memory, so neither bound nor ``size()`` scans the
points; a series is trimmed only when it goes over the bound, by exactly its excess, all series of
a batch in one statement.

Two bounds: ``max_points_per_series`` (the newest points of each series) and ``max_points``
across all series. Over the global bound the *oldest points of the whole history* go first, not
whole series picked by some coldness rule: the oldest points are one range of ids (one cheap
delete, no per-series search), a cold series loses its points first because all of them are old
and vanishes once the last one goes, and an active series keeps its newest points, the ones a
refit samples anyway (``trainer.snapshot``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from foundation.errors import TwincastError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_series ON points (series_id, id);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series_sizes (series_id TEXT PRIMARY KEY, points INTEGER NOT NULL);
"""
# Set once series_sizes counts every series: a history written before it existed is counted
# once, at open.
_SIZES_FACT = "series_sizes_complete"
MMAP_BYTES = 1 << 30


class HistoryError(TwincastError):
    """The history database cannot be opened or written."""


@dataclass(frozen=True)
class Point:
    """A valid event, reduced to what the history keeps."""

    series_id: str
    ts: str
    features: list[float]


@dataclass(frozen=True)
class Consumed:
    """One consumed record: its position, and its point if it was valid."""

    partition: int
    offset: int
    point: Point | None
    bad_reason: str | None = None


@dataclass(frozen=True)
class Stored:
    """What one ``ingest`` committed: the points it added, and every partition's next offset
    as read back inside the same transaction, so it is what a restart would resume from."""

    added: int
    offsets: dict[int, int]


class HistoryStore:
    def __init__(
        self, path: Path, max_points_per_series: int, max_points: int | None = None
    ) -> None:
        self.max_points_per_series = max_points_per_series
        self.max_points = max_points  # across all series; None: only the per-series bound
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a commit is not fsynced, so a power cut may lose the newest batches, but
            # points and offsets go together, so the trainer then re-reads them from Kafka.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=16384")
            # Each event lands on its series' page of the (series_id, id) index: past ~100k points
            # those pages outgrow SQLite's default 2 MiB cache, and reading them through
            # read() calls costs a few us each; a larger cache and a memory map keep the cost of
            # an event nearly flat (bench.trainer_scale).
            self._db.execute("PRAGMA cache_size=-65536")  # KiB
            self._db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._db.executescript(_SCHEMA)
            self._sizes = self._load_sizes()
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open history {path}: {exc}") from exc
        self._points = sum(self._sizes.values())

    def _load_sizes(self) -> dict[str, int]:
        """Points kept per series, as of the last commit (the one full read, at open)."""
        if self.get_fact(_SIZES_FACT) is None:
            with self._transaction():
                self._db.execute("DELETE FROM series_sizes")
                self._db.execute(
                    "INSERT INTO series_sizes (series_id, points) "
                    "SELECT series_id, count(*) FROM points GROUP BY series_id"
                )
                self._set_fact(_SIZES_FACT, "1")
        rows = self._db.execute("SELECT series_id, points FROM series_sizes")
        return {str(series_id): int(points) for series_id, points in rows}

    def close(self) -> None:
        self._db.close()

    def ingest(self, topic: str, records: Iterable[Consumed]) -> Stored:
        """Store the valid points and advance the offsets, all or nothing."""
        next_offsets: dict[int, int] = {}
        added: Counter[str] = Counter()
        rows = []
        for record in records:
            next_offsets[record.partition] = max(
                next_offsets.get(record.partition, 0), record.offset + 1
            )
            if record.point is not None:
                p = record.point
                rows.append((p.series_id, p.ts, json.dumps(p.features)))
                added[p.series_id] += 1
        sizes = {sid: self._sizes.get(sid, 0) + n for sid, n in added.items()}
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?)", rows
                )
                self._trim_series(sizes)
                points = self._points + sum(sizes[sid] - self._sizes.get(sid, 0) for sid in sizes)
                if self.max_points is not None and points > self.max_points:
                    points -= self._trim_oldest(points - self.max_points, sizes)
                self._write_sizes(sizes)
                self._db.executemany(
                    "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET "
                    "next_offset = max(next_offset, excluded.next_offset)",
                    [(topic, part, off) for part, off in next_offsets.items()],
                )
                stored = self.offsets(topic)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot write history: {exc}") from exc
        # Only once committed: a rolled-back batch leaves the counts as the database has them.
        self._points = points
        for series_id, kept in sizes.items():
            if kept:
                self._sizes[series_id] = kept
            else:
                self._sizes.pop(series_id, None)
        return Stored(len(rows), stored)

    def _trim_series(self, sizes: dict[str, int]) -> None:
        """Drop each series' points over its bound, oldest first (the (series_id, id) index finds
        them); one statement for the batch."""
        bound = self.max_points_per_series
        over = [(sid, kept - bound) for sid, kept in sizes.items() if kept > bound]
        self._db.executemany(
            "DELETE FROM points WHERE id IN ("
            " SELECT id FROM points WHERE series_id = ? ORDER BY id LIMIT ?)",
            over,
        )
        sizes.update((sid, bound) for sid, _ in over)

    def _trim_oldest(self, excess: int, sizes: dict[str, int]) -> int:
        """Drop the ``excess`` oldest points of the history, whatever their series; their series'
        counts go into ``sizes`` (0: the series is gone). Reads only the dropped rows."""
        (last,) = self._db.execute(
            "SELECT id FROM points ORDER BY id LIMIT 1 OFFSET ?", (excess - 1,)
        ).fetchone()
        lost = self._db.execute(
            "SELECT series_id, count(*) FROM points WHERE id <= ? GROUP BY series_id", (last,)
        ).fetchall()
        self._db.execute("DELETE FROM points WHERE id <= ?", (last,))
        for series_id, count in lost:
            sizes[series_id] = sizes.get(series_id, self._sizes.get(series_id, 0)) - count
        return sum(count for _, count in lost)

    def _write_sizes(self, sizes: dict[str, int]) -> None:
        self._db.executemany(
            "INSERT INTO series_sizes (series_id, points) VALUES (?, ?) "
            "ON CONFLICT (series_id) DO UPDATE SET points = excluded.points",
            [(sid, kept) for sid, kept in sizes.items() if kept],
        )
        self._db.executemany(
            "DELETE FROM series_sizes WHERE series_id = ?",
            [(sid,) for sid, kept in sizes.items() if not kept],
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def offsets(self, topic: str) -> dict[int, int]:
        """Partition -> next offset to consume."""
        rows = self._db.execute(
            "SELECT partition, next_offset FROM offsets WHERE topic = ?", (topic,)
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def series(self) -> dict[str, npt.NDArray[np.float64]]:
        """Every series' kept points in arrival order, as [T, F] arrays.

        The whole history: for tests and tools. A refit reads a bounded sample instead
        (``trainer.snapshot``), never this."""
        collected: dict[str, list[list[float]]] = defaultdict(list)
        for series_id, value in self._db.execute(
            "SELECT series_id, value FROM points ORDER BY series_id, id"
        ):
            collected[series_id].append(json.loads(value))
        return {sid: np.asarray(values, np.float64) for sid, values in collected.items()}

    def size(self) -> tuple[int, int]:
        """(series, points) currently kept; counted as they change, never by a scan."""
        return len(self._sizes), self._points

    def get_fact(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_fact(self, key: str, value: str) -> None:
        with self._transaction():
            self._set_fact(key, value)

    def _set_fact(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO facts (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
