"""The worker's Kafka clients and the topic layout checks they rely on."""

from __future__ import annotations

import logging
import socket

from foundation.errors import KafkaClientError, KafkaUnavailableError, TopicError
from foundation.kafka.client import (
    Consumer,
    ConsumerOptions,
    Producer,
    ProducerOptions,
    TransactionalOptions,
    TransactionalProducer,
)
from foundation.kafka.factory import kafka_clients
from foundation.settings.worker import WorkerSettings

log = logging.getLogger(__name__)

OUTPUT_BATCH_BYTES = 256 * 1024  # forecasts come in bursts of a poll's worth


def events_consumer(settings: WorkerSettings) -> Consumer:
    options = ConsumerOptions(
        "worker",
        group_id=settings.worker_group_id,
        from_earliest=True,
        # Exactly-once reads only committed events (a transactional upstream's aborts vanish).
        read_committed=settings.exactly_once,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 5),
        prefetch_kbytes=settings.prefetch_kbytes,
    )
    try:
        return kafka_clients(settings).consumer(options)
    except KafkaClientError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc


def output_producer(settings: WorkerSettings) -> Producer:
    """At-least-once: the client's default retries (until its delivery timeout) ride out a
    broker restart by themselves; a send that still fails makes the worker rewind."""
    options = ProducerOptions(
        "worker-producer",
        acks="all",
        linger_ms=settings.linger_ms,
        batch_size=OUTPUT_BATCH_BYTES,
    )
    return kafka_clients(settings).producer(options)


def transactional_producer(settings: WorkerSettings) -> TransactionalProducer:
    """Exactly-once: one transaction per checkpoint (idempotent, hence acks=all)."""
    options = TransactionalOptions(
        "worker-producer",
        transactional_id=transactional_id(settings),
        transaction_timeout_ms=settings.transaction_timeout_ms,
        linger_ms=settings.linger_ms,
        batch_size=OUTPUT_BATCH_BYTES,
    )
    return kafka_clients(settings).transactional_producer(options)


def transactional_id(settings: WorkerSettings) -> str:
    """Stable per worker instance: a restarted worker aborts what its previous life left open."""
    return settings.transactional_id or f"{settings.worker_group_id}-{socket.gethostname()}"


def check_layout(settings: WorkerSettings, producer: Producer) -> bool:
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
