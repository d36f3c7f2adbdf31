"""A transactional call that librdkafka never returns from (confluentinc/librdkafka #5456,
#5511, seen after a broker kill -9) is bounded from outside: the caller gets a retriable TIMEOUT
and the stuck producer is dropped untouched. No broker: a stand-in for the raw producer."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Partition
from foundation.kafka.confluent import producer as confluent_producer
from foundation.kafka.confluent.producer import ConfluentTransactionalProducer


class _RawStandIn:
    """Answers like a transactional ``confluent_kafka.Producer``; ``hang`` blocks its
    ``send_offsets_to_transaction`` until ``release`` is set, past any timeout."""

    def __init__(self, hang: bool = False, error: KafkaError | None = None) -> None:
        self.hang, self.error = hang, error
        self.release = threading.Event()
        self.calls: list[str] = []

    def send_offsets_to_transaction(self, *args: Any) -> None:
        self.calls.append("send_offsets")
        if self.hang:
            self.release.wait()
        if self.error is not None:
            raise KafkaException(self.error)

    def commit_transaction(self, timeout_s: float) -> None:
        self.calls.append("commit")

    def flush(self, timeout_s: float) -> int:
        self.calls.append("flush")
        return 0

    def purge(self) -> None:
        self.calls.append("purge")


def _producer(raw: _RawStandIn) -> ConfluentTransactionalProducer:
    return ConfluentTransactionalProducer(raw, "tx-1")  # type: ignore[arg-type]


OFFSETS = {Partition("events", 0): 42}


def test_a_call_that_never_returns_is_a_retriable_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confluent_producer, "STUCK_AFTER_S", 0.05)
    raw = _RawStandIn(hang=True)
    producer = _producer(raw)
    started = time.monotonic()
    with pytest.raises(KafkaClientError) as caught:
        producer.send_offsets(OFFSETS, object(), timeout_s=0.1)
    assert caught.value.kind is KafkaErrorKind.TIMEOUT and caught.value.retriable
    assert time.monotonic() - started < 30  # bounded (generously: a busy machine)
    # The stuck producer is not used again (not a timeout: a caller that resumes timed-out
    # calls must replace it), and closing it does not touch librdkafka.
    with pytest.raises(KafkaClientError, match="stuck") as again:
        producer.commit(timeout_s=0.1)
    assert again.value.kind is KafkaErrorKind.OTHER and again.value.retriable
    producer.close(timeout_s=0)
    assert raw.calls == ["send_offsets"]
    raw.release.set()


def test_an_answer_in_time_passes_through_and_errors_keep_their_kind() -> None:
    raw = _RawStandIn()
    producer = _producer(raw)
    producer.send_offsets(OFFSETS, object(), timeout_s=5)
    producer.commit(timeout_s=5)
    assert raw.calls == ["send_offsets", "commit"]

    fenced = _producer(_RawStandIn(error=KafkaError(KafkaError._FENCED, fatal=True)))
    with pytest.raises(KafkaClientError) as caught:
        fenced.send_offsets(OFFSETS, object(), timeout_s=5)
    assert caught.value.kind is KafkaErrorKind.FENCED
    fenced.close(timeout_s=0)  # not stuck: closed as usual
