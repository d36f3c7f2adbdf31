"""The project's error hierarchy: one root, specific subclasses.

Third-party errors are wrapped (``raise ... from exc``) so callers only need to know these.
"""

from __future__ import annotations


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
    version, incompatible, smoke) used as the refusal metric label.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message
