"""The Kafka client layer on kafka-python: thin wrappers that translate its errors.

The only package that imports kafka-python, and the only place that touches its private parts:
each such line is marked ``PRIVATE`` with why (``grep -rn PRIVATE foundation/kafka``). The hot
path stays cheap: ``poll`` hands on kafka-python's own mapping and records (its
``ConsumerRecord`` is a ``ConsumedRecord``, its ``TopicPartition`` equals a ``Partition``), and
``send`` adds one small object per record.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from foundation.kafka.client import ConsumerOptions, ProducerOptions, TransactionalOptions
from foundation.kafka.kafka_python.admin import KafkaPythonAdmin
from foundation.kafka.kafka_python.consumer import KafkaPythonConsumer
from foundation.kafka.kafka_python.errors import translated
from foundation.kafka.kafka_python.producer import (
    KafkaPythonProducer,
    KafkaPythonTransactionalProducer,
)
from foundation.settings.base import KafkaSettings


class KafkaPythonClients:
    """``KafkaClients`` on kafka-python, configured from the service's settings."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings

    def consumer(self, options: ConsumerOptions) -> KafkaPythonConsumer:
        config = consumer_config(options)
        with translated():
            raw = KafkaConsumer(**self.settings.client_config(options.role), **config)
        return KafkaPythonConsumer(raw)

    def producer(self, options: ProducerOptions) -> KafkaPythonProducer:
        o = options
        config = _given(
            acks=o.acks,
            linger_ms=o.linger_ms,
            batch_size=o.batch_size,
            max_request_size=o.max_request_size,
        )
        with translated():
            return KafkaPythonProducer(
                KafkaProducer(**self.settings.client_config(o.role), **config)
            )

    def transactional_producer(
        self, options: TransactionalOptions
    ) -> KafkaPythonTransactionalProducer:
        o = options
        config = _given(linger_ms=o.linger_ms, batch_size=o.batch_size)
        with translated():
            raw = KafkaProducer(
                **self.settings.client_config(o.role),
                transactional_id=o.transactional_id,
                transaction_timeout_ms=o.transaction_timeout_ms,
                **config,
            )
        return KafkaPythonTransactionalProducer(raw)

    def admin(self, role: str, request_timeout_ms: int | None = None) -> KafkaPythonAdmin:
        extra = _given(request_timeout_ms=request_timeout_ms)
        with translated():
            raw = KafkaAdminClient(**self.settings.client_config(role), **extra)
        return KafkaPythonAdmin(raw)


def consumer_config(options: ConsumerOptions) -> dict[str, Any]:
    """kafka-python's keyword arguments for these options (besides the settings' common ones);
    unset ones keep its defaults."""
    o = options
    return {
        "enable_auto_commit": False,
        "group_id": o.group_id,
        **_given(
            auto_offset_reset="earliest" if o.from_earliest else None,
            isolation_level="read_committed" if o.read_committed else None,
            session_timeout_ms=o.session_timeout_ms,
            heartbeat_interval_ms=o.heartbeat_interval_ms,
            max_poll_interval_ms=o.max_poll_interval_ms,
            max_partition_fetch_bytes=o.max_partition_fetch_bytes,
            fetch_max_bytes=o.fetch_max_bytes,
        ),
    }


def _given(**config: object) -> dict[str, object]:
    return {name: value for name, value in config.items() if value is not None}
