"""Settings: env-readable with the TWINCAST_ prefix, frozen, strict about keys, secrets hidden."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.settings.base import KafkaSettings, TopicSettings, unknown_variables
from foundation.settings.known import known_variables
from twincast.localkafka import LocalKafkaSettings


def test_defaults() -> None:
    settings = KafkaSettings()
    assert settings.bootstrap_servers == "localhost:9092"
    assert settings.topic_names() == {
        "events": "twincast.events",
        "weights": "twincast.weights",
        "forecasts": "twincast.forecasts",
        "dlq": "twincast.dlq",
        "state": "twincast.state",
    }


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINCAST_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TWINCAST_EVENTS_TOPIC", "prod.events")
    monkeypatch.setenv("TWINCAST_PARTITIONS", "12")
    monkeypatch.setenv("TWINCAST_KAFKA_PORT", "19092")
    settings = TopicSettings()
    assert settings.events_topic == "prod.events"
    assert settings.partitions == 12
    assert settings.client_config("admin")["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert LocalKafkaSettings().kafka_port == 19092


def test_frozen() -> None:
    settings = KafkaSettings()
    with pytest.raises(ValidationError):
        settings.bootstrap_servers = "elsewhere:9092"  # type: ignore[misc]


def test_unknown_keys_rejected() -> None:
    with pytest.raises(ValidationError, match="bootstrap_server"):
        KafkaSettings(bootstrap_server="typo:9092")  # type: ignore[call-arg]


def test_invalid_values_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINCAST_PARTITIONS", "0")
    with pytest.raises(ValidationError, match="partitions"):
        TopicSettings()


def test_password_is_secret() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password="hunter2",
    )
    assert "hunter2" not in repr(settings)
    config = settings.client_config("worker")
    assert config["sasl_plain_password"] == "hunter2"
    assert config["client_id"] == "twincast-worker"


def test_exactly_once_needs_commits_inside_the_transaction_timeout() -> None:
    from foundation.settings.worker import WorkerSettings

    assert WorkerSettings(exactly_once=True, commit_interval_ms=1000).exactly_once
    with pytest.raises(ValidationError, match="must be below transaction_timeout_ms"):
        WorkerSettings(exactly_once=True, commit_interval_ms=20_000)
    assert not WorkerSettings(commit_interval_ms=20_000).exactly_once  # no transactions: fine


def test_tls_settings_reach_the_client_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINCAST_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TWINCAST_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TWINCAST_SASL_USERNAME", "bob")
    monkeypatch.setenv("TWINCAST_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("TWINCAST_SSL_CAFILE", "/etc/ca.pem")
    monkeypatch.setenv("TWINCAST_SSL_CERTFILE", "/etc/client.pem")
    monkeypatch.setenv("TWINCAST_SSL_KEYFILE", "/etc/client.key")
    monkeypatch.setenv("TWINCAST_SSL_PASSWORD", "keypass")
    monkeypatch.setenv("TWINCAST_SSL_CHECK_HOSTNAME", "false")
    settings = KafkaSettings()
    assert "keypass" not in repr(settings) and "s3cret" not in repr(settings)
    config = settings.client_config("worker")
    assert config["security_protocol"] == "SASL_SSL"
    assert (config["sasl_mechanism"], config["sasl_plain_username"]) == ("SCRAM-SHA-512", "bob")
    assert config["sasl_plain_password"] == "s3cret"
    assert config["ssl_cafile"] == "/etc/ca.pem" and config["ssl_certfile"] == "/etc/client.pem"
    assert config["ssl_keyfile"] == "/etc/client.key" and config["ssl_password"] == "keypass"
    assert config["ssl_check_hostname"] is False
    # kafka-python accepts every key: a misspelt one would fail when a client is built.
    from kafka import KafkaConsumer

    assert set(config) <= set(KafkaConsumer.DEFAULT_CONFIG)


def _kafka_client_calls() -> list[tuple[str, ast.Call]]:
    root = Path(__file__).resolve().parents[2]
    calls = []
    for package in ("foundation", "trainer", "worker", "twincast", "schemas", "lstmcore"):
        for path in sorted((root / package).rglob("*.py")):
            if "localkafka" in path.parts:
                continue  # the local broker's own PLAINTEXT readiness probe
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {
                    "KafkaConsumer",
                    "KafkaProducer",
                    "KafkaAdminClient",
                }:
                    calls.append((f"{path.relative_to(root)}:{node.lineno}", node))
    return calls


def test_every_kafka_client_gets_the_security_settings() -> None:
    calls = _kafka_client_calls()
    assert len(calls) >= 4, "the client layer's consumer, producers and admin (and the worker's)"
    for where, call in calls:
        spread = [k.value for k in call.keywords if k.arg is None]
        assert any(
            isinstance(v, ast.Call) and getattr(v.func, "attr", None) == "client_config"
            for v in spread
        ), f"{where} builds a Kafka client without **settings.client_config(...)"


def test_unknown_variables_name_the_closest_setting() -> None:
    known = known_variables()
    env = {
        "TWINCAST_EVENT_TOPIC": "x",
        "twincast_units": "8",  # read case-insensitively, so it is a setting
        "TWINCAST_COMPLETELY_MADE_UP_THING": "1",
        "PATH": "/bin",
    }
    assert unknown_variables(env, known) == [
        "TWINCAST_COMPLETELY_MADE_UP_THING is not a twincast setting; see `twincast settings`",
        "TWINCAST_EVENT_TOPIC is not a twincast setting; did you mean TWINCAST_EVENTS_TOPIC?",
    ]
    assert unknown_variables({"TWINCAST_PUBLISH_GATE": "0"}, known) == [
        "TWINCAST_PUBLISH_GATE is not a twincast setting; did you mean TWINCAST_GATE?"
    ]


def test_every_variable_the_docs_and_deploy_files_name_exists() -> None:
    """A typo in the README or docker-compose.yml would now stop the command it configures."""
    root = Path(__file__).resolve().parents[2]
    text = "".join((root / f).read_text() for f in ("README.md", "docker-compose.yml"))
    named = set(re.findall(r"TWINCAST_[A-Z0-9_]*[A-Z0-9]\b", text))
    prefixes = {"TWINCAST_KAFKA"}  # "TWINCAST_KAFKA_*" in prose
    typos = set(re.findall(r"(TWINCAST_\w+) is not a twincast setting", text.replace("\n", " ")))
    assert typos, "the README shows what a typo gives"
    assert named - known_variables() - prefixes - typos == set()


@pytest.mark.parametrize("command", [["worker"], ["trainer", "--once"], ["twincast", "topics"]])
def test_every_command_stops_on_an_unknown_variable(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env["TWINCAST_EVENT_TOPIC"] = "typo.events"
    env["TWINCAST_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"  # never reached: the check comes first
    result = subprocess.run(
        [sys.executable, "-m", command[0], *command[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "TWINCAST_EVENT_TOPIC is not a twincast setting" in result.stderr
    assert "did you mean TWINCAST_EVENTS_TOPIC?" in result.stderr


def test_an_interval_pool_too_small_for_the_coverage_is_refused() -> None:
    """At coverage 0.99 the conformal quantile needs 99 scores: a pool of 50 would silently
    never give an interval."""
    from foundation.settings.worker import WorkerSettings

    with pytest.raises(ValidationError, match="interval_pool_size"):
        WorkerSettings(interval_coverage=0.99, interval_pool_size=50)
    assert WorkerSettings(interval_coverage=0.99, interval_pool_size=99).interval_pool_size == 99
