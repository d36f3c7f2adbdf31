"""confluent-kafka's producer as a ``foundation.kafka.client.Producer`` and
``TransactionalProducer``. librdkafka takes a timeout for every transactional call, but its
coordinator requests can block past it (see ``_bounded``), so those calls are bounded from
outside; nothing private is needed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka import Producer as RawProducer

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Headers, Partition
from foundation.kafka.confluent.errors import partitions_of, translate_error, translated

# How long a send waits for room in librdkafka's local queue before it says so.
QUEUE_FULL_WAIT_S = 30.0
_ANY_PARTITION = -1  # RD_KAFKA_PARTITION_UA: the partitioner decides
SERVE_EVERY = 1000  # sends between two polls that run delivery callbacks
# How long past its own timeout a transactional call may take before it counts as stuck.
STUCK_AFTER_S = 10.0


class _Sent:
    """A ``SendHandle``: filled in by librdkafka's delivery callback (from ``poll``/``flush``)."""

    __slots__ = ("_done", "_error", "_offset", "_producer")

    def __init__(self, producer: RawProducer) -> None:
        self._producer = producer
        self._error: KafkaClientError | None = None
        self._offset = -1
        self._done = False

    def delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._error = translate_error(error, f"delivery to {message.topic()}")
        else:
            self._offset = int(message.offset() or 0)
        self._done = True

    def failed(self) -> bool:
        return self._done and self._error is not None

    def error(self) -> BaseException | None:
        return self._error

    def offset(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while not self._done and time.monotonic() < deadline:
            with translated("waiting for a delivery"):  # a fatal error is raised by poll
                self._producer.poll(min(0.05, max(0.0, deadline - time.monotonic())))
        if self._error is not None:
            raise self._error
        if not self._done:
            raise KafkaClientError(
                KafkaErrorKind.TIMEOUT, f"no answer in {timeout_s}s", retriable=True
            )
        return self._offset


class ConfluentProducer:
    """A ``Producer`` around a ``confluent_kafka.Producer``."""

    def __init__(self, raw: RawProducer) -> None:
        self._raw = raw
        self._unserved = 0

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> _Sent:
        handle = _Sent(self._raw)
        target = _ANY_PARTITION if partition is None else partition
        try:
            if headers:
                self._raw.produce(
                    topic, value, key, target, handle.delivered, headers=list(headers)
                )
            else:
                self._raw.produce(topic, value, key, target, handle.delivered)
        except BufferError:
            self._produce_when_room(topic, key, value, target, handle, headers)
        except KafkaException as exc:
            raise translate_error(exc.args[0], f"sending to {topic}") from exc
        self._unserved += 1
        if self._unserved >= SERVE_EVERY:  # delivery callbacks run in poll; not per send
            self._unserved = 0
            with translated(f"sending to {topic}"):  # a fatal error is raised by poll
                self._raw.poll(0)
        return handle

    def _produce_when_room(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        target: int,
        handle: _Sent,
        headers: Headers | None,
    ) -> None:
        """librdkafka's local queue is full: let it send some, then try again, for a while."""
        deadline = time.monotonic() + QUEUE_FULL_WAIT_S
        while True:
            with translated(f"sending to {topic}"):
                self._raw.poll(0.05)
            try:
                self._raw.produce(
                    topic, value, key, target, handle.delivered, headers=list(headers or ())
                )
                return
            except BufferError as exc:
                if time.monotonic() > deadline:
                    raise KafkaClientError(
                        KafkaErrorKind.TIMEOUT, str(exc), retriable=True
                    ) from exc
            except KafkaException as exc:
                raise translate_error(exc.args[0], f"sending to {topic}") from exc

    def flush(self, timeout_s: float | None = None) -> None:
        with translated("flush"):
            left = self._raw.flush(-1 if timeout_s is None else timeout_s)
        if left:
            raise KafkaClientError(
                KafkaErrorKind.TIMEOUT,
                f"{left} sends not acknowledged in {timeout_s}s",
                retriable=True,
            )

    def partitions_for(self, topic: str) -> set[int]:
        return partitions_of(self._raw, topic)

    def close(self, timeout_s: float | None = None) -> None:
        """librdkafka has no close: wait for what is in flight (at most ``timeout_s``), then
        drop the rest, as kafka-python's close does."""
        with translated("close"):
            left = self._raw.flush(-1 if timeout_s is None else timeout_s)
            if left:
                self._raw.purge()
                self._raw.flush(0)


class ConfluentTransactionalProducer(ConfluentProducer):
    """A ``TransactionalProducer`` around a transactional ``confluent_kafka.Producer``.

    Every coordinator call runs through ``_bounded``: librdkafka can block in one for good after
    a broker restart, whatever its timeout says. A producer that got stuck that way is dropped
    as it is (``close`` does not touch it); the caller replaces it by a new one with the same
    transactional id, whose ``init`` fences it."""

    def __init__(self, raw: RawProducer, transactional_id: str) -> None:
        super().__init__(raw)
        self._transactional_id = transactional_id
        self._stuck = False

    @property
    def transactional_id(self) -> str:
        return self._transactional_id

    def init(self) -> None:
        self._bounded("init_transactions", 60, lambda: self._raw.init_transactions(60))

    def begin(self) -> None:
        with translated("begin_transaction"):
            self._raw.begin_transaction()

    def send_offsets(
        self, offsets: Mapping[Partition, int], group: object, timeout_s: float
    ) -> None:
        positions = [TopicPartition(p.topic, p.partition, o) for p, o in offsets.items()]
        self._bounded(
            "send_offsets_to_transaction",
            timeout_s,
            lambda: self._raw.send_offsets_to_transaction(positions, group, timeout_s),
        )

    def commit(self, timeout_s: float) -> None:
        self._bounded(
            "commit_transaction", timeout_s, lambda: self._raw.commit_transaction(timeout_s)
        )

    def abort(self, timeout_s: float) -> None:
        self._bounded(
            "abort_transaction", timeout_s, lambda: self._raw.abort_transaction(timeout_s)
        )

    def close(self, timeout_s: float | None = None) -> None:
        if not self._stuck:  # a stuck call still holds librdkafka's transaction lock
            super().close(timeout_s)

    def _bounded(self, what: str, timeout_s: float, call: Callable[[], object]) -> None:
        """Run ``call`` in a helper thread and wait at most ``timeout_s`` + ``STUCK_AFTER_S``.

        Why: librdkafka never checks a coordinator request's deadline (confluentinc/librdkafka
        #5456) and may keep waiting on a coordinator it cached before a broker restart (#5511),
        so ``send_offsets_to_transaction`` was seen blocking for good after a ``kill -9`` of the
        broker. confluent-kafka releases the GIL in the call, so the thread costs one start per
        checkpoint; a thread that never returns is left behind (a daemon) with its producer.
        """
        if self._stuck:  # not a timeout: waiting longer on this one cannot help
            raise KafkaClientError(
                KafkaErrorKind.OTHER, f"{what}: this producer is stuck", retriable=True
            )
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                with translated(what):
                    call()
                outcome.append(None)
            except BaseException as exc:  # handed to the caller's thread below
                outcome.append(exc)

        helper = threading.Thread(target=run, name=f"twincast {what}", daemon=True)
        helper.start()
        helper.join(timeout_s + STUCK_AFTER_S)
        if not outcome:
            self._stuck = True
            raise KafkaClientError(
                KafkaErrorKind.TIMEOUT,
                f"{what} still blocked {timeout_s + STUCK_AFTER_S:.0f}s later (librdkafka)",
                retriable=True,
            )
        if outcome[0] is not None:
            raise outcome[0]
