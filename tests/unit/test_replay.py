"""Spread checkpoints: the replay point arithmetic, the silent-replay skip rule, and a recovery
from states written at different times that equals the uninterrupted run from M on."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import cast

import numpy as np

from foundation.kafka.record import ConsumedRecord
from schemas.state import decode_state, encode_states
from schemas.state_header import Marker
from tests.unit.test_worker_core import TS, _model, _store
from worker.hotpath import EventBatch, process
from worker.replay import Replay, newest_offsets, not_yet_applied
from worker.restore import after_start
from worker.state_store import StateStore
from worker.state_writer import CheckpointPlan
from worker.unwritten import replay_points

INF = math.inf


@dataclass(frozen=True)
class _Record:
    """The parts of a consumed record replay looks at, with the event it carries."""

    partition: int
    offset: int
    series_id: str
    value: float


def _consumed(records: list[_Record]) -> list[ConsumedRecord]:
    return cast(list[ConsumedRecord], records)  # only partition and offset are read


def test_replay_points_are_the_smallest_unwritten_offset_per_partition() -> None:
    partitions = np.array([0, 1, 0, 2, 1, 0], np.int64)
    unwritten = np.array([10, 7, 5, 3, 9, 8], np.int64)
    assert replay_points(partitions, unwritten) == {0: 5, 1: 7, 2: 3}
    assert replay_points(np.array([], np.int64), np.array([], np.int64)) == {}


def test_a_marker_replays_from_r_and_never_emits_below_a_replay_under_way() -> None:
    plan = CheckpointPlan(read_to={0: 50, 1: 20}, emit_from={1: 30}, changed_before=INF)
    assert plan.marker(0, 50, 12) == Marker(50, 12)
    assert plan.marker(0, 50, None) == Marker(50, 50), "nothing unwritten: R = M"
    # Mid-replay (read to 20 of M = 30): M stays 30, R is at most what has been read.
    assert plan.marker(1, 20, 25) == Marker(30, 20)


def test_the_skip_rule_steps_only_events_a_state_does_not_hold() -> None:
    offsets = np.array([3, 4, 9, 10, 0], np.int64)
    stored_next = np.array([5, 5, 10, 10, 0], np.int64)  # the last: a series without state
    assert not_yet_applied(offsets, stored_next).tolist() == [False, False, False, True, True]
    replay = Replay()
    replay.start(0, Marker(next_offset=8, replay_from=2), restored_next=12)
    batch = EventBatch()
    for offset in (2, 5, 9, 11, 12):
        batch.append("a", TS, [0.0], 0, offset, 0)
    # "a" holds everything before 10: only 11 (below the guard 12 but not held) and 12 step.
    assert replay.fresh(batch, np.full(5, 10, np.int64)) == [3, 4]
    silent, loud = replay.split(_consumed([_Record(0, o, "a", 0.0) for o in (6, 7, 8)]))
    assert [r.offset for r in silent] == [6, 7] and [r.offset for r in loud] == [8]


def test_only_series_due_are_written_and_the_rest_set_the_replay_point() -> None:
    store = _store(capacity=10)
    slots = store.slots_for(["a", "b", "c"])
    parts = np.array([0, 0, 1], np.int64)
    store.mark_stepped(slots[:1], parts[:1], np.array([4], np.int64), 0, now=1.0)
    store.mark_stepped(slots[1:], parts[1:], np.array([7, 3], np.int64), 0, now=5.0)
    store.mark_stepped(slots[:1], parts[:1], np.array([9], np.int64), 0, now=6.0)
    changes = store.take_changes(changed_before=2.0)
    assert changes.states.series_ids == ["a"], "first changed at 1.0, though changed again since"
    assert changes.replay_from == {0: 6, 1: 2}, "b lacks event 6, c event 2"
    store.mark_changed(["c"])  # e.g. a new model: written at the next checkpoint, whatever its age
    changes = store.take_changes(changed_before=2.0)
    assert changes.states.series_ids == ["c"] and changes.replay_from == {0: 6}
    assert store.take_changes(changed_before=INF).replay_from == {}


def _stream(rng: random.Random, series: int, polls: int) -> list[list[_Record]]:
    """Polls of events over two partitions; some series are seen often, some rarely."""
    offsets = [0, 0]
    out = []
    for _ in range(polls):
        poll = []
        for i in range(series):
            if rng.random() < (0.9 if i % 3 else 0.15):
                p = i % 2
                poll.append(_Record(p, offsets[p], f"s{i}", rng.gauss(1.0, 2.0)))
                offsets[p] += 1
        out.append(poll)
    return out


def _batch(records: list[_Record]) -> EventBatch:
    batch = EventBatch()
    for r in records:
        batch.append(r.series_id, TS, [r.value], r.partition, r.offset, 0)
    return batch


class _Topic:
    """The compacted state topic as a dict: the newest state per series, the newest marker."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}
        self.markers: dict[int, Marker] = {}

    def checkpoint(self, store: StateStore, read_to: dict[int, int], before: float) -> None:
        plan = CheckpointPlan(read_to=dict(read_to), emit_from={}, changed_before=before)
        changed, forgotten, replay_from = store.take_changes(before)
        for series_id in forgotten:
            self.states.pop(series_id, None)
        self.states.update(zip(changed.series_ids, encode_states(changed), strict=True))
        for p, position in read_to.items():
            self.markers[p] = plan.marker(p, position, replay_from.get(p))


