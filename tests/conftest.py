from tests.kafka_fixtures import kafka_bootstrap, kafka_settings

__all__ = ["kafka_bootstrap", "kafka_settings"]
