"""Reading a topic once: all of it from the beginning (CLI tools), or newest first (weights)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from foundation.errors import KafkaUnavailableError, TopicError
from foundation.kafka.client import Consumer, ConsumerOptions, Partition
from foundation.kafka.factory import kafka_clients
from foundation.kafka.record import ConsumedRecord
from foundation.settings.base import KafkaSettings

READER_FETCH_BYTES = 128 * 1024 * 1024  # a whole model artifact in one fetch


def read_topic(
    settings: KafkaSettings, topic: str, timeout_s: float = 30.0
) -> Iterator[ConsumedRecord]:
    """Every record present now, partition by partition in offset order."""
    options = ConsumerOptions("reader", max_partition_fetch_bytes=READER_FETCH_BYTES)
    consumer = kafka_clients(settings).consumer(options)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicError(f"topic {topic} does not exist")
        assigned = [Partition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned, timeout_s)
        remaining = {tp for tp in assigned if consumer.position(tp) < end[tp]}
        while remaining:
            for tp, records in consumer.poll(timeout_s).items():
                yield from (r for r in records if r.offset < end[tp])
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()


def read_backwards(
    consumer: Consumer, tp: Partition, end: int, timeout_s: float, chunk: int = 4
) -> Iterator[ConsumedRecord]:
    """Records of an assigned partition below ``end``, newest first, fetched ``chunk`` at a time:
    a reader that stops at the first good one pays the same however many older ones are kept."""
    begin = consumer.beginning_offsets([tp], timeout_s)[tp]
    high = end
    while high > begin:
        low = max(begin, high - chunk)
        consumer.seek(tp, low)
        yield from reversed(_fetch(consumer, tp, low, high, timeout_s))
        high = low


def _fetch(
    consumer: Consumer, tp: Partition, low: int, high: int, timeout_s: float
) -> list[ConsumedRecord]:
    """The records at offsets low..high-1 (fewer where the log has gaps)."""
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout_s
    while consumer.position(tp) < high:
        if time.monotonic() > deadline:
            raise KafkaUnavailableError(f"reading {tp.topic} offsets {low}..{high} timed out")
        for batch in consumer.poll(0.5).values():
            records.extend(r for r in batch if low <= r.offset < high)
    return records
