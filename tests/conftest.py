import os

# TensorFlow is imported lazily by the model core; keep its C++ start-up chatter out of test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from pathlib import Path

import pytest

from tests.kafka_fixtures import kafka_bootstrap, kafka_client, kafka_settings, own_broker

__all__ = ["kafka_bootstrap", "kafka_client", "kafka_settings", "own_broker"]

CONTAINER_TESTS = Path(__file__).parent / "containers"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kafka-client",
        default="kafka-python",
        choices=["kafka-python", "confluent-kafka"],
        help="the Kafka client library of the services under test (TWINCAST_KAFKA_CLIENT)",
    )
    parser.addoption(
        "--containers",
        action="store_true",
        help="collect tests/containers: the compose stack on Docker (make test-containers)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/containers needs a Docker engine and built images: `make test-containers` runs it,
    plain `pytest` (and so `make test`) never collects it."""
    if collection_path == CONTAINER_TESTS and not config.getoption("--containers"):
        return True
    return None
