"""Records a client cannot read: find them, skip past them, say exactly what was skipped.

confluent-kafka reads such a record (a header name that is not UTF-8) but not its headers: it
is returned by ``poll`` with the rest, and ``unreadable_headers`` tells it apart, one record at a
time. The rest of this module is for kafka-python, which cannot parse it at all.

kafka-python parses every record of a fetched batch, also those below the fetch offset, and a
record it cannot parse (a header name that is not UTF-8, a failed CRC) makes ``poll`` raise a
CORRUPT_RECORD ``KafkaClientError`` without saying where (and a later poll at that offset would
spin: see ``Consumer.forget_failed_fetch``). Seeking one past the bad record does not help while
the position is still inside that batch: the rest of the batch cannot be read at all. So the
partition is found by polling each one alone, and the first readable offset after the bad one
by probing bad+1, +2, +4, ... and then bisecting back down: a number of probes logarithmic in
the size of the batch, each waiting at most the loop's own poll timeout (plus the broker's
fetch wait).

"Alone" means the other partitions wait at their log end, where there is nothing to fetch, not
paused: kafka-python 3.0 can park a paused partition's fetched records where a later poll never
picks them up again, and that partition is then never fetched again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from foundation.errors import KafkaClientError, KafkaErrorKind, TwincastError
from foundation.kafka.client import Consumer, Partition
from foundation.kafka.record import ConsumedRecord

log = logging.getLogger(__name__)

UNREADABLE = "unreadable_record"


class ProbeInconclusive(TwincastError):
    """A probe neither read records nor failed to parse them (broker away, slow, rebalance)."""


@dataclass(frozen=True)
class Skipped:
    """Offsets ``first_offset`` up to (not including) ``end_offset`` of ``partition`` are lost."""

    partition: Partition
    first_offset: int
    end_offset: int
    error: str
    probes: int

    def offsets(self) -> range:
        return range(self.first_offset, self.end_offset)


def unreadable(exc: BaseException) -> bool:
    """Whether ``exc`` is a poll's failure to parse a fetched record."""
    return isinstance(exc, KafkaClientError) and exc.kind is KafkaErrorKind.CORRUPT_RECORD


def unreadable_headers(record: ConsumedRecord) -> str | None:
    """Why ``record``'s headers cannot be read (logged, as ``skip_unreadable`` logs what it
    skips), or None if they can. Such a record cannot be told from a control record, so it is
    refused like the records kafka-python cannot parse, though its key and value are intact."""
    try:
        _ = record.headers  # read for the error only: a client that cannot read them raises
    except KafkaClientError as exc:
        if not unreadable(exc):
            raise
        tp, offset = record.partition, record.offset
        log.warning(
            "1 unreadable records skipped: partition %d offsets %d-%d: %s", tp, offset, offset, exc
        )
        return str(exc)
    return None


def skip_unreadable(consumer: Consumer, error: BaseException, timeout_ms: int) -> Skipped | None:
    """After ``poll`` raised ``error``: seek the unreadable partition past its unreadable records
    and say which they were. None if that cannot be found out now (the loop's next poll raises
    again and this runs again); never raises, the loop must go on."""
    try:
        consumer.forget_failed_fetch()
        paused = consumer.paused()
        candidates = [tp for tp in consumer.assignment() if tp not in paused]
        return _Prober(consumer, timeout_ms).skip(str(error), candidates)
    except Exception as exc:  # whatever happens while probing, the loop goes on
        log.warning("cannot locate the unreadable record yet (%s): retrying later", exc)
        return None


def _discard_failed_parse(consumer: Consumer) -> None:
    """What ``skip_unreadable`` does first (kept for the tests that check it alone)."""
    consumer.forget_failed_fetch()


class _Prober:
    def __init__(self, consumer: Consumer, timeout_ms: int) -> None:
        self.consumer = consumer
        # A probe may have to wait for the fetch still out for the previous one: the broker holds
        # a fetch at the log end that long.
        self.wait_ms = timeout_ms + consumer.fetch_wait_ms
        self.timeout_ms = timeout_ms
        self.probes = 0
        self.ends: dict[Partition, int] = {}

    def skip(self, error: str, candidates: list[Partition]) -> Skipped | None:
        timeout_s = self.timeout_ms / 1000
        try:
            positions = {tp: self.consumer.position(tp, timeout_s) for tp in candidates}
        except KafkaClientError as exc:
            raise ProbeInconclusive(f"positions not known yet: {exc}") from exc
        self.ends = self.consumer.end_offsets(candidates, timeout_s * 5)
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

    def _culprit(self, positions: dict[Partition, int]) -> Partition | None:
        for tp in sorted(positions):
            # The culprit fails as soon as its batch arrives; an idle partition reads nothing.
            if self.probe(tp, positions[tp]) is False:
                return tp
        return None

    def _forget_failed_parse(self, candidates: list[Partition]) -> None:
        """kafka-python keeps the batch whose parse failed, and a poll at the offset it stopped
        at (the bad one) would spin on it forever; a poll at another offset discards it. The log
        end is that offset: nothing is fetched there, so nothing can fail again. Every probe
        leaves the other partitions there."""
        for tp in candidates:
            self.consumer.seek(tp, self.ends[tp])
        try:
            self.consumer.poll(self.timeout_ms / 1000, max_records=1)
        except KafkaClientError as exc:  # a fetch from before: discarded anyway
            if not unreadable(exc):
                raise

    def first_readable_after(self, tp: Partition, bad: int) -> int:
        """The smallest offset after ``bad`` from which ``tp`` can be read."""
        end = self.ends[tp]
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

    def probe(self, tp: Partition, offset: int) -> bool | None:
        """Can ``tp`` be read from ``offset``? The others are at their end; None: cannot tell."""
        self.probes += 1
        self.consumer.seek(tp, offset)
        try:
            return self._poll_one(tp, offset)
        finally:
            self.consumer.seek(tp, self.ends[tp])

    def _poll_one(self, tp: Partition, offset: int) -> bool | None:
        deadline = time.monotonic() + self.wait_ms / 1000
        while time.monotonic() < deadline:
            try:
                batches = self.consumer.poll(self.timeout_ms / 1000, max_records=1)
            except KafkaClientError as exc:
                if not unreadable(exc):
                    raise
                self.consumer.forget_failed_fetch()
                return False
            # Records, or a position moved past records the consumer never returns (transaction
            # markers, aborted records): either way this offset is readable.
            if batches.get(tp) or self.consumer.position(tp) > offset:
                return True
        return None
