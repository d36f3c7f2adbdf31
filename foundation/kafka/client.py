"""The Kafka client layer's interfaces: what twincast asks of a consumer, a producer, a
transactional producer and the admin, whichever client library implements them.

Written so that kafka-python (``foundation.kafka.kafka_python``) and librdkafka can both stand
behind them: no library's classes in a signature, partitions as ``Partition``, offsets as ints,
timeouts in seconds, and every error a ``foundation.errors.KafkaClientError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

from foundation.kafka.record import ConsumedRecord

Headers = Sequence[tuple[str, bytes | None]]


class Partition(NamedTuple):
    """One partition of a topic. Equal to, and hashed like, kafka-python's ``TopicPartition``
    (both are plain tuples), so its records' mappings can be read with either."""

    topic: str
    partition: int


@dataclass(frozen=True)
class ConsumerOptions:
    """How a consumer reads; None leaves the client library's default. Never auto-commits."""

    role: str  # becomes part of the client id
    group_id: str | None = None  # None: no group (assigned partitions only, no commits)
    from_earliest: bool = False  # where a partition without a committed offset starts
    read_committed: bool = False  # skip records of aborted transactions
    session_timeout_ms: int | None = None
    heartbeat_interval_ms: int | None = None
    max_poll_interval_ms: int | None = None
    max_partition_fetch_bytes: int | None = None
    fetch_max_bytes: int | None = None
    # librdkafka only: the most it fetches ahead into its local queue (queued.max.messages.kbytes;
    # kafka-python keeps no such queue: at most one fetch per partition).
    prefetch_kbytes: int | None = None


@dataclass(frozen=True)
class ProducerOptions:
    """How a producer sends; None leaves the client library's default."""

    role: str
    acks: Literal[0, 1, "all"] | None = None
    linger_ms: int | None = None
    batch_size: int | None = None
    max_request_size: int | None = None  # the largest message this producer may send


@dataclass(frozen=True)
class TransactionalOptions:
    """A transactional (hence idempotent, acks=all) producer."""

    role: str
    transactional_id: str  # stable per instance: a restart aborts what the last life left open
    transaction_timeout_ms: int
    linger_ms: int | None = None
    batch_size: int | None = None


class RebalanceListener(Protocol):
    """Told of partitions taken from and given to a subscribed consumer. May be called on the
    client library's own thread: keep it short."""

    def on_revoked(self, partitions: set[Partition]) -> None: ...
    def on_assigned(self, partitions: set[Partition]) -> None: ...


class Consumer(Protocol):
    """A consumer; offsets are the next record to read, as Kafka commits them."""

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        """Join the group for these topics."""

    def assign(self, partitions: Iterable[Partition]) -> None:
        """Read exactly these partitions, without a group's assignment."""

    def assignment(self) -> set[Partition]: ...

    def poll(
        self, timeout_s: float, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[ConsumedRecord]]:
        """Records fetched, by partition; empty if none came within ``timeout_s``. Raises
        KafkaClientError(CORRUPT_RECORD) when a fetched record cannot be parsed."""

    def seek(self, partition: Partition, offset: int) -> None: ...
    def seek_to_beginning(self, *partitions: Partition) -> None: ...

    def position(self, partition: Partition, timeout_s: float | None = None) -> int:
        """The offset of the next record to read; KafkaClientError(TIMEOUT) if not known in
        time (None: wait as long as it takes). Past what the consumer reads but never returns
        (transaction markers; read_committed, aborted records) at least once it has reached the
        partition's end, so a reader polling until ``position >= end_offsets`` stops there."""

    def committed(self, partition: Partition, timeout_s: float | None = None) -> int | None:
        """The group's committed offset, None if it has none."""

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        """Commit these offsets (None: the current positions of every assigned partition)."""

    def beginning_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]: ...

    def end_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]: ...

    def highwater(self, partition: Partition) -> int | None:
        """The end offset last seen by a fetch, without asking the broker; None if unknown."""

    def partitions_for_topic(self, topic: str) -> set[int]:
        """The topic's partition numbers; empty if the topic is not known (yet)."""

    def pause(self, *partitions: Partition) -> None: ...
    def resume(self, *partitions: Partition) -> None: ...
    def paused(self) -> set[Partition]: ...

    def group_metadata(self) -> object:
        """What ``TransactionalProducer.send_offsets`` needs to fence a stale group member;
        opaque, for the same client library only."""

    @property
    def fetch_wait_ms(self) -> int:
        """The longest the broker holds a fetch that has nothing to return."""

    def forget_failed_fetch(self) -> None:
        """After a CORRUPT_RECORD poll: drop what the client kept of the batch it failed to parse,
        if it keeps it (a no-op for libraries that do not)."""

    def close(self) -> None: ...


class SendHandle(Protocol):
    """The outcome of one ``Producer.send``, known once the broker answered or the send failed."""

    def failed(self) -> bool:
        """True if the send is known to have failed (False while it is in flight)."""

    def acknowledged(self) -> bool:
        """True once the broker took the record (False while in flight or failed)."""

    def error(self) -> BaseException | None:
        """Why the send failed (a KafkaClientError), None if it did not (yet)."""

    def offset(self, timeout_s: float) -> int:
        """Wait for the broker's answer: the record's offset, or KafkaClientError."""


class Producer(Protocol):
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> SendHandle:
        """Queue a record; cheap (the client batches). KafkaClientError if it cannot be queued."""

    def flush(self, timeout_s: float | None = None) -> None:
        """Until every queued record is answered; KafkaClientError(TIMEOUT) if not in time."""

    def partitions_for(self, topic: str) -> set[int]:
        """The topic's partition numbers (waits for metadata); empty if unknown."""

    def close(self, timeout_s: float | None = None) -> None:
        """Close, waiting at most ``timeout_s`` for what is in flight (0: drop it)."""


class TransactionalProducer(Producer, Protocol):
    """Every call that waits on the transaction coordinator is bounded."""

    @property
    def transactional_id(self) -> str: ...

    def init(self) -> None:
        """Fence earlier lives of this transactional id and abort what they left open. Bounded
        by the client library's own blocking limit (kafka-python: ``max_block_ms``)."""

    def begin(self) -> None: ...

    def send_offsets(
        self, offsets: Mapping[Partition, int], group: object, timeout_s: float
    ) -> None:
        """Commit ``offsets`` with the transaction; ``group`` is ``Consumer.group_metadata()``."""

    def commit(self, timeout_s: float) -> None: ...
    def abort(self, timeout_s: float) -> None: ...


@dataclass(frozen=True)
class NewTopic:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


class Admin(Protocol):
    def create_topic(self, topic: NewTopic, timeout_s: float) -> bool:
        """Create it; False if it already exists. Waits until it is ready to use."""

    def partition_count(self, topic: str) -> int: ...

    def create_partitions(self, topic: str, total: int) -> None:
        """Grow the topic to ``total`` partitions."""

    def topic_configs(self, topic: str) -> dict[str, str]:
        """Every config value of a topic, defaults included."""

    def alter_topic_configs(self, topic: str, configs: Mapping[str, str]) -> None: ...
    def list_topics(self) -> list[str]: ...
    def close(self) -> None: ...


class KafkaClients(Protocol):
    """Makes the clients of one service, from its settings (security included)."""

    def consumer(self, options: ConsumerOptions) -> Consumer: ...
    def producer(self, options: ProducerOptions) -> Producer: ...
    def transactional_producer(self, options: TransactionalOptions) -> TransactionalProducer: ...
    def admin(self, role: str, request_timeout_ms: int | None = None) -> Admin: ...
