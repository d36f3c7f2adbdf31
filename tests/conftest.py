import os

# TensorFlow is imported lazily by the model core; keep its C++ start-up chatter out of test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest

from tests.kafka_fixtures import kafka_bootstrap, kafka_client, kafka_settings

__all__ = ["kafka_bootstrap", "kafka_client", "kafka_settings"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-client",
        default="kafka-python",
        choices=["kafka-python", "confluent-kafka"],
        help="the Kafka client library of the services under test (TWINCAST_KAFKA_CLIENT)",
    )
