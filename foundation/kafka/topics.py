"""Create the five twincast topics idempotently, with the configs documented in README.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from foundation.errors import KafkaClientError, KafkaUnavailableError, TopicError
from foundation.kafka.client import Admin, NewTopic
from foundation.kafka.factory import kafka_clients
from foundation.settings.base import TopicSettings

log = logging.getLogger(__name__)


def topic_specs(settings: TopicSettings) -> list[NewTopic]:
    """The desired state of every topic; the single source of the documented configs."""
    s, rf = settings, settings.replication_factor
    retention = {"cleanup.policy": "delete", "retention.ms": str(s.events_retention_ms)}
    return [
        NewTopic(s.events_topic, s.partitions, rf, dict(retention)),
        NewTopic(s.forecasts_topic, s.partitions, rf, dict(retention)),
        # Co-partitioned with events (same count, same keys): a worker restores exactly the
        # state partitions that match its event partitions.
        NewTopic(
            s.state_topic,
            s.partitions,
            rf,
            {
                "cleanup.policy": "compact",
                "min.cleanable.dirty.ratio": str(s.state_min_cleanable_dirty_ratio),
                "segment.bytes": str(s.state_segment_bytes),
                "segment.ms": str(s.state_segment_ms),
            },
        ),
        # One partition keeps versions totally ordered; every worker reads all of it.
        NewTopic(
            s.weights_topic,
            1,
            rf,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(s.weights_retention_ms),
                "max.message.bytes": str(s.weights_max_message_bytes),
            },
        ),
        NewTopic(
            s.dlq_topic,
            s.dlq_partitions,
            rf,
            {"cleanup.policy": "delete", "retention.ms": str(s.dlq_retention_ms)},
        ),
    ]


@dataclass(frozen=True)
class TopicReport:
    name: str
    created: bool
    configs_updated: list[str]
    partitions: int


def ensure_topics(settings: TopicSettings, timeout_s: float = 30.0) -> list[TopicReport]:
    """Create missing topics, add missing partitions and set drifted configs; report each."""
    admin = _admin(settings)
    try:
        return [_ensure_one(admin, spec, timeout_s) for spec in topic_specs(settings)]
    except KafkaClientError as exc:
        raise TopicError(f"topic administration failed: {exc}") from exc
    finally:
        admin.close()


def _admin(settings: TopicSettings) -> Admin:
    try:
        return kafka_clients(settings).admin("admin", request_timeout_ms=15000)
    except KafkaClientError as exc:
        raise KafkaUnavailableError(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}"
        ) from exc


def _ensure_one(admin: Admin, spec: NewTopic, timeout_s: float) -> TopicReport:
    created = admin.create_topic(spec, timeout_s)
    partitions = _ensure_partitions(admin, spec)
    updated = [] if created else _ensure_configs(admin, spec)
    log.info("topic %s: %s", spec.name, "created" if created else f"exists, updated {updated}")
    return TopicReport(spec.name, created, updated, partitions)


def _ensure_partitions(admin: Admin, spec: NewTopic) -> int:
    current = admin.partition_count(spec.name)
    if current < spec.partitions:
        # Adding partitions moves keys; only ever grow, and say so.
        log.warning(
            "topic %s: growing from %d to %d partitions", spec.name, current, spec.partitions
        )
        admin.create_partitions(spec.name, spec.partitions)
        return spec.partitions
    if current > spec.partitions:
        log.warning(
            "topic %s has %d partitions, more than the %d asked; Kafka cannot shrink",
            spec.name,
            current,
            spec.partitions,
        )
    return current


def _ensure_configs(admin: Admin, spec: NewTopic) -> list[str]:
    current = admin.topic_configs(spec.name)
    drifted = {k: v for k, v in spec.configs.items() if current.get(k) != v}
    if drifted:
        admin.alter_topic_configs(spec.name, drifted)
    return sorted(drifted)
