"""confluent-kafka's admin client as a ``foundation.kafka.client.Admin``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    ResourceType,
)
from confluent_kafka.admin import NewTopic as RawNewTopic

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import NewTopic
from foundation.kafka.confluent.errors import translate, translated

ADMIN_WAIT_S = 30.0


class ConfluentAdmin:
    def __init__(self, raw: AdminClient) -> None:
        self._raw = raw

    @contextmanager
    def _translated(self, context: str) -> Iterator[None]:
        """``translated``; and when a call fails, the error callback is run before the error is
        raised: it may know why (a refused login, which librdkafka reports only that way; the
        call itself just times out)."""
        try:
            with translated(context):
                yield
        except KafkaClientError:
            self._raw.poll(0)
            raise

    def create_topic(self, topic: NewTopic, timeout_s: float) -> bool:
        new = RawNewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=topic.replication_factor,
            config=dict(topic.configs),
        )
        with self._translated(f"creating {topic.name}"):
            future = self._raw.create_topics([new], operation_timeout=timeout_s)[topic.name]
        try:
            future.result(timeout=timeout_s)
            created = True
        except KafkaException as exc:
            error = exc.args[0]
            if not isinstance(error, KafkaError) or error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                self._raw.poll(0)  # as in _translated
                raise translate(exc, f"cannot create {topic.name}") from exc
            created = False
        self._wait_until_ready(topic.name, timeout_s)
        return created

    def _wait_until_ready(self, topic: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._translated(f"metadata of {topic}"):
                found = self._raw.list_topics(topic, timeout=timeout_s).topics.get(topic)
            partitions = found.partitions if found is not None and found.error is None else {}
            if partitions and all(p.leader >= 0 for p in partitions.values()):
                return
            if time.monotonic() > deadline:
                raise KafkaClientError(KafkaErrorKind.TIMEOUT, f"{topic} not ready", retriable=True)
            time.sleep(0.1)

    def partition_count(self, topic: str) -> int:
        with self._translated(f"metadata of {topic}"):
            found = self._raw.list_topics(topic, timeout=ADMIN_WAIT_S).topics.get(topic)
        if found is None or found.error is not None:
            raise KafkaClientError(
                KafkaErrorKind.UNKNOWN_TOPIC, f"{topic} does not exist", retriable=True
            )
        return len(found.partitions)

    def create_partitions(self, topic: str, total: int) -> None:
        with self._translated(f"growing {topic}"):
            futures = self._raw.create_partitions([NewPartitions(topic, total)])
            futures[topic].result(timeout=ADMIN_WAIT_S)
        deadline = time.monotonic() + ADMIN_WAIT_S
        while self.partition_count(topic) < total and time.monotonic() < deadline:
            time.sleep(0.1)  # metadata follows a moment later

    def topic_configs(self, topic: str) -> dict[str, str]:
        resource = ConfigResource(ResourceType.TOPIC, topic)
        with self._translated(f"configs of {topic}"):
            entries = self._raw.describe_configs([resource])[resource].result(timeout=ADMIN_WAIT_S)
        return {name: str(entry.value) for name, entry in entries.items()}

    def alter_topic_configs(self, topic: str, configs: Mapping[str, str]) -> None:
        # Each given value is set; the topic's other configs stay as they are.
        entries = [
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in configs.items()
        ]
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
        with self._translated(f"altering {topic}"):
            futures = self._raw.incremental_alter_configs([resource])
            futures[resource].result(timeout=ADMIN_WAIT_S)

    def list_topics(self) -> list[str]:
        with self._translated("listing topics"):
            return [str(name) for name in self._raw.list_topics(timeout=ADMIN_WAIT_S).topics]

    def close(self) -> None:
        """librdkafka's admin client has nothing to close."""
