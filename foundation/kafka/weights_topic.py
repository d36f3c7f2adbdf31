"""The weights topic on the wire: one message per model version, read newest first.

This module moves bytes: which artifact a record holds and whether it is acceptable is the core's
rule (``lstmcore.acceptance``), handed in as ``choose``. So a starting worker, ``twincast rollback``
and the trainer's version lookup read the topic the same way and judge it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from foundation.errors import KafkaClientError, KafkaUnavailableError
from foundation.kafka.client import Consumer, ConsumerOptions, Partition, Producer, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.record import ConsumedRecord
from foundation.kafka.topic_reader import READER_FETCH_BYTES, read_backwards
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
    except KafkaClientError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc
    partition = Partition(settings.weights_topic, 0)
    try:
        consumer.assign([partition])
        end = consumer.end_offsets([partition], timeout_s)[partition]
        return choose(read_backwards(consumer, partition, end, timeout_s), end)
    except KafkaClientError as exc:
        raise KafkaUnavailableError(f"cannot read {settings.weights_topic}: {exc}") from exc
    finally:
        consumer.close()


def weights_consumer(settings: KafkaSettings, role: str) -> Consumer:
    options = ConsumerOptions(
        role, max_partition_fetch_bytes=READER_FETCH_BYTES, fetch_max_bytes=READER_FETCH_BYTES
    )
    return kafka_clients(settings).consumer(options)


def weights_producer(settings: KafkaSettings, max_message_bytes: int) -> Producer:
    # The client's default retries: keep trying until its delivery timeout (a broker restart).
    options = ProducerOptions("weights-publisher", acks="all", max_request_size=max_message_bytes)
    return kafka_clients(settings).producer(options)


def publish(producer: Producer, topic: str, message: WeightsMessage, timeout_s: float = 60) -> int:
    """Send one version and wait until the broker has it; returns its offset."""
    sent = producer.send(
        topic,
        key=message.key,
        value=message.value,
        headers=[
            (HEADER_VERSION, str(message.version).encode()),
            (HEADER_SHA256, message.sha256.encode()),
        ],
    )
    try:
        producer.flush(timeout_s)  # bounded: a broker that is away raises, not hangs
        offset = sent.offset(timeout_s)
    except KafkaClientError as exc:
        raise KafkaUnavailableError(f"publishing version {message.version} failed: {exc}") from exc
    return offset