def test_recovery_from_spread_checkpoints_equals_the_uninterrupted_run() -> None:
    model, rng = _model(), random.Random(3)
    polls = _stream(rng, series=15, polls=40)
    live, topic = _store(model, window=4), _Topic()
    emitted: dict[tuple[int, int], float] = {}
    read_to: dict[int, int] = {}
    stamps: list[float] = []
    for k, poll in enumerate(polls):
        result = process(model, live, _batch(poll))
        emitted.update(
            {(r.partition, r.offset): f for r, f in zip(poll, result.forecasts, strict=True)}
        )
        read_to.update({r.partition: r.offset + 1 for r in poll})
        stamps.append(time.monotonic())
        if k % 4 == 3 and k < 30:  # write what changed first 6+ polls ago
            topic.checkpoint(live, read_to, stamps[k - 6] if k >= 6 else -INF)
    markers = topic.markers
    assert any(m.replay_from < m.next_offset for m in markers.values()), "some unwritten"
    # A new owner: restore, read again from R, silently below M.
    states = {sid: decode_state(raw) for sid, raw in topic.states.items()}
    owner = _store(model, window=4)
    owner.restore(states)
    replay, newest = Replay(), newest_offsets(states.values())
    for p, marker in markers.items():
        replay.start(p, marker, newest.get(p, 0))
    again: dict[tuple[int, int], float] = {}
    for poll in polls:
        records = [r for r in poll if r.offset >= markers[r.partition].replay_from]
        silent, loud = replay.split(_consumed(records))
        for part, emit in ((silent, False), (loud, True)):
            batch = _batch(cast(list[_Record], list(part)))
            fresh = batch.take(replay.fresh(batch, owner.next_offsets_of(batch.series_ids)))
            result = process(model, owner, fresh)
            if emit:
                again.update(
                    {
                        (p, o): f
                        for p, o, f in zip(
                            fresh.partitions, fresh.offsets, result.forecasts, strict=True
                        )
                    }
                )
    expected = {pos: f for pos, f in emitted.items() if pos[1] >= markers[pos[0]].next_offset}
    assert again.keys() == expected.keys(), "every event from M on, none before it"
    np.testing.assert_allclose([again[pos] for pos in expected], list(expected.values()), atol=1e-6)


def test_a_replay_point_before_the_partition_start_reads_from_the_start() -> None:
    assert after_start(Marker(50, 10), start=5) == Marker(50, 10)
    assert after_start(Marker(50, 10), start=20) == Marker(50, 20)
    assert after_start(Marker(50, 10), start=80) == Marker(80, 80)
