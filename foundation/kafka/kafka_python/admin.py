"""kafka-python's admin client as a ``foundation.kafka.client.Admin``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka.admin import ConfigResource

from foundation.kafka.client import NewTopic
from foundation.kafka.kafka_python.errors import from_code, translated

_TOPIC_ALREADY_EXISTS = 36


class KafkaPythonAdmin:
    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def create_topic(self, topic: NewTopic, timeout_s: float) -> bool:
        request = {
            topic.name: {
                "num_partitions": topic.partitions,
                "replication_factor": topic.replication_factor,
                "configs": dict(topic.configs),
            }
        }
        timeout_ms = int(timeout_s * 1000)
        with translated():
            response = self._raw.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
        result = response["topics"][0]
        code = result["error_code"]
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            raise from_code(code, f"cannot create {topic.name}: {result['error_message']}")
        with translated():
            self._raw.wait_for_topics([topic.name], timeout_ms=timeout_ms)
        return bool(code == 0)

    def partition_count(self, topic: str) -> int:
        with translated():
            return len(self._raw.describe_topics([topic])[0]["partitions"])

    def create_partitions(self, topic: str, total: int) -> None:
        with translated():
            self._raw.create_partitions({topic: total})

    def topic_configs(self, topic: str) -> dict[str, str]:
        with translated():
            described = self._raw.describe_configs(
                [ConfigResource("TOPIC", topic)], config_filter="all"
            )
        entries = described["topic"][topic]
        return {key: str(entry["value"]) for key, entry in entries.items()}

    def alter_topic_configs(self, topic: str, configs: Mapping[str, str]) -> None:
        with translated():
            self._raw.alter_configs([ConfigResource("TOPIC", topic, configs=dict(configs))])

    def list_topics(self) -> list[str]:
        with translated():
            return [str(name) for name in self._raw.list_topics()]

    def close(self) -> None:
        with translated():
            self._raw.close()
