"""`twincast topics` against a real broker: idempotent, documented configs, drift repaired."""

from __future__ import annotations

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient

from foundation.kafka.topics import current_configs, ensure_topics, topic_specs
from foundation.settings.base import KafkaSettings, TopicSettings
from twincast.cli import main

pytestmark = pytest.mark.kafka


def _env(monkeypatch: pytest.MonkeyPatch, settings: KafkaSettings) -> None:
    monkeypatch.setenv("TWINCAST_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    for role, name in settings.topic_names().items():
        monkeypatch.setenv(f"TWINCAST_{role.upper()}_TOPIC", name)


def test_cli_twice_leaves_documented_topics(
    kafka_settings: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, kafka_settings)
    assert main(["topics"]) == 0
    first = capsys.readouterr().out
    assert first.count("created") == 5
    assert main(["topics"]) == 0
    second = capsys.readouterr().out
    assert "created" not in second and second.count(" ok") == 5

    settings = TopicSettings()  # the same environment the CLI read
    admin = KafkaAdminClient(**settings.client_config("test-admin"))
    try:
        for spec in topic_specs(settings):
            described = admin.describe_topics([spec.name])[0]
            assert len(described["partitions"]) == spec.partitions
            configs = current_configs(admin, spec.name)
            for key, value in spec.configs.items():
                assert configs[key] == value, (spec.name, key)
        assert current_configs(admin, settings.state_topic)["cleanup.policy"] == "compact"
        weights = current_configs(admin, settings.weights_topic)
        assert int(weights["max.message.bytes"]) >= 16 * 1024 * 1024
        assert weights["retention.ms"] == "-1"
    finally:
        admin.close()


def test_drifted_config_and_missing_partitions_are_repaired(kafka_settings: KafkaSettings) -> None:
    settings = TopicSettings(**kafka_settings.model_dump(), partitions=2)
    ensure_topics(settings)
    admin = KafkaAdminClient(**settings.client_config("test-admin"))
    try:
        admin.alter_configs(
            [ConfigResource("TOPIC", settings.state_topic, configs={"cleanup.policy": "delete"})]
        )
        grown = TopicSettings(**kafka_settings.model_dump(), partitions=4)
        reports = {r.name: r for r in ensure_topics(grown)}
        assert reports[settings.state_topic].configs_updated == ["cleanup.policy"]
        assert current_configs(admin, settings.state_topic)["cleanup.policy"] == "compact"
        assert len(admin.describe_topics([settings.events_topic])[0]["partitions"]) == 4
    finally:
        admin.close()
