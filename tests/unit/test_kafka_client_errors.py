"""kafka-python's errors reach services as KafkaClientError of the right kind (no broker)."""

from __future__ import annotations

import pytest
from kafka import TopicPartition
from kafka import errors as kafka_errors

from foundation.errors import KafkaClientError, KafkaErrorKind, TwincastError
from foundation.kafka.client import Partition
from foundation.kafka.kafka_python.errors import from_code, translate, translated
from foundation.kafka.kafka_python.producer import KafkaPythonProducer

K = KafkaErrorKind


@pytest.mark.parametrize(
    ("error", "kind", "retriable"),
    [
        (kafka_errors.KafkaTimeoutError("Unable to bootstrap"), K.TIMEOUT, True),
        (kafka_errors.RequestTimedOutError(), K.TIMEOUT, True),
        (kafka_errors.ProducerFencedError(), K.FENCED, False),
        (kafka_errors.SaslAuthenticationFailedError(), K.AUTH, False),
        (kafka_errors.UnsupportedSaslMechanismError(), K.AUTH, False),
        (kafka_errors.TopicAuthorizationFailedError(), K.PERMISSION, False),
        (kafka_errors.GroupAuthorizationFailedError(), K.PERMISSION, False),
        (kafka_errors.TransactionalIdAuthorizationFailedError(), K.PERMISSION, False),
        (kafka_errors.MessageSizeTooLargeError(), K.TOO_LARGE, False),
        (kafka_errors.UnknownTopicOrPartitionError(), K.UNKNOWN_TOPIC, True),
        (kafka_errors.CorruptRecordError("invalid record structure"), K.CORRUPT_RECORD, False),
        (kafka_errors.KafkaConfigurationError(), K.CONFIG, False),
        (kafka_errors.KafkaConnectionError("refused"), K.UNAVAILABLE, True),
        (kafka_errors.NodeNotReadyError(), K.UNAVAILABLE, True),
        (kafka_errors.CommitFailedError(), K.OTHER, False),
        (kafka_errors.NotLeaderForPartitionError(), K.OTHER, True),
    ],
)
def test_each_error_gets_its_kind_and_keeps_its_retriable_flag(
    error: kafka_errors.KafkaError, kind: KafkaErrorKind, retriable: bool
) -> None:
    translated_error = translate(error)
    assert isinstance(translated_error, TwincastError)
    assert (translated_error.kind, translated_error.retriable) == (kind, retriable)
    assert str(translated_error) == str(error), "the message is kept"


def test_translated_raises_from_the_original() -> None:
    original = kafka_errors.KafkaTimeoutError("flush timed out")
    with pytest.raises(KafkaClientError) as raised, translated():
        raise original
    assert raised.value.kind is K.TIMEOUT and raised.value.__cause__ is original


def test_other_exceptions_pass_through_untouched() -> None:
    with pytest.raises(ValueError), translated():
        raise ValueError("not Kafka's")


def test_a_broker_answer_code_is_translated() -> None:
    error = from_code(kafka_errors.TopicAuthorizationFailedError.errno, "cannot create t: denied")
    assert (error.kind, str(error)) == (K.PERMISSION, "cannot create t: denied")


class _Refusing:
    """A kafka-python producer whose every call fails the way it does with the broker away."""

    def send(self, *args: object, **kwargs: object) -> None:
        raise kafka_errors.KafkaTimeoutError("Failed to update metadata after 60.0 secs.")

    def flush(self, timeout: float | None = None) -> None:
        raise kafka_errors.KafkaTimeoutError("Timeout after waiting for 30 secs.")


def test_the_producer_wrapper_raises_only_twincast_errors() -> None:
    producer = KafkaPythonProducer(_Refusing())
    with pytest.raises(KafkaClientError, match="metadata") as raised:
        producer.send("t", b"k", b"v")
    assert raised.value.kind is K.TIMEOUT
    with pytest.raises(KafkaClientError, match="30 secs"):
        producer.flush(30)


def test_a_partition_is_interchangeable_with_kafka_pythons() -> None:
    assert Partition("t", 3) == TopicPartition("t", 3)
    assert {TopicPartition("t", 3): 7}[Partition("t", 3)] == 7
