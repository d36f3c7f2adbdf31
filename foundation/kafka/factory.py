"""The one way services and tools get Kafka clients: from their settings, for the client
library chosen by ``TWINCAST_KAFKA_CLIENT``."""

from __future__ import annotations

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import KafkaClients
from foundation.settings.base import KafkaSettings


def kafka_clients(settings: KafkaSettings) -> KafkaClients:
    """Makers of consumers, producers and admins configured by ``settings``, security included."""
    # Only the library in use is imported: confluent-kafka is an optional extra.
    if settings.kafka_client == "confluent-kafka":
        try:
            from foundation.kafka.confluent import ConfluentClients
        except ImportError as exc:
            raise KafkaClientError(
                KafkaErrorKind.CONFIG,
                f"TWINCAST_KAFKA_CLIENT=confluent-kafka, but it cannot be imported ({exc}): "
                "install it with pip install 'twincast[confluent]'",
                retriable=False,
            ) from exc
        return ConfluentClients(settings)
    from foundation.kafka.kafka_python import KafkaPythonClients

    return KafkaPythonClients(settings)
