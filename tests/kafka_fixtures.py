"""The real broker for tests: one per pytest session, started through twincast.localkafka."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from foundation.settings.base import KafkaSettings
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.ports import free_port

KafkaClientName = Literal["kafka-python", "confluent-kafka"]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker.

    Starts a private broker on free ports for the session. Set TWINCAST_TEST_BOOTSTRAP_SERVERS to
    point the tests at a broker you already run (e.g. after `make kafka-up`) to skip the start.
    """
    existing = os.environ.get("TWINCAST_TEST_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    settings = LocalKafkaSettings(
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_dir=Path(tmp_path_factory.mktemp("kafka")),
    )
    broker = LocalKafka(settings)
    info = broker.up()
    print(f"\n[kafka fixture] broker started in {info.start_seconds:.1f}s at {info.bootstrap}")
    try:
        yield info.bootstrap
    finally:
        broker.down()


@pytest.fixture
def kafka_client(request: pytest.FixtureRequest) -> KafkaClientName:
    """The client library of the services under test: ``pytest --kafka-client`` (for tests that
    build their own settings or environment; ``kafka_settings`` carries it already)."""
    # The option's choices are these two names.
    return (
        "confluent-kafka"
        if request.config.getoption("--kafka-client") == "confluent-kafka"
        else "kafka-python"
    )


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, kafka_client: KafkaClientName) -> KafkaSettings:
    """Kafka settings with topic names unique to this test, so tests never see each other; the
    client library is ``pytest --kafka-client`` (services started by a test get it too)."""
    suffix = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        kafka_client=kafka_client,
        events_topic=f"t-events-{suffix}",
        weights_topic=f"t-weights-{suffix}",
        forecasts_topic=f"t-forecasts-{suffix}",
        dlq_topic=f"t-dlq-{suffix}",
        state_topic=f"t-state-{suffix}",
    )


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test only: killing it must not disturb the other tests."""
    broker = LocalKafka(
        LocalKafkaSettings(
            kafka_port=free_port(), kafka_controller_port=free_port(), kafka_dir=tmp_path / "k"
        )
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()
