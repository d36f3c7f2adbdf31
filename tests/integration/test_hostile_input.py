"""Hostile input at volume: thousands of bad records mixed into a valid stream. Every bad one
lands in the DLQ with a reason and its offset, memory does not grow with them, and every valid
event gets the forecast an undisturbed run would give."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

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
    start_module,
)
from tests.integration.test_worker import by_series, sequential_reference
from tests.unit.test_artifact import make_artifact
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

SERIES, STEPS, BAD_PER_STEP = 5, 200, 15  # 1,000 valid events, 3,000 hostile records
VALID_PER_HALF, BAD_PER_HALF = SERIES * STEPS // 2, BAD_PER_STEP * STEPS // 2


def _hostile(rng: random.Random, names: list[str]) -> tuple[bytes | None, bytes | None]:
    """One bad record (key, value) of a random kind."""
    valid = encode(Event(series_id=rng.choice(names), ts=START, value=1.0))
    key = rng.choice(names).encode()
    kind = rng.randrange(10)
    if kind == 0:  # random bytes
        return key, rng.randbytes(rng.randrange(0, 300))
    if kind == 1:  # a valid event cut short
        return key, valid[: rng.randrange(0, len(valid) - 1)]
    if kind == 2:  # huge: just under Kafka's default message size
        return key, b'{"series_id": "' + b"x" * rng.randrange(200_000, 900_000) + b'"}'
    if kind == 3:  # deeply nested JSON, small enough to be parsed
        depth = rng.randrange(1_000, 30_000)
        return key, b'{"series_id": "a", "ts": 1, "value": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == 4:  # wrong types
        field = rng.choice([b'"value": "1.0"', b'"value": true', b'"value": {}', b'"ts": [1]'])
        return key, b'{"series_id": "' + key + b'", "ts": 1, "value": 1, ' + field + b"}"
    if kind == 5:  # not finite
        number = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"[1, NaN]"])
        return key, b'{"series_id": "' + key + b'", "ts": 1, "value": ' + number + b"}"
    if kind == 6:  # a tombstone
        return key, None
    if kind == 7:  # no key
        return None, valid
    if kind == 8:  # a huge key that is not the series id
        return b"k" * rng.randrange(100_000, 500_000), valid
    return key, rng.choice([b"", b"null", b"[]", b"{}", b"\xff\xfe", b'"text"', b"1"])


def _produce_half(
    settings: KafkaSettings, data: dict[str, np.ndarray], steps: range, rng: random.Random
) -> list[tuple[int, int]]:
    """Valid events of these steps with hostile records between them; the bad positions."""
    producer = KafkaProducer(
        **settings.client_config("test-hostile"), acks="all", linger_ms=5, max_request_size=2**20
    )
    bad = []
    names = sorted(data)
    for t in steps:
        for name in names:
            event = Event(
                series_id=name, ts=START + timedelta(minutes=t), value=float(data[name][t, 0])
            )
            producer.send(settings.events_topic, key=name.encode(), value=encode(event))
        for _ in range(BAD_PER_STEP):
            key, value = _hostile(rng, names)
            bad.append(producer.send(settings.events_topic, key=key, value=value))
    producer.flush()
    producer.close()
    return [(f.get().partition, f.get().offset) for f in bad]


def _rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of a process, KiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def _wait_for_dead_letters(settings: KafkaSettings, expected: int) -> list[DeadLetter]:
    deadline = time.monotonic() + 120
    letters: list[DeadLetter] = []
    while len(letters) < expected and time.monotonic() < deadline:
        letters = [
            decode(DeadLetter, r.value) for r in consume(settings, settings.dlq_topic, expected, 5)
        ]
    return letters


def test_hostile_input_at_volume(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    create_topics(kafka_settings)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(kafka_settings, artifact)
    data = seasonal_series(SERIES, STEPS, seed=41)
    rng = random.Random(7)
    env = service_env(kafka_settings, metrics_port=0, commit_interval_ms=1000)
    worker = start_module("worker", [], env, tmp_path, tmp_path / "worker.log")
    try:
        bad = _produce_half(kafka_settings, data, range(STEPS // 2), rng)
        _wait_for_dead_letters(kafka_settings, len(bad))
        after_first, _ = _rss_kib(worker.pid)
        bad += _produce_half(kafka_settings, data, range(STEPS // 2, STEPS), rng)
        letters = _wait_for_dead_letters(kafka_settings, len(bad))
        after_second, peak = _rss_kib(worker.pid)
        assert worker.poll() is None, "the worker is still up"
    finally:
        worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]

    reasons = Counter(letter.reason for letter in letters)
    print(f"{len(bad)} hostile records -> dead letters by reason: {dict(reasons)}")
    print(f"worker RSS after each half: {after_first} / {after_second} KiB, peak {peak} KiB")
    assert len(letters) == len(bad) == 2 * BAD_PER_HALF
    assert {(d.source_partition, d.source_offset) for d in letters} == set(bad)
    assert all(d.reason and d.error for d in letters)
    assert after_second - after_first < 64 * 1024, "memory does not grow with the bad records"
    assert peak < 1024 * 1024

    forecasts = forecasts_of(
        consume(kafka_settings, kafka_settings.forecasts_topic, 2 * VALID_PER_HALF)
    )
    assert len(forecasts) == SERIES * STEPS, "one forecast per valid event, none for a bad one"
    reference = sequential_reference(ServingModel.from_artifact(artifact), data)
    for name, got in by_series(forecasts).items():
        np.testing.assert_allclose([f.forecast for f in got], reference[name], atol=1e-5)


# Valid JSON whose timestamp no service can hold: before issue 11 each one made the worker and
# `trainer --once` exit 1, on every restart (a poison pill). (raw template, words in the error)
POISON: list[tuple[str, str]] = [
    ('{"series_id": "%s", "ts": "9999-12-31T23:59:59-01:00", "value": 1}', "ts: out of range"),
    ('{"series_id": "%s", "ts": "0001-01-01T00:00:00+01:00", "value": 1}', "ts: out of range"),
    ('{"series_id": "%s", "ts": 1e20, "value": 1}', "ts: "),  # epoch seconds past year 9999
    ('{"series_id": "%s", "ts": 100000000000000000000000000000, "value": 1}', "ts: "),  # > 2**64
]
POISON_STEPS = (3, 11, 12, 25)  # between valid events, so polls hold both


def _produce_with_poison(
    settings: KafkaSettings, data: dict[str, np.ndarray]
) -> dict[tuple[int, int], str]:
    """Valid events of every series in time order, a poison event after some steps; the poison's
    (partition, offset) -> the words its dead letter must carry."""
    producer = KafkaProducer(**settings.client_config("test-poison"), acks="all", linger_ms=5)
    sent = []
    names = sorted(data)
    for t in range(len(data[names[0]])):
        for name in names:
            event = Event(
                series_id=name, ts=START + timedelta(minutes=t), value=float(data[name][t, 0])
            )
            producer.send(settings.events_topic, key=name.encode(), value=encode(event))
        if t in POISON_STEPS:
            template, words = POISON[POISON_STEPS.index(t)]
            name = names[t % len(names)]
            raw = (template % name).encode()
            sent.append((producer.send(settings.events_topic, key=name.encode(), value=raw), words))
    producer.flush()
    producer.close()
    return {(f.get().partition, f.get().offset): words for f, words in sent}


def test_poison_events_are_dead_letters_and_skips_never_a_crash(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(kafka_settings, artifact)
    data = seasonal_series(4, 40, seed=11)
    poison = _produce_with_poison(kafka_settings, data)
    valid = sum(len(v) for v in data.values())

    env = service_env(kafka_settings, metrics_port=0)
    worker = run_module("worker", ["--exit-when-idle", "3"], env, tmp_path)
    assert worker.returncode == 0, worker.stderr[-3000:]
    letters = [
        decode(DeadLetter, r.value)
        for r in consume(kafka_settings, kafka_settings.dlq_topic, len(poison))
    ]
    print(f"injected {len(poison)} poison events; dead letters: {[d.error for d in letters]}")
    assert {(d.source_partition, d.source_offset) for d in letters} == set(poison)
    for letter in letters:
        assert letter.reason == "schema_violation"
        assert poison[(letter.source_partition, letter.source_offset)] in letter.error
    forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, valid))
    assert len(forecasts) == valid, "one forecast per valid event, none for a poison one"
    reference = sequential_reference(ServingModel.from_artifact(artifact), data)
    for name, got in by_series(forecasts).items():
        np.testing.assert_allclose([f.forecast for f in got], reference[name], atol=1e-5)

    _assert_the_trainer_skips_and_counts(kafka_settings, tmp_path, poison, valid)


def _assert_the_trainer_skips_and_counts(
    settings: KafkaSettings, tmp_path: Path, poison: dict[tuple[int, int], str], valid: int
) -> None:
    env = service_env(
        settings,
        history_db=tmp_path / "history.sqlite",
        artifact_dir=tmp_path / "artifacts",
        metrics_port=0,
        epochs=2,
        units=4,
        batch_size=4,
        tbptt=8,
    )
    trainer = run_module("trainer", ["--once"], env, tmp_path)
    assert trainer.returncode == 0, trainer.stderr[-3000:]
    assert trainer.stderr.count("skipping bad event") == len(poison)
    for (partition, offset), words in poison.items():
        assert f"partition {partition} offset {offset}: schema_violation: {words}" in trainer.stderr
    with sqlite3.connect(tmp_path / "history.sqlite") as db:
        points = db.execute("SELECT count(*) FROM points").fetchone()[0]
        consumed = db.execute("SELECT sum(next_offset) FROM offsets").fetchone()[0]
    assert points == valid, "every valid event is in the history"
    assert consumed == valid + len(poison), "ingestion went past every poison event"
