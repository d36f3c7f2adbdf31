"""confluent-kafka's consumer as a ``foundation.kafka.client.Consumer``.

librdkafka hands out ``Message`` objects whose fields are methods; ``poll`` turns each into a
small ``Record`` with the fields ``ConsumedRecord`` names (one object per record, the price of
one interface for both libraries). Offsets it does not know are ``OFFSET_INVALID`` (-1001);
here they are None, or a TIMEOUT error where the interface promises a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka import Consumer as RawConsumer

from foundation.kafka.client import Partition, RebalanceListener
from foundation.kafka.confluent.errors import translate_error, translated
from foundation.kafka.record import ConsumedRecord

DEFAULT_BATCH = 500  # records per poll when the caller sets no maximum (kafka-python's default)


class Record:
    """One consumed record, as ``ConsumedRecord`` reads it: each field is read from librdkafka's
    message when it is asked for (most readers use a few), not copied up front."""

    __slots__ = ("_message",)

    def __init__(self, message: Message) -> None:
        self._message = message

    @property
    def topic(self) -> str:
        return self._message.topic() or ""

    @property
    def partition(self) -> int:
        return self._message.partition() or 0

    @property
    def offset(self) -> int:
        return self._message.offset() or 0

    @property
    def timestamp(self) -> int:
        return self._message.timestamp()[1]

    @property
    def key(self) -> bytes | None:
        return _bytes(self._message.key())

    @property
    def value(self) -> bytes | None:
        return _bytes(self._message.value())

    @property
    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return _headers(self._message.headers())


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def _headers(
    raw: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, bytes | None]] | None:
    if not raw:
        return None  # librdkafka gives None for no headers; kafka-python an empty list
    items = raw.items() if isinstance(raw, Mapping) else raw
    return [(name, _bytes(value)) for name, value in items]


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
        # moves once a record is consumed, not on a seek.
        self._positions: dict[Partition, int] = {}

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
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
        self._positions.clear()
        with translated("assign"):
            self._raw.assign([_tp(p) for p in partitions])

    def assignment(self) -> set[Partition]:
        with translated("assignment"):
            return _partitions(self._raw.assignment())

    def poll(
        self, timeout_s: float, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[ConsumedRecord]]:
        with translated("poll"):
            messages = self._raw.consume(max_records or DEFAULT_BATCH, timeout_s)
        batches: dict[Partition, list[ConsumedRecord]] = {}
        current: list[ConsumedRecord] = []
        where: tuple[str | None, int | None] = (None, None)
        for message in messages:
            if message.error() is not None:
                self._raise_unless_eof(message)
                continue
            here = (message.topic(), message.partition())
            if here != where:  # records come in runs of one partition: one lookup per run
                where = here
                current = batches.setdefault(Partition(here[0] or "", here[1] or 0), [])
            current.append(Record(message))
        for partition, batch in batches.items():
            self._positions[partition] = batch[-1].offset + 1
        return batches

    @staticmethod
    def _raise_unless_eof(message: Message) -> None:
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise translate_error(error, f"reading {message.topic()}")

    def seek(self, partition: Partition, offset: int) -> None:
        if offset >= 0:
            self._positions[partition] = offset
        else:
            self._positions.pop(partition, None)
        with translated(f"seek {partition}"):
            try:
                self._raw.seek(_tp(partition, offset))
            except Exception:
                # Not fetching it yet (just assigned): start it at ``offset`` instead.
                self._raw.incremental_unassign([_tp(partition)])
                self._raw.incremental_assign([_tp(partition, offset)])

    def seek_to_beginning(self, *partitions: Partition) -> None:
        for partition in partitions:
            self.seek(partition, OFFSET_BEGINNING)

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
        with translated(f"committed offset of {partition}"):
            (found,) = self._raw.committed([_tp(partition)], timeout=timeout_s or -1)
        return None if found.offset < 0 else int(found.offset)

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        with translated("commit"):
            if offsets is None:
                self._commit_positions()
            else:
                tps = [_tp(p, o) for p, o in offsets.items()]
                self._raw.commit(offsets=tps, asynchronous=False)

    def _commit_positions(self) -> None:
        try:
            self._raw.commit(asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return  # nothing consumed since the last commit: nothing to commit
            raise

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
        with translated(f"metadata of {topic}"):
            metadata = self._raw.list_topics(topic, timeout=30)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return set()
        return set(found.partitions)

    def pause(self, *partitions: Partition) -> None:
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
        with translated("close"):
            self._raw.close()
