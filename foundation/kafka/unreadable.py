"""Records kafka-python cannot parse: find them, skip past them, say exactly what was skipped.

kafka-python parses every record of a fetched batch, also those below the fetch offset, and a
record it cannot parse (a header name that is not UTF-8, a failed CRC) makes ``poll`` raise
``CorruptRecordError`` without saying where (and a later poll at that offset would spin: see
``_discard_failed_parse``). Seeking one past the bad record does not help while the position is
still inside that batch: the rest of the batch cannot be read at all. So the partition is found
by polling each one alone, and the first readable offset after the bad one by probing bad+1, +2,
+4, ... and then bisecting back down: a number of probes logarithmic in the size of the batch,
each waiting at most the loop's own poll timeout (plus the broker's fetch wait).

"Alone" means the other partitions wait at their log end, where there is nothing to fetch, not
paused: kafka-python 3.0 can park a paused partition's fetched records where a later poll never
picks them up again, and that partition is then never fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import CorruptRecordError

from foundation.errors import TwincastError

log = logging.getLogger(__name__)

UNREADABLE = "unreadable_record"


class ProbeInconclusive(TwincastError):
    """A probe neither read records nor failed to parse them (broker away, slow, rebalance)."""


@dataclass(frozen=True)
class Skipped:
    """Offsets ``first_offset`` up to (not including) ``end_offset`` of ``partition`` are lost."""

    partition: TopicPartition
    first_offset: int
    end_offset: int
    error: str
    probes: int

    def offsets(self) -> range:
        return range(self.first_offset, self.end_offset)


def skip_unreadable(consumer: Any, error: CorruptRecordError, timeout_ms: int) -> Skipped | None:
    """After ``poll`` raised ``error``: seek the unreadable partition past its unreadable records
    and say which they were. None if that cannot be found out now (the loop's next poll raises
    again and this runs again); never raises, the loop must go on."""
    try:
        _discard_failed_parse(consumer)
        paused = consumer.paused()
        candidates = [tp for tp in consumer.assignment() if tp not in paused]
        return _Prober(consumer, timeout_ms).skip(str(error), candidates)
    except Exception as exc:  # whatever happens while probing, the loop goes on
        log.warning("cannot locate the unreadable record yet (%s): retrying later", exc)
        return None


def _discard_failed_parse(consumer: Any) -> None:
    """Drop the record set whose parse just failed, which kafka-python 3.0 keeps: its iterator is
    spent but not drained, so a later poll at the offset where the parse stopped (the bad one,
    where the loop resumes if the search fails) would spin on it forever. There is no public way;
    if kafka-python's insides differ, this does nothing and the next poll elsewhere drops it."""
    fetcher = getattr(consumer, "_fetcher", None)
    failed = getattr(fetcher, "_next_partition_records", None)
    if failed is not None and callable(getattr(failed, "drain", None)):
        failed.drain()


class _Prober:
    def __init__(self, consumer: Any, timeout_ms: int) -> None:
        self.consumer = consumer
        # A probe may have to wait for the fetch still out for the previous one: the broker holds
        # a fetch at the log end up to fetch_max_wait_ms.
        config = getattr(consumer, "config", {})
        self.wait_ms = timeout_ms + int(config.get("fetch_max_wait_ms", 500))
        self.timeout_ms = timeout_ms
        self.probes = 0
        self.ends: dict[TopicPartition, int] = {}

    def skip(self, error: str, candidates: list[TopicPartition]) -> Skipped | None:
        positions = {
            tp: self.consumer.position(tp, timeout_ms=self.timeout_ms) for tp in candidates
        }
        if None in positions.values():
            raise ProbeInconclusive(f"positions not known yet: {positions}")
        self.ends = self.consumer.end_offsets(candidates, timeout_ms=self.timeout_ms * 5)
        log.info("locating an unreadable record: positions %s, ends %s", positions, self.ends)
        try:
            self._forget_failed_parse(candidates)
            culprit = self._culprit(positions)
            if culprit is None:
                log.warning("no assigned partition is unreadable any more: %s", error)
                return None
            bad = positions[culprit]
            positions[culprit] = end = self.first_readable_after(culprit, bad)
            log.warning(
                "%d unreadable records skipped: partition %d offsets %d-%d (%d probes): %s",
                end - bad,
                culprit.partition,
                bad,
                end - 1,
                self.probes,
                error,
            )
            return Skipped(culprit, bad, end, error, self.probes)
        finally:
            # Nothing probing returned was used: every partition is read again from where it was
            # (the culprit from after the skip, or from the bad record if none happened).
            held = self.consumer.assignment()  # a probe's poll may have taken part in a rebalance
            for tp, position in positions.items():
                if tp in held:
                    self.consumer.seek(tp, position)

    def _culprit(self, positions: dict[TopicPartition, int]) -> TopicPartition | None:
        for tp in sorted(positions):
            # The culprit fails as soon as its batch arrives; an idle partition reads nothing.
            if self.probe(tp, positions[tp]) is False:
                return tp
        return None

    def _forget_failed_parse(self, candidates: list[TopicPartition]) -> None:
        """kafka-python keeps the batch whose parse failed, and a poll at the offset it stopped
        at (the bad one) would spin on it forever; a poll at another offset discards it. The log
        end is that offset: nothing is fetched there, so nothing can fail again. Every probe
        leaves the other partitions there."""
        for tp in candidates:
            self.consumer.seek(tp, self.ends[tp])
        with contextlib.suppress(CorruptRecordError):  # a fetch from before: discarded anyway
            self.consumer.poll(timeout_ms=self.timeout_ms, max_records=1)

    def first_readable_after(self, tp: TopicPartition, bad: int) -> int:
        """The smallest offset after ``bad`` from which ``tp`` can be read."""
        end: int = self.ends[tp]
        unreadable, step = bad, 1
        while True:  # doubling: past the end of the batch in log2(batch size) probes
            readable = min(bad + step, end)
            if readable >= end or self._conclusive(self.probe(tp, readable)):
                break
            unreadable, step = readable, step * 2
        while readable - unreadable > 1:  # bisecting: back to the first offset after the batch
            middle = (unreadable + readable) // 2
            if self._conclusive(self.probe(tp, middle)):
                readable = middle
            else:
                unreadable = middle
        return readable

    def _conclusive(self, readable: bool | None) -> bool:
        if readable is None:
            raise ProbeInconclusive(f"nothing read in {self.timeout_ms} ms")
        return readable

    def probe(self, tp: TopicPartition, offset: int) -> bool | None:
        """Can ``tp`` be read from ``offset``? The others are at their end; None: cannot tell."""
        self.probes += 1
        self.consumer.seek(tp, offset)
        try:
            return self._poll_one(tp, offset)
        finally:
            self.consumer.seek(tp, self.ends[tp])

    def _poll_one(self, tp: TopicPartition, offset: int) -> bool | None:
        deadline = time.monotonic() + self.wait_ms / 1000
        while time.monotonic() < deadline:
            try:
                batches = self.consumer.poll(timeout_ms=self.timeout_ms, max_records=1)
            except CorruptRecordError:
                _discard_failed_parse(self.consumer)
                return False
            # Records, or a position moved past records the consumer never returns (transaction
            # markers, aborted records): either way this offset is readable.
            if batches.get(tp) or self.consumer.position(tp) > offset:
                return True
        return None
