"""Checkpoint the state store to the state topic, and restore it for assigned partitions.

The state topic is co-partitioned with the events topic (same partition count, same keys): the
state of a series from events partition p is written to state partition p, so a worker that is
assigned events partition p restores exactly state partition p.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.state import StateRecord, decode_state, encode_state
from twincast.errors import SchemaError
from twincast.settings import KafkaSettings
from worker.state_store import SeriesState, StateStore

log = logging.getLogger(__name__)


def to_record(series_id: str, state: SeriesState) -> StateRecord:
    return StateRecord(
        series_id,
        state.partition,
        state.next_offset,
        state.model_version,
        state.h,
        state.c,
        state.window,
        state.last_value,
        state.pending_forecast,
        state.pending_version,
    )


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


def write_changes(producer: Any, topic: str, store: StateStore) -> list[Any]:
    """Send every changed state and a tombstone for every forgotten series; returns futures."""
    changed, forgotten = store.take_changes()
    futures = []
    for series_id, state in changed.items():
        futures.append(
            producer.send(
                topic,
                key=series_id.encode(),
                partition=state.partition,
                value=encode_state(to_record(series_id, state)),
            )
        )
    for series_id, partition in forgotten.items():
        futures.append(
            producer.send(topic, key=series_id.encode(), value=None, partition=partition)
        )
    return futures


def read_states(
    settings: KafkaSettings, partitions: Iterable[int], timeout_s: float = 60.0
) -> dict[str, StateRecord]:
    """The latest state of every series in these state partitions (tombstones remove)."""
    wanted = [TopicPartition(settings.state_topic, p) for p in partitions]
    if not wanted:
        return {}
    consumer = KafkaConsumer(**settings.client_config("worker-restore"), enable_auto_commit=False)
    states: dict[str, StateRecord] = {}
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
                    _apply(states, record)
    finally:
        consumer.close()
    return states


def _apply(states: dict[str, StateRecord], record: Any) -> None:
    series_id = record.key.decode("utf-8", "replace") if record.key else None
    if series_id is None:
        return
    if record.value is None:
        states.pop(series_id, None)
        return
    try:
        states[series_id] = decode_state(record.value)
    except SchemaError as exc:
        log.warning(
            "state record at %s offset %d ignored: %s", record.partition, record.offset, exc
        )
