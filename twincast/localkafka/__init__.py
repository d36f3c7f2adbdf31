"""A real single-node Apache Kafka (KRaft) broker for development, tests and the demo.

The broker jars come from Maven Central through ``mvn``; no Docker and no mock are involved.
``make kafka-up``, ``make kafka-down`` and the pytest fixture all go through this package.
"""

from foundation.settings.localkafka import LocalKafkaSettings
from twincast.localkafka.broker import BrokerInfo, LocalKafka

__all__ = ["BrokerInfo", "LocalKafka", "LocalKafkaSettings"]
