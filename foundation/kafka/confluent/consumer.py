"""confluent-kafka's consumer as a ``foundation.kafka.client.Consumer``.

librdkafka hands out ``Message`` objects whose fields are methods; ``poll`` turns each into a
small ``Record`` with the fields ``ConsumedRecord`` names (one object per record, the price of
one interface for both libraries). Offsets it does not know are ``OFFSET_INVALID`` (-1001);
here they are None, or a TIMEOUT error where the interface promises a number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from confluent_kafka import (
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka import Consumer as RawConsumer

from foundation.errors import KafkaClientError
from foundation.kafka.client import Partition, RebalanceListener
from foundation.kafka.confluent.bounded import OneAtATime
from foundation.kafka.confluent.errors import partitions_of, translate, translate_error, translated
from foundation.kafka.confluent.record import Record
from foundation.kafka.record import ConsumedRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
COORDINATOR_WAIT_S = 30.0  # how long a call waits for the group coordinator when not told
# The group coordinator is being found or moved: librdkafka does not always mark these retriable.
_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._WAIT_COORD,
}
DEFAULT_BATCH = 500  # records per poll when the caller sets no maximum (kafka-python's default)


def _tp(partition: Partition, offset: int = OFFSET_INVALID) -> TopicPartition:
    return TopicPartition(partition.topic, partition.partition, offset)


def _partitions(tps: Iterable[TopicPartition]) -> set[Partition]:
    return {Partition(tp.topic, tp.partition) for tp in tps}


class ConfluentConsumer:
    """A ``Consumer`` around a ``confluent_kafka.Consumer``."""

    def __init__(self, raw: RawConsumer, fetch_wait_ms: int, from_earliest: bool) -> None:
        self._raw = raw
        self._paused: set[Partition] = set()
        self._fetch_wait_ms = fetch_wait_ms
        self._from_earliest = from_earliest
        # The next offset to read, as kafka-python reports it: librdkafka's own position only
        # moves once a record is consumed, not on a seek; and at a partition's end it is past
        # the transaction markers there (from _PARTITION_EOF events, see ``poll``).
        self._positions: dict[Partition, int] = {}
        # Partitions given by ``assign`` (None: subscribed), with where each starts.
        self._manual: dict[Partition, int] | None = None
        self._assign_pending = False
        self._commits = OneAtATime("commit")

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        self._manual = None
        if listener is None:
            with translated("subscribe"):
                self._raw.subscribe(list(topics))
            return

        def on_assign(consumer: RawConsumer, partitions: list[TopicPartition]) -> None:
            listener.on_assigned(_partitions(partitions))

        def on_revoke(consumer: RawConsumer, partitions: list[TopicPartition]) -> None:
            listener.on_revoked(_partitions(partitions))

        with translated("subscribe"):
            self._raw.subscribe(list(topics), on_assign=on_assign, on_revoke=on_revoke)

    def assign(self, partitions: Iterable[Partition]) -> None:
        """Taken effect at the next poll, with the offsets sought until then: librdkafka starts
        a partition where its assignment says, and refuses to seek one it is not fetching yet."""
        self._positions.clear()
        self._manual = dict.fromkeys(partitions, OFFSET_INVALID)
        self._assign_pending = True

    def _start_assigned(self) -> None:
        if self._manual is None or not self._assign_pending:
            return
        with translated("assign"):
            self._raw.assign([_tp(p, offset) for p, offset in self._manual.items()])
        self._assign_pending = False

    def assignment(self) -> set[Partition]:
        if self._manual is not None:
            return set(self._manual)
        with translated("assignment"):
            return _partitions(self._raw.assignment())

    def poll(
        self, timeout_s: float, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[ConsumedRecord]]:
        self._start_assigned()
        with translated("poll"):
            messages = self._available(max_records or DEFAULT_BATCH, timeout_s)
        batches: dict[Partition, list[ConsumedRecord]] = {}
        # Where a partition's fetch reached its end, if nothing of it came after that.
        ends: dict[Partition, int] = {}
        current: list[ConsumedRecord] = []
        where: tuple[str | None, int | None] = (None, None)
        for message in messages:
            if message.error() is not None:
                ends[self._end_reached(message)] = int(message.offset() or 0)
                where = (None, None)  # a record after it starts a new run (and undoes it)
                continue
            here = (message.topic(), message.partition())
            if here != where:  # records come in runs of one partition: one lookup per run
                where = here
                partition = Partition(here[0] or "", here[1] or 0)
                current = batches.setdefault(partition, [])
                ends.pop(partition, None)
            current.append(Record(message))
        for partition, batch in batches.items():
            self._positions[partition] = batch[-1].offset + 1
        self._positions.update(ends)
        return batches

    def _available(self, most: int, timeout_s: float) -> list[Message]:
        """What has arrived, up to ``most``, waiting at most ``timeout_s`` for the first, as
        kafka-python's poll does. librdkafka's ``consume(n, timeout)`` instead waits until it
        has all n or the time is up: under a light load every poll took its full timeout (p50
        latency 170 ms at 20 % load)."""
        messages = self._raw.consume(most, 0)
        if messages or timeout_s <= 0:
            return messages
        first = self._raw.poll(timeout_s)
        if first is None:
            return []
        return [first, *self._raw.consume(most - 1, 0)] if most > 1 else [first]

    @staticmethod
    def _end_reached(message: Message) -> Partition:
        """The partition of a _PARTITION_EOF event; any other error is raised.

        Its offset is where the next fetch starts, past what librdkafka read but never hands to
        the application: transaction markers (commit or abort) and, read_committed, the records
        of aborted transactions. kafka-python's position moves past those itself; taking this
        one keeps a reader that reads "until ``end_offsets``" from waiting forever on a
        partition whose last offset is a marker (worker.restore after exactly-once)."""
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise translate_error(error, f"reading {message.topic()}")
        return Partition(message.topic() or "", message.partition() or 0)

    def seek(self, partition: Partition, offset: int) -> None:
        if offset >= 0:
            self._positions[partition] = offset
        else:
            self._positions.pop(partition, None)
        if self._manual is not None and partition in self._manual:
            self._manual[partition] = offset
            if self._assign_pending:  # not started yet: it starts there
                return
        with translated(f"seek {partition}"):
            try:
                self._raw.seek(_tp(partition, offset))
            except KafkaException:
                if self._manual is None:
                    raise
                # Not fetching it yet: start the assignment again at the offsets sought.
                self._assign_pending = True
                self._start_assigned()

    def seek_to_beginning(self, *partitions: Partition) -> None:
        # To the first offset kept, as a number: ``position`` then says where reading starts.
        for partition in partitions:
            self.seek(partition, self._watermarks(partition, COORDINATOR_WAIT_S)[0])

    def position(self, partition: Partition, timeout_s: float | None = None) -> int:
        known = self._positions.get(partition)
        if known is not None:
            return known
        with translated(f"position of {partition}"):
            (found,) = self._raw.position([_tp(partition)])
        if found.offset >= 0:
            return int(found.offset)
        # Nothing read or sought yet: where the next read starts, as kafka-python resolves it.
        committed = self.committed(partition, timeout_s)
        if committed is not None:
            return committed
        low, high = self._watermarks(partition, timeout_s or 30.0)
        return low if self._from_earliest else high

    def committed(self, partition: Partition, timeout_s: float | None = None) -> int | None:
        found = self._until_answered(
            lambda wait: self._raw.committed([_tp(partition)], timeout=wait)[0],
            timeout_s,
            f"committed offset of {partition}",
        )
        return None if found.offset < 0 else int(found.offset)

    def _until_answered(self, call: Callable[[float], T], timeout_s: float | None, what: str) -> T:
        """``call`` again while the group coordinator is not found yet (NOT_COORDINATOR and the
        like are retriable), as kafka-python does inside its own calls; at most ``timeout_s``."""
        deadline = time.monotonic() + (COORDINATOR_WAIT_S if timeout_s is None else timeout_s)
        while True:
            left = max(0.1, deadline - time.monotonic())
            try:
                return call(left)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                retriable = isinstance(error, KafkaError) and (
                    error.retriable() or error.code() in _COORDINATOR_MOVING
                )
                if not retriable:
                    raise translate(exc, what) from exc
                if time.monotonic() >= deadline:  # still retriable: the caller may retry later
                    failure = translate(exc, what)
                    raise KafkaClientError(failure.kind, str(failure), retriable=True) from exc
            time.sleep(0.1)

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        """Bounded by ``timeout_s`` (None: ``COORDINATOR_WAIT_S``, as kafka-python bounds its own
        by its request timeout); a commit not answered by then is a retriable TIMEOUT.

        librdkafka's synchronous commit has no timeout: it waits for the group coordinator's
        answer as long as that takes (``rd_kafka_commit_queue`` waits with RD_POLL_INFINITE). In
        a broker outage a commit deferred for want of a coordinator waits up to
        ``session.timeout.ms``, one already sent to the dead broker longer: a worker's poll loop
        stood still ~45 s in one. So the commit runs in a helper thread (``OneAtATime``). An
        asynchronous commit cannot be waited for instead: its answer reaches ``on_commit`` only
        through this consumer's own poll, which would hand out records mid-checkpoint."""
        tps = None if offsets is None else [_tp(p, o) for p, o in offsets.items()]
        deadline = time.monotonic() + (COORDINATOR_WAIT_S if timeout_s is None else timeout_s)
        with translated("commit"):
            self._until_answered(
                lambda _: self._commits.run(lambda: self._commit_now(tps), deadline),
                timeout_s,
                "commit",
            )

    def _commit_now(self, tps: list[TopicPartition] | None) -> None:
        """The synchronous commit (in the helper thread); None: what was consumed."""
        try:
            if tps is None:
                self._raw.commit(asynchronous=False)
            else:
                self._raw.commit(offsets=tps, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            no_offset = isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET
            if tps is not None or not no_offset:
                raise
            # nothing consumed since the last commit: nothing to commit

    def beginning_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        return {p: self._watermarks(p, timeout_s)[0] for p in partitions}

    def end_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        return {p: self._watermarks(p, timeout_s)[1] for p in partitions}

    def _watermarks(self, partition: Partition, timeout_s: float) -> tuple[int, int]:
        with translated(f"offsets of {partition}"):
            low, high = self._raw.get_watermark_offsets(_tp(partition), timeout=timeout_s)
        return int(low), int(high)

    def highwater(self, partition: Partition) -> int | None:
        try:
            _, high = self._raw.get_watermark_offsets(_tp(partition), cached=True)
        except Exception:  # not fetched yet: nothing cached
            return None
        return None if high < 0 else int(high)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return partitions_of(self._raw, topic)

    def pause(self, *partitions: Partition) -> None:
        self._start_assigned()
        with translated("pause"):
            self._raw.pause([_tp(p) for p in partitions])
        self._paused.update(partitions)

    def resume(self, *partitions: Partition) -> None:
        with translated("resume"):
            self._raw.resume([_tp(p) for p in partitions])
        self._paused.difference_update(partitions)

    def paused(self) -> set[Partition]:
        return set(self._paused)

    def group_metadata(self) -> object:
        with translated("group metadata"):
            return self._raw.consumer_group_metadata()

    @property
    def fetch_wait_ms(self) -> int:
        return self._fetch_wait_ms

    def forget_failed_fetch(self) -> None:
        """librdkafka keeps nothing of a batch it failed to parse: nothing to forget."""

    def close(self) -> None:
        """Leaves the group; not while a commit that timed out is still blocked: librdkafka's
        close waits for it first, for as long as the coordinator stays away (librdkafka #3740).
        The consumer is then dropped as it is; the group moves on after its session timeout."""
        if self._commits.busy():
            log.warning("consumer dropped without leaving its group: a commit still waits")
            return
        with translated("close"):
            self._raw.close()
