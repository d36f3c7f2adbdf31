"""librdkafka's synchronous commit waits for the group coordinator without a timeout; the layer
bounds it from outside (``foundation.kafka.confluent.bounded``): a commit not answered in time is
a retriable TIMEOUT, at most one is left blocked, and a consumer whose commit is still blocked is
dropped without the close that would wait for it. No broker: a stand-in for the raw consumer
(the real outage: tests/integration/test_commit_outage.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Partition
from foundation.kafka.confluent.consumer import ConfluentConsumer


class _RawStandIn:
    """Answers ``commit`` like a ``confluent_kafka.Consumer``: ``hang`` blocks it until
    ``release`` is set; ``errors`` are raised by the next calls, one each."""

    def __init__(self, hang: bool = False, errors: list[KafkaError] | None = None) -> None:
        self.hang, self.errors = hang, list(errors or [])
        self.release = threading.Event()
        self.commits: list[list[TopicPartition] | None] = []
        self.closed = False

    def commit(self, offsets: list[TopicPartition] | None = None, **kwargs: Any) -> None:
        assert kwargs == {"asynchronous": False}
        self.commits.append(offsets)
        if self.hang:
            self.release.wait()
        if self.errors:
            raise KafkaException(self.errors.pop(0))

    def close(self) -> None:
        self.closed = True


def _consumer(raw: _RawStandIn) -> ConfluentConsumer:
    return ConfluentConsumer(raw, 500, from_earliest=True)  # type: ignore[arg-type]


OFFSETS = {Partition("events", 0): 42}


def test_a_commit_without_an_answer_is_a_retriable_timeout_and_blocks_no_other() -> None:
    raw = _RawStandIn(hang=True)
    consumer = _consumer(raw)
    with pytest.raises(KafkaClientError, match="no answer") as caught:
        consumer.commit(OFFSETS, timeout_s=0.2)
    assert caught.value.kind is KafkaErrorKind.TIMEOUT and caught.value.retriable
    # The next commit waits for the blocked one (its own bound) and starts no second one.
    with pytest.raises(KafkaClientError, match="earlier one still waits") as again:
        consumer.commit({Partition("events", 0): 50}, timeout_s=0.2)
    assert again.value.kind is KafkaErrorKind.TIMEOUT and again.value.retriable
    assert len(raw.commits) == 1
    consumer.close()  # librdkafka's close would wait for the blocked commit: not called
    assert not raw.closed

    raw.release.set()  # the coordinator answers: the next commit goes through, newest last
    consumer.commit({Partition("events", 0): 50}, timeout_s=5)
    assert [[(tp.partition, tp.offset) for tp in c or []] for c in raw.commits] == [
        [(0, 42)],
        [(0, 50)],
    ]
    consumer.close()
    assert raw.closed


def test_an_answer_in_time_passes_through_and_errors_keep_their_kind() -> None:
    moving = KafkaError(KafkaError.NOT_COORDINATOR)
    raw = _RawStandIn(errors=[moving, moving])  # retried, as kafka-python retries it
    consumer = _consumer(raw)
    consumer.commit(OFFSETS, timeout_s=5)
    assert len(raw.commits) == 3

    # Still no coordinator when the time is up (librdkafka's _WAIT_COORD after a deferred
    # commit's session timeout): the caller is told it may retry, not that commits are broken.
    waiting = _RawStandIn(errors=[KafkaError(KafkaError._WAIT_COORD)] * 1000)
    with pytest.raises(KafkaClientError, match="Waiting for coordinator") as later:
        _consumer(waiting).commit(OFFSETS, timeout_s=0.3)
    assert later.value.retriable

    nothing = _RawStandIn(errors=[KafkaError(KafkaError._NO_OFFSET)])
    _consumer(nothing).commit(timeout_s=5)  # nothing consumed since the last: nothing to do
    assert nothing.commits == [None]

    refused = _RawStandIn(errors=[KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)])
    with pytest.raises(KafkaClientError) as caught:
        _consumer(refused).commit(OFFSETS, timeout_s=5)
    assert caught.value.kind is KafkaErrorKind.PERMISSION and not caught.value.retriable


def test_a_late_answer_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    # Nobody waits for a commit that timed out: what it finally says (a refusal, say) is logged.
    raw = _RawStandIn(hang=True)
    consumer = _consumer(raw)
    with pytest.raises(KafkaClientError, match="no answer"):
        consumer.commit(OFFSETS, timeout_s=0.2)
    raw.errors.append(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))
    with caplog.at_level("WARNING", logger="foundation.kafka.confluent.bounded"):
        raw.release.set()
        consumer.commit({Partition("events", 0): 50}, timeout_s=5)  # waits for the late one first
    late = [r.getMessage() for r in caplog.records if "after its caller gave up" in r.getMessage()]
    assert len(late) == 1 and "GROUP_AUTHORIZATION_FAILED" in late[0]
    consumer.close()
