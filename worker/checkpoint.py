"""Checkpoint the state store to the state topic, and restore it for assigned partitions.

The state topic is co-partitioned with the events topic (same partition count, same keys): the
state of a series from events partition p is written to state partition p, so a worker that is
assigned events partition p restores exactly state partition p.

Each checkpoint also writes, per events partition, a position marker (key ``MARKER_PREFIX`` + the
partition number, which can never be a series id because it is not UTF-8): the offset up to which
that partition's states are complete. A new owner restores the states and resumes reading exactly
there, whatever offset the consumer group last committed (a previous owner's late commit cannot
push it past state it never saw).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.state import StateRecord, decode_state, encode_states
from twincast.errors import SchemaError
from twincast.settings import KafkaSettings
from worker.state_store import SeriesState, StateStore

log = logging.getLogger(__name__)

MARKER_PREFIX = b"\xff\xfetwincast-position-"


def marker_key(partition: int) -> bytes:
    return MARKER_PREFIX + str(partition).encode()


def to_state(record: StateRecord) -> SeriesState:
    return SeriesState(
        record.h,
        record.c,
        record.window,
        record.last_value,
        record.pending_forecast,
        record.pending_version,
        record.partition,
        record.next_offset,
        record.model_version,
    )


def write_changes(
    producer: Any, topic: str, store: StateStore, positions: dict[int, int]
) -> list[Any]:
    """Send every changed state, a tombstone for every forgotten series, and the position
    marker of every partition that moved; returns the futures."""
    changed, forgotten = store.take_changes()
    futures = [
        producer.send(topic, key=series_id.encode(), partition=partition, value=value)
        for series_id, partition, value in zip(
            changed.series_ids, changed.partitions.tolist(), encode_states(changed), strict=True
        )
    ]
    for series_id, partition in forgotten.items():
        futures.append(
            producer.send(topic, key=series_id.encode(), value=None, partition=partition)
        )
    for partition, offset in positions.items():
        marker = json.dumps({"next_offset": offset}).encode()
        futures.append(
            producer.send(topic, key=marker_key(partition), value=marker, partition=partition)
        )
    return futures


def read_states(
    settings: KafkaSettings, partitions: Iterable[int], timeout_s: float = 60.0
) -> tuple[dict[str, StateRecord], dict[int, int]]:
    """The latest state of every series in these state partitions (tombstones remove), and the
    position marker of each partition that has one."""
    wanted = [TopicPartition(settings.state_topic, p) for p in partitions]
    states: dict[str, StateRecord] = {}
    positions: dict[int, int] = {}
    if not wanted:
        return states, positions
    # read_committed: with exactly-once, states of aborted transactions never come back.
    consumer = KafkaConsumer(
        **settings.client_config("worker-restore"),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        end = consumer.end_offsets(wanted, timeout_ms=int(timeout_s * 1000))
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"state restore of {wanted} did not finish in {timeout_s}s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    _apply(states, positions, record)
    finally:
        consumer.close()
    return states, positions


def _apply(states: dict[str, StateRecord], positions: dict[int, int], record: Any) -> None:
    if not record.key:
        return
    if record.key.startswith(MARKER_PREFIX):
        positions[record.partition] = int(json.loads(record.value)["next_offset"])
        return
    series_id = record.key.decode("utf-8", "replace")
    if record.value is None:
        states.pop(series_id, None)
        return
    try:
        states[series_id] = decode_state(record.value)
    except SchemaError as exc:
        log.warning(
            "state record at %s offset %d ignored: %s", record.partition, record.offset, exc
        )
