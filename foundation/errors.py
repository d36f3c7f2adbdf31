"""The project's error hierarchy: one root, specific subclasses.

Third-party errors are wrapped (``raise ... from exc``) so callers only need to know these.
"""

from __future__ import annotations

from enum import StrEnum


class TwincastError(Exception):
    """Root of every error twincast raises on purpose."""


class ConfigError(TwincastError):
    """Settings are missing, malformed or contradict each other."""


class SchemaError(TwincastError):
    """A message does not satisfy its wire contract.

    ``reason`` is a short stable code (used as the dead-letter reason and metric label);
    the message text says what exactly is wrong, for a human.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message


class KafkaUnavailableError(TwincastError):
    """The Kafka cluster could not be reached or did not answer in time."""


class TopicError(TwincastError):
    """A topic could not be created or does not have the configuration twincast needs."""


class LocalKafkaError(TwincastError):
    """The local development broker could not be resolved, formatted, started or stopped."""


class ArtifactError(TwincastError):
    """A model artifact is malformed, inconsistent or fails its checksum; it must not be served.

    ``reason`` is a short stable code (format, manifest, arrays, shape, non_finite, checksum,
    version, incompatible, smoke, series) used as the refusal metric label.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message


class KafkaErrorKind(StrEnum):
    """What went wrong with a Kafka call, whichever client library made it."""

    TIMEOUT = "timeout"  # no answer in time (a request, a flush, a metadata wait)
    UNAVAILABLE = "unavailable"  # no connection to a broker
    FENCED = "fenced"  # another producer took over this transactional id
    AUTH = "auth"  # the login was refused
    PERMISSION = "permission"  # an ACL refused a topic, group, cluster or transactional id
    TOO_LARGE = "too_large"  # a message larger than the broker or the client takes
    UNKNOWN_TOPIC = "unknown_topic"  # the topic or partition does not exist (yet)
    CORRUPT_RECORD = "corrupt_record"  # a fetched record the client cannot parse
    CONFIG = "config"  # the client's own settings are wrong
    OTHER = "other"


class KafkaClientError(TwincastError):
    """A Kafka client call failed; the client library's own error is the ``__cause__``.

    ``retriable`` is the client library's own judgement (a retry of the same call may succeed);
    ``foundation.kafka.outage`` decides by ``kind`` what a service waits out.
    """

    def __init__(self, kind: KafkaErrorKind, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retriable = retriable
