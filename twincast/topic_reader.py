"""Read a whole topic once, from the beginning to its current end (for the CLI tools)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from twincast.errors import TopicError
from twincast.settings import KafkaSettings


def read_topic(settings: KafkaSettings, topic: str, timeout_s: float = 30.0) -> Iterator[Any]:
    """Every record present now, partition by partition in offset order."""
    consumer = KafkaConsumer(
        **settings.client_config("reader"),
        enable_auto_commit=False,
        max_partition_fetch_bytes=128 * 1024 * 1024,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TopicError(f"topic {topic} does not exist")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned, timeout_ms=int(timeout_s * 1000))
        remaining = {tp for tp in assigned if consumer.position(tp) < end[tp]}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=int(timeout_s * 1000)).items():
                yield from (r for r in records if r.offset < end[tp])
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()
