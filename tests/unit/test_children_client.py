"""The demo and ``evaluate --pipeline`` start their trainer and worker on their own Kafka client
(they drop the caller's other TWINCAST_ variables, and once dropped this one too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings.base import TopicSettings
from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.demo import DemoOptions, _service_env
from twincast.evaluation.pipeline import _env

CLIENTS = ["kafka-python", "confluent-kafka"]


@pytest.mark.parametrize("client", CLIENTS)
def test_the_demo_hands_its_client_on(client: str, tmp_path: Path) -> None:
    topics = TopicSettings(kafka_client=client)
    env = _service_env(topics, tmp_path, DemoOptions(duration_s=1, rate=10, series=1))
    assert env["TWINCAST_KAFKA_CLIENT"] == client


@pytest.mark.parametrize("client", CLIENTS)
def test_the_pipeline_evaluation_hands_its_client_on(client: str, tmp_path: Path) -> None:
    topics = TopicSettings(kafka_client=client)
    ports = {"trainer": 1, "worker": 2}
    envs = _env(topics, tmp_path, TrainerSettings(), WorkerSettings(), ports)
    assert {name: env["TWINCAST_KAFKA_CLIENT"] for name, env in envs.items()} == {
        "trainer": client,
        "worker": client,
    }
