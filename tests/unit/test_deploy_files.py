"""docker-compose, Prometheus and Grafana files agree with each other and with the package.

No Docker engine runs here, so the files are checked as data: they parse, every command is a
real entry point, and hosts and ports line up between compose, Prometheus and the app settings.
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _yaml(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = _yaml("docker-compose.yml")
    return compose


def test_every_service_command_is_a_real_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    subcommands = set(actions[0].choices)
    for name, service in _compose()["services"].items():
        command = service.get("command")
        if service.get("image", "").startswith(("apache/", "prom/", "grafana/")):
            continue
        assert command, name
        assert command[0] in scripts, f"{name}: {command[0]} is not a console script"
        if command[0] == "twincast":
            assert command[1] in subcommands, f"{name}: twincast {command[1]} does not exist"
            build_parser().parse_args(command[1:])  # the arguments parse too


def test_bootstrap_address_matches_the_kafka_service() -> None:
    services = _compose()["services"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert advertised == "PLAINTEXT://kafka:9092"
    for name in ("topics", "trainer", "worker", "producer"):
        env = services[name]["environment"]
        assert env["TWINCAST_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        TrainerSettings(bootstrap_servers=env["TWINCAST_BOOTSTRAP_SERVERS"])  # a valid setting


def test_prometheus_scrapes_the_ports_the_services_serve() -> None:
    services = _compose()["services"]
    prometheus = _yaml("deploy/prometheus/prometheus.yml")
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    trainer_port = int(services["trainer"]["environment"]["TWINCAST_METRICS_PORT"])
    worker_port = int(services["worker"]["environment"]["TWINCAST_METRICS_PORT"])
    assert jobs["twincast-trainer"]["static_configs"][0]["targets"] == [f"trainer:{trainer_port}"]
    dns = jobs["twincast-worker"]["dns_sd_configs"][0]
    assert dns["names"] == ["worker"] and dns["port"] == worker_port
    # The defaults a user gets without compose are the same ports.
    assert TrainerSettings().metrics_port == trainer_port
    assert WorkerSettings().metrics_port == worker_port
    mounts = services["prometheus"]["volumes"]
    assert any(m.endswith(":/etc/prometheus/alerts.yml:ro") for m in mounts)
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_healthchecks_ask_readyz_on_the_metrics_port() -> None:
    services = _compose()["services"]
    for name in ("trainer", "worker"):
        port = services[name]["environment"]["TWINCAST_METRICS_PORT"]
        check = services[name]["healthcheck"]["test"]
        assert check[:3] == ["CMD", "python", "-c"], name
        assert f"http://localhost:{port}/readyz" in check[3], name


def test_grafana_reads_the_prometheus_service_and_the_dashboard() -> None:
    services = _compose()["services"]
    source = _yaml("deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    assert "${PROMETHEUS_HOST_PORT:-9090}:9090" in services["prometheus"]["ports"]
    provider = _yaml("deploy/grafana/provisioning/dashboards/twincast.yml")["providers"][0]
    mounts = services["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/twincast.json").read_text())
    assert all(
        t["datasource"]["uid"] == source["uid"] for p in dashboard["panels"] for t in p["targets"]
    )


def test_alert_rules_parse_and_are_complete() -> None:
    rules = _yaml("deploy/prometheus/alerts.yml")["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert names == {
        "TwincastWorkerDown",
        "TwincastLagGrowing",
        "TwincastNoForecasts",
        "TwincastModelStale",
        "TwincastWorseThanPersistence",
        "TwincastDlqRate",
    }
    assert all(r["expr"].strip() and r["annotations"]["summary"] for r in rules)


def test_readme_settings_table_is_the_generated_one() -> None:
    from twincast.settings_doc import settings_table

    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- settings-table:start -->\n") + len("<!-- settings-table:start -->\n")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end].strip() == settings_table().strip(), "run `twincast settings`"


def test_the_image_copies_every_installed_package() -> None:
    """A package pyproject installs but the Dockerfile does not copy breaks the image at import."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.MULTILINE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
