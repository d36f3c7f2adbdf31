"""The dashboard and the alert rules, proven on a real Prometheus scraping a real run.

Prometheus comes from Debian's package (`make prometheus`, part of `make test`). The test runs
the trainer and the worker against the test broker, streams events (and some bad ones, and a bad
artifact), lets Prometheus scrape both every second, then runs every dashboard panel query and
every alert expression through Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from foundation.settings.base import KafkaSettings
from lstmcore.artifact import encode_artifact
from tests.integration.helpers import (
    create_topics,
    produce_series,
    publish_raw,
    service_env,
    start_module,
)
from tests.unit.test_artifact import make_artifact
from twincast.ports import free_port
from twincast.scrape import scrape
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/twincast.json"

# Alerts whose expression is empty while the system is healthy, with a probe showing that the
# data they watch is there (so an empty answer means "healthy", not "no data").
HEALTHY_WHEN_EMPTY = {
    "TwincastWorkerDown": 'up{job="twincast-worker"} == 1',
    "TwincastLagGrowing": "sum(twincast_consumer_lag) >= 0",
    "TwincastNoForecasts": "sum(rate(twincast_forecasts_produced_total[5m])) > 0",
    "TwincastModelStale": "time() - max(twincast_model_created_timestamp_seconds) < 6 * 3600",
    "TwincastWorseThanPersistence": 'sum(twincast_forecasts_scored_total{model_version!="0"}) > 0',
}
# The test sends several bad events per second, so this one must fire.
FIRING = {"TwincastDlqRate"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make prometheus` (make test does)")
    return path


def _query(port: int, expr: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


def test_promtool_accepts_the_shipped_config_and_rules() -> None:
    promtool = _tool("promtool")
    config = subprocess.run(
        [
            promtool,
            "check",
            "config",
            "--syntax-only",
            str(ROOT / "deploy/prometheus/prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "6 rules found" in rules.stdout


def _stream(settings: KafkaSettings, stop: threading.Event) -> None:
    data = seasonal_series(6, 2000, seed=12)
    producer = KafkaProducer(**settings.client_config("test-bad"))
    step = 0
    while not stop.is_set() and step < 2000:
        produce_series(settings, {k: v[step : step + 10] for k, v in data.items()}, first_step=step)
        # Many dead letters per round: the alert averages over 5 minutes, this run lasts < 1.
        for _ in range(40):
            producer.send(settings.events_topic, key=b"x", value=b"{broken")
        producer.flush()
        step += 10
        stop.wait(0.5)
    producer.close()


def _prometheus_config(tmp_path: Path, trainer_port: int, worker_port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "twincast-trainer",
                "static_configs": [{"targets": [f"127.0.0.1:{trainer_port}"]}],
            },
            {
                "job_name": "twincast-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}],
            },
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class _Seen:
    empty_panels: list[tuple[str, str]]
    alerts: dict[str, list[Any]]
    probes: dict[str, list[Any]]
    dlq_rate: list[Any]

    def complete(self) -> bool:
        """Every panel has data, the alerts that should fire do, every probe has data."""
        return (
            not self.empty_panels
            and all(self.alerts[name] for name in FIRING)
            and all(self.probes.values())
        )


def _observe(prom_port: int) -> _Seen:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return _Seen(
        empty_panels=[
            (p["title"], t["expr"])
            for p in panels
            for t in p["targets"]
            if not _query(prom_port, t["expr"])
        ],
        alerts={
            rule["alert"]: _query(prom_port, rule["expr"])
            for rule in yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
        },
        probes={name: _query(prom_port, probe) for name, probe in HEALTHY_WHEN_EMPTY.items()},
        dlq_rate=_query(prom_port, "sum(rate(twincast_dlq_messages_total[5m]))"),
    )


def test_every_panel_and_alert_on_a_real_run(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    prometheus = _tool("prometheus")
    create_topics(kafka_settings)
    trainer_port, worker_port, prom_port = free_port(), free_port(), free_port()
    env = service_env(
        kafka_settings,
        history_db=tmp_path / "h.sqlite",
        artifact_dir=tmp_path / "a",
        refit_every_events=600,
        refit_every_seconds=3600,
        epochs=8,
        units=16,
        gate="false",
    )
    trainer = start_module(
        "trainer",
        [],
        {**env, "TWINCAST_METRICS_PORT": str(trainer_port)},
        tmp_path,
        tmp_path / "trainer.log",
    )
    worker = start_module(
        "worker",
        [],
        # One watched series, for the dashboard's band panel.
        {**env, "TWINCAST_METRICS_PORT": str(worker_port)}
        | {"TWINCAST_INTERVAL_WATCH_SERIES": "series-000"},
        tmp_path,
        tmp_path / "worker.log",
    )
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={_prometheus_config(tmp_path, trainer_port, worker_port)}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=(tmp_path / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    stream = threading.Thread(target=_stream, args=(kafka_settings, stop))
    stream.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # until a trained model serves
            try:
                if (
                    scrape(f"http://127.0.0.1:{worker_port}/metrics").get(
                        "twincast_model_version", 0
                    )
                    >= 1
                ):
                    break
            except OSError:
                pass
            time.sleep(1)
        publish_raw(kafka_settings, encode_artifact(make_artifact(version=1)))  # refused: old
        # Rates over [1m] windows and the alert rules need a few scrapes and evaluations: wait
        # until everything that should have data has it (a busy machine takes longer).
        deadline = time.monotonic() + 240
        while True:
            seen = _observe(prom_port)
            if seen.complete() or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        stop.set()
        stream.join()
        for process in (server, worker, trainer):
            process.terminate()
            process.wait(timeout=60)

    assert not seen.empty_panels, f"panel queries without data: {seen.empty_panels}"
    for name, result in seen.alerts.items():
        if name in FIRING:
            assert result, f"{name} should fire in this run (DLQ rate {seen.dlq_rate})"
        else:
            assert name in HEALTHY_WHEN_EMPTY, name
            assert not result, f"{name} fires in a healthy run: {result}"
            assert seen.probes[name], f"{name}: the data it watches is missing"
