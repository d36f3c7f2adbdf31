"""The history's bound across all series: the oldest points go first, whatever their series, and
the counts (series, points) stay those of the database, through reopening too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from trainer.history import SLACK_DIVISOR, Consumed, HistoryStore, Point


def _batch(first: int, names: list[str]) -> list[Consumed]:
    # Offset first+i carries value first+i of series names[i]: what is kept can be told by value.
    return [
        Consumed(0, first + i, Point(name, float(first + i), [float(first + i)]))
        for i, name in enumerate(names)
    ]


def _db_counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        series, points = db.execute(
            "SELECT count(DISTINCT series_id), count(*) FROM points"
        ).fetchone()
        return int(series), int(points)


def test_the_oldest_points_go_first_and_a_cold_series_vanishes(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path, max_points_per_series=100, max_points=10)
    store.ingest("events", _batch(0, ["cold"] * 4))
    store.ingest("events", _batch(4, ["a", "b"] * 4))  # 12 points: the 2 oldest of "cold" go
    assert store.size() == (3, 10)
    assert store.series()["cold"][:, 0].tolist() == [2, 3]
    store.ingest("events", _batch(12, ["a", "b"]))  # 2 more: "cold" is gone entirely
    assert store.size() == (2, 10) == _db_counts(path)
    assert "cold" not in store.series()
    assert store.series()["a"][:, 0].tolist() == [4, 6, 8, 10, 12]
    assert store.offsets("events") == {0: 14}
    store.close()
    reopened = HistoryStore(path, max_points_per_series=100, max_points=10)
    assert reopened.size() == (2, 10)
    with sqlite3.connect(path) as db:  # the persisted counts, which a refit's sample reads
        assert dict(db.execute("SELECT series_id, points FROM series")) == {"a": 5, "b": 5}


def _model(names: list[list[str]], per_series: int, total: int) -> dict[str, list[float]]:
    """What both bounds leave, worked out the plain way: per batch, each series' newest
    ``per_series``, then the newest ``total`` of all."""
    kept: list[tuple[int, str]] = []
    offset = 0
    for batch in names:
        kept += [(offset + i, name) for i, name in enumerate(batch)]
        offset += len(batch)
        newest: dict[str, list[int]] = {}
        for o, name in kept:
            newest.setdefault(name, []).append(o)
        allowed = {o for values in newest.values() for o in values[-per_series:]}
        kept = [(o, name) for o, name in kept if o in allowed][-total:]
    out: dict[str, list[float]] = {}
    for o, name in kept:
        out.setdefault(name, []).append(float(o))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_both_bounds_together_keep_what_the_plain_rule_keeps(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    batches = [
        [f"s{int(k)}" for k in rng.zipf(1.5, size=int(rng.integers(1, 40))) % 12] for _ in range(30)
    ]
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path, max_points_per_series=7, max_points=40)
    offset = 0
    for batch in batches:
        store.ingest("events", _batch(offset, batch))
        offset += len(batch)
    expected = _model(batches, 7, 40)
    got = {name: values[:, 0].tolist() for name, values in store.series().items()}
    assert got == expected
    assert store.size() == _db_counts(path)  # the rows held, counted as they come and go
    series, rows = store.size()
    assert series == len(expected)
    kept = sum(map(len, expected.values()))  # and at most a series' slack more, never read
    assert kept <= rows <= min(40, kept + len(expected) * (7 // SLACK_DIVISOR))


def test_a_series_gone_and_back_is_counted_anew_through_reopening(tmp_path: Path) -> None:
    # The counts are kept by series number (one array), the names in one dict: a series the
    # bound across series emptied leaves both, and comes back under a new number.
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path, max_points_per_series=100, max_points=6)
    store.ingest("events", _batch(0, ["gone"] * 3))
    store.ingest("events", _batch(3, [f"s{i}" for i in range(40)]))  # numbers past the first
    assert "gone" not in store.series()
    store.ingest("events", _batch(43, ["gone"] * 2))
    assert store.series()["gone"][:, 0].tolist() == [43, 44]
    assert store.size() == (5, 6) == _db_counts(path)
    store.close()
    reopened = HistoryStore(path, max_points_per_series=100, max_points=6)
    reopened.ingest("events", _batch(45, ["gone", "new"]))
    assert reopened.series()["gone"][:, 0].tolist() == [43, 44, 45]
    assert reopened.size() == (4, 6) == _db_counts(path)  # s36 and s37 went: the oldest
    with sqlite3.connect(path) as db:
        numbers = dict(db.execute("SELECT series_id, sid FROM series"))
    assert len(set(numbers.values())) == len(numbers)  # one number per live series


def test_a_failure_to_make_room_leaves_no_name_numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Growing the count array can fail (out of memory): the new names must not keep numbers
    # without rows, or a reopen would give such a number, and its points, to another series.
    path = tmp_path / "h.sqlite"
    store = HistoryStore(path, max_points_per_series=100, max_points=1000)
    store.ingest("events", _batch(0, ["a"]))

    def no_room(self: HistoryStore, sids: int) -> None:
        raise MemoryError

    with monkeypatch.context() as patched:
        patched.setattr(HistoryStore, "_make_room", no_room)
        with pytest.raises(MemoryError):
            store.ingest("events", _batch(1, [f"s{i}" for i in range(64)]))
    store.ingest("events", _batch(1, ["s0", "x"]))  # s0 again, with a row of its own now
    store.close()
    reopened = HistoryStore(path, max_points_per_series=100, max_points=1000)
    reopened.ingest("events", _batch(3, ["z"]))
    got = {name: rows[:, 0].tolist() for name, rows in reopened.series().items()}
    assert got == {"a": [0], "s0": [1], "x": [2], "z": [3]}
    assert reopened.size() == (4, 4) == _db_counts(path)
