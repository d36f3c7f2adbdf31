"""Delivery through a broker outage, with scripted clients: exactly-once recovers from a
transactional request that never gets an answer (kafka-python waits forever; seen across a broker
restart) and from a producer that cannot close cleanly; at-least-once turns unacknowledged sends
into a rewind, never into an exit, unless retrying cannot help."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import (
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)

from foundation.kafka.outage import KafkaFatalError, Outage
from worker.delivery import CheckpointFailed, Delivery, TransactionAborted, TransactionalDelivery
from worker.state_store import StateStore


class _Result:
    def __init__(self, answered: bool) -> None:
        self.answered = answered

    def wait(self, timeout_ms: int | None = None) -> bool:
        return self.answered


class _Manager:
    def __init__(self, answers: bool) -> None:
        self.answers = answers

    def send_offsets_to_transaction(self, offsets: Any, group: Any) -> _Result:
        return _Result(self.answers)

    def begin_commit(self) -> _Result:
        return _Result(self.answers)

    def begin_abort(self) -> _Result:
        return _Result(self.answers)


class _Sender:
    def wakeup(self) -> None:
        pass


class _Producer:
    """Records what the delivery asks of it; ``answers`` False = the broker never replies."""

    def __init__(self, answers: bool, pending_on_close: bool = False) -> None:
        self.pending_on_close = pending_on_close
        self._transaction_manager = _Manager(answers)
        self._sender = _Sender()
        self.calls: list[str] = []
        self.config = {"transactional_id": "w-1"}

    def init_transactions(self) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def send(self, topic: str, **kwargs: Any) -> None:
        self.calls.append(f"send {topic}")

    def close(self, timeout: float | None = None) -> None:
        self.calls.append("close")
        if self.pending_on_close:  # what kafka-python does with sends pending and timeout 0
            raise KafkaTimeoutError("Timeout waiting for future")


def _store() -> StateStore:
    return StateStore(capacity=4, window=2, features=1, layers=1, units=1)


class _Consumer:
    def group_metadata(self) -> str:
        return "group"


def test_a_stuck_transaction_is_replaced_and_rewound() -> None:
    made = [_Producer(answers=False, pending_on_close=True), _Producer(answers=True)]
    created = iter(made)
    delivery = TransactionalDelivery(lambda: next(created), 10, Outage(logging.getLogger("t")))
    offsets = {TopicPartition("events", 0): 42}
    with pytest.raises(TransactionAborted, match="no answer"):
        delivery.commit(_Consumer(), _store(), "state", offsets)
    stuck, fresh = made
    assert stuck.calls[-1] == "close", "the stuck producer is dropped"
    assert fresh.calls == ["init", "begin"], "a new one takes the id (aborting the open one)"
    assert delivery.producer is fresh
    assert delivery.commit(_Consumer(), _store(), "state", offsets)
    assert fresh.calls[-1] == "begin", "after the commit the next transaction begins"


class _Future:
    def __init__(self, exception: Exception | None) -> None:
        self.exception = exception

    def failed(self) -> bool:
        return self.exception is not None


class _PlainProducer:
    """At-least-once: every send fails with ``error`` (None: acknowledged)."""

    def __init__(self, error: Exception | None, flush_times_out: bool = False) -> None:
        self.error, self.flush_times_out = error, flush_times_out

    def send(self, topic: str, **kwargs: Any) -> _Future:
        return _Future(self.error)

    def flush(self, timeout: float | None = None) -> None:
        if self.flush_times_out:
            raise KafkaTimeoutError("Timeout waiting for future")


class _CommittingConsumer:
    def __init__(self) -> None:
        self.commits = 0

    def commit(self, offsets: Any, timeout_ms: int | None = None) -> None:
        self.commits += 1


@pytest.mark.parametrize(
    "producer",
    [_PlainProducer(NotLeaderForPartitionError()), _PlainProducer(None, flush_times_out=True)],
    ids=["send failed", "flush timed out"],
)
def test_unacknowledged_sends_rewind_and_commit_nothing(producer: _PlainProducer) -> None:
    outage = Outage(logging.getLogger("t"))
    delivery = Delivery(producer, outage)
    delivery.send("forecasts", b"a", b"{}")
    consumer = _CommittingConsumer()
    offsets = {TopicPartition("events", 0): 7}
    with pytest.raises(CheckpointFailed):
        delivery.commit(consumer, _store(), "state", offsets)
    assert consumer.commits == 0 and outage.since is not None, "nothing committed; outage noted"
    producer.error, producer.flush_times_out = None, False
    assert delivery.commit(consumer, _store(), "state", offsets)
    assert consumer.commits == 1 and outage.since is None, "the broker is back"


def test_a_refused_permission_ends_the_worker_with_advice() -> None:
    delivery = Delivery(
        _PlainProducer(TopicAuthorizationFailedError()), Outage(logging.getLogger("t"))
    )
    delivery.send("forecasts", b"a", b"{}")
    with pytest.raises(KafkaFatalError, match="ACLs"):
        delivery.commit(_CommittingConsumer(), _store(), "state", {})


def test_closing_with_sends_pending_does_not_raise() -> None:
    producer = _Producer(answers=True, pending_on_close=True)
    Delivery(producer).close()
    assert producer.calls == ["close"]
