"""confluent-kafka's records through the layer, without a broker: a message whose headers
confluent-kafka cannot give to Python is readable but for its headers, its ``Message.headers()``
is called once only (a second call would crash the interpreter), and the worker and the trainer
refuse that record alone."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import Message

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.confluent.record import Record
from foundation.kafka.unreadable import UNREADABLE, unreadable_headers
from foundation.settings.worker import WorkerSettings
from schemas import DeadLetter, Event, decode, encode
from tests.unit.test_state_validation import TS
from trainer.consume import to_consumed
from worker.records import EventValidator, split_at_controls


class _Message:
    """What confluent-kafka 2.x's ``Message`` does for a header name that is not UTF-8: the
    first ``headers()`` raises SystemError caused by the UnicodeDecodeError; after that it would
    return a list holding a NULL name, which crashes whoever unpacks it."""

    def __init__(self) -> None:
        self.headers_calls = 0

    def headers(self) -> object:
        self.headers_calls += 1
        if self.headers_calls > 1:
            pytest.fail("Message.headers() called again: the real one would crash now")
        decoding = UnicodeDecodeError("utf-8", b"\xff\xfe", 0, 1, "invalid start byte")
        try:
            raise decoding
        except UnicodeDecodeError as exc:
            raise SystemError("<method 'headers'> returned a result with an exception set") from exc

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"s1"

    def value(self) -> bytes:
        return b'{"series_id": "s1"}'


def _unreadable() -> tuple[Record, _Message]:
    message = _Message()
    return Record(message), message  # type: ignore[arg-type]  # a stand-in for Message


def test_unreadable_headers_raise_every_time_but_are_read_once() -> None:
    record, message = _unreadable()
    for _ in range(3):
        with pytest.raises(KafkaClientError) as raised:
            _ = record.headers
        assert raised.value.kind is KafkaErrorKind.CORRUPT_RECORD and not raised.value.retriable
        assert "a header name is not UTF-8" in str(raised.value)
        assert "can't decode byte 0xff" in str(raised.value)
        assert isinstance(raised.value.__cause__, SystemError)
    assert message.headers_calls == 1
    assert (record.partition, record.offset, record.key) == (2, 41, b"s1"), "the rest reads"
    assert record.value == b'{"series_id": "s1"}'


def test_unreadable_headers_are_told_apart_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    record, message = _unreadable()
    with caplog.at_level(logging.WARNING):
        why = unreadable_headers(record)
    assert why is not None and "a header name is not UTF-8" in why
    assert "1 unreadable records skipped: partition 2 offsets 41-41: " in caplog.text
    assert unreadable_headers(record) is not None and message.headers_calls == 1


def test_readable_headers_are_read_once_as_bytes() -> None:
    message = Message(topic="events", headers=[("a", b"1"), ("b", "2"), ("c", None)])
    record = Record(message)
    assert record.headers == [("a", b"1"), ("b", b"2"), ("c", None)]
    assert record.headers is record.headers, "read once, then kept"
    assert unreadable_headers(record) is None
    assert Record(Message(topic="events")).headers is None


def _event_record(offset: int, series: str = "s1") -> Record:
    value = encode(Event(series_id=series, ts=TS, value=1.0))
    return Record(Message(topic="events", partition=2, offset=offset, key=b"s1", value=value))


def test_the_worker_refuses_that_record_only_and_the_trainer_passes_it() -> None:
    """Between two valid events: one run (it is no control), one dead letter with its offset,
    key and value, both events valid; the trainer keeps its position without a point."""
    unreadable, message = _unreadable()
    records = [_event_record(40), unreadable, _event_record(42)]
    (run, control), *more = split_at_controls(records)
    assert (run, control, more) == (records, None, [])
    valid, dead = EventValidator(WorkerSettings()).validate(records)
    assert valid.offsets == [40, 42]
    assert dead.reasons == {UNREADABLE: 1}
    (key, letter_bytes), *_ = dead.messages
    letter = decode(DeadLetter, letter_bytes)
    assert (key, letter.reason, letter.source_offset) == (b"s1", UNREADABLE, 41)
    assert "a header name is not UTF-8" in letter.error
    assert letter.raw() == b'{"series_id": "s1"}'
    consumed = to_consumed(records, n_features=1, max_bytes=1 << 20)
    assert [(c.offset, c.point is None, c.bad_reason) for c in consumed] == [
        (40, False, None),
        (41, True, UNREADABLE),
        (42, False, None),
    ]
    assert message.headers_calls == 1
