"""Settings shared by every twincast service.

Each service has one frozen settings object, read from ``TWINCAST_*`` environment variables at
its entry point only (never deep inside the code). Unknown keyword arguments are rejected.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.settings.budget import ArtifactLimits

ENV_PREFIX = "TWINCAST_"
MAX_EVENT_BYTES = 64 * 1024  # default of the worker's and the trainer's TWINCAST_MAX_EVENT_BYTES


def unknown_variables(environ: Mapping[str, str], known: Collection[str]) -> list[str]:
    """One sentence per ``TWINCAST_*`` variable that no twincast setting reads.

    pydantic-settings silently ignores a misspelt variable, so a typo would leave the default in
    force. Names are compared case-insensitively, as pydantic-settings reads them.

    >>> unknown_variables({"TWINCAST_EVENT_TOPIC": "x", "HOME": "/"}, ["TWINCAST_EVENTS_TOPIC"])
    ['TWINCAST_EVENT_TOPIC is not a twincast setting; did you mean TWINCAST_EVENTS_TOPIC?']
    """
    valid = {name.upper() for name in known}
    # Compared without the prefix every name shares, which would make any two look alike.
    suffixes = [name.removeprefix(ENV_PREFIX) for name in sorted(valid)]
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in valid:
            continue
        close = _closest(upper.removeprefix(ENV_PREFIX), suffixes)
        hint = f"did you mean {ENV_PREFIX}{close}?" if close else "see `twincast settings`"
        problems.append(f"{name} is not a twincast setting; {hint}")
    return problems


def _closest(suffix: str, suffixes: list[str]) -> str | None:
    """The most similar spelling, else the name sharing most words (PUBLISH_GATE -> GATE)."""
    close = difflib.get_close_matches(suffix, suffixes, 1, 0.6)
    if close:
        return close[0]
    words = set(suffix.split("_"))

    def likeness(candidate: str) -> tuple[int, float]:
        shared = len(words & set(candidate.split("_")))
        return shared, difflib.SequenceMatcher(None, suffix, candidate).ratio()

    best = max(suffixes, key=likeness, default=None)
    return best if best is not None and likeness(best)[0] > 0 else None


class TwincastSettings(BaseSettings):
    """Base of every service's settings: frozen, typed, env-readable, strict about keys."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")


class KafkaSettings(TwincastSettings):
    """How to reach Kafka and which topics to use; every service's settings extend this."""

    bootstrap_servers: str = Field(
        "localhost:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    kafka_client: Literal["kafka-python", "confluent-kafka"] = Field(
        "kafka-python",
        description="Kafka client library: kafka-python (pure Python, the default) or "
        "confluent-kafka (librdkafka, faster; install the extra twincast[confluent]).",
    )
    client_id_prefix: str = Field("twincast", description="Prefix of every Kafka client id.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol of every client."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when the protocol is SASL_*."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (kept secret).")
    ssl_cafile: str | None = Field(None, description="CA bundle for TLS connections.")
    ssl_certfile: str | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: str | None = Field(None, description="Client private key (PEM) for mutual TLS.")
    ssl_password: SecretStr | None = Field(None, description="Password of the client key.")
    ssl_check_hostname: bool = Field(
        True, description="Check that the broker's certificate names the host connected to."
    )
    reconnect_backoff_max_ms: int = Field(
        1000,
        ge=50,
        description="Longest wait between reconnect attempts to a broker that went away "
        "(kafka-python's own default is 30 s; Kafka's Java clients use 1 s).",
    )

    max_step_flops: int = Field(
        2_000_000,
        ge=1000,
        description="Model artifacts whose step costs more multiply-adds per series than this are "
        "refused by workers and never published by the trainer (a replay swap costs "
        "replay_window x series x this).",
    )
    max_version_jump: int = Field(
        1_000_000,
        ge=1,
        description="An artifact whose version is more than this ahead of the current one is "
        "refused (so one record cannot freeze every later version out).",
    )

    events_topic: str = Field("twincast.events", description="Input events, key = series_id.")
    weights_topic: str = Field("twincast.weights", description="Versioned model artifacts.")
    forecasts_topic: str = Field("twincast.forecasts", description="One forecast per event.")
    dlq_topic: str = Field("twincast.dlq", description="Dead letters: bad input and why.")
    state_topic: str = Field("twincast.state", description="Compacted per-series state.")

    def topic_names(self) -> dict[str, str]:
        """The five topics by role."""
        return {
            "events": self.events_topic,
            "weights": self.weights_topic,
            "forecasts": self.forecasts_topic,
            "dlq": self.dlq_topic,
            "state": self.state_topic,
        }

    def artifact_limits(self) -> ArtifactLimits:
        """What workers accept and the trainer may publish: the same for both."""
        return ArtifactLimits(self.max_step_flops, self.max_version_jump)

    def client_config(self, role: str) -> dict[str, Any]:
        """Keyword arguments common to every kafka-python client of this service."""
        config: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.bootstrap_servers.split(",")],
            "client_id": f"{self.client_id_prefix}-{role}",
            "security_protocol": self.security_protocol,
            "reconnect_backoff_max_ms": self.reconnect_backoff_max_ms,
        }
        if self.sasl_mechanism is not None:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                config["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            config["ssl_check_hostname"] = self.ssl_check_hostname
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, name) is not None:
                    config[name] = getattr(self, name)
            if self.ssl_password is not None:
                config["ssl_password"] = self.ssl_password.get_secret_value()
        return config


class TopicSettings(KafkaSettings):
    """Settings of ``twincast topics``: how the five topics are created."""

    partitions: int = Field(
        6, ge=1, description="Partitions of the events, forecasts and state topics."
    )
    dlq_partitions: int = Field(1, ge=1, description="Partitions of the dead-letter topic.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of every topic.")
    events_retention_ms: int = Field(
        7 * 24 * 3600 * 1000, description="Retention of events and forecasts (ms, -1 = forever)."
    )
    dlq_retention_ms: int = Field(
        30 * 24 * 3600 * 1000, description="Retention of dead letters (ms, -1 = forever)."
    )
    weights_retention_ms: int = Field(
        -1, description="Retention of model artifacts (ms); -1 keeps every version forever."
    )
    weights_max_message_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="max.message.bytes of the weights topic, so real models fit in one message.",
    )
    # Compaction never cleans a topic's active segment: what a partition holds beyond its live
    # states (and a new owner reads at restore) is about one segment plus the dirty part the
    # cleaner waits for. A state record is ~1 KB (W=64, 32 units): 16 MiB is the live set of
    # ~16,000 series, one partition's share of 100,000 series over 6 partitions.
    state_segment_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024 * 1024,
        description="segment.bytes of the compacted state topic: its uncompacted tail is about "
        "this much per partition (the broker's default, 1 GiB, would keep hours of state writes).",
    )
    state_segment_ms: int = Field(
        3600 * 1000,
        ge=60_000,
        description="segment.ms of the state topic: a quiet partition's writes become compactable "
        "after this long at most.",
    )
    state_min_cleanable_dirty_ratio: float = Field(
        0.1,
        gt=0,
        le=1,
        description="min.cleanable.dirty.ratio of the state topic: the cleaner compacts a "
        "partition once this share of it is superseded states.",
    )
