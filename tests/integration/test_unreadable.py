"""A record whose header name is not UTF-8, in the middle of a record batch. kafka-python cannot
parse it: the rest of that batch is skipped, each of its offsets refused and counted, and both the
worker and ``trainer --once`` go on (before issue 11 both exited 1 on every restart).
confluent-kafka reads everything but its headers: that one record is refused and counted, every
other one served (before, its ``Message.headers()`` crashed the worker)."""

from __future__ import annotations

import math
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer

from foundation.errors import KafkaClientError
from foundation.kafka.client import Consumer, Partition
from foundation.kafka.kafka_python.consumer import KafkaPythonConsumer
from foundation.kafka.unreadable import Skipped, _discard_failed_parse, skip_unreadable, unreadable
from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas import DeadLetter, Event, decode, encode
from tests.integration.helpers import (
    START,
    consume,
    create_topics,
    forecasts_of,
    publish_artifact,
    run_module,
    service_env,
)
from tests.integration.test_worker import by_series, sequential_reference
from tests.unit.test_artifact import make_artifact
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

SERIES, STEPS = 4, 30
BATCHED = range(10, 20)  # steps sent in one producer batch per partition
BAD_AFTER = 14  # the unreadable record follows this step's events


class NotUtf8(str):
    """A header name kafka-python's producer writes as bytes that are not UTF-8 (as a client
    writing raw header bytes, such as librdkafka, can)."""

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return b"\xff\xfe"


class _Sent:
    def __init__(self, settings: KafkaSettings, data: dict[str, np.ndarray]) -> None:
        self.settings, self.data = settings, data
        self.futures: list[tuple[str, int, object]] = []  # (series, step, future)
        self.bad: object = None

    def event(self, producer: KafkaProducer, name: str, t: int) -> None:
        event = Event(series_id=name, ts=START + timedelta(minutes=t), value=self.data[name][t, 0])
        raw = encode(event)
        future = producer.send(self.settings.events_topic, key=name.encode(), value=raw)
        self.futures.append((name, t, future))

    def steps(self, steps: range, linger_ms: int, bad_after: int | None = None) -> None:
        producer = KafkaProducer(
            **self.settings.client_config("test-unreadable"), acks="all", linger_ms=linger_ms
        )
        for t in steps:
            for name in sorted(self.data):
                self.event(producer, name, t)
            if t == bad_after:  # into the partition of the first series, mid-batch
                name = sorted(self.data)[0]
                value = encode(Event(series_id=name, ts=START, value=1.0))
                self.bad = producer.send(
                    self.settings.events_topic,
                    key=name.encode(),
                    value=value,
                    headers=[(NotUtf8("x"), b"1")],
                )
        producer.flush()
        producer.close()

    def unreadable(self) -> tuple[int, range]:
        """The partition and offsets lost: the bad record and the rest of its batch on
        kafka-python, the bad record alone on confluent-kafka."""
        bad = self.bad.get()  # type: ignore[attr-defined]
        if self.settings.kafka_client == "confluent-kafka":
            return bad.partition, range(bad.offset, bad.offset + 1)
        in_batch = [
            meta.offset
            for _, t, meta in self.metadata()
            if t in BATCHED and meta.partition == bad.partition
        ]
        return bad.partition, range(bad.offset, max(in_batch) + 1)

    def metadata(self) -> list[tuple[str, int, Any]]:
        return [(name, t, future.get()) for name, t, future in self.futures]  # type: ignore[attr-defined]

    def readable(self, lost: tuple[int, range]) -> dict[str, np.ndarray]:
        """Per series, the values of the events outside the unreadable range, in order."""
        kept: dict[str, list[float]] = {name: [] for name in self.data}
        for name, t, meta in self.metadata():
            if (meta.partition, meta.offset in lost[1]) != (lost[0], True):
                kept[name].append(float(self.data[name][t, 0]))
        return {name: np.asarray(values)[:, None] for name, values in kept.items()}


def _produce(settings: KafkaSettings) -> _Sent:
    sent = _Sent(settings, seasonal_series(SERIES, STEPS, seed=5))
    sent.steps(range(BATCHED.start), linger_ms=0)
    # One flush after a long linger: each partition's events of these steps share one batch.
    sent.steps(BATCHED, linger_ms=2000, bad_after=BAD_AFTER)
    sent.steps(range(BATCHED.stop, STEPS), linger_ms=0)
    return sent


