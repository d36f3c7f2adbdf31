"""How the worker's outputs and consumed offsets reach Kafka: at-least-once or exactly-once.

At-least-once (the default) checkpoints in this order: flush the producer and check that every
forecast and dead letter sent so far was acknowledged, then write the due states and the position
markers (``worker.state_writer``: a marker's emit-from offset M is only written once the outputs
before it are acknowledged) and flush again, then commit the consumed offsets. A crash in between
repeats work; a repeat is identical to the first forecast.

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
from collections.abc import Callable, Mapping

from foundation.errors import KafkaClientError, KafkaErrorKind, TwincastError
from foundation.kafka.client import (
    Consumer,
    Partition,
    Producer,
    SendHandle,
    TransactionalProducer,
)
from foundation.kafka.outage import Outage
from foundation.settings.worker import WorkerSettings
from worker.clients import output_producer, transactional_producer
from worker.in_flight import InFlight
from worker.state_store import StateStore
from worker.state_writer import CheckpointPlan, write_state_changes

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
        self,
        producer: Producer,
        max_in_flight: int,
        outage: Outage | None = None,
        renew: Callable[[], Producer] | None = None,
    ) -> None:
        self.producer, self.outage, self._renew = producer, outage or Outage(log), renew
        # The sends since the last checkpoint not yet acknowledged (a checkpoint's flush checks
        # them), at most ``max_in_flight`` after each poll's (``worker.in_flight``).
        self.in_flight = InFlight(max_in_flight)

    def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> None:
        self.in_flight.add((self.producer.send(topic, key=key, value=value, partition=partition),))

    def track(self, handles: list[SendHandle]) -> None:
        """A poll's sends; waits while more than the bound are unacknowledged (a
        KafkaClientError(TIMEOUT) if the broker does not answer within ``ACK_WAIT_S``)."""
        self.in_flight.add(handles)
        self.in_flight.wait_under_bound(ACK_WAIT_S)

    def commit(
        self,
        consumer: Consumer,
        store: StateStore,
        state_topic: str,
        offsets: Mapping[Partition, int],
        plan: CheckpointPlan,
    ) -> bool:
        """Make everything since the last commit durable, in this order: outputs acknowledged,
        due states and markers written (``worker.state_writer``), ``offsets`` committed.
        False if only the offset commit failed."""
        self._flush()
        self.in_flight.add(write_state_changes(self.producer, state_topic, store, plan))
        self._flush()
        if not offsets:
            return True
        try:
            consumer.commit(offsets, timeout_s=ACK_WAIT_S)
        except KafkaClientError as exc:
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
        sent = self.in_flight.sent
        futures = self.in_flight.take()  # on failure a rewind recomputes them
        if not sent:
            return
        try:
            self.producer.flush(timeout_s=ACK_WAIT_S)
        except KafkaClientError as exc:
            if exc.kind is not KafkaErrorKind.TIMEOUT:
                raise
            self.outage.failed(exc, "sending")
            raise CheckpointFailed(f"sends not acknowledged in {ACK_WAIT_S:.0f}s") from exc
        failed = [e for f in futures if f.failed() and (e := f.error()) is not None]
        if failed:
            self.outage.failed(failed[0], "sending")  # raises if retrying cannot help
            if not all(isinstance(e, KafkaClientError) and e.retriable for e in failed):
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
        except KafkaClientError as exc:  # the broker is away: the next failed checkpoint retries
            log.info("producer not renewed yet (%s)", exc)
            return
        _close(self.producer)
        self.producer = fresh


class TransactionStuck(TwincastError):
    """A transactional request got no answer in time (seen after a broker restart)."""


class TransactionalDelivery(Delivery):
    """Exactly-once: one transaction per checkpoint, offsets included (KIP-447 fencing).

    Each transactional request is awaited with a limit (after a broker restart an answer can be
    lost for good), and a producer that got stuck is replaced by a new one with the same
    transactional id, whose ``init`` aborts whatever the old one left open.
    """

    exactly_once = True
    producer: TransactionalProducer

    def __init__(
        self,
        new_producer: Callable[[], TransactionalProducer],
        wait_ms: int,
        outage: Outage,
        max_in_flight: int,
    ) -> None:
        self._new_producer, self._wait_s, self.outage = new_producer, wait_ms / 1000, outage
        super().__init__(self._start(), max_in_flight, outage)

    def _start(self) -> TransactionalProducer:
        """A new transactional producer; while the broker is away, try again.

        An ``init`` that timed out is resumed on the same producer (both clients support
        that): a new one would race the old one's init still under way inside the client, and
        whichever got its epoch last would fence the other (seen on confluent-kafka after a
        broker restart: the worker exited as "taken over")."""
        producer: TransactionalProducer | None = None
        while True:
            try:
                if producer is None:
                    producer = self._new_producer()
                producer.init()  # aborts what a previous life of this id left open
                producer.begin()
                self.outage.recovered()
                return producer
            except KafkaClientError as exc:
                if producer is not None and exc.kind is not KafkaErrorKind.TIMEOUT:
                    _close(producer)
                    producer = None
                time.sleep(self.outage.failed(exc, "starting transactions"))

    def commit(
        self,
        consumer: Consumer,
        store: StateStore,
        state_topic: str,
        offsets: Mapping[Partition, int],
        plan: CheckpointPlan,
    ) -> bool:
        """Commit the open transaction with the due states, markers and ``offsets`` in it,
        and begin the next one."""
        try:
            write_state_changes(self.producer, state_topic, store, plan)
            if offsets:
                group = consumer.group_metadata()
                self._await(lambda: self.producer.send_offsets(offsets, group, self._wait_s))
            self._await(lambda: self.producer.commit(self._wait_s))
        except TransactionStuck as exc:
            log.warning("transaction stuck (%s): rewinding with a new producer", exc)
            self._replace()
            raise TransactionAborted(str(exc)) from exc
        except KafkaClientError as exc:
            if exc.kind is KafkaErrorKind.FENCED:
                raise DeliveryError(
                    f"another worker uses transactional id {self.producer.transactional_id!r}"
                ) from exc
            self.outage.check(exc, "committing the transaction")  # raises if retrying can't help
            log.warning("transaction not committed (%s): aborting and rewinding", exc)
            self.abandon()
            raise TransactionAborted(str(exc)) from exc
        if offsets:
            self.outage.recovered()  # the coordinator took them: the broker answers
        self.in_flight.clear()
        self.producer.begin()
        return True

    def abandon(self) -> bool:
        self.in_flight.clear()
        try:
            self._await(lambda: self.producer.abort(self._wait_s))
            self.producer.begin()
        except (KafkaClientError, TransactionStuck) as exc:
            if isinstance(exc, KafkaClientError) and exc.kind is KafkaErrorKind.FENCED:
                raise DeliveryError("this worker's transactional id was taken over") from exc
            log.warning("abort failed (%s): a new producer takes over the transactional id", exc)
            self._replace()
        return True

    def _replace(self) -> None:
        """A new producer with the same id; its ``init`` aborts the open one."""
        self.in_flight.clear()
        _close(self.producer)
        self.producer = self._start()

    @staticmethod
    def _await(request: Callable[[], None]) -> None:
        """A bounded transactional request; no answer in time is ``TransactionStuck``."""
        try:
            request()
        except KafkaClientError as exc:
            if exc.kind is KafkaErrorKind.TIMEOUT:
                raise TransactionStuck(str(exc)) from exc
            raise


def _close(producer: Producer, timeout_s: float = 0) -> None:
    """Close a producer within ``timeout_s`` (0: drop it at once): ``close`` raises a TIMEOUT
    error when sends are still pending then, which is the case after a broker crash."""
    try:
        producer.close(timeout_s=timeout_s)
    except KafkaClientError as exc:
        log.info("producer dropped with sends pending (%s)", exc)


def make_delivery(settings: WorkerSettings, outage: Outage) -> Delivery:
    if settings.exactly_once:
        return TransactionalDelivery(
            lambda: transactional_producer(settings),
            2 * settings.transaction_timeout_ms,
            outage,
            settings.max_in_flight_sends,
        )
    return Delivery(
        output_producer(settings),
        settings.max_in_flight_sends,
        outage,
        lambda: output_producer(settings),
    )
