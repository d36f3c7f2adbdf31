"""kafka-python's consumer as a ``foundation.kafka.client.Consumer``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Partition, RebalanceListener
from foundation.kafka.kafka_python.errors import translate, translated
from foundation.kafka.record import ConsumedRecord


def _ms(timeout_s: float | None) -> int | None:
    return None if timeout_s is None else int(timeout_s * 1000)


def _tp(partition: Partition) -> TopicPartition:
    # kafka-python checks isinstance(TopicPartition) on its partition arguments.
    return TopicPartition(partition.topic, partition.partition)


def _partitions(tps: Iterable[Any]) -> set[Partition]:
    return {Partition(tp.topic, tp.partition) for tp in tps}


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python has no types
    def __init__(self, listener: RebalanceListener) -> None:
        self._listener = listener

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        self._listener.on_revoked(_partitions(revoked))

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self._listener.on_assigned(_partitions(assigned))


class KafkaPythonConsumer:
    """A ``Consumer`` around a ``kafka.KafkaConsumer``."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        with translated():
            self._raw.subscribe(list(topics), listener=_Listener(listener) if listener else None)

    def assign(self, partitions: Iterable[Partition]) -> None:
        with translated():
            self._raw.assign([_tp(p) for p in partitions])

    def assignment(self) -> set[Partition]:
        return _partitions(self._raw.assignment())

    def poll(
        self, timeout_s: float, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[ConsumedRecord]]:
        try:  # handed on as it is: keys equal Partition, values are ConsumedRecords
            batches: Mapping[Partition, Sequence[ConsumedRecord]] = self._raw.poll(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as exc:
            raise translate(exc) from exc
        return batches

    def seek(self, partition: Partition, offset: int) -> None:
        with translated():
            self._raw.seek(_tp(partition), offset)

    def seek_to_beginning(self, *partitions: Partition) -> None:
        with translated():
            self._raw.seek_to_beginning(*(_tp(p) for p in partitions))

    def position(self, partition: Partition, timeout_s: float | None = None) -> int:
        with translated():
            position = self._raw.position(_tp(partition), timeout_ms=_ms(timeout_s))
        if position is None:
            raise KafkaClientError(
                KafkaErrorKind.TIMEOUT, f"position of {partition} not known yet", retriable=True
            )
        return int(position)

    def committed(self, partition: Partition, timeout_s: float | None = None) -> int | None:
        with translated():
            offset = self._raw.committed(_tp(partition), timeout_ms=_ms(timeout_s))
        return None if offset is None else int(offset)

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        commit = None if offsets is None else offsets_and_metadata(offsets)
        with translated():
            self._raw.commit(commit, timeout_ms=_ms(timeout_s))

    def beginning_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        with translated():
            found = self._raw.beginning_offsets([_tp(p) for p in partitions], _ms(timeout_s))
        return {Partition(tp.topic, tp.partition): int(o) for tp, o in found.items()}

    def end_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        with translated():
            found = self._raw.end_offsets([_tp(p) for p in partitions], _ms(timeout_s))
        return {Partition(tp.topic, tp.partition): int(o) for tp, o in found.items()}

    def highwater(self, partition: Partition) -> int | None:
        end = self._raw.highwater(_tp(partition))
        return None if end is None else int(end)

    def partitions_for_topic(self, topic: str) -> set[int]:
        with translated():
            return set(self._raw.partitions_for_topic(topic) or ())

    def pause(self, *partitions: Partition) -> None:
        self._raw.pause(*(_tp(p) for p in partitions))

    def resume(self, *partitions: Partition) -> None:
        self._raw.resume(*(_tp(p) for p in partitions))

    def paused(self) -> set[Partition]:
        return _partitions(self._raw.paused())

    def group_metadata(self) -> object:
        with translated():
            return self._raw.group_metadata()

    @property
    def fetch_wait_ms(self) -> int:
        return int(self._raw.config.get("fetch_max_wait_ms", 500))

    def forget_failed_fetch(self) -> None:
        """Drop the record set whose parse just failed, which kafka-python 3.0 keeps: its
        iterator is spent but not drained, so a later poll at the offset where the parse stopped
        would spin on it forever. There is no public way; if kafka-python's insides differ, this
        does nothing and the next poll elsewhere drops it."""
        fetcher = getattr(self._raw, "_fetcher", None)  # PRIVATE: no public way (see above)
        failed = getattr(fetcher, "_next_partition_records", None)  # PRIVATE: as above
        if failed is not None and callable(getattr(failed, "drain", None)):
            failed.drain()

    def close(self) -> None:
        with translated():
            self._raw.close()


def offsets_and_metadata(offsets: Mapping[Partition, int]) -> dict[TopicPartition, Any]:
    return {_tp(p): OffsetAndMetadata(offset, "", -1) for p, offset in offsets.items()}
