"""The real broker for tests: one per pytest session, started through twincast.localkafka."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.settings.base import KafkaSettings
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.ports import free_port


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
def kafka_settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> KafkaSettings:
    """Kafka settings with topic names unique to this test, so tests never see each other; the
    client library is ``pytest --kafka-client`` (services started by a test get it too)."""
    suffix = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        kafka_client=request.config.getoption("--kafka-client"),
        events_topic=f"t-events-{suffix}",
        weights_topic=f"t-weights-{suffix}",
        forecasts_topic=f"t-forecasts-{suffix}",
        dlq_topic=f"t-dlq-{suffix}",
        state_topic=f"t-state-{suffix}",
    )
