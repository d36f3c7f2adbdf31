"""The bound on unacknowledged sends (``worker.in_flight``), with scripted send handles: what is
kept, what is waited for, and what a wait that gets no answer does."""

from __future__ import annotations

import logging

import pytest

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import SendHandle
from foundation.kafka.outage import Outage
from worker.delivery import Delivery
from worker.in_flight import InFlight

K = KafkaErrorKind
_FAILURE = KafkaClientError(K.OTHER, "NotLeaderForPartitionError", retriable=True)


class _Handle:
    """A send in flight until it is waited for (or ``answer`` is called); then acknowledged,
    or failed with ``outcome``. ``answers`` False: waiting for it times out."""

    def __init__(self, outcome: KafkaClientError | None = None, answers: bool = True) -> None:
        self.outcome, self.answers = outcome, answers
        self.done = False
        self.waited = 0

    def answer(self) -> None:
        self.done = True

    def failed(self) -> bool:
        return self.done and self.outcome is not None

    def acknowledged(self) -> bool:
        return self.done and self.outcome is None

    def error(self) -> BaseException | None:
        return self.outcome if self.done else None

    def offset(self, timeout_s: float) -> int:
        self.waited += 1
        if not self.answers:
            raise KafkaClientError(K.TIMEOUT, f"no answer in {timeout_s}s", retriable=True)
        self.done = True
        if self.outcome is not None:
            raise self.outcome
        return 0


def _handles(n: int) -> list[_Handle]:
    return [_Handle() for _ in range(n)]


def test_acknowledged_sends_are_dropped_from_the_front() -> None:
    handles = _handles(5)
    in_flight = InFlight(bound=10)
    for handle in (handles[0], handles[1], handles[3]):
        handle.answer()
    in_flight.add(handles)
    assert len(in_flight) == 3, "the two oldest dropped; the 4th waits behind the 3rd"
    handles[2].answer()
    in_flight.add([])
    assert len(in_flight) == 1 and in_flight.take() == [handles[4]]


def test_past_the_bound_the_oldest_are_waited_for_until_back_under_it() -> None:
    handles = _handles(25)
    in_flight = InFlight(bound=10)
    in_flight.add(handles)
    assert len(in_flight) == 25, "adding never waits"
    in_flight.wait_under_bound(timeout_s=1.0)
    assert len(in_flight) == 10
    assert [h.waited for h in handles] == [1] * 15 + [0] * 10, "the oldest, once each"
    assert in_flight.take() == handles[15:] and len(in_flight) == 0


def test_a_failed_send_is_kept_for_the_checkpoint_and_not_raised() -> None:
    failing = _Handle(_FAILURE)
    handles: list[_Handle] = [failing, *_handles(4)]
    in_flight = InFlight(bound=2)
    in_flight.add(handles)
    in_flight.wait_under_bound(timeout_s=1.0)
    kept = in_flight.take()
    assert kept[0] is failing and kept[0].error() is _FAILURE
    assert len(kept) == 3, "the failed one and the two newest (at the bound)"


def test_no_answer_in_time_raises_the_timeout() -> None:
    silent = _Handle(answers=False)
    in_flight = InFlight(bound=1)
    in_flight.add([silent, _Handle()])
    with pytest.raises(KafkaClientError) as raised:
        in_flight.wait_under_bound(timeout_s=0.5)
    assert raised.value.kind is K.TIMEOUT
    assert len(in_flight) == 2, "nothing forgotten: the checkpoint still checks them"


class _Producer:
    """Hands out the next scripted handle per send."""

    def __init__(self, handles: list[_Handle]) -> None:
        self.handles = iter(handles)

    def send(self, *args: object, **kwargs: object) -> _Handle:
        return next(self.handles)

    def flush(self, timeout_s: float | None = None) -> None:
        pass


def test_a_delivery_keeps_at_most_its_bound_after_each_poll() -> None:
    polls = [_handles(7) for _ in range(6)]
    dead_letter = _Handle()
    delivery = Delivery(_Producer([dead_letter]), 10, Outage(logging.getLogger("t")))  # type: ignore[arg-type]
    delivery.send("dlq", b"k", b"v")
    for poll in polls:
        sent: list[SendHandle] = list(poll)
        delivery.track(sent)
        assert len(delivery.in_flight) <= 10
    assert dead_letter.waited == 1, "the oldest send (a dead letter) was waited for first"
    assert sum(h.waited for poll in polls for h in poll) == 6 * 7 + 1 - 10 - 1
