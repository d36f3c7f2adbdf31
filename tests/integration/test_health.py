"""The orchestrator's probes on the metrics port of a real worker and a real trainer.

``/readyz`` answers 503 naming what is missing until the service is connected with its
partitions assigned (and restored), then 200; ``/healthz`` answers 200 while the loop runs.
Probed from the moment the process starts, so the answers before the assignment are seen.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from foundation.settings.base import KafkaSettings
from tests.integration.helpers import (
    consume,
    create_topics,
    produce_series,
    publish_artifact,
    service_env,
    start_module,
)
from tests.unit.test_artifact import make_artifact
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def probe(port: int, path: str) -> Answer | None:
    """The probe's answer; None while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return Answer(response.status, json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, json.loads(exc.read()))
    except OSError:
        return None


def until_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> list[Answer]:
    """Every /readyz answer up to and including the first 200 (polled as fast as it answers)."""
    answers: list[Answer] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        answer = probe(port, "/readyz")
        if answer is not None:
            answers.append(answer)
            if answer.status == 200:
                return answers
        time.sleep(0.01)
    raise AssertionError(f"never ready: {answers[-3:]}\n{log.read_text(errors='replace')[-3000:]}")


def not_ready_for(answers: list[Answer]) -> set[str]:
    """The checks that failed in the 503 answers (``service``: before the service existed)."""
    assert all(a.status == 503 for a in answers[:-1]), "once ready, ready"
    return {name for a in answers[:-1] for name in a.body["failing"]}


def stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=60)


def test_worker_is_ready_once_its_partitions_are_assigned(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    publish_artifact(kafka_settings, make_artifact(version=4, units=8))
    port, log = free_port(), tmp_path / "worker.log"
    env = service_env(
        kafka_settings, metrics_port=port, worker_group_id=f"health-{uuid.uuid4().hex[:8]}"
    )
    worker = start_module("worker", [], env, tmp_path, log)
    try:
        answers = until_ready(port, worker, log)
        assert "partitions" in not_ready_for(answers), answers[:3]
        assert "assigned:" in log.read_text(), "ready only after the assignment was restored"
        ready = answers[-1].body["checks"]
        assert ready["model"]["detail"] == "version 4"
        assert ready["partitions"]["detail"] == "3 assigned and restored"
        assert ready["kafka"]["detail"] == "reachable"

        sent = produce_series(kafka_settings, seasonal_series(3, 20, seed=1))
        assert len(consume(kafka_settings, kafka_settings.forecasts_topic, sent)) == sent
        alive = probe(port, "/healthz")
        assert alive is not None and alive.status == 200, alive
        assert alive.body["checks"]["loop"]["ok"]
    finally:
        assert stop(worker) == 0


def test_trainer_is_ready_once_connected(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    create_topics(kafka_settings, partitions=2)
    port, log = free_port(), tmp_path / "trainer.log"
    env = service_env(
        kafka_settings,
        metrics_port=port,
        history_db=tmp_path / "h.sqlite",
        artifact_dir=tmp_path / "a",
        trainer_group_id=f"health-{uuid.uuid4().hex[:8]}",
    )
    trainer = start_module("trainer", [], env, tmp_path, log)
    try:
        answers = until_ready(port, trainer, log)
        assert not_ready_for(answers) & {"service", "model", "partitions"}, answers[:3]
        ready = answers[-1].body["checks"]
        assert "cold start" in ready["model"]["detail"], "no model published yet"
        assert ready["partitions"]["detail"] == "2 assigned and restored"
        for _ in range(3):  # the loop goes on coming round
            alive = probe(port, "/healthz")
            assert alive is not None and alive.status == 200, alive
    finally:
        assert stop(trainer) == 0
