"""Reading and publishing model artifacts on the weights topic (one message per version)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from lstmcore.artifact import Artifact, decode_artifact, encode_artifact
from lstmcore.serving import ServingModel
from twincast.errors import ArtifactError, KafkaUnavailableError
from twincast.settings import KafkaSettings

log = logging.getLogger(__name__)

HEADER_VERSION = "twincast-model-version"
HEADER_SHA256 = "twincast-sha256"


@dataclass
class LatestModel:
    """The newest valid model found on the topic, and what was refused on the way."""

    model: ServingModel | None = None
    refused: list[tuple[int, str]] = field(default_factory=list)  # (offset, reason)
    next_offset: int = 0


def accept(raw: bytes, features: int | None, current_version: int) -> ServingModel:
    """Decode and check one artifact; refuse anything not newer than what is served."""
    model = ServingModel.from_artifact(decode_artifact(raw), features)
    if model.version <= current_version:
        raise ArtifactError(
            "version", f"version {model.version} is not newer than the current {current_version}"
        )
    return model


def read_latest(
    settings: KafkaSettings, features: int | None, timeout_s: float = 15.0
) -> LatestModel:
    """Scan the whole weights topic once and keep the newest artifact that passes every check."""
    try:
        consumer = _consumer(settings, "weights-reader")
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc
    try:
        partition = TopicPartition(settings.weights_topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition], timeout_ms=int(timeout_s * 1000))[partition]
        latest = LatestModel()
        while consumer.position(partition) < end:
            for records in consumer.poll(timeout_ms=int(timeout_s * 1000)).values():
                for record in records:
                    _consider(latest, record.value, record.offset, features)
        latest.next_offset = end
        return latest
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {settings.weights_topic}: {exc}") from exc
    finally:
        consumer.close()


def _consider(latest: LatestModel, raw: bytes, offset: int, features: int | None) -> None:
    current = latest.model.version if latest.model else 0
    try:
        latest.model = accept(raw, features, current)
    except ArtifactError as exc:
        latest.refused.append((offset, exc.reason))
        log.warning("weights offset %d refused: %s", offset, exc)


def _consumer(settings: KafkaSettings, role: str, **extra: Any) -> KafkaConsumer:
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


def publish(producer: KafkaProducer, topic: str, artifact: Artifact, timeout_s: float = 60) -> int:
    """Send one artifact and wait until the broker has it; returns its offset."""
    manifest = artifact.manifest
    future = producer.send(
        topic,
        key=manifest.model_name.encode(),
        value=encode_artifact(artifact),
        headers=[
            (HEADER_VERSION, str(manifest.version).encode()),
            (HEADER_SHA256, manifest.sha256.encode()),
        ],
    )
    try:
        producer.flush(timeout=timeout_s)  # bounded: a broker that is away raises, not hangs
        offset: int = future.get(timeout=timeout_s).offset
    except KafkaError as exc:
        raise KafkaUnavailableError(f"publishing version {manifest.version} failed: {exc}") from exc
    return offset
