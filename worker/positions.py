"""Where the worker stands in each events partition it holds.

Four things per partition, kept together because every rebalance, restore and skip must change
them together:

- held: the partitions whose events this worker's state may see. Changed only when the loop
  applies rebalance news, never by the client's IO thread behind the worker's back;
- expected: the position a partition was restored (or rewound) to, until its first records
  arrive exactly there; records fetched from anywhere else are read again;
- taken: the offset after the last event in the state, so a refetch (the client may reset a
  position during a rebalance) never applies an event twice;
- uncommitted: the offset after the last consumed record, until a checkpoint commits it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from foundation.kafka.client import Consumer, Partition
from foundation.kafka.record import ConsumedRecord

Batches = Mapping[Partition, Sequence[ConsumedRecord]]


class PartitionPositions:
    def __init__(self) -> None:
        self._held: set[Partition] = set()
        self._expected: dict[Partition, int] = {}
        self._taken: dict[Partition, int] = {}
        self._uncommitted: dict[Partition, int] = {}

    def holds(self, tp: Partition) -> bool:
        return tp in self._held

    def held(self) -> set[Partition]:
        return set(self._held)

    def hold(self, partitions: Iterable[Partition]) -> None:
        """These partitions are now this worker's (their state is being restored)."""
        self._held.update(partitions)

    def resume_at(self, tp: Partition, position: int) -> None:
        """Its state ends at ``position``: its records must start exactly there."""
        self._expected[tp] = position
        self._taken[tp] = position

    def release(self, partitions: Iterable[Partition]) -> None:
        """Forget these partitions; their uncommitted offsets are never committed by this worker
        (their new owner resumes from the last checkpoint)."""
        partitions = list(partitions)
        self._held.difference_update(partitions)
        for tp in partitions:
            self._expected.pop(tp, None)
            self._taken.pop(tp, None)
        gone = {tp.partition for tp in partitions}
        self._uncommitted = {
            tp: o for tp, o in self._uncommitted.items() if tp.partition not in gone
        }

    def keep_in_order(self, consumer: Consumer, batches: Batches) -> Batches:
        """Keep only records this worker's state may see: partitions it holds, and for a just
        restored partition only records that start exactly at its restored position."""
        kept: dict[Partition, Sequence[ConsumedRecord]] = {}
        for tp, batch in batches.items():
            if tp not in self._held or not batch:
                continue  # revoked meanwhile: its new owner reads these
            expected = self._expected.get(tp)
            if expected is not None:
                if batch[0].offset != expected:
                    # Fetched from elsewhere (before the seek took effect): read again.
                    consumer.seek(tp, expected)
                    continue
                del self._expected[tp]
            done = self._taken.get(tp)
            if done is not None and batch[0].offset < done:
                # Fetched again (the client reset the position behind our back, e.g. during a
                # rebalance): these events are already in the state; applying them twice is wrong.
                batch = [r for r in batch if r.offset >= done]
                if not batch:
                    continue
            self._taken[tp] = batch[-1].offset + 1
            kept[tp] = batch
        return kept

    def consumed(self, batches: Batches) -> None:
        """A poll's records come per partition in offset order: the last one sets the commit."""
        self._uncommitted.update(
            {tp: batch[-1].offset + 1 for tp, batch in batches.items() if batch}
        )

    def skipped_to(self, tp: Partition, end: int) -> None:
        """Records before ``end`` could not be read (they were dead-lettered): move past them."""
        self._uncommitted[tp] = self._taken[tp] = end
        if tp in self._expected:  # restored right at the bad record: resume after the skip
            self._expected[tp] = end

    def uncommitted(self) -> dict[Partition, int]:
        """The offsets to commit at the next checkpoint."""
        return dict(self._uncommitted)

    def committed(self) -> None:
        """The offsets of ``uncommitted`` are committed."""
        self._uncommitted.clear()

    def taken(self) -> dict[Partition, int]:
        """Per held partition, the offset after the last event in the state (for the lag)."""
        return dict(self._taken)
