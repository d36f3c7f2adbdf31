"""Riding out a broker outage: one WARNING per outage, INFO when it ends, growing pauses; errors
that retrying cannot fix end the service with advice; kafka-python's reconnect noise is thinned."""

from __future__ import annotations

import logging

import pytest

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka import outage as outage_module
from foundation.kafka.outage import KafkaFatalError, KafkaRepeats, Outage

K = KafkaErrorKind


def _error(kind: KafkaErrorKind, retriable: bool = True) -> KafkaClientError:
    return KafkaClientError(kind, f"a {kind.name} error", retriable=retriable)


def test_one_warning_per_outage_and_info_when_back(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(logging.getLogger("t"))
    with caplog.at_level(logging.INFO, "t"):
        pauses = [outage.failed(_error(K.UNAVAILABLE), "sending") for _ in range(20)]
        outage.recovered()
        outage.recovered()  # no outage: nothing to say
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO"], caplog.text
    assert pauses[0] < pauses[3] and max(pauses) == 5.0, "pauses grow, up to a few seconds"


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (_error(K.AUTH, retriable=False), "TWINCAST_SASL_PASSWORD"),
        (_error(K.PERMISSION, retriable=False), "ACLs"),
    ],
)
def test_what_retrying_cannot_fix_ends_with_advice(error: Exception, advice: str) -> None:
    with pytest.raises(KafkaFatalError, match=advice):
        Outage(logging.getLogger("t")).failed(error, "reading events")


def test_a_topic_missing_for_long_ends_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    outage = Outage(logging.getLogger("t"))
    now = [1000.0]
    monkeypatch.setattr("foundation.kafka.outage.time.monotonic", lambda: now[0])
    outage.failed(_error(K.UNKNOWN_TOPIC), "sending")  # a restarting broker says so too
    now[0] += outage_module.MISSING_TOPIC_LIMIT_S / 2
    outage.failed(_error(K.UNKNOWN_TOPIC), "sending")
    now[0] += outage_module.MISSING_TOPIC_LIMIT_S
    with pytest.raises(KafkaFatalError, match="twincast topics"):
        outage.failed(_error(K.UNKNOWN_TOPIC), "sending")
    outage.failed(_error(K.TIMEOUT), "sending")  # another error: the clock starts again


def test_kafka_reconnect_noise_is_thinned_to_one_line_a_minute() -> None:
    repeats = KafkaRepeats(every_s=60)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, "f", 1, msg, ("x",), None)

    passed = [repeats.filter(record("kafka.net.connection", "%s: lost")) for _ in range(100)]
    assert passed.count(True) == 1
    assert repeats.filter(record("kafka.cluster", "%s: lost")), "another logger: its own line"
    assert all(repeats.filter(record("worker.service", "%s")) for _ in range(3)), "ours: all"


@pytest.mark.parametrize(
    ("kind", "fatal"),
    [
        (KafkaErrorKind.AUTH, True),
        (KafkaErrorKind.PERMISSION, True),
        (KafkaErrorKind.TOO_LARGE, True),
        (KafkaErrorKind.CONFIG, True),
        (KafkaErrorKind.TIMEOUT, False),
        (KafkaErrorKind.UNAVAILABLE, False),
        (KafkaErrorKind.UNKNOWN_TOPIC, False),
        (KafkaErrorKind.OTHER, False),  # e.g. a commit refused after the group moved on
    ],
)
def test_client_errors_are_classified_by_kind(kind: KafkaErrorKind, fatal: bool) -> None:
    error = KafkaClientError(kind, "x", retriable=False)
    outage = Outage(logging.getLogger("t"))
    if fatal:
        with pytest.raises(KafkaFatalError, match=outage_module.advice(error)):
            outage.failed(error, "sending")
    else:
        assert outage.failed(error, "sending") > 0
