"""Operator commands: roll back to an earlier model, reset a series' state, read the DLQ."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from foundation.errors import ArtifactError, SchemaError, TwincastError
from foundation.kafka.client import ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topic_reader import read_topic
from foundation.kafka.weights_topic import publish, read_newest_first, weights_producer
from foundation.settings.base import KafkaSettings
from lstmcore.acceptance import (
    artifact_of_version,
    check_publishable,
    latest_model,
    weights_message,
)
from lstmcore.artifact import seal
from schemas import DeadLetter, decode
from schemas.control import RESET, control_record


def rollback(settings: KafkaSettings, to_version: int, max_message_bytes: int) -> int:
    """Publish the artifact of an earlier version again, under a new (highest) version number.

    Workers only ever move forward in versions, so a rollback is a re-publication: the same
    architecture, scaler and arrays as ``to_version``, with the version after the one workers
    serve now. Both are read from the topic's end backwards. Returns the new version.
    """
    limits = settings.artifact_limits()
    current = read_newest_first(settings, latest_model(None, limits)).model
    target = read_newest_first(settings, artifact_of_version(to_version, limits))
    if current is None or target is None:
        raise TwincastError(
            f"no valid artifact of version {to_version} on {settings.weights_topic}"
        )
    fields = target.manifest.model_dump(exclude={"arrays", "sha256"})
    fields.update(version=current.version + 1, created_at=datetime.now(UTC))
    republished = seal(fields, dict(target.arrays))
    try:
        check_publishable(republished, None, current.version, limits)
    except ArtifactError as exc:
        raise TwincastError(f"workers would refuse the republished version: {exc}") from exc
    producer = weights_producer(settings, max_message_bytes)
    try:
        publish(producer, settings.weights_topic, weights_message(republished))
    finally:
        producer.close()
    return current.version + 1


def reset_series(settings: KafkaSettings, series_id: str) -> None:
    """Send a reset control record for the series, in order with its events."""
    key, value, headers = control_record(series_id, RESET)
    producer = kafka_clients(settings).producer(ProducerOptions("operator", acks="all"))
    try:
        producer.send(settings.events_topic, key=key, value=value, headers=headers)
        producer.flush()
    finally:
        producer.close()


def print_dead_letters(settings: KafkaSettings, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Every dead letter on the DLQ now, readable or as JSON Lines. Returns how many."""
    count = 0
    for record in read_topic(settings, settings.dlq_topic):
        try:
            letter = decode(DeadLetter, record.value)
        except SchemaError as exc:
            print(f"# dlq offset {record.offset}: not a dead letter ({exc})", file=sys.stderr)
            continue
        count += 1
        if as_json:
            print(letter.model_dump_json(), file=out)
            continue
        raw = letter.raw()
        preview = (
            "null" if raw is None else repr(raw[:60]) + ("..." if letter.raw_size > 60 else "")
        )
        print(
            f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset} "
            f"{letter.reason}: {letter.error} | raw {preview}",
            file=out,
        )
    return count
