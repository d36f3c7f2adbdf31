"""The broker goes away for several seconds mid-stream and comes back: the trainer and the worker
reconnect on their own, every event gets its forecast and lands in the history exactly once."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kafka.errors import KafkaError

from lstmcore.serving import ServingModel
from schemas import Forecast
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    service_env,
    start_module,
)
from tests.integration.test_recovery import _check_against_uninterrupted
from tests.unit.test_artifact import make_artifact
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.ports import free_port
from twincast.settings import KafkaSettings
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

SERIES, STEPS, CHUNK = 8, 300, 10


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test only: stopping it must not disturb the other tests."""
    broker = LocalKafka(
        LocalKafkaSettings(
            kafka_port=free_port(), kafka_controller_port=free_port(), kafka_dir=tmp_path / "k"
        )
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


def _stream_through_outages(
    settings: KafkaSettings, data: dict[str, np.ndarray], delivered: list[float]
) -> None:
    """Produce chunk after chunk (each waits while the broker is away, or fails before it sent
    anything and is tried again); note when each chunk was delivered."""
    for start in range(0, STEPS, CHUNK):
        chunk = {k: v[start : start + CHUNK] for k, v in data.items()}
        while True:
            try:
                produce_series(settings, chunk, first_step=start)
                break
            except KafkaError:
                time.sleep(0.5)
        delivered.append(time.monotonic())
        time.sleep(0.2)


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_broker_restart_mid_stream(
    own_broker: LocalKafka, tmp_path: Path, exactly_once: bool
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=own_broker.bootstrap,
        events_topic=f"r-events-{suffix}",
        weights_topic=f"r-weights-{suffix}",
        forecasts_topic=f"r-forecasts-{suffix}",
        dlq_topic=f"r-dlq-{suffix}",
        state_topic=f"r-state-{suffix}",
    )
    create_topics(settings)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(settings, artifact)
    data = seasonal_series(SERIES, STEPS, seed=31)
    db = tmp_path / "history.sqlite"
    common = dict(metrics_port=0, session_timeout_ms=6000)
    worker = start_module(
        "worker",
        [],
        service_env(settings, commit_interval_ms=500, exactly_once=exactly_once, **common),
        tmp_path,
        tmp_path / "worker.log",
    )
    trainer_env = service_env(
        settings, history_db=db, artifact_dir=tmp_path / "a", refit_every_events=10**9, **common
    )
    trainer = start_module("trainer", [], trainer_env, tmp_path, tmp_path / "trainer.log")
    delivered: list[float] = []
    stream = threading.Thread(target=_stream_through_outages, args=(settings, data, delivered))
    stream.start()
    try:
        time.sleep(8)  # mid-stream
        assert own_broker.down(), "the broker was running"
        away = time.monotonic()
        time.sleep(6)
        own_broker.up()
        back = time.monotonic()
        stream.join(timeout=180)
        assert not stream.is_alive(), "the stream got through"
        assert delivered[0] < away < back < delivered[-1], "the broker was away mid-stream"
        _wait_for_history(db, SERIES * STEPS, timeout_s=120)
        isolation = "read_committed" if exactly_once else "read_uncommitted"
        forecasts = _all_forecasts(settings, SERIES * STEPS, isolation, timeout_s=120)
    finally:
        for service in (worker, trainer):
            service.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert trainer.wait(timeout=60) == 0, (tmp_path / "trainer.log").read_text()[-3000:]
    repeats = _check_against_uninterrupted(forecasts, ServingModel.from_artifact(artifact), data)
    print(f"{isolation} after a broker restart: {len(forecasts)}, {repeats} repeated (identical)")
    if exactly_once:
        assert repeats == 0, "a read_committed subscriber sees each forecast once"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT series_id, ts FROM points").fetchall()
    assert len(rows) == SERIES * STEPS and len(set(rows)) == len(rows), "history: no gap, no double"


def _wait_for_history(db: Path, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                count = int(conn.execute("SELECT count(*) FROM points").fetchone()[0])
        except sqlite3.OperationalError:
            count = 0
        if count >= expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"history holds {count} of {expected} events after {timeout_s}s")


def _all_forecasts(
    settings: KafkaSettings, expected: int, isolation: str, timeout_s: float
) -> list[Forecast]:
    """Read the forecasts topic until every event's forecast is there (repeats included)."""
    deadline = time.monotonic() + timeout_s
    while True:
        forecasts = forecasts_of(consume(settings, settings.forecasts_topic, 10**9, 3, isolation))
        answered = {(f.source_partition, f.source_offset) for f in forecasts}
        if len(answered) >= expected or time.monotonic() > deadline:
            return forecasts
        time.sleep(1)
