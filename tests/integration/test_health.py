"""The orchestrator's probes on the metrics port of a real worker and a real trainer.

``/readyz`` answers 503 naming what is missing until the service is connected with its
partitions assigned (and restored), then 200; ``/healthz`` answers 200 while the loop runs.
Each service starts before its topics exist, so it cannot be ready until the test creates them:
the 503 is seen however loaded the machine, not only if a probe happens to be quick enough.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
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
from tests.kafka_fixtures import KafkaClientName
from tests.unit.test_artifact import make_artifact
from twincast.localkafka import LocalKafka
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


def until(
    port: int,
    process: subprocess.Popen[bytes],
    log: Path,
    wanted: Callable[[Answer], bool],
    wait_s: float = 120,
) -> list[Answer]:
    """Every /readyz answer up to and including the first ``wanted`` one (a condition, never a
    fixed sleep); fails if the process exits or the answer never comes."""
    answers: list[Answer] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and process.poll() is None:
        answer = probe(port, "/readyz")
        if answer is not None:
            answers.append(answer)
            if wanted(answer):
                return answers
        time.sleep(0.05)
    raise AssertionError(f"not seen: {answers[-3:]}\n{log.read_text(errors='replace')[-3000:]}")


def ready(answer: Answer) -> bool:
    return answer.status == 200


def first_judged(port: int, process: subprocess.Popen[bytes], log: Path) -> Answer:
    """The first /readyz answer of the service itself (before it exists, the port answers 503
    naming ``service``: only while it starts)."""
    answers = until(port, process, log, lambda a: "service" not in a.body["checks"])
    assert all(a.status == 503 for a in answers), answers
    return answers[-1]


def not_connected(answer: Answer) -> None:
    """Started before its topics exist: not ready, and it says why (no fixed timing involved:
    it cannot connect until the test creates them)."""
    assert answer.status == 503, answer
    assert {"model", "partitions"} <= set(answer.body["failing"]), answer
    checks = answer.body["checks"]
    assert checks["model"]["detail"].startswith("not connected yet"), answer
    assert checks["partitions"]["detail"] == "no assignment yet", answer


def model_detail(answer: Answer) -> str:
    return str(answer.body["checks"]["model"]["detail"])


def not_ready_until_the_end(answers: list[Answer]) -> None:
    assert all(a.status == 503 for a in answers[:-1]), "once ready, ready"
    assert answers[-1].status == 200


def stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=60)


def test_worker_is_ready_once_its_partitions_are_assigned(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "worker.log"
    env = service_env(
        kafka_settings, metrics_port=port, worker_group_id=f"health-{uuid.uuid4().hex[:8]}"
    )
    worker = start_module("worker", [], env, tmp_path, log)
    try:
        not_connected(first_judged(port, worker, log))
        create_topics(kafka_settings)  # the weights topic comes after the events topics
        publish_artifact(kafka_settings, make_artifact(version=4, units=8))
        answers = until(port, worker, log, ready)
        not_ready_until_the_end(answers)
        assert "assigned:" in log.read_text(), "ready only after the assignment was restored"
        checks = answers[-1].body["checks"]
        assert checks["partitions"]["detail"] == "3 assigned and restored"
        assert checks["kafka"]["detail"] == "reachable"
        # Connected before version 4 was published, it starts cold and takes it when it comes.
        served = until(port, worker, log, lambda a: model_detail(a) == "version 4")
        assert all(ready(a) for a in served), "a model arriving never makes it unready"

        sent = produce_series(kafka_settings, seasonal_series(3, 20, seed=1))
        assert len(consume(kafka_settings, kafka_settings.forecasts_topic, sent)) == sent
        alive = probe(port, "/healthz")
        assert alive is not None and alive.status == 200, alive
        assert alive.body["checks"]["loop"]["ok"]
    finally:
        assert stop(worker) == 0


def test_trainer_is_ready_once_connected(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
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
        not_connected(first_judged(port, trainer, log))
        create_topics(kafka_settings, partitions=2)
        answers = until(port, trainer, log, ready)
        not_ready_until_the_end(answers)
        checks = answers[-1].body["checks"]
        assert "cold start" in checks["model"]["detail"], "no model published yet"
        assert checks["partitions"]["detail"] == "2 assigned and restored"
        for _ in range(3):  # the loop goes on coming round
            alive = probe(port, "/healthz")
            assert alive is not None and alive.status == 200, alive
    finally:
        assert stop(trainer) == 0


def test_trainer_is_unready_while_kafka_is_away_and_ready_when_back(
    own_broker: LocalKafka, kafka_client: KafkaClientName, tmp_path: Path
) -> None:
    """The broker (this test's own) is killed: once the trainer has found it away for longer
    than TWINCAST_HEALTH_KAFKA_OUTAGE_SECONDS, /readyz answers 503 naming only ``kafka``; when
    it is back, 200 again. The trainer notices while idle: it commits every few seconds."""
    settings = KafkaSettings(bootstrap_servers=own_broker.bootstrap, kafka_client=kafka_client)
    create_topics(settings, partitions=2)
    port, log = free_port(), tmp_path / "trainer.log"
    env = service_env(
        settings,
        metrics_port=port,
        history_db=tmp_path / "h.sqlite",
        artifact_dir=tmp_path / "a",
        health_kafka_outage_seconds=1,
    )
    trainer = start_module("trainer", [], env, tmp_path, log)
    try:
        until(port, trainer, log, ready)
        assert own_broker.kill(), "the broker was running"
        # generous: the trainer notices at its next commit, which waits up to 10 s for an answer
        away = until(port, trainer, log, lambda a: not ready(a), wait_s=300)[-1]
        assert away.body["failing"] == ["kafka"], away
        assert away.body["checks"]["kafka"]["detail"].startswith("unreachable for"), away
        own_broker.up()
        back = until(port, trainer, log, ready, wait_s=300)
        assert all(a.body["failing"] == ["kafka"] for a in back[:-1]), back[-3:]
        assert back[-1].body["checks"]["kafka"]["detail"] == "reachable"
        assert "Kafka is back after" in log.read_text()
    finally:
        assert stop(trainer) == 0
