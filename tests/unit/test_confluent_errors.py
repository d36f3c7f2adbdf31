"""librdkafka's errors become KafkaClientError of the right kind, without a broker."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.confluent.errors import translate, translate_error, translated

K = KafkaErrorKind


@pytest.mark.parametrize(
    ("code", "kind", "retriable"),
    [
        (KafkaError._TIMED_OUT, K.TIMEOUT, True),
        (KafkaError._TRANSPORT, K.UNAVAILABLE, True),
        (KafkaError._ALL_BROKERS_DOWN, K.UNAVAILABLE, True),
        (KafkaError.PRODUCER_FENCED, K.FENCED, False),
        (KafkaError.SASL_AUTHENTICATION_FAILED, K.AUTH, False),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, K.PERMISSION, False),
        (KafkaError.MSG_SIZE_TOO_LARGE, K.TOO_LARGE, False),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, K.UNKNOWN_TOPIC, True),
        (KafkaError.INVALID_MSG, K.CORRUPT_RECORD, True),
        (KafkaError._INVALID_ARG, K.CONFIG, False),
        (KafkaError.NOT_COORDINATOR, K.OTHER, True),
    ],
)
def test_each_code_has_its_kind(code: int, kind: KafkaErrorKind, retriable: bool) -> None:
    error = KafkaError(code, retriable=retriable)
    translated_error = translate_error(error, "doing it")
    assert translated_error.kind is kind
    assert translated_error.retriable is (retriable or kind in (K.TIMEOUT, K.UNAVAILABLE))
    assert str(translated_error).startswith("doing it: ")


def test_a_fatal_error_is_never_retriable() -> None:
    error = KafkaError(KafkaError._FENCED, fatal=True, retriable=True)
    assert not translate_error(error).retriable


def test_the_context_manager_wraps_and_keeps_the_cause() -> None:
    original = KafkaException(KafkaError(KafkaError._TIMED_OUT))
    with pytest.raises(KafkaClientError) as raised, translated("polling"):
        raise original
    assert raised.value.kind is K.TIMEOUT and raised.value.__cause__ is original
    with pytest.raises(KafkaClientError) as config, translated("creating"):
        raise ValueError("No such configuration property: x")
    assert config.value.kind is K.CONFIG
    assert translate(KafkaException("no error object")).kind is K.OTHER


def test_a_fatal_error_hidden_behind_a_callbacks_system_error_is_raised_by_its_kind() -> None:
    """confluent-kafka raises a fatal error from poll/flush but still runs a delivery callback
    after it, which fails with a SystemError caused by it: the fatal error is what counts."""
    fatal = KafkaException(KafkaError(KafkaError._FENCED, fatal=True))
    with pytest.raises(KafkaClientError) as raised, translated("flush"):
        raise SystemError("<function delivered> returned a result with an exception set") from fatal
    assert raised.value.kind is K.FENCED and raised.value.__cause__ is fatal
    with pytest.raises(SystemError), translated("flush"):
        raise SystemError("anything else")
