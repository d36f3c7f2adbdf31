"""Reading and publishing model artifacts on the weights topic (one message per version).

``accept`` is the one acceptance rule: the worker's watcher, its start-up, ``twincast rollback``
and the trainer (on what it is about to publish) all use it, with the same limits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from lstmcore.artifact import Artifact, decode_artifact, encode_artifact
from lstmcore.limits import ArtifactLimits, check_version
from lstmcore.serving import ServingModel
from twincast.errors import ArtifactError, KafkaUnavailableError
from twincast.settings import KafkaSettings
from twincast.topic_reader import read_backwards

log = logging.getLogger(__name__)

HEADER_VERSION = "twincast-model-version"
HEADER_SHA256 = "twincast-sha256"


@dataclass
class LatestModel:
    """The newest valid model found on the topic, and what was refused on the way."""

    model: ServingModel | None = None
    refused: list[tuple[int, str]] = field(default_factory=list)  # (offset, reason)
    next_offset: int = 0


@contextmanager
def _any_failure_refuses() -> Iterator[None]:
    """The one boundary: nothing unforeseen in a record (MemoryError included) stops a service."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError("unexpected", f"{type(exc).__name__}: {exc}") from exc


def decode_record(raw: bytes | None, limits: ArtifactLimits) -> Artifact:
    if not isinstance(raw, bytes):
        raise ArtifactError("format", "the record has no value")
    with _any_failure_refuses():
        return decode_artifact(raw, limits)


def prepare(raw: bytes | None, features: int | None, limits: ArtifactLimits) -> ServingModel:
    """Decode, check and smoke-test one artifact; whatever goes wrong is an ArtifactError."""
    artifact = decode_record(raw, limits)
    with _any_failure_refuses():
        return ServingModel.from_artifact(artifact, features)


def accept(
    raw: bytes | None, features: int | None, current_version: int, limits: ArtifactLimits
) -> ServingModel:
    """What a worker swaps to: a prepared artifact newer than, and not too far ahead of, its own."""
    model = prepare(raw, features, limits)
    check_version(model.version, current_version, limits)
    return model


def read_latest(
    settings: KafkaSettings, features: int | None, timeout_s: float = 15.0
) -> LatestModel:
    """The model a starting worker serves: read from the topic's end backwards (see ``_choose``),
    so start-up does not grow with the versions kept."""
    try:
        consumer = _consumer(settings, "weights-reader")
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc
    partition = TopicPartition(settings.weights_topic, 0)
    try:
        consumer.assign([partition])
        end = consumer.end_offsets([partition], timeout_ms=int(timeout_s * 1000))[partition]
        latest = LatestModel(next_offset=end)
        records = read_backwards(consumer, partition, end, timeout_s)
        _choose(latest, records, features, settings.artifact_limits())
        return latest
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {settings.weights_topic}: {exc}") from exc
    finally:
        consumer.close()


def _choose(
    latest: LatestModel, records: Iterator[Any], features: int | None, limits: ArtifactLimits
) -> None:
    """The newest valid artifact whose version follows the valid one before it as a running
    worker would have accepted it (newer, within the jump); the oldest one follows version 0.

    In the usual case that is two decodes. A record with a huge version is refused here as it
    was live, so workers and the trainer's version lookup never build on it.
    """
    candidate: tuple[int, ServingModel] | None = None
    for record in records:
        try:
            model = prepare(record.value, features, limits)
        except ArtifactError as exc:
            _refuse(latest, record.offset, exc)
            continue
        if candidate is not None and _follows(latest, candidate, model.version, limits):
            latest.model = candidate[1]
            return
        candidate = (record.offset, model)
    if candidate is not None and _follows(latest, candidate, 0, limits):
        latest.model = candidate[1]


def _follows(
    latest: LatestModel, candidate: tuple[int, ServingModel], before: int, limits: ArtifactLimits
) -> bool:
    try:
        check_version(candidate[1].version, before, limits)
    except ArtifactError as exc:
        _refuse(latest, candidate[0], exc)
        return False
    return True


def _refuse(latest: LatestModel, offset: int, exc: ArtifactError) -> None:
    latest.refused.append((offset, exc.reason))
    log.warning("weights offset %d refused: %s", offset, exc)


def find_version(settings: KafkaSettings, version: int, timeout_s: float = 15.0) -> Artifact | None:
    """The newest valid artifact of one version, read from the topic's end backwards."""
    consumer = _consumer(settings, "weights-reader")
    partition = TopicPartition(settings.weights_topic, 0)
    limits = settings.artifact_limits()
    try:
        consumer.assign([partition])
        end = consumer.end_offsets([partition], timeout_ms=int(timeout_s * 1000))[partition]
        for record in read_backwards(consumer, partition, end, timeout_s):
            try:
                artifact = decode_record(record.value, limits)
            except ArtifactError:
                continue
            if artifact.manifest.version == version:
                return artifact
        return None
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot read {settings.weights_topic}: {exc}") from exc
    finally:
        consumer.close()


def check_publishable(
    artifact: Artifact, features: int | None, current_version: int, limits: ArtifactLimits
) -> None:
    """Run exactly the worker's acceptance on what is about to be published."""
    accept(encode_artifact(artifact), features, current_version, limits)


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
