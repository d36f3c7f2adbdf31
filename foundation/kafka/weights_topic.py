"""The weights topic on the wire: one message per model version, read newest first.

This module moves bytes: which artifact a record holds and whether it is acceptable is the core's
rule (``lstmcore.acceptance``), handed in as ``choose``. So a starting worker, ``twincast rollback``
and the trainer's version lookup read the topic the same way and judge it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from foundation.errors import KafkaUnavailableError
from foundation.kafka.record import ConsumedRecord
from foundation.kafka.topic_reader import read_backwards
from foundation.settings.base import KafkaSettings

HEADER_VERSION = "twincast-model-version"
HEADER_SHA256 = "twincast-sha256"

T = TypeVar("T")
Chooser = Callable[[Iterator[ConsumedRecord], int], T]  # (records newest first, end offset)


@dataclass(frozen=True)
class WeightsMessage:
    """One version as it is published: the encoded artifact, announced with its checksum."""

    key: bytes
    value: bytes
    version: int
    sha256: str


def read_newest_first(settings: KafkaSettings, choose: Chooser[T], timeout_s: float = 15.0) -> T:
    """What ``choose`` makes of the topic's records read from its end backwards; it stops reading
    when it has what it wants, so the cost does not grow with the versions kept."""
    try:
        consumer = weights_consumer(settings, "weights-reader")
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc
    partition = TopicPartition(settings.weights_topic, 0)
    try:
        consumer.assign([partition])
        end = consumer.end_offsets([partition], timeout_ms=int(timeout_s * 1000))[partition]
        return choose(read_backwards(consumer, partition, end, timeout_s), end)
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {settings.weights_topic}: {exc}") from exc
    finally:
        consumer.close()


def weights_consumer(settings: KafkaSettings, role: str, **extra: Any) -> KafkaConsumer:
    return KafkaConsumer(
        **settings.client_config(role),
        enable_auto_commit=False,
        max_partition_fetch_bytes=128 * 1024 * 1024,
        fetch_max_bytes=128 * 1024 * 1024,
        **extra,
    )


def weights_producer(settings: KafkaSettings, max_message_bytes: int) -> KafkaProducer:
    return KafkaProducer(
        **settings.client_config("weights-publisher"),
        acks="all",
        max_request_size=max_message_bytes,
        # kafka-python's default retries: keep trying until delivery_timeout_ms (a broker restart)
    )


def publish(
    producer: KafkaProducer, topic: str, message: WeightsMessage, timeout_s: float = 60
) -> int:
    """Send one version and wait until the broker has it; returns its offset."""
    future = producer.send(
        topic,
        key=message.key,
        value=message.value,
        headers=[
            (HEADER_VERSION, str(message.version).encode()),
            (HEADER_SHA256, message.sha256.encode()),
        ],
    )
    try:
        producer.flush(timeout=timeout_s)  # bounded: a broker that is away raises, not hangs
        offset: int = future.get(timeout=timeout_s).offset
    except KafkaError as exc:
        raise KafkaUnavailableError(f"publishing version {message.version} failed: {exc}") from exc
    return offset
