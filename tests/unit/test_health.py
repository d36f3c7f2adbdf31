"""The probes are pure functions of what a service wrote down; the HTTP layer only relays them."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.health import Facts, Health, HealthLimits, Verdict, liveness, readiness
from foundation.kafka.outage import Outage, when_reachable
from foundation.metrics_server import MetricsServer
from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.ports import free_port

LIMITS = HealthLimits(loop_max_s=60.0, kafka_outage_max_s=30.0)
READY = Facts(last_beat=100.0, model_version=3, partitions=(2, 0), outage_since=None)


def _failing(verdict: Verdict) -> list[str]:
    return verdict.failing()


def test_a_service_doing_its_work_is_alive_and_ready() -> None:
    assert liveness(READY, 101.0, LIMITS).status == 200
    verdict = readiness(READY, 101.0, LIMITS)
    assert verdict.status == 200
    assert [c.name for c in verdict.checks] == ["loop", "model", "partitions", "kafka"]


def test_a_loop_that_stopped_coming_round_is_not_alive() -> None:
    assert liveness(READY, 160.0, LIMITS).ok, "exactly at the limit: still alive"
    verdict = liveness(READY, 160.5, LIMITS)
    assert verdict.status == 503 and _failing(verdict) == ["loop"]
    assert _failing(readiness(READY, 160.5, LIMITS)) == ["loop"]


@pytest.mark.parametrize(
    ("facts", "failing"),
    [
        (Facts(100.0, None, None, None), ["model", "partitions"]),  # connecting
        (Facts(100.0, 0, None, None), ["partitions"]),  # connected, waiting for the group
        (Facts(100.0, 0, (3, 1), None), ["partitions"]),  # one partition not restored yet
        (Facts(100.0, 3, (2, 0), 60.0), ["kafka"]),  # Kafka away for 41 s
    ],
)
def test_readiness_names_what_is_missing(facts: Facts, failing: list[str]) -> None:
    verdict = readiness(facts, 101.0, LIMITS)
    assert verdict.status == 503 and _failing(verdict) == failing
    body = json.loads(verdict.body())
    assert body["status"] == "fail" and body["failing"] == failing
    assert all(not body["checks"][name]["ok"] for name in failing)


@pytest.mark.parametrize(
    ("facts", "detail"),
    [
        (Facts(100.0, 0, (0, 0), None), "cold start"),  # no model yet, no partition (spare)
        (Facts(100.0, 3, (2, 0), 80.0), "unreachable for 21.0s"),  # a short outage
    ],
)
def test_a_cold_start_a_spare_worker_and_a_short_outage_are_ready(
    facts: Facts, detail: str
) -> None:
    verdict = readiness(facts, 101.0, LIMITS)
    assert verdict.ok, verdict.body()
    assert detail in verdict.body()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _health() -> tuple[Health, Outage, Clock]:
    clock = Clock()
    outage = Outage(logging.getLogger("t"))
    return Health(outage, LIMITS, clock), outage, clock


def test_health_tracks_a_worker_from_start_to_assignment() -> None:
    health, _, clock = _health()
    assert _failing(health.ready()) == ["model", "partitions"]
    health.connected(0)
    health.hold(0, 0)  # a client reports an empty revocation on joining: not an assignment
    assert _failing(health.ready()) == ["partitions"]
    health.hold(3, 1, assigned=True)  # the broker was away during one restore
    assert _failing(health.ready()) == ["partitions"]
    health.hold(3, 0, assigned=True)
    assert health.ready().ok
    health.hold(0, 0)  # a rebalance revoked everything: still a member, holding none
    assert health.ready().ok
    clock.now = 61.0
    assert _failing(health.alive()) == ["loop"], "no round for longer than the limit"
    health.beat()
    assert health.alive().ok


def test_health_sees_the_services_outage() -> None:
    health, outage, clock = _health()
    health.connected(2, assigned=6)  # the trainer assigns itself every partition
    error = KafkaClientError(KafkaErrorKind.UNAVAILABLE, "away", retriable=True)
    outage.failed(error, "reading events")
    assert outage.since is not None  # (the outage's own monotonic clock)
    clock.now = outage.since + 31.0
    health.beat()
    assert _failing(health.ready()) == ["kafka"]
    assert health.alive().ok, "an outage is no reason to restart: waiting is the service's job"
    outage.recovered()
    assert health.ready().ok


def test_waiting_for_the_broker_beats() -> None:
    tries: list[int] = []
    stop = threading.Event()

    def connect() -> str:
        if len(tries) < 3:
            raise KafkaClientError(KafkaErrorKind.UNAVAILABLE, "away", retriable=True)
        return "connected"

    outage = Outage(logging.getLogger("t"))
    outage.failed = lambda exc, what: 0.0  # type: ignore[method-assign]  # no pause here
    assert when_reachable(connect, outage, stop, lambda: tries.append(1)) == "connected"
    assert len(tries) == 3, "one beat per try: two refused, the third connected"


def test_thresholds_are_settings() -> None:
    worker = WorkerSettings(health_loop_max_seconds=5, health_kafka_outage_seconds=7)
    assert HealthLimits.of(worker) == HealthLimits(5.0, 7.0)
    assert HealthLimits.of(TrainerSettings()) == HealthLimits.of(WorkerSettings())


def _get(port: int, path: str) -> tuple[int, dict[str, Any] | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    return status, (json.loads(text) if path != "/metrics" else text)


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, Health, Clock]]:
    registry = CollectorRegistry()
    Counter("twincast_probe_test", "a metric", registry=registry).inc()
    server = MetricsServer(registry, "127.0.0.1", free_port())
    health, _, clock = _health()
    try:
        yield server, health, clock
    finally:
        server.close()


def test_the_metrics_port_answers_the_probes(served: tuple[MetricsServer, Health, Clock]) -> None:
    server, health, clock = served
    status, body = _get(server.port, "/healthz")
    assert (status, body) == (503, _not_started()), "before the service exists"
    server.serve_probes(health)
    assert _get(server.port, "/healthz")[0] == 200
    status, body = _get(server.port, "/readyz")
    assert status == 503 and isinstance(body, dict)
    assert body["failing"] == ["model", "partitions"]
    health.connected(1, assigned=2)
    assert _get(server.port, "/readyz") == (200, json.loads(health.ready().body()))
    clock.now = 100.0
    assert _get(server.port, "/healthz")[0] == 503
    status, metrics = _get(server.port, "/metrics")
    assert status == 200 and "twincast_probe_test_total 1.0" in str(metrics)


def _not_started() -> dict[str, Any]:
    return {
        "status": "fail",
        "failing": ["service"],
        "checks": {"service": {"ok": False, "detail": "starting"}},
    }
