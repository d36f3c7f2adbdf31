"""Settings: env-readable with the TWINCAST_ prefix, frozen, strict about keys, secrets hidden."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from twincast.localkafka import LocalKafkaSettings
from twincast.settings import KafkaSettings, TopicSettings


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
    from worker.settings import WorkerSettings

    assert WorkerSettings(exactly_once=True, commit_interval_ms=1000).exactly_once
    with pytest.raises(ValidationError, match="must be below transaction_timeout_ms"):
        WorkerSettings(exactly_once=True, commit_interval_ms=20_000)
    assert not WorkerSettings(commit_interval_ms=20_000).exactly_once  # no transactions: fine
