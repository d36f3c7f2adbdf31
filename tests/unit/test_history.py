"""The SQLite history: points and offsets move together, bounded per series."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trainer.history import Consumed, HistoryError, HistoryStore, Point
from trainer.snapshot import SampleBounds, read_snapshot


def _records(partition: int, first: int, count: int, series: str) -> list[Consumed]:
    return [
        Consumed(partition, first + i, Point(series, 1.7e9 + i, [float(i)])) for i in range(count)
    ]


def test_points_and_offsets_are_stored_together(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=100)
    assert store.ingest("events", _records(0, 0, 5, "a") + _records(1, 10, 3, "b")).added == 8
    bad = Consumed(0, 5, None, "invalid_json")  # a bad event still advances the offset
    stored = store.ingest("events", [bad])
    assert stored.added == 0
    assert stored.offsets == store.offsets("events") == {0: 6, 1: 13}, "every partition's"
    series = store.series()
    assert series["a"][:, 0].tolist() == [0, 1, 2, 3, 4]
    assert series["b"].shape == (3, 1)
    store.close()

    reopened = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=100)
    assert reopened.size() == (2, 8)
    assert reopened.offsets("events") == {0: 6, 1: 13}


def test_bounded_per_series_keeps_the_newest(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 0, 25, "a"))
    store.ingest("events", _records(0, 25, 3, "b"))
    series = store.series()
    assert series["a"][:, 0].tolist() == [float(i) for i in range(15, 25)]
    assert len(series["b"]) == 3


def test_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 0, 3, "a"))

    # The last row cannot be bound by SQLite: the whole batch, offsets included, must roll back.
    unbindable = Point("a", object(), [1.0])  # type: ignore[arg-type]
    broken = [*_records(0, 3, 2, "a"), Consumed(0, 5, unbindable)]
    with pytest.raises(HistoryError, match="cannot write history"):
        store.ingest("events", broken)
    assert store.size() == (1, 3)
    assert store.offsets("events") == {0: 3}


def test_offsets_never_move_backwards(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 10, 1, "a"))
    assert store.ingest("events", _records(0, 4, 1, "a")).offsets == {0: 11}
    assert store.offsets("events") == {0: 11}


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="cannot open history"):
        HistoryStore(tmp_path / "missing-dir" / "h.sqlite", 10)


def test_size_is_counted_as_points_come_and_go(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 0, 25, "a") + _records(1, 0, 4, "b"))
    assert store.size() == (2, 14)  # a cut to its newest 10 in the same poll
    store.ingest("events", _records(1, 4, 9, "b"))
    assert store.size() == (2, 20)
    store.close()
    with sqlite3.connect(tmp_path / "h.sqlite") as db:
        counted = db.execute("SELECT series_id, points FROM series ORDER BY 1").fetchall()
        kept = db.execute("SELECT series_id, count(*) FROM points GROUP BY 1 ORDER BY 1").fetchall()
    assert counted == kept == [("a", 10), ("b", 10)]
    assert HistoryStore(tmp_path / "h.sqlite", 10).size() == (2, 20)


def test_rows_past_the_bound_go_in_bulk_and_are_never_read(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path, max_points_per_series=20)  # cut back once over 20 + 5
    held = []
    for n in range(40):
        store.ingest("events", [Consumed(0, n, Point("a", float(n), [float(n)]))])
        held.append(store.size()[1])
    assert held[:25] == list(range(1, 26)) and held[25] == 20  # the 26th: back to 20 at once
    assert max(held) == 25 and held[-1] == 20 + (40 - 26) % 6
    assert store.series()["a"][:, 0].tolist() == [float(n) for n in range(20, 40)]
    bounds = SampleBounds(min_points=1, max_series=5, max_points_per_series=100, seed=0)
    newest = read_snapshot(path, "events", bounds, version=1).series["a"]
    assert newest[:, 0].tolist() == [float(n) for n in range(20, 40)]  # not all it holds


def test_a_history_of_the_older_layout_is_moved_at_open(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with sqlite3.connect(path) as db:  # as an older trainer left it
        db.executescript(
            """
            CREATE TABLE points (id INTEGER PRIMARY KEY AUTOINCREMENT, series_id TEXT NOT NULL,
                                 ts TEXT NOT NULL, value TEXT NOT NULL);
            CREATE INDEX points_by_series ON points (series_id, id);
            CREATE TABLE offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL,
                                  next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition));
            CREATE TABLE facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE series_sizes (series_id TEXT PRIMARY KEY, points INTEGER NOT NULL);
            INSERT INTO facts VALUES ('series_sizes_complete', '1'), ('published_version', '3');
            INSERT INTO offsets VALUES ('events', 0, 11);
            """
        )
        rows = [(f"s{i % 2}", f"2026-01-01T00:00:{i:02d}+00:00", f"[{i}.5, {i}]") for i in range(9)]
        rows.append(("s1", "not a time", "[9.5, 9]"))
        db.executemany("INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?)", rows)
        db.execute("INSERT INTO series_sizes SELECT series_id, count(*) FROM points GROUP BY 1")
    store = HistoryStore(path, max_points_per_series=4)
    assert store.size() == (2, 10) and store.offsets("events") == {0: 11}
    assert store.get_fact("published_version") == "3"
    series = store.series()  # each series' newest 4, features kept
    assert series["s0"].tolist() == [[2.5, 2], [4.5, 4], [6.5, 6], [8.5, 8]]
    assert series["s1"][:, 0].tolist() == [3.5, 5.5, 7.5, 9.5]
    store.ingest("events", _records(0, 11, 2, "s2"))  # still the file the trainer goes on with
    assert store.size() == (3, 12) and store.offsets("events") == {0: 13}
    store.close()
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        times = [ts for (ts,) in db.execute("SELECT ts FROM points WHERE series_id = 's1'")]
    assert {"points_v1", "series_sizes"}.isdisjoint(tables)
    assert times[0] == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp() and times[-1] == 0.0


def test_a_failed_write_leaves_the_counts_alone(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 0, 3, "a"))
    unbindable = Point("b", object(), [1.0])  # type: ignore[arg-type]
    with pytest.raises(HistoryError):
        store.ingest("events", [*_records(0, 3, 9, "a"), Consumed(0, 12, unbindable)])
    assert store.size() == (1, 3)
    store.ingest("events", _records(0, 3, 9, "a"))
    assert store.size() == (1, 12)  # within the slack of 10 // 4: held, not read
    assert len(store.series()["a"]) == 10
    store.ingest("events", _records(0, 12, 2, "b"))  # the series that failed is numbered anew
    assert store.size() == (2, 14) and store.series()["b"].shape == (2, 1)


def test_the_wal_checkpoints_at_64_mib_whatever_the_files_page_size(tmp_path: Path) -> None:
    """New histories have 16 KiB pages; one made before keeps its 4 KiB pages (WAL mode cannot
    change them) and must not checkpoint four times as often."""
    older = sqlite3.connect(tmp_path / "older.sqlite")
    older.execute("PRAGMA page_size=4096")
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE unrelated (a)")
    older.close()
    for name, page_bytes in (("new.sqlite", 16384), ("older.sqlite", 4096)):
        db = HistoryStore(tmp_path / name, 100)._db
        assert db.execute("PRAGMA page_size").fetchone() == (page_bytes,)
        (pages,) = db.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages * page_bytes == 64 << 20, name
