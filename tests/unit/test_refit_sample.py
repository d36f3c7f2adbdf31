"""A refit's bounded view of the history: a seeded sample of series, their newest points, read
in one consistent snapshot while the poll loop goes on writing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from trainer.history import Consumed, HistoryStore, Point
from trainer.sample import bound_history, sample_names
from trainer.snapshot import SampleBounds, read_snapshot

NAMES = [f"s{i:03d}" for i in range(200)]


def test_the_sample_is_bounded_and_the_same_for_the_same_version() -> None:
    first = sample_names(reversed(NAMES), 20, seed=0, version=3)
    assert len(first) == 20 and len(set(first)) == 20 and first == sorted(first)
    assert set(first) <= set(NAMES)
    assert sample_names(NAMES, 20, seed=0, version=3) == first  # whatever order they come in
    assert sample_names(NAMES, 20, seed=0, version=4) != first
    assert sample_names(NAMES, 20, seed=1, version=3) != first
    assert sample_names(NAMES[:20], 20, seed=0, version=3) == NAMES[:20]  # all when few enough


def test_bounding_keeps_the_newest_points_of_long_enough_series() -> None:
    history = {f"s{i}": np.arange(i, dtype=np.float64)[:, None] for i in range(2, 30)}
    bounded = bound_history(history, 5, max_series=10, max_points_per_series=8, seed=0, version=1)
    assert len(bounded) == 10
    for name, values in bounded.items():
        assert len(history[name]) >= 5
        np.testing.assert_array_equal(values, history[name][-8:])
    again = bound_history(bounded, 5, max_series=10, max_points_per_series=8, seed=0, version=1)
    assert again.keys() == bounded.keys()  # bounding twice changes nothing


def _events(first: int, count: int) -> list[Consumed]:
    # Offset o carries value o of series o % 7: a snapshot can be checked against its offsets.
    return [
        Consumed(0, o, Point(f"s{o % 7}", float(o), [float(o)]))
        for o in range(first, first + count)
    ]


def test_the_snapshot_reads_what_the_history_holds(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=30)
    store.ingest("events", [*_events(0, 150), Consumed(1, 4, None, "invalid_json")])
    store.ingest("events", [Consumed(0, 150, Point("short", 0.0, [1.0]))])
    bounds = SampleBounds(min_points=3, max_series=4, max_points_per_series=12, seed=5)
    snapshot = read_snapshot(tmp_path / "h.sqlite", "events", bounds, version=2)
    expected = bound_history(store.series(), 3, 4, 12, seed=5, version=2)
    assert (snapshot.eligible, snapshot.total) == (7, 8) and snapshot.offsets == {0: 151, 1: 5}
    assert snapshot.series.keys() == expected.keys()
    for name, values in expected.items():
        np.testing.assert_array_equal(snapshot.series[name], values)


def test_a_snapshot_taken_while_the_history_grows_is_consistent(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    HistoryStore(path, max_points_per_series=20).close()
    done = threading.Event()

    def write() -> None:
        store = HistoryStore(path, max_points_per_series=20)  # its own connection, its thread
        for first in range(0, 3000, 50):
            store.ingest("events", _events(first, 50))
        store.close()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    bounds = SampleBounds(min_points=1, max_series=7, max_points_per_series=20, seed=0)
    checked = 0
    while not done.is_set() or checked == 0:
        snapshot = read_snapshot(path, "events", bounds, version=1)
        end = snapshot.offsets.get(0, 0)
        for name, values in snapshot.series.items():
            k = int(name[1:])
            newest = [o for o in range(end) if o % 7 == k][-20:]  # what offsets up to end left
            assert values[:, 0].tolist() == newest, f"{name} is not the history as of {end}"
        checked += 1
    writer.join()
    assert checked > 0
