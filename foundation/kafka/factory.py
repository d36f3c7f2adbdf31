"""The one way services and tools get Kafka clients: from their settings, for the client
library in use (kafka-python for now; a setting chooses once there is a second)."""

from __future__ import annotations

from foundation.kafka.client import KafkaClients
from foundation.settings.base import KafkaSettings


def kafka_clients(settings: KafkaSettings) -> KafkaClients:
    """Makers of consumers, producers and admins configured by ``settings``, security included."""
    from foundation.kafka.kafka_python import KafkaPythonClients  # only the library in use loads

    return KafkaPythonClients(settings)
