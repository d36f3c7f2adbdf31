"""The SQLite history: points and offsets move together, bounded per series."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trainer.history import Consumed, HistoryError, HistoryStore, Point


def _records(partition: int, first: int, count: int, series: str) -> list[Consumed]:
    return [
        Consumed(partition, first + i, Point(series, f"2026-01-01T00:00:{i:02d}", [float(i)]))
        for i in range(count)
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
    assert store.size() == (2, 14)  # a trimmed to its newest 10 in the same poll
    store.ingest("events", _records(1, 4, 9, "b"))
    assert store.size() == (2, 20)
    store.close()
    with sqlite3.connect(tmp_path / "h.sqlite") as db:
        counted = db.execute("SELECT series_id, points FROM series_sizes ORDER BY 1").fetchall()
        kept = db.execute("SELECT series_id, count(*) FROM points GROUP BY 1 ORDER BY 1").fetchall()
    assert counted == kept == [("a", 10), ("b", 10)]
    assert HistoryStore(tmp_path / "h.sqlite", 10).size() == (2, 20)


def test_a_history_written_before_the_counts_is_counted_at_open(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=100)
    store.ingest("events", _records(0, 0, 7, "a") + _records(0, 7, 3, "b"))
    store.close()
    with sqlite3.connect(tmp_path / "h.sqlite") as db:  # as an older trainer left it
        db.execute("DROP TABLE series_sizes")
        db.execute("DELETE FROM facts")
    reopened = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=5)
    assert reopened.size() == (2, 10)
    reopened.ingest("events", _records(0, 10, 1, "a"))  # over the new bound: trimmed to 5
    assert reopened.size() == (2, 8)
    assert reopened.series()["a"][:, 0].tolist() == [3.0, 4.0, 5.0, 6.0, 0.0]


def test_a_failed_write_leaves_the_counts_alone(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=10)
    store.ingest("events", _records(0, 0, 3, "a"))
    unbindable = Point("b", object(), [1.0])  # type: ignore[arg-type]
    with pytest.raises(HistoryError):
        store.ingest("events", [*_records(0, 3, 9, "a"), Consumed(0, 12, unbindable)])
    assert store.size() == (1, 3)
    store.ingest("events", _records(0, 3, 9, "a"))
    assert store.size() == (1, 10)
    assert len(store.series()["a"]) == 10
