"""Delivery through a broker outage, with scripted clients: exactly-once recovers from a
transactional request that never gets an answer (kafka-python waits forever; seen across a broker
restart) and from a producer that cannot close cleanly; at-least-once turns unacknowledged sends
into a rewind, never into an exit, unless retrying cannot help."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

import pytest

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Consumer, Headers, Partition, SendHandle
from foundation.kafka.outage import KafkaFatalError, Outage
from worker.delivery import (
    CheckpointFailed,
    Delivery,
    DeliveryError,
    TransactionAborted,
    TransactionalDelivery,
)
from worker.state_store import StateStore
from worker.state_writer import CheckpointPlan

K = KafkaErrorKind
_PLAN = CheckpointPlan(read_to={0: 42}, emit_from={}, changed_before=float("inf"))
_BOUND = 100  # unacknowledged sends a delivery keeps at most after a poll's


def _timeout(what: str) -> KafkaClientError:
    return KafkaClientError(K.TIMEOUT, what, retriable=True)


class _Handle:
    """A ``SendHandle`` whose send failed with ``exception`` (None: acknowledged)."""

    def __init__(self, exception: KafkaClientError | None) -> None:
        self.exception = exception

    def failed(self) -> bool:
        return self.exception is not None

    def acknowledged(self) -> bool:
        return self.exception is None

    def error(self) -> BaseException | None:
        return self.exception

    def offset(self, timeout_s: float) -> int:
        if self.exception is not None:
            raise self.exception
        return 0


class _Producer:
    """A ``TransactionalProducer`` that records what the delivery asks of it; ``answers`` False:
    the coordinator never replies (the client's bounded wait gives up)."""

    def __init__(self, answers: bool, pending_on_close: bool = False) -> None:
        self.answers, self.pending_on_close = answers, pending_on_close
        self.calls: list[str] = []

    @property
    def transactional_id(self) -> str:
        return "w-1"

    def init(self) -> None:
        self.calls.append("init")

    def begin(self) -> None:
        self.calls.append("begin")

    def send_offsets(
        self, offsets: Mapping[Partition, int], group: object, timeout_s: float
    ) -> None:
        self._answer("offsets", timeout_s)

    def commit(self, timeout_s: float) -> None:
        self._answer("commit", timeout_s)

    def abort(self, timeout_s: float) -> None:
        self._answer("abort", timeout_s)

    def _answer(self, what: str, timeout_s: float) -> None:
        if not self.answers:
            raise _timeout(f"no answer to the transaction's {what} in {timeout_s * 1000:.0f} ms")

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> _Handle:
        self.calls.append(f"send {topic}")
        return _Handle(None)

    def flush(self, timeout_s: float | None = None) -> None:
        pass

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def close(self, timeout_s: float | None = None) -> None:
        self.calls.append("close")
        if self.pending_on_close:  # what kafka-python does with sends pending and timeout 0
            raise _timeout("Timeout waiting for future")


def _store() -> StateStore:
    return StateStore(capacity=4, window=2, features=1, layers=1, units=1)


class _Consumer:
    def __init__(self) -> None:
        self.commits = 0

    def group_metadata(self) -> str:
        return "group"

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        self.commits += 1


def _consumer() -> Consumer:
    return cast(Consumer, _Consumer())  # only what a checkpoint calls


def test_a_stuck_transaction_is_replaced_and_rewound() -> None:
    made = [_Producer(answers=False, pending_on_close=True), _Producer(answers=True)]
    created = iter(made)
    delivery = TransactionalDelivery(
        lambda: next(created), 10, Outage(logging.getLogger("t")), _BOUND
    )
    offsets = {Partition("events", 0): 42}
    with pytest.raises(TransactionAborted, match="no answer"):
        delivery.commit(_consumer(), _store(), "state", offsets, _PLAN)
    stuck, fresh = made
    assert stuck.calls[-1] == "close", "the stuck producer is dropped"
    assert fresh.calls == ["init", "begin"], "a new one takes the id (aborting the open one)"
    assert delivery.producer is fresh
    assert delivery.commit(_consumer(), _store(), "state", offsets, _PLAN)
    assert fresh.calls[-1] == "begin", "after the commit the next transaction begins"


class _SlowInit(_Producer):
    """Its ``init`` fails with ``errors`` first (one per call), then succeeds."""

    def __init__(self, errors: list[KafkaClientError]) -> None:
        super().__init__(answers=True)
        self.errors = errors

    def init(self) -> None:
        super().init()
        if self.errors:
            raise self.errors.pop(0)


def test_an_init_that_timed_out_is_resumed_on_the_same_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new producer would race the old one's init still under way in the client; the one
    that got its epoch last would fence the other."""
    monkeypatch.setattr("worker.delivery.time.sleep", lambda s: None)  # the outage's pause
    first = _SlowInit([_timeout("init timed out"), _timeout("init timed out")])
    made = iter([first])
    delivery = TransactionalDelivery(lambda: next(made), 10, Outage(logging.getLogger("t")), _BOUND)
    assert delivery.producer is first
    assert first.calls == ["init", "init", "init", "begin"]


def test_an_init_that_failed_otherwise_gets_a_new_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("worker.delivery.time.sleep", lambda s: None)
    broken = _SlowInit([KafkaClientError(K.OTHER, "this producer is stuck", retriable=True)])
    fresh = _Producer(answers=True)
    made = iter([broken, fresh])
    delivery = TransactionalDelivery(lambda: next(made), 10, Outage(logging.getLogger("t")), _BOUND)
    assert delivery.producer is fresh
    assert broken.calls == ["init", "close"] and fresh.calls == ["init", "begin"]


def test_a_fenced_transactional_id_ends_the_worker() -> None:
    producer = _Producer(answers=True)
    delivery = TransactionalDelivery(lambda: producer, 10, Outage(logging.getLogger("t")), _BOUND)

    def fenced(timeout_s: float) -> None:
        raise KafkaClientError(K.FENCED, "ProducerFencedError", retriable=False)

    producer.commit = fenced  # type: ignore[method-assign]
    with pytest.raises(DeliveryError, match="another worker uses transactional id 'w-1'"):
        delivery.commit(_consumer(), _store(), "state", {}, _PLAN)


class _PlainProducer(_Producer):
    """At-least-once: every send fails with ``error`` (None: acknowledged)."""

    def __init__(self, error: KafkaClientError | None, flush_times_out: bool = False) -> None:
        super().__init__(answers=True)
        self.error, self.flush_times_out = error, flush_times_out

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> _Handle:
        return _Handle(self.error)

    def flush(self, timeout_s: float | None = None) -> None:
        if self.flush_times_out:
            raise _timeout("Timeout waiting for future")


@pytest.mark.parametrize(
    "producer",
    [
        _PlainProducer(KafkaClientError(K.OTHER, "NotLeaderForPartitionError", retriable=True)),
        _PlainProducer(None, flush_times_out=True),
    ],
    ids=["send failed", "flush timed out"],
)
def test_unacknowledged_sends_rewind_and_commit_nothing(producer: _PlainProducer) -> None:
    outage = Outage(logging.getLogger("t"))
    delivery = Delivery(producer, _BOUND, outage)
    delivery.send("forecasts", b"a", b"{}")
    consumer = _Consumer()
    offsets = {Partition("events", 0): 7}
    with pytest.raises(CheckpointFailed):
        delivery.commit(cast(Consumer, consumer), _store(), "state", offsets, _PLAN)
    assert consumer.commits == 0 and outage.since is not None, "nothing committed; outage noted"
    producer.error, producer.flush_times_out = None, False
    assert delivery.commit(cast(Consumer, consumer), _store(), "state", offsets, _PLAN)
    assert consumer.commits == 1 and outage.since is None, "the broker is back"


def test_a_refused_permission_ends_the_worker_with_advice() -> None:
    refused = KafkaClientError(K.PERMISSION, "TopicAuthorizationFailedError", retriable=False)
    delivery = Delivery(_PlainProducer(refused), _BOUND, Outage(logging.getLogger("t")))
    delivery.send("forecasts", b"a", b"{}")
    with pytest.raises(KafkaFatalError, match="ACLs"):
        delivery.commit(_consumer(), _store(), "state", {}, _PLAN)


def test_closing_with_sends_pending_does_not_raise() -> None:
    producer = _Producer(answers=True, pending_on_close=True)
    Delivery(producer, _BOUND).close()
    assert producer.calls == ["close"]


def test_acknowledged_sends_are_not_kept_until_the_checkpoint() -> None:
    """What a checkpoint's sends leave kept is what may still fail, not every forecast."""
    producer = _PlainProducer(None)
    delivery = Delivery(producer, _BOUND, Outage(logging.getLogger("t")))
    failing = KafkaClientError(K.OTHER, "NotLeaderForPartitionError", retriable=True)
    handles: list[SendHandle] = [_Handle(failing)]
    handles += [_Handle(None)] * (10 * _BOUND)
    delivery.track(handles)
    assert len(delivery.in_flight) == 1, "only the one that failed is left"
    with pytest.raises(CheckpointFailed, match="1 sends failed"):
        delivery.commit(_consumer(), _store(), "state", {}, _PLAN)
