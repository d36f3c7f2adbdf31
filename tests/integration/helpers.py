"""Shared helpers of the integration tests: topics, producing events, running services."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from foundation.kafka.topics import ensure_topics
from foundation.kafka.weights_topic import publish, read_newest_first, weights_producer
from foundation.settings.base import KafkaSettings, TopicSettings
from lstmcore.acceptance import LatestModel, latest_model, weights_message
from lstmcore.artifact import Artifact
from schemas import Event, Forecast, decode, encode

START = datetime(2026, 1, 1, tzinfo=UTC)


def create_topics(settings: KafkaSettings, partitions: int = 3) -> TopicSettings:
    topics = TopicSettings(**settings.model_dump(), partitions=partitions)
    ensure_topics(topics)
    return topics


def produce_series(
    settings: KafkaSettings,
    series: Mapping[str, npt.NDArray[np.float64]],
    first_step: int = 0,
    extra: list[tuple[bytes | None, bytes | None]] | None = None,
) -> int:
    """Produce the series interleaved in time order (key = series_id); then raw extras."""
    producer = KafkaProducer(**settings.client_config("test-producer"), acks="all", linger_ms=5)
    length = max(len(v) for v in series.values())
    sent = 0
    for t in range(length):
        for name, values in series.items():
            if t < len(values):
                value = float(values[t, 0]) if values.shape[1] == 1 else values[t].tolist()
                event = Event(
                    series_id=name, ts=START + timedelta(minutes=first_step + t), value=value
                )
                producer.send(settings.events_topic, key=name.encode(), value=encode(event))
                sent += 1
    for key, raw in extra or []:
        producer.send(settings.events_topic, key=key, value=raw)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def service_env(settings: KafkaSettings, **values: object) -> dict[str, str]:
    """Environment for a service subprocess: the test's broker and topics plus extra settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env["TWINCAST_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    env["TWINCAST_KAFKA_CLIENT"] = settings.kafka_client
    for role, name in settings.topic_names().items():
        env[f"TWINCAST_{role.upper()}_TOPIC"] = name
    for key, value in values.items():
        env[f"TWINCAST_{key.upper()}"] = str(value)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_module(
    module: str, args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_module(
    module: str, args: list[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=dict(env),
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def wait_for_line(
    log: Path, text: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ``text`` appears in a service's log (a condition, never a fixed sleep); fail
    early if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise AssertionError(f"{text!r} not in {log} after {timeout_s}s:\n{tail}")


def consume(
    settings: KafkaSettings,
    topic: str,
    expected: int,
    timeout_s: float = 60.0,
    isolation_level: str = "read_uncommitted",
) -> list[ConsumerRecord]:
    """Read a topic from the beginning until ``expected`` records arrived (or the timeout)."""
    consumer = KafkaConsumer(
        topic,
        **settings.client_config("test-reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        isolation_level=isolation_level,
    )
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def forecasts_of(records: list[ConsumerRecord]) -> list[Forecast]:
    return [decode(Forecast, r.value) for r in records]


def read_latest(settings: KafkaSettings, features: int | None) -> LatestModel:
    """The model a starting worker would serve (what ``worker.startup`` reads)."""
    return read_newest_first(settings, latest_model(features, settings.artifact_limits()))


def publish_artifact(settings: KafkaSettings, artifact: Artifact) -> None:
    producer = weights_producer(settings, 64 * 1024 * 1024)
    publish(producer, settings.weights_topic, weights_message(artifact))
    producer.close()


def publish_raw(settings: KafkaSettings, raw: bytes) -> None:
    producer = weights_producer(settings, 64 * 1024 * 1024)
    producer.send(settings.weights_topic, key=b"twincast-lstm", value=raw)
    producer.flush()
    producer.close()
