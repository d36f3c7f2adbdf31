"""The probing search of foundation.kafka.unreadable against a fake consumer: a log of record
batches, one of them unparseable, read the way kafka-python reads it (a fetch parses the whole
batch that holds the position, so any position inside the bad batch fails)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import pytest

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Consumer, Partition
from foundation.kafka.unreadable import Skipped
from foundation.kafka.unreadable import skip_unreadable as _skip_unreadable

TOPIC = "events"


@dataclass
class _Record:
    partition: int
    offset: int


@dataclass
class _FakeConsumer:
    """Partitions as lists of (first offset, end offset, parseable) batches. Has the part of
    ``Consumer`` the search uses."""

    logs: dict[int, list[tuple[int, int, bool]]]
    positions: dict[Partition, int] = field(default_factory=dict)
    polls: int = 0
    broker_away: bool = False
    polls_before_away: int | None = None

    def assignment(self) -> set[Partition]:
        return {Partition(TOPIC, p) for p in self.logs}

    def paused(self) -> set[Partition]:
        return set()

    def position(self, tp: Partition, timeout_s: float | None = None) -> int:
        return self.positions.get(tp, 0)

    def end_offsets(self, tps: list[Partition], timeout_s: float) -> dict[Partition, int]:
        if self.broker_away:
            raise _AWAY
        return {tp: self.logs[tp.partition][-1][1] for tp in tps}

    def seek(self, tp: Partition, offset: int) -> None:
        self.positions[tp] = offset

    @property
    def fetch_wait_ms(self) -> int:
        return 500  # kafka-python's default

    def forget_failed_fetch(self) -> None:
        pass

    def poll(self, timeout_s: float, max_records: int) -> dict[Partition, list[_Record]]:
        self.polls += 1
        if self.polls_before_away is not None and self.polls > self.polls_before_away:
            raise _AWAY
        for tp in sorted(self.assignment()):
            position = self.position(tp)
            for first, end, parseable in self.logs[tp.partition]:
                if first <= position < end:
                    if not parseable:
                        raise _corrupt("Found invalid record structure")
                    self.positions[tp] = position + 1
                    return {tp: [_Record(tp.partition, position)]}
        return {}


_AWAY = KafkaClientError(KafkaErrorKind.UNAVAILABLE, "broker away", retriable=True)


def _corrupt(message: str) -> KafkaClientError:
    return KafkaClientError(KafkaErrorKind.CORRUPT_RECORD, message, retriable=False)


def skip_unreadable(consumer: _FakeConsumer, error: Exception, timeout_ms: int) -> Skipped | None:
    return _skip_unreadable(cast(Consumer, consumer), error, timeout_ms)


def _batches(sizes: list[int], bad: int | None) -> list[tuple[int, int, bool]]:
    out, first = [], 0
    for i, size in enumerate(sizes):
        out.append((first, first + size, i != bad))
        first += size
    return out


@pytest.mark.parametrize("size", [1, 2, 7, 100, 1000])
def test_the_rest_of_the_bad_batch_is_skipped_in_logarithmic_probes(size: int) -> None:
    consumer = _FakeConsumer({0: _batches([5, 5], None), 1: _batches([10, size, 3], bad=1)})
    bad_at = 10 + size // 2  # the position: the records before the bad one were read
    consumer.positions = {Partition(TOPIC, 0): 4, Partition(TOPIC, 1): bad_at}
    skipped = skip_unreadable(consumer, _corrupt("x"), timeout_ms=10)
    assert skipped is not None
    assert (skipped.partition.partition, skipped.offsets()) == (1, range(bad_at, 10 + size))
    assert skipped.probes <= 2 + 2 * math.ceil(math.log2(size + 1))
    # Everything else is read from where it was: the other partition, and the next batch.
    assert consumer.positions == {Partition(TOPIC, 0): 4, Partition(TOPIC, 1): 10 + size}


def test_a_bad_last_batch_is_skipped_to_the_log_end() -> None:
    consumer = _FakeConsumer({0: _batches([10, 20], bad=1)})
    consumer.positions = {Partition(TOPIC, 0): 10}
    skipped = skip_unreadable(consumer, _corrupt("x"), timeout_ms=10)
    assert skipped is not None and skipped.offsets() == range(10, 30)


def test_nothing_is_skipped_while_the_broker_is_away_and_nothing_raises() -> None:
    consumer = _FakeConsumer({0: _batches([10, 20], bad=1)}, broker_away=True)
    consumer.positions = {Partition(TOPIC, 0): 10}
    assert skip_unreadable(consumer, _corrupt("x"), timeout_ms=10) is None
    assert consumer.positions == {Partition(TOPIC, 0): 10}


def test_a_broker_gone_in_the_middle_of_the_search_skips_nothing() -> None:
    consumer = _FakeConsumer({0: _batches([5], None), 1: _batches([10, 50, 5], bad=1)})
    consumer.positions = {Partition(TOPIC, 0): 2, Partition(TOPIC, 1): 20}
    consumer.polls_before_away = 4  # the culprit is found, its batch end is not
    assert skip_unreadable(consumer, _corrupt("x"), timeout_ms=10) is None
    assert consumer.positions == {Partition(TOPIC, 0): 2, Partition(TOPIC, 1): 20}


def test_a_partition_readable_again_is_not_skipped() -> None:
    consumer = _FakeConsumer({0: _batches([10, 20], None)})
    consumer.positions = {Partition(TOPIC, 0): 10}
    assert skip_unreadable(consumer, _corrupt("x"), timeout_ms=10) is None
    assert consumer.positions == {Partition(TOPIC, 0): 10}
