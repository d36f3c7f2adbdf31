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

A broker that goes away (even ``kill -9`` for a minute) ends nothing: every wait on it is bounded,
and a checkpoint that cannot complete raises ``CheckpointFailed``, commits nothing, and the worker
rewinds to its last committed checkpoint and retries; only an error that retrying cannot fix
(``foundation.kafka.outage``) ends the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, ProducerFencedError
from kafka.structs import OffsetAndMetadata

from foundation.errors import TwincastError
from foundation.kafka.outage import Outage
from foundation.settings.worker import WorkerSettings
from worker.state_store import StateStore
from worker.state_writer import write_state_changes

log = logging.getLogger(__name__)


class DeliveryError(TwincastError):
    """Forecasts, dead letters or state could not be delivered; offsets are not committed."""


class TransactionAborted(TwincastError):
    """The open transaction was aborted: the worker must rewind to its last committed state."""


class CheckpointFailed(TransactionAborted):
    """Sends were not acknowledged (the broker is away): nothing was committed, so the worker
    rewinds to its last committed checkpoint and tries again once the broker is back."""


# Bounded waits on the broker: long enough for a busy machine, short enough that a stop request
# is heard and the outage is reported while the broker is away.
ACK_WAIT_S = 30.0


class Delivery:
    """At-least-once: outputs acknowledged, then states, then offsets."""

    exactly_once = False

    def __init__(
        self, producer: Any, outage: Outage | None = None, renew: Callable[[], Any] | None = None
    ) -> None:
        self.producer, self.outage, self._renew = producer, outage or Outage(log), renew
        self._futures: list[Any] = []  # sends since the last checkpoint

    def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self._futures.append(self.producer.send(topic, key=key, value=value, partition=partition))

    def track(self, futures: list[Any]) -> None:
        self._futures += futures

    def commit(
        self, consumer: Any, store: StateStore, state_topic: str, offsets: dict[TopicPartition, int]
    ) -> bool:
        """Make everything since the last commit durable, in this order: outputs acknowledged,
        changed states and markers written (``worker.state_writer``), ``offsets`` committed.
        False if only the offset commit failed."""
        self._flush()
        positions = {tp.partition: offset for tp, offset in offsets.items()}
        self._futures = write_state_changes(self.producer, state_topic, store, positions)
        self._flush()
        if not offsets:
            return True
        commit = {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
        try:
            consumer.commit(commit, timeout_ms=int(ACK_WAIT_S * 1000))
        except KafkaError as exc:
            # The states are written: the next checkpoint commits these; a crash only repeats.
            if exc.retriable:
                self.outage.failed(exc, "offset commit")
            else:  # e.g. the group moved on while the broker was away: it rejoins
                self.outage.check(exc, "offset commit")
                log.warning("offset commit failed: %s", exc)
            return False
        return True

    def close(self) -> None:
        """On the way out: wait a bounded time for what is still in flight (nothing, after a
        final checkpoint that succeeded; with the broker away, the next owner recomputes it)."""
        _close(self.producer, ACK_WAIT_S)

    def abandon(self) -> bool:
        """Give up what was sent since the last checkpoint; True if it is really gone."""
        return False  # already on the topics: at-least-once repeats it, identically

    def _flush(self) -> None:
        futures, self._futures = self._futures, []  # on failure a rewind recomputes them
        if not futures:
            return
        try:
            self.producer.flush(timeout=ACK_WAIT_S)
        except KafkaTimeoutError as exc:
            self.outage.failed(exc, "sending")
            raise CheckpointFailed(f"sends not acknowledged in {ACK_WAIT_S:.0f}s") from exc
        failed = [f.exception for f in futures if f.failed()]
        if failed:
            self.outage.failed(failed[0], "sending")  # raises if retrying cannot help
            if not all(e.retriable for e in failed):
                self._renew_producer()
            raise CheckpointFailed(f"{len(failed)} sends failed, first: {failed[0]}")
        self.outage.recovered()  # acknowledged: the broker answers

    def _renew_producer(self) -> None:
        """E.g. the idempotent producer's sequence was lost with the broker's state: this
        producer may stay broken, so the rewind resends with a fresh one."""
        if self._renew is None:
            return
        try:
            fresh = self._renew()
        except KafkaError as exc:  # the broker is away: the next failed checkpoint tries again
            log.info("producer not renewed yet (%s)", exc)
            return
        _close(self.producer)
        self.producer = fresh


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

    def __init__(self, new_producer: Callable[[], Any], wait_ms: int, outage: Outage) -> None:
        self._new_producer, self._wait_ms, self.outage = new_producer, wait_ms, outage
        super().__init__(self._start(), outage)

    def _start(self) -> Any:
        """A new transactional producer; while the broker is away, try again."""
        while True:
            producer = None
            try:
                producer = self._new_producer()
                producer.init_transactions()  # aborts what a previous life of this id left open
                producer.begin_transaction()
                self.outage.recovered()
                return producer
            except KafkaError as exc:
                if producer is not None:
                    _close(producer)
                time.sleep(self.outage.failed(exc, "starting transactions"))

    def commit(
        self, consumer: Any, store: StateStore, state_topic: str, offsets: dict[TopicPartition, int]
    ) -> bool:
        """Commit the open transaction with the changed states, markers and ``offsets`` in it,
        and begin the next one."""
        positions = {tp.partition: offset for tp, offset in offsets.items()}
        manager = self.producer._transaction_manager
        try:
            write_state_changes(self.producer, state_topic, store, positions)
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
            self.outage.check(exc, "committing the transaction")  # raises if retrying can't help
            log.warning("transaction not committed (%s): aborting and rewinding", exc)
            self.abandon()
            raise TransactionAborted(str(exc)) from exc
        if offsets:
            self.outage.recovered()  # the coordinator took them: the broker answers
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
        _close(self.producer)
        self.producer = self._start()

    def _await(self, start: Callable[[], Any], what: str) -> None:
        result = start()
        self.producer._sender.wakeup()
        if not result.wait(timeout_ms=self._wait_ms):
            raise TransactionStuck(f"no answer to the transaction's {what} in {self._wait_ms} ms")


def _close(producer: Any, timeout_s: float = 0) -> None:
    """Close a producer within ``timeout_s`` (0: drop it at once): ``close`` raises
    KafkaTimeoutError when sends are still pending then, which is the case after a broker crash."""
    try:
        producer.close(timeout=timeout_s)
    except KafkaError as exc:
        log.info("producer dropped with sends pending (%s)", exc)


def make_delivery(
    settings: WorkerSettings, new_producer: Callable[[], Any], outage: Outage
) -> Delivery:
    if settings.exactly_once:
        return TransactionalDelivery(new_producer, 2 * settings.transaction_timeout_ms, outage)
    return Delivery(new_producer(), outage, new_producer)
