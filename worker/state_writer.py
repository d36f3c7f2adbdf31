"""Write the store's changes to the state topic: the part of a checkpoint that is state.

The state topic is co-partitioned with the events topic (same partition count, same keys): the
state of a series from events partition p is written to state partition p, so a worker that is
assigned events partition p restores exactly state partition p.

Checkpoints are spread: a checkpoint writes only the series whose first unwritten change is older
than ``TWINCAST_STATE_WRITE_AGE_MS`` (0: every changed series, as every checkpoint once did), so
its cost is bounded by how many series reach that age per interval (at most series / age), not
by how many were touched. The states it does not write are covered by a replay point: each
checkpoint also writes, per events partition held, a position marker (key ``MARKER_PREFIX`` + the
partition number, which can never be a series id because it is not UTF-8) with two offsets:

- M, ``next_offset`` (emit-from): the outputs of every event before it are durable;
- R, ``replay_from`` (<= M): every event before it is in the written states; it is the smallest
  first-unwritten offset among the partition's unwritten series (M when all are written).

A new owner restores the states and reads again from R (``worker.replay``): up to M silently,
skipping each event that its series' restored state already holds (offset < its
``next_offset``) and stepping the others, so from M on its states equal the previous owner's and
every forecast is the same. Reading them back, checked, is ``worker.restore``.

What is not written on purpose: a hot swap does not make every series due (that would pull R back
to each series' last write); a state written before the swap is realigned by the swap policy when
restored (``worker.hotpath.realign``), at its written ``next_offset`` rather than at the swap, so
across a crash after a swap a series' first new-model forecasts may differ from an uninterrupted
run's. ``StateStore.mark_changed`` makes series due at the next checkpoint regardless of age. The
final checkpoint of a clean stop writes every changed series; revoked partitions are not written.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundation.kafka.client import Producer, SendHandle
from schemas.state import encode_states
from schemas.state_header import Marker, encode_marker
from worker.state_store import StateStore

MARKER_PREFIX = b"\xff\xfetwincast-position-"


def marker_key(partition: int) -> bytes:
    return MARKER_PREFIX + str(partition).encode()


@dataclass(frozen=True)
class CheckpointPlan:
    """What a checkpoint needs besides the store: where each held partition stands."""

    read_to: dict[int, int]  # partition -> offset after the last event in the states
    # partition -> M of a replay still under way (read_to is below it): it does not go back.
    emit_from: dict[int, int]
    # Write the states whose first unwritten change came before this (monotonic seconds).
    changed_before: float

    def marker(self, partition: int, read_to: int, replay_from: int | None) -> Marker:
        emit = max(read_to, self.emit_from.get(partition, read_to))
        return Marker(emit, read_to if replay_from is None else min(replay_from, read_to))


def write_state_changes(
    producer: Producer, topic: str, store: StateStore, plan: CheckpointPlan
) -> list[SendHandle]:
    """Send a tombstone for every forgotten series, every due state, then the position marker
    of every held partition (after its states: one producer keeps a partition's order, so a
    marker that is durable has its states durable too); returns the futures."""
    changed, forgotten, replay_from = store.take_changes(plan.changed_before)
    # Tombstones first: a series reset (or evicted) and seen again since has both, and its new
    # state must be the newest record of its key.
    futures = [
        producer.send(topic, key=series_id.encode(), value=None, partition=partition)
        for series_id, partition in forgotten.items()
    ]
    futures += [
        producer.send(topic, key=series_id.encode(), partition=partition, value=value)
        for series_id, partition, value in zip(
            changed.series_ids,
            changed.scalars["partition"].tolist(),
            encode_states(changed),
            strict=True,
        )
    ]
    for partition, read_to in plan.read_to.items():
        emit, replay = plan.marker(partition, read_to, replay_from.get(partition))
        futures.append(
            producer.send(
                topic,
                key=marker_key(partition),
                value=encode_marker(emit, replay),
                partition=partition,
            )
        )
    return futures
