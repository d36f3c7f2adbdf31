"""Exactly-once delivery's recovery from a transactional request that never gets an answer
(kafka-python waits forever; seen across a broker restart), with a scripted producer."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition

from worker.delivery import TransactionAborted, TransactionalDelivery
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

    def __init__(self, answers: bool) -> None:
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


class _Consumer:
    def group_metadata(self) -> str:
        return "group"


def test_a_stuck_transaction_is_replaced_and_rewound() -> None:
    made = [_Producer(answers=False), _Producer(answers=True)]
    created = iter(made)
    delivery = TransactionalDelivery(lambda: next(created), wait_ms=10)
    offsets = {TopicPartition("events", 0): 42}
    with pytest.raises(TransactionAborted, match="no answer"):
        delivery.checkpoint(_Consumer(), StateStore(4, 2, 1, 1, 1), "state", offsets)
    stuck, fresh = made
    assert stuck.calls[-1] == "close", "the stuck producer is dropped"
    assert fresh.calls == ["init", "begin"], "a new one takes the id (aborting the open one)"
    assert delivery.producer is fresh
    assert delivery.checkpoint(_Consumer(), StateStore(4, 2, 1, 1, 1), "state", offsets)
    assert fresh.calls[-1] == "begin", "after the commit the next transaction begins"
