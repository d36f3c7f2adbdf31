"""`twincast topics` against a real broker: idempotent, documented configs, drift repaired."""

from __future__ import annotations

import pytest

from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics, topic_specs
from foundation.settings.base import KafkaSettings, TopicSettings
from twincast.cli import main

pytestmark = pytest.mark.kafka


def _env(monkeypatch: pytest.MonkeyPatch, settings: KafkaSettings) -> None:
    monkeypatch.setenv("TWINCAST_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    monkeypatch.setenv("TWINCAST_KAFKA_CLIENT", settings.kafka_client)
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
    admin = kafka_clients(settings).admin("test-admin")
    try:
        for spec in topic_specs(settings):
            assert admin.partition_count(spec.name) == spec.partitions
            configs = admin.topic_configs(spec.name)
            for key, value in spec.configs.items():
                assert configs[key] == value, (spec.name, key)
        state = admin.topic_configs(settings.state_topic)
        assert state["cleanup.policy"] == "compact"
        # Small segments, so that compaction reaches states written minutes ago, not hours.
        assert state["segment.bytes"] == str(settings.state_segment_bytes) == str(16 * 2**20)
        assert float(state["min.cleanable.dirty.ratio"]) == settings.state_min_cleanable_dirty_ratio
        weights = admin.topic_configs(settings.weights_topic)
        assert int(weights["max.message.bytes"]) >= 16 * 1024 * 1024
        assert weights["retention.ms"] == "-1"
    finally:
        admin.close()


def test_drifted_config_and_missing_partitions_are_repaired(kafka_settings: KafkaSettings) -> None:
    settings = TopicSettings(**kafka_settings.model_dump(), partitions=2)
    ensure_topics(settings)
    admin = kafka_clients(settings).admin("test-admin")
    try:
        admin.alter_topic_configs(settings.state_topic, {"cleanup.policy": "delete"})
        grown = TopicSettings(**kafka_settings.model_dump(), partitions=4)
        reports = {r.name: r for r in ensure_topics(grown)}
        assert reports[settings.state_topic].configs_updated == ["cleanup.policy"]
        assert admin.topic_configs(settings.state_topic)["cleanup.policy"] == "compact"
        assert admin.partition_count(settings.events_topic) == 4
    finally:
        admin.close()
