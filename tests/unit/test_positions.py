"""The worker's partition positions: which records its state may see, and what it commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from foundation.kafka.client import Consumer, Partition
from worker.positions import PartitionPositions

TP, OTHER = Partition("events", 0), Partition("events", 1)


@dataclass(frozen=True)
class _Record:
    offset: int
    topic: str = "events"
    partition: int = 0
    timestamp: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: list[tuple[str, bytes | None]] | None = None


@dataclass
class _Consumer:
    seeks: list[tuple[Partition, int]] = field(default_factory=list)

    def seek(self, tp: Partition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def as_consumer(self) -> Consumer:
        return cast(Consumer, self)  # only what keeping records in order calls


def _batch(*offsets: int) -> list[_Record]:
    return [_Record(o) for o in offsets]


def test_only_held_partitions_are_kept() -> None:
    positions = PartitionPositions()
    positions.hold([TP])
    kept = positions.keep_in_order(_Consumer().as_consumer(), {TP: _batch(0, 1), OTHER: _batch(5)})
    assert list(kept) == [TP] and positions.taken() == {TP: 2}


def test_a_restored_partition_starts_exactly_at_its_position() -> None:
    positions, consumer = PartitionPositions(), _Consumer()
    positions.hold([TP])
    positions.resume_at(TP, 3)
    assert positions.keep_in_order(consumer.as_consumer(), {TP: _batch(0, 1)}) == {}
    assert consumer.seeks == [(TP, 3)]  # fetched from elsewhere: read again from 3
    assert positions.keep_in_order(consumer.as_consumer(), {TP: _batch(3, 4)}) == {TP: _batch(3, 4)}
    # Fetched again behind the worker's back: what the state has seen is dropped.
    assert positions.keep_in_order(consumer.as_consumer(), {TP: _batch(4, 5)}) == {TP: _batch(5)}


def test_consumed_offsets_wait_for_the_commit_and_go_with_their_partition() -> None:
    positions = PartitionPositions()
    positions.hold([TP, OTHER])
    positions.consumed({TP: _batch(0, 1), OTHER: _batch(7)})
    assert positions.uncommitted() == {TP: 2, OTHER: 8}
    positions.release([OTHER])
    assert positions.uncommitted() == {TP: 2} and positions.held() == {TP}
    positions.committed()
    assert positions.uncommitted() == {}


def test_a_skip_moves_every_position_past_the_unreadable_records() -> None:
    positions = PartitionPositions()
    positions.hold([TP])
    positions.resume_at(TP, 4)
    positions.skipped_to(TP, 9)
    assert positions.uncommitted() == {TP: 9} and positions.taken() == {TP: 9}
    assert positions.keep_in_order(_Consumer().as_consumer(), {TP: _batch(9)}) == {TP: _batch(9)}
