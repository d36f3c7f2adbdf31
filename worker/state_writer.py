"""Write the store's changes to the state topic: the part of a checkpoint that is state.

The state topic is co-partitioned with the events topic (same partition count, same keys): the
state of a series from events partition p is written to state partition p, so a worker that is
assigned events partition p restores exactly state partition p.

Each checkpoint also writes, per events partition, a position marker (key ``MARKER_PREFIX`` + the
partition number, which can never be a series id because it is not UTF-8): the offset up to which
that partition's states are complete. A new owner restores the states and resumes reading exactly
there, whatever offset the consumer group last committed (a previous owner's late commit cannot
push it past state it never saw). Reading them back, checked, is ``worker.restore``.
"""

from __future__ import annotations

from foundation.kafka.client import Producer, SendHandle
from schemas.state import encode_states
from schemas.state_header import encode_marker
from worker.state_store import StateStore

MARKER_PREFIX = b"\xff\xfetwincast-position-"


def marker_key(partition: int) -> bytes:
    return MARKER_PREFIX + str(partition).encode()


def write_state_changes(
    producer: Producer, topic: str, store: StateStore, positions: dict[int, int]
) -> list[SendHandle]:
    """Send every changed state, a tombstone for every forgotten series, and the position
    marker of every partition that moved; returns the futures."""
    changed, forgotten = store.take_changes()
    futures = [
        producer.send(topic, key=series_id.encode(), partition=partition, value=value)
        for series_id, partition, value in zip(
            changed.series_ids,
            changed.scalars["partition"].tolist(),
            encode_states(changed),
            strict=True,
        )
    ]
    for series_id, partition in forgotten.items():
        futures.append(
            producer.send(topic, key=series_id.encode(), value=None, partition=partition)
        )
    for partition, offset in positions.items():
        marker = encode_marker(offset)
        futures.append(
            producer.send(topic, key=marker_key(partition), value=marker, partition=partition)
        )
    return futures
