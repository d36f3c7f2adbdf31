"""The worker's Kafka clients and the topic layout checks they rely on."""

from __future__ import annotations

import logging
import socket
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from foundation.errors import KafkaUnavailableError, TopicError
from foundation.settings.worker import WorkerSettings

log = logging.getLogger(__name__)


def events_consumer(settings: WorkerSettings) -> Any:
    try:
        return KafkaConsumer(
            **settings.client_config("worker"),
            group_id=settings.worker_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 5),
            # Exactly-once reads only committed events (a transactional upstream's aborts vanish).
            isolation_level="read_committed" if settings.exactly_once else "read_uncommitted",
        )
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc


def output_producer(settings: WorkerSettings) -> Any:
    if settings.exactly_once:
        return KafkaProducer(
            **settings.client_config("worker-producer"),
            transactional_id=transactional_id(settings),
            transaction_timeout_ms=settings.transaction_timeout_ms,
            linger_ms=settings.linger_ms,
            batch_size=256 * 1024,
        )
    return KafkaProducer(
        **settings.client_config("worker-producer"),
        acks="all",
        linger_ms=settings.linger_ms,
        batch_size=256 * 1024,
        # kafka-python's default: retry until delivery_timeout_ms, so a broker restart is
        # ridden out by the producer itself; a send that still fails makes the worker rewind.
    )


def transactional_id(settings: WorkerSettings) -> str:
    """Stable per worker instance: a restarted worker aborts what its previous life left open."""
    return settings.transactional_id or f"{settings.worker_group_id}-{socket.gethostname()}"


def check_layout(settings: WorkerSettings, producer: Any) -> bool:
    """Require the state topic to be co-partitioned with events; say if forecasts are too."""
    events = producer.partitions_for(settings.events_topic)
    if not events:
        raise TopicError(f"topic {settings.events_topic} does not exist; run `twincast topics`")
    if producer.partitions_for(settings.state_topic) != events:
        raise TopicError(
            f"{settings.state_topic} must have as many partitions as {settings.events_topic} "
            f"({len(events)}): a worker restores the state partitions of its event partitions"
        )
    co_partitioned = producer.partitions_for(settings.forecasts_topic) == events
    if not co_partitioned:
        log.warning(
            "%s and %s differ in partitions: forecasts are placed by key hash",
            settings.events_topic,
            settings.forecasts_topic,
        )
    return bool(co_partitioned)
