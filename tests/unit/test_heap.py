"""When the worker gives freed heap back (worker.heap.HeapTrimmer), with a fake clock."""

from __future__ import annotations

import gc

import pytest

from foundation.settings.worker import WorkerSettings
from worker import heap
from worker.heap import HeapTrimmer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def trims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    done: list[int] = []

    def trim() -> bool:
        done.append(1)
        return True

    monkeypatch.setattr(heap, "trim_heap", trim)
    return done


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Full garbage collections the trimmer ran."""
    done: list[int] = []

    def collect() -> int:
        done.append(1)
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    return done


def test_trims_once_at_the_first_idle_poll_after_work(trims: list[int]) -> None:
    clock = Clock()
    trimmer = HeapTrimmer(60.0, clock)
    clock.now = 60.0
    trimmer.polled(0)  # nothing done yet: nothing to give back
    assert trims == []
    trimmer.polled(500)
    trimmer.polled(0)
    trimmer.polled(0)  # still the same idle spell
    assert trims == [1]
    trimmer.worked()  # e.g. a model swapped in
    trimmer.polled(0)  # too soon after the last trim
    assert trims == [1]
    clock.now = 120.0
    trimmer.polled(0)
    assert trims == [1, 1]


def test_a_trickle_between_empty_polls_trims_and_collects_once_an_interval(
    trims: list[int], collections: list[int]
) -> None:
    clock = Clock()
    trimmer = HeapTrimmer(60.0, clock)
    for tenth in range(0, 1801):  # 180 s of one event, then an empty poll, every 0.1 s
        clock.now = tenth / 10
        trimmer.polled(1)
        trimmer.polled(0)
    assert len(trims) == 3  # at 60, 120 and 180 s
    assert len(collections) == 3


def test_under_load_trims_after_a_checkpoint_at_most_once_an_interval(trims: list[int]) -> None:
    clock = Clock()
    trimmer = HeapTrimmer(60.0, clock)
    for second in range(0, 181, 5):  # a poll with events and a checkpoint every 5 s
        clock.now = float(second)
        trimmer.polled(100)
        trimmer.checkpointed()
    assert len(trims) == 3  # at 60, 120 and 180 s


def test_an_interval_of_zero_never_trims_nor_collects(
    trims: list[int], collections: list[int]
) -> None:
    trimmer = HeapTrimmer(0.0, Clock())
    for _ in range(3):
        trimmer.polled(100)
        trimmer.polled(0)
        trimmer.checkpointed()
    assert trims == []
    assert collections == []


def test_the_real_trim_runs_here() -> None:
    """On glibc (this project's images) malloc_trim is found and callable."""
    assert heap.trim_heap() is True
    assert heap.resident_bytes() > 0


def test_malloc_is_tuned_as_set_and_zero_leaves_the_default() -> None:
    calls: list[tuple[int, int]] = []

    def mallopt(parameter: int, value: int) -> int:
        calls.append((parameter, value))
        return 1

    assert heap.tune_malloc(2, 131072, mallopt) == ["arena_max=2", "mmap_threshold=131072"]
    assert calls == [(heap.M_ARENA_MAX, 2), (heap.M_MMAP_THRESHOLD, 131072)]
    calls.clear()
    assert heap.tune_malloc(0, 0, mallopt) == [] and calls == []
    assert heap.tune_malloc(2, 131072, lambda p, v: 0) == [], "refused: not reported as set"


def test_the_real_mallopt_takes_the_defaults() -> None:
    if heap._mallopt() is None:
        pytest.skip("no glibc mallopt here")
    settings = WorkerSettings()
    tuned = heap.tune_malloc(settings.malloc_arena_max, settings.malloc_mmap_threshold_bytes)
    assert tuned == ["arena_max=2", "mmap_threshold=131072"]
