"""How the worker's outputs and consumed offsets reach Kafka: at-least-once or exactly-once.

At-least-once (the default) checkpoints in this order: flush the producer and check that every
forecast and dead letter sent so far was acknowledged, then write the changed states and the
position markers and flush again, then commit the consumed offsets. A crash in between repeats
work; a repeat is identical to the first forecast.

Exactly-once (``TWINCAST_EXACTLY_ONCE=true``) puts everything sent between two checkpoints (the
forecasts, dead letters, states, markers) and the consumed offsets into one Kafka transaction. A
``read_committed`` subscriber sees the forecasts of a transaction only once it commits, and never
those of an aborted one. When a transaction cannot commit (a rebalance fenced it, the broker went
away) it is aborted and the worker rewinds: it restores its partitions' committed state and reads
again from there, so the next transaction carries the same forecasts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import OffsetAndMetadata

from twincast.errors import TwincastError
from worker.checkpoint import write_changes
from worker.settings import WorkerSettings
from worker.state_store import StateStore

log = logging.getLogger(__name__)


class DeliveryError(TwincastError):
    """Forecasts, dead letters or state could not be delivered; offsets are not committed."""


class TransactionAborted(TwincastError):
    """The open transaction was aborted: the worker must rewind to its last committed state."""


class Delivery:
    """At-least-once: outputs acknowledged, then states, then offsets."""

    exactly_once = False

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self._futures: list[Any] = []  # sends since the last checkpoint

    def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self._futures.append(self.producer.send(topic, key=key, value=value, partition=partition))

    def track(self, futures: list[Any]) -> None:
        self._futures += futures

    def checkpoint(
        self, consumer: Any, store: StateStore, state_topic: str, offsets: dict[TopicPartition, int]
    ) -> bool:
        """Write the changed states and commit ``offsets``; False if only the commit failed."""
        self._flush()
        positions = {tp.partition: offset for tp, offset in offsets.items()}
        self._futures = write_changes(self.producer, state_topic, store, positions)
        self._flush()
        if not offsets:
            return True
        try:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except KafkaError as exc:
            # Not fatal: the next checkpoint commits them; a crash before it only repeats.
            log.warning("offset commit failed: %s", exc)
            return False
        return True

    def abandon(self) -> bool:
        """Give up what was sent since the last checkpoint; True if it is really gone."""
        return False  # already on the topics: at-least-once repeats it, identically

    def _flush(self) -> None:
        if self._futures:
            self.producer.flush()
            failed = [f for f in self._futures if f.failed()]
            if failed:
                raise DeliveryError(f"{len(failed)} sends failed, first: {failed[0].exception}")
        self._futures = []


class TransactionStuck(TwincastError):
    """A transactional request got no answer in time (seen after a broker restart)."""


class TransactionalDelivery(Delivery):
    """Exactly-once: one transaction per checkpoint, offsets included (KIP-447 fencing).

    kafka-python waits for the answer of a transactional request without a time limit, and
    after a broker restart an answer can be lost for good; so each step is awaited here with a
    limit, and a producer that got stuck is replaced by a new one with the same transactional id,
    whose ``init_transactions`` aborts whatever the old one left open.
    """

    exactly_once = True

    def __init__(self, new_producer: Callable[[], Any], wait_ms: int) -> None:
        self._new_producer, self._wait_ms = new_producer, wait_ms
        super().__init__(self._start())

    def _start(self) -> Any:
        """A new transactional producer; while the broker is away, try again."""
        while True:
            producer = None
            try:
                producer = self._new_producer()
                producer.init_transactions()  # aborts what a previous life of this id left open
                producer.begin_transaction()
                return producer
            except KafkaError as exc:
                if producer is not None:
                    producer.close(timeout=0)
                if not exc.retriable:
                    raise
                log.warning("transactions not ready (%s): trying again", exc)
                time.sleep(1)

    def checkpoint(
        self, consumer: Any, store: StateStore, state_topic: str, offsets: dict[TopicPartition, int]
    ) -> bool:
        positions = {tp.partition: offset for tp, offset in offsets.items()}
        manager = self.producer._transaction_manager
        try:
            write_changes(self.producer, state_topic, store, positions)
            if offsets:
                commit = {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
                group = consumer.group_metadata()
                self._await(lambda: manager.send_offsets_to_transaction(commit, group), "offsets")
            self._await(manager.begin_commit, "commit")
        except TransactionStuck as exc:
            log.warning("transaction stuck (%s): rewinding with a new producer", exc)
            self._replace()
            raise TransactionAborted(str(exc)) from exc
        except ProducerFencedError as exc:
            raise DeliveryError(
                f"another worker uses transactional id {self.producer.config['transactional_id']!r}"
            ) from exc
        except KafkaError as exc:
            log.warning("transaction not committed (%s): aborting and rewinding", exc)
            self.abandon()
            raise TransactionAborted(str(exc)) from exc
        self._futures = []
        self.producer.begin_transaction()
        return True

    def abandon(self) -> bool:
        self._futures = []
        try:
            self._await(self.producer._transaction_manager.begin_abort, "abort")
            self.producer.begin_transaction()
        except ProducerFencedError as exc:
            raise DeliveryError("this worker's transactional id was taken over") from exc
        except (KafkaError, TransactionStuck) as exc:
            log.warning("abort failed (%s): a new producer takes over the transactional id", exc)
            self._replace()
        return True

    def _replace(self) -> None:
        """A new producer with the same id; its ``init_transactions`` aborts the open one."""
        self._futures = []
        self.producer.close(timeout=0)
        self.producer = self._start()

    def _await(self, start: Callable[[], Any], what: str) -> None:
        result = start()
        self.producer._sender.wakeup()
        if not result.wait(timeout_ms=self._wait_ms):
            raise TransactionStuck(f"no answer to the transaction's {what} in {self._wait_ms} ms")


def make_delivery(settings: WorkerSettings, new_producer: Callable[[], Any]) -> Delivery:
    if settings.exactly_once:
        return TransactionalDelivery(new_producer, 2 * settings.transaction_timeout_ms)
    return Delivery(new_producer())