def _kafka_python_consumer(settings: KafkaSettings, role: str) -> Consumer:
    """kafka-python's consumer (the client that cannot parse these records), in the layer."""
    return KafkaPythonConsumer(
        KafkaConsumer(
            **settings.client_config(role),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
    )


def _kafka_python_only(settings: KafkaSettings) -> None:
    """The probing search is kafka-python's (confluent-kafka needs none): run it once."""
    if settings.kafka_client != "kafka-python":
        pytest.skip("kafka-python's probing search, which the services on confluent-kafka skip")


def test_the_unreadable_rest_of_a_batch_is_found_and_skipped(
    kafka_settings: KafkaSettings,
) -> None:
    """The probing search, on its own: the skipped range is exactly the rest of the batch, found
    in few probes, and every other record is read as usual afterwards."""
    _kafka_python_only(kafka_settings)
    create_topics(kafka_settings)
    sent = _produce(kafka_settings)
    partition, lost = sent.unreadable()
    consumer = _kafka_python_consumer(kafka_settings, "test-unreadable-reader")
    parts = [Partition(kafka_settings.events_topic, p) for p in range(3)]
    consumer.assign(parts)
    read: list[tuple[int, int]] = []
    skipped: list[Skipped] = []
    try:
        while len(read) + sum(len(s.offsets()) for s in skipped) < len(sent.futures) + 1:
            try:
                batches = consumer.poll(0.2)
            except KafkaClientError as exc:
                assert unreadable(exc), exc
                found = skip_unreadable(consumer, exc, timeout_ms=200)
                assert found is not None
                skipped.append(found)
                continue
            read += [(r.partition, r.offset) for b in batches.values() for r in b]
    finally:
        consumer.close()
    assert len(skipped) == 1
    found = skipped[0]
    print(f"skipped {found}: {found.probes} probes for a range of {len(found.offsets())}")
    assert (found.partition.partition, found.offsets()) == (partition, lost)
    assert "invalid record structure" in found.error
    assert found.probes <= len(parts) + 2 * math.ceil(math.log2(len(lost) + 1)) + 1
    expected = {(m.partition, m.offset) for _, _, m in sent.metadata()}
    assert sorted(read) == sorted(x for x in expected if not (x[0] == partition and x[1] in lost))


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_worker_and_trainer_skip_the_unreadable_rest_of_a_batch(
    kafka_settings: KafkaSettings, tmp_path: Path, exactly_once: bool
) -> None:
    create_topics(kafka_settings)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(kafka_settings, artifact)
    sent = _produce(kafka_settings)
    partition, lost = sent.unreadable()
    readable = len(sent.futures) - (len(lost) - 1)  # the bad record is not among the events

    env = service_env(kafka_settings, metrics_port=0, exactly_once=exactly_once)
    worker = run_module("worker", ["--exit-when-idle", "3"], env, tmp_path)
    assert worker.returncode == 0, worker.stderr[-3000:]
    logged = f"{len(lost)} unreadable records skipped: partition {partition} offsets {lost[0]}-"
    assert logged in worker.stderr
    print(next(line for line in worker.stderr.splitlines() if logged in line)[:160])
    isolation = "read_committed" if exactly_once else "read_uncommitted"
    letters = [
        decode(DeadLetter, r.value)
        for r in consume(kafka_settings, kafka_settings.dlq_topic, len(lost), 60, isolation)
    ]
    assert sorted((d.source_partition, d.source_offset) for d in letters) == [
        (partition, o) for o in lost
    ]
    assert {d.reason for d in letters} == {"unreadable_record"}
    if kafka_settings.kafka_client == "confluent-kafka":  # the one record, value and all
        (letter,) = letters
        assert "a header name is not UTF-8" in letter.error
        assert letter.raw() == encode(Event(series_id=sorted(sent.data)[0], ts=START, value=1.0))
    else:  # nothing of the rest of the batch could be read
        assert all("invalid record structure" in d.error and d.raw_size == 0 for d in letters)
    forecasts = forecasts_of(
        consume(kafka_settings, kafka_settings.forecasts_topic, readable, 60, isolation)
    )
    assert len(forecasts) == readable, "one forecast per event outside the unreadable range"
    reference = sequential_reference(
        ServingModel.from_artifact(artifact), sent.readable((partition, lost))
    )
    for name, got in by_series(forecasts).items():
        np.testing.assert_allclose([f.forecast for f in got], reference[name], atol=1e-5)

    history = tmp_path / "history.sqlite"
    env = service_env(
        kafka_settings,
        history_db=history,
        metrics_port=0,
        artifact_dir=tmp_path / "artifacts",
        epochs=2,
        units=4,
        batch_size=4,
        tbptt=8,
    )
    trainer = run_module("trainer", ["--once"], env, tmp_path)
    assert trainer.returncode == 0, trainer.stderr[-3000:]
    assert logged in trainer.stderr
    with sqlite3.connect(history) as db:
        points = db.execute("SELECT count(*) FROM points").fetchone()[0]
        consumed = db.execute("SELECT sum(next_offset) FROM offsets").fetchone()[0]
    assert points == readable, "every readable event is in the history"
    assert consumed == len(sent.futures) + 1, "ingestion went past the unreadable records"


def test_a_poll_after_a_failed_search_raises_again_instead_of_hanging(
    kafka_settings: KafkaSettings,
) -> None:
    """When the search cannot finish (broker away), the loop polls again at the bad record: that
    poll must raise again (and the search run again), never spin on the spent record set."""
    _kafka_python_only(kafka_settings)
    create_topics(kafka_settings)
    _produce(kafka_settings)
    consumer = _kafka_python_consumer(kafka_settings, "test-unreadable-again")
    consumer.assign([Partition(kafka_settings.events_topic, p) for p in range(3)])
    failures = 0
    try:
        deadline = time.monotonic() + 30
        while failures < 3 and time.monotonic() < deadline:
            try:
                consumer.poll(0.2)
            except KafkaClientError as exc:
                assert unreadable(exc), exc
                failures += 1
                _discard_failed_parse(consumer)  # what skip_unreadable does first
    finally:
        consumer.close()
    assert failures == 3
