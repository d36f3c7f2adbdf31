"""The trainer's accumulated history: SQLite (WAL), bounded per series and in all.

Points and the consumed offsets are written in the same transaction, so after a crash the trainer
resumes exactly where its history ends: no event is lost or counted twice.

Ingesting costs the same whatever the history holds: the rows held per series are counted in
``series`` (same transaction) and in memory, so neither bound nor ``size()`` scans the points,
and rows are appended in arrival order (``trainer.history_schema``).

Two bounds. ``max_points_per_series``: the history keeps the newest that many points of each
series; that is all any reader sees (``series()``, a refit's snapshot, which read at most that
many newest). The rows past it are deleted lazily: a series is cut back to the bound once it holds
a quarter more, so the deletes of a steady stream are shared by many events instead of one per
event (measured: ~1.7 us per event at 1M points). ``max_points`` bounds the rows held across all
series: over it, every series is first cut to its bound exactly, then the *oldest rows of the
whole history* go, whatever their series: one range of ids (one cheap delete, no per-series
search); a cold series loses its points first because all of them are old and vanishes once the
last one goes, and an active series keeps its newest points, the ones a refit samples.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from foundation.errors import TwincastError
from trainer import history_schema
from trainer.gathered import Gathered, pack, unpack

MAX_POINTS_FACT = "max_points_per_series"  # for readers on other connections (the snapshot)
# A series is cut back to its bound once it holds bound + bound // SLACK_DIVISOR rows.
SLACK_DIVISOR = 4


class HistoryError(TwincastError):
    """The history database cannot be opened or written."""


@dataclass(frozen=True)
class Point:
    """A valid event, reduced to what the history keeps."""

    series_id: str
    ts: float  # epoch seconds
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


def gathered(records: Iterable[Consumed]) -> Gathered:
    """Records one by one (tests, tools), in the columns a write takes."""
    out = Gathered()
    for r in records:
        if r.point is None:
            out.add_skipped(r.partition, r.offset, r.bad_reason or "")
        else:
            p = r.point
            out.add_point(r.partition, r.offset, p.series_id, p.ts, pack(p.features))
    return out


class HistoryStore:
    def __init__(
        self, path: Path, max_points_per_series: int, max_points: int | None = None
    ) -> None:
        self.max_points_per_series = max_points_per_series
        self.max_points = max_points  # across all series; None: only the per-series bound
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in history_schema.PRAGMAS:
                self._db.execute(f"PRAGMA {pragma}")
            history_schema.create(self._db)  # the file's page size is settled from here on
            self._db.execute(f"PRAGMA {history_schema.checkpoint_pages(self._db)}")
            self.set_fact(MAX_POINTS_FACT, str(max_points_per_series))
            rows = self._db.execute("SELECT sid, series_id, points FROM series").fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open history {path}: {exc}") from exc
        # Live series name -> its number; the rows each holds, by number. One dict and one
        # array: a name -> number dict, its reverse and a name -> count dict were ~220 B a
        # series at 100,000 (the names included); this is ~150 B (see README, Scale).
        self._sids = {str(name): int(sid) for sid, name, _ in rows}
        self._next_sid = max(self._sids.values(), default=0) + 1
        self._kept = np.zeros(self._next_sid, np.int64)  # by number: 0 for none (or gone)
        self._kept[[int(sid) for sid, _, _ in rows]] = [int(kept) for _, _, kept in rows]
        self._points = int(self._kept.sum())

    def close(self) -> None:
        self._db.close()

    def ingest(self, topic: str, records: Iterable[Consumed]) -> Stored:
        """``write`` for records one by one (tests, tools)."""
        return self.write(topic, gathered(records))

    def write(self, topic: str, batch: Gathered) -> Stored:
        """Store the valid points and advance the offsets, all or nothing."""
        first = self._next_sid
        fresh = [name for name in dict.fromkeys(batch.series_ids) if name not in self._sids]
        # Room first: a failure here must not leave names numbered without a row behind them.
        self._make_room(first + len(fresh))
        self._sids.update(zip(fresh, range(first, first + len(fresh)), strict=True))
        self._next_sid += len(fresh)  # numbered now, forgotten again if the write fails
        try:
            sids = [self._sids[name] for name in batch.series_ids]
            points, offsets, sizes, gone = self._write(topic, batch, sids, fresh)
        except BaseException as exc:
            for name in fresh:
                del self._sids[name]
            self._next_sid = first
            if isinstance(exc, sqlite3.Error):
                raise HistoryError(f"cannot write history: {exc}") from exc
            raise
        # Only once committed: a rolled-back batch leaves the counts as the database has them.
        self._points = points
        self._kept[list(sizes)] = list(sizes.values())
        for name in gone:
            del self._sids[name]
        return Stored(len(sids), offsets)

    def _make_room(self, sids: int) -> None:
        """Counts for numbers below ``sids``. Numbers are not reused within a process (a reopen
        numbers on from the highest live one), so the array grows by 8 B for every series
        numbered since the open (not only the live ones): 8 MB per million."""
        if len(self._kept) < sids:
            grown = np.zeros(max(sids, 2 * len(self._kept)), np.int64)
            grown[: len(self._kept)] = self._kept
            self._kept = grown

    def _write(
        self, topic: str, batch: Gathered, sids: list[int], fresh: list[str]
    ) -> tuple[int, dict[int, int], dict[int, int], list[str]]:
        """The batch's rows, trims and offsets in one transaction. Returns the points held after
        it, every partition's next offset as read back inside it (what a restart resumes from,
        so what the group commit may say), the new count of every series it changed (by number)
        and the names of the series it emptied."""
        db = self._db
        added = Counter(sids)
        touched = list(added)
        kept = self._kept[touched] + list(added.values())
        sizes = dict(zip(touched, kept.tolist(), strict=True))
        with _Transaction(db):
            db.executemany(
                "INSERT INTO series (sid, series_id, points) VALUES (?, ?, 0)",
                [(self._sids[name], name) for name in fresh],
            )
            db.executemany(
                "INSERT INTO observations (sid, ts, value) VALUES (?, ?, ?)",
                zip(sids, batch.ts, batch.values, strict=True),
            )
            points = self._points + len(sids)
            exact = self.max_points is not None and points > self.max_points
            points -= self._trim_series(sizes, exact)
            if self.max_points is not None and points > self.max_points:
                points -= self._trim_oldest(points - self.max_points, sizes)
            gone = self._write_sizes(sizes)
            db.executemany(
                "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET "
                "next_offset = max(next_offset, excluded.next_offset)",
                [(topic, part, off) for part, off in batch.next_offsets().items()],
            )
            offsets = self.offsets(topic)
        return points, offsets, sizes, gone

    def _trim_series(self, sizes: dict[int, int], exact: bool) -> int:
        """Cut the series over their bound (plus the slack, unless ``exact``) back to it, oldest
        rows first (the series index finds them); one statement for the batch. Returns rows
        dropped. ``exact`` cuts every series over the bound, not only the batch's."""
        bound = self.max_points_per_series
        limit = bound if exact else bound + bound // SLACK_DIVISOR
        if exact:  # one pass over the counts, only when the bound across series is reached
            over = np.flatnonzero(self._kept > bound)
            sizes.update(
                (sid, kept)
                for sid, kept in zip(over.tolist(), self._kept[over].tolist(), strict=True)
                if sid not in sizes
            )
        cut = [(sid, kept - bound) for sid, kept in sizes.items() if kept > limit]
        self._db.executemany(
            "DELETE FROM observations WHERE id IN ("
            " SELECT id FROM observations WHERE sid = ? ORDER BY id LIMIT ?)",
            cut,
        )
        sizes.update((sid, bound) for sid, _ in cut)
        return sum(excess for _, excess in cut)

    def _trim_oldest(self, excess: int, sizes: dict[int, int]) -> int:
        """Drop the ``excess`` oldest rows of the history, whatever their series; their series'
        counts go into ``sizes`` (0: the series is gone). Reads only the dropped rows."""
        (last,) = self._db.execute(
            "SELECT id FROM observations ORDER BY id LIMIT 1 OFFSET ?", (excess - 1,)
        ).fetchone()
        # NOT INDEXED: by the series index, SQLite would read all of it to group a few rows.
        lost = self._db.execute(
            "SELECT sid, count(*) FROM observations NOT INDEXED WHERE id <= ? GROUP BY sid",
            (last,),
        ).fetchall()
        self._db.execute("DELETE FROM observations WHERE id <= ?", (last,))
        for sid, count in lost:
            sizes[sid] = sizes.get(sid, int(self._kept[sid])) - count
        return sum(count for _, count in lost)

    def _write_sizes(self, sizes: dict[int, int]) -> list[str]:
        """The new counts into ``series``; a series left with none is deleted. Returns the
        names of those (read here: only the database knows a number's name)."""
        db = self._db
        db.executemany(
            "UPDATE series SET points = ? WHERE sid = ?", [(k, s) for s, k in sizes.items()]
        )
        gone = [sid for sid, kept in sizes.items() if not kept]
        names = [
            db.execute("SELECT series_id FROM series WHERE sid = ?", (sid,)).fetchone()[0]
            for sid in gone
        ]
        db.executemany("DELETE FROM series WHERE sid = ?", [(sid,) for sid in gone])
        return [str(name) for name in names]

    def offsets(self, topic: str) -> dict[int, int]:
        """Partition -> next offset to consume."""
        rows = self._db.execute(
            "SELECT partition, next_offset FROM offsets WHERE topic = ?", (topic,)
        ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def series(self) -> dict[str, npt.NDArray[np.float64]]:
        """Every series' kept points (its newest ``max_points_per_series``) in arrival order,
        as [T, F] arrays.

        The whole history: for tests and tools. A refit reads a bounded sample instead
        (``trainer.snapshot``), never this."""
        collected: dict[str, list[bytes]] = {}
        for name, value in self._db.execute(
            "SELECT s.series_id, o.value FROM observations o JOIN series s USING (sid) "
            "ORDER BY o.sid, o.id"
        ):
            collected.setdefault(name, []).append(value)
        bound = self.max_points_per_series
        return {name: unpack(values[-bound:]) for name, values in collected.items()}

    def size(self) -> tuple[int, int]:
        """(series, rows) currently held; counted as they change, never by a scan. A series may
        hold up to a quarter more rows than its bound (deleted lazily; never read)."""
        return len(self._sids), self._points

    def get_fact(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_fact(self, key: str, value: str) -> None:
        with _Transaction(self._db):
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
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite rolls back by itself on a full disk or I/O error:
            self._db.execute("ROLLBACK")  # a second ROLLBACK would hide that error behind its own
