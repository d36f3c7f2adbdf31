"""The Kafka client layer on confluent-kafka (librdkafka), chosen with
``TWINCAST_KAFKA_CLIENT=confluent-kafka`` and installed by the extra ``twincast[confluent]``.

The only package that imports confluent-kafka. librdkafka bounds its transactional calls itself
and keeps nothing of a record batch it cannot parse, so unlike the kafka-python implementation
nothing here touches a private part of the library.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from foundation.kafka.client import ConsumerOptions, ProducerOptions, TransactionalOptions
from foundation.kafka.confluent.admin import ConfluentAdmin
from foundation.kafka.confluent.config import (
    common_config,
    consumer_config,
    producer_config,
    transactional_config,
)
from foundation.kafka.confluent.consumer import ConfluentConsumer
from foundation.kafka.confluent.errors import translated
from foundation.kafka.confluent.producer import ConfluentProducer, ConfluentTransactionalProducer
from foundation.settings.base import KafkaSettings

FETCH_WAIT_MS = 500  # librdkafka's fetch.wait.max.ms default, as kafka-python's


class ConfluentClients:
    """``KafkaClients`` on confluent-kafka, configured from the service's settings."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings

    def consumer(self, options: ConsumerOptions) -> ConfluentConsumer:
        with translated("creating a consumer"):
            raw = Consumer(consumer_config(self.settings, options))
        return ConfluentConsumer(raw, FETCH_WAIT_MS, options.from_earliest)

    def producer(self, options: ProducerOptions) -> ConfluentProducer:
        with translated("creating a producer"):
            return ConfluentProducer(Producer(producer_config(self.settings, options)))

    def transactional_producer(
        self, options: TransactionalOptions
    ) -> ConfluentTransactionalProducer:
        with translated("creating a transactional producer"):
            raw = Producer(transactional_config(self.settings, options))
        return ConfluentTransactionalProducer(raw, options.transactional_id)

    def admin(self, role: str, request_timeout_ms: int | None = None) -> ConfluentAdmin:
        config = common_config(self.settings, role)
        if request_timeout_ms is not None:
            config["socket.timeout.ms"] = request_timeout_ms
        with translated("creating an admin client"):
            return ConfluentAdmin(AdminClient(config))
