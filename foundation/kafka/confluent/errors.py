"""librdkafka's errors (through confluent-kafka) translated into ``KafkaClientError``, by kind;
the error callback every client gets; and the one metadata question consumers and producers both
ask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.refused_logins import REFUSED_LOGINS

K = KafkaErrorKind
E = KafkaError
_KINDS: dict[int, KafkaErrorKind] = {
    E._TIMED_OUT: K.TIMEOUT,
    E.REQUEST_TIMED_OUT: K.TIMEOUT,
    E._MSG_TIMED_OUT: K.TIMEOUT,
    E._TIMED_OUT_QUEUE: K.TIMEOUT,
    E._FENCED: K.FENCED,
    E.PRODUCER_FENCED: K.FENCED,
    E.INVALID_PRODUCER_EPOCH: K.FENCED,
    E._AUTHENTICATION: K.AUTH,
    E.SASL_AUTHENTICATION_FAILED: K.AUTH,
    E.UNSUPPORTED_SASL_MECHANISM: K.AUTH,
    E.TOPIC_AUTHORIZATION_FAILED: K.PERMISSION,
    E.GROUP_AUTHORIZATION_FAILED: K.PERMISSION,
    E.CLUSTER_AUTHORIZATION_FAILED: K.PERMISSION,
    E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED: K.PERMISSION,
    E.MSG_SIZE_TOO_LARGE: K.TOO_LARGE,
    E.INVALID_MSG_SIZE: K.TOO_LARGE,
    E.UNKNOWN_TOPIC_OR_PART: K.UNKNOWN_TOPIC,
    E._UNKNOWN_TOPIC: K.UNKNOWN_TOPIC,
    E._UNKNOWN_PARTITION: K.UNKNOWN_TOPIC,
    E.INVALID_MSG: K.CORRUPT_RECORD,  # the broker's CORRUPT_MESSAGE (2)
    E._BAD_MSG: K.CORRUPT_RECORD,
    E._INVALID_ARG: K.CONFIG,
    E._TRANSPORT: K.UNAVAILABLE,
    E._ALL_BROKERS_DOWN: K.UNAVAILABLE,
    E._RESOLVE: K.UNAVAILABLE,
}
# librdkafka marks few of these retriable itself; twincast waits them out like kafka-python's.
_RETRIABLE_KINDS = {K.TIMEOUT, K.UNAVAILABLE}
_LOGIN_REFUSED = {code for code, kind in _KINDS.items() if kind is K.AUTH}


def on_error(error: KafkaError) -> None:
    """librdkafka's ``error_cb``, run by whichever call serves the client's callbacks (poll,
    flush, a consumer's close). A refused login reaches the application only this way (the call
    that needed the broker just times out), so it is told to ``REFUSED_LOGINS``, as kafka-python's
    log line is: a service then stops with the same message on either client. Other errors are
    dropped here as confluent-kafka drops them without a callback: librdkafka has logged them."""
    if error.code() in _LOGIN_REFUSED:
        REFUSED_LOGINS.refused(str(error.str()))


def translate_error(error: KafkaError, context: str = "") -> KafkaClientError:
    """The twincast error for one of librdkafka's (raise it ``from`` the KafkaException)."""
    kind = _KINDS.get(error.code(), K.OTHER)
    retriable = bool(error.retriable()) or kind in _RETRIABLE_KINDS
    message = f"{context}: {error.str()}" if context else str(error.str())
    return KafkaClientError(kind, message, retriable=retriable and not error.fatal())


def translate(exc: KafkaException, context: str = "") -> KafkaClientError:
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    if error is None:
        return KafkaClientError(
            K.OTHER, f"{context}: {exc}" if context else str(exc), retriable=False
        )
    return translate_error(error, context)


@contextmanager
def translated(context: str = "") -> Iterator[None]:
    """Raise confluent-kafka's errors inside as ``KafkaClientError`` (``from`` the original);
    a ``ValueError``/``TypeError`` it raises on bad configuration is a CONFIG error."""
    try:
        yield
    except KafkaException as exc:
        raise translate(exc, context) from exc
    except SystemError as exc:
        # confluent-kafka raises a fatal error (this transactional id fenced, ...) from the
        # poll or flush that serves it, but still runs a delivery callback after it set the
        # error; that call fails with a SystemError caused by the fatal error. Raise that.
        if isinstance(exc.__cause__, KafkaException):
            raise translate(exc.__cause__, context) from exc.__cause__
        raise
    except (ValueError, TypeError) as exc:
        message = f"{context}: {exc}" if context else str(exc)
        raise KafkaClientError(K.CONFIG, message, retriable=False) from exc


METADATA_WAIT_S = 30.0


def partitions_of(client: Consumer | Producer, topic: str) -> set[int]:
    """The topic's partition numbers; empty if the broker does not know the topic."""
    try:
        with translated(f"metadata of {topic}"):
            metadata = client.list_topics(topic, timeout=METADATA_WAIT_S)
    except KafkaClientError:
        # Run the error callback, which may know why (a refused login). Only a producer's:
        # a consumer's poll could return a record here (its close serves them instead).
        if isinstance(client, Producer):
            client.poll(0)
        raise
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return set()
    return set(found.partitions)
