"""kafka-python's errors translated into ``KafkaClientError``, by kind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kafka import errors as kafka_errors
from kafka.errors import KafkaError

from foundation.errors import KafkaClientError, KafkaErrorKind

K = KafkaErrorKind
# First match wins: subclasses before their bases.
_KINDS: tuple[tuple[type[KafkaError], KafkaErrorKind], ...] = (
    (kafka_errors.KafkaTimeoutError, K.TIMEOUT),  # also "Unable to bootstrap"
    (kafka_errors.RequestTimedOutError, K.TIMEOUT),
    (kafka_errors.ProducerFencedError, K.FENCED),
    (kafka_errors.SaslAuthenticationFailedError, K.AUTH),
    (kafka_errors.UnsupportedSaslMechanismError, K.AUTH),
    (kafka_errors.AuthorizationError, K.PERMISSION),  # topic, group, cluster, transactional id
    (kafka_errors.MessageSizeTooLargeError, K.TOO_LARGE),
    (kafka_errors.UnknownTopicOrPartitionError, K.UNKNOWN_TOPIC),
    (kafka_errors.CorruptRecordError, K.CORRUPT_RECORD),
    (kafka_errors.KafkaConfigurationError, K.CONFIG),
    (kafka_errors.KafkaConnectionError, K.UNAVAILABLE),
    (kafka_errors.NodeNotReadyError, K.UNAVAILABLE),
)


def kind_of(exc: BaseException) -> KafkaErrorKind:
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return K.OTHER


def translate(exc: KafkaError) -> KafkaClientError:
    """The twincast error for a kafka-python error (raise it ``from exc``); same message."""
    return KafkaClientError(kind_of(exc), str(exc), retriable=bool(exc.retriable))


def from_code(code: int, message: str) -> KafkaClientError:
    """The twincast error for an error code in a broker's answer (admin responses)."""
    cls = kafka_errors.for_code(code)
    return KafkaClientError(kind_of(cls()), message, retriable=bool(cls.retriable))


@contextmanager
def translated() -> Iterator[None]:
    """Raise kafka-python's errors inside as ``KafkaClientError`` (``from`` the original)."""
    try:
        yield
    except KafkaError as exc:
        raise translate(exc) from exc
