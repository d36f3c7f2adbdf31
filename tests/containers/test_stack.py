"""docker-compose.yml up end to end on a real Docker engine (issue 16): broker, topics, trainer,
two workers, Prometheus and the demo producer, with the test override's locally built images.
A plain `pytest` run does not collect it; `make test-containers` builds the images and runs it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from schemas.forecast import Forecast
from tests.containers.stack import IMAGES, Stack, docker, wait_for


@pytest.fixture
def stack() -> Iterator[Stack]:
    missing = [i for i in IMAGES if not docker("image", "ls", "-q", i).strip()]
    assert not missing, f"images missing: {missing}; run deploy/containers/build.sh"
    stack = Stack()
    try:
        yield stack
    finally:
        if stack.leftovers():  # the test failed before its own `down`
            print(stack.compose("logs", "--tail", "40", check=False))
            stack.compose("down", "-v", "--remove-orphans", check=False)


def _first_forecast(stack: Stack) -> Forecast | None:
    out = stack.compose(
        *("exec", "-T", "trainer", "twincast", "tail", "--from-beginning", "--json"),
        *("--max", "1", "--idle-timeout", "5"),
        check=False,
    )
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return Forecast.model_validate_json(lines[0]) if lines else None


def _http(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _targets_up(stack: Stack) -> list[dict[str, Any]] | None:
    status, body = _http(stack.ports["PROMETHEUS_HOST_PORT"], "/api/v1/targets")
    if status != 200:
        return None
    targets: list[dict[str, Any]] = json.loads(body)["data"]["activeTargets"]
    jobs = [t["labels"]["job"] for t in targets if t["health"] == "up"]
    if jobs.count("twincast-worker") == 2 and jobs.count("twincast-trainer") == 1:
        return targets
    return None


def _all_healthy(stack: Stack, services: tuple[str, ...]) -> list[str] | None:
    containers = [c for s in services for c in stack.containers(s)]
    return containers if all(stack.health(c) == "healthy" for c in containers) else None


def test_the_compose_stack_forecasts_is_scraped_and_leaves_nothing(stack: Stack) -> None:
    started = time.monotonic()
    stack.compose("up", "-d", "--scale", "worker=2")
    up_s = time.monotonic() - started
    forecast = wait_for(lambda: _first_forecast(stack), 300, "forecast on twincast.forecasts")
    first_forecast_s = time.monotonic() - started
    assert forecast.series_id.startswith("series-")

    topics = stack.containers("topics")
    assert [docker("inspect", "-f", "{{.State.ExitCode}}", c).strip() for c in topics] == ["0"]
    assert len(stack.containers("worker")) == 2
    targets = wait_for(lambda: _targets_up(stack), 180, "2 workers and the trainer up")
    workers = [t for t in targets if t["labels"]["job"] == "twincast-worker"]
    instances = {t["labels"]["instance"] for t in workers}
    assert len(instances) == 2, instances  # two replicas, not one scraped twice
    wait_for(lambda: _all_healthy(stack, ("trainer", "worker")), 240, "healthy trainer/workers")
    for probe in ("/healthz", "/readyz"):  # the probes' verdicts, not the metrics page
        status, body = _http(stack.ports["TRAINER_HOST_PORT"], probe)
        assert (status, json.loads(body)["status"]) == (200, "ok"), body
    print(f"\ncompose up {up_s:.1f} s, first forecast {first_forecast_s:.1f} s after up began")

    stack.compose("down", "-v", "--remove-orphans")
    assert stack.leftovers() == []
