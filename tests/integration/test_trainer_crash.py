"""kill -9 the trainer while events flow or while it refits: nothing partial is published, and
after a restart its history has no gap and no double."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from foundation.settings.base import KafkaSettings
from tests.integration.helpers import (
    consume,
    create_topics,
    produce_series,
    read_latest,
    run_module,
    service_env,
    start_module,
    wait_for_line,
)
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM points").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # schema not created yet


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_kill_9_loses_and_doubles_nothing(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    create_topics(kafka_settings)
    db, port = tmp_path / "history.sqlite", free_port()
    env = service_env(
        kafka_settings,
        history_db=db,
        artifact_dir=tmp_path / "a",
        metrics_port=port,
        refit_every_events=10**9,
        refit_every_seconds=10**6,
        epochs=1,
        gate="false",
    )
    data = seasonal_series(10, 400, seed=3)
    chunks = [{k: v[i : i + 20] for k, v in data.items()} for i in range(0, 400, 20)]

    def produce_slowly() -> None:
        for step, chunk in enumerate(chunks):
            produce_series(kafka_settings, chunk, first_step=step * 20)
            time.sleep(0.4)

    producer = threading.Thread(target=produce_slowly)
    producer.start()
    rng = random.Random(11)
    counts_at_kill = []
    try:
        for attempt in range(3):
            trainer = start_module("trainer", [], env, tmp_path, tmp_path / f"t{attempt}.log")
            deadline = time.monotonic() + 120
            while _count(db) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            if attempt == 0:
                metrics = _scrape(port)
                assert "twincast_trainer_events_consumed_total" in metrics
                assert "twincast_trainer_history_points" in metrics
            time.sleep(rng.uniform(0.2, 1.5))  # somewhere mid-stream
            trainer.send_signal(signal.SIGKILL)
            trainer.wait(timeout=30)
            counts_at_kill.append(_count(db))
    finally:
        producer.join()
    print(f"history size at each kill -9: {counts_at_kill} of {10 * 400}")
    assert min(counts_at_kill) < 10 * 400, "at least one kill hit the trainer mid-stream"

    # Restart once more and let it ingest everything that is there now.
    result = run_module("trainer", ["--once"], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT series_id, ts FROM points").fetchall()
        offsets = dict(conn.execute("SELECT partition, next_offset FROM offsets").fetchall())
    assert len(rows) == 10 * 400, "every event is in the history"
    assert len(set(rows)) == len(rows), "and none twice"
    assert sum(offsets.values()) == 10 * 400


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_during_a_refit_publishes_nothing_partial(
    kafka_settings: KafkaSettings, tmp_path: Path, seed: int
) -> None:
    create_topics(kafka_settings)
    db, artifacts = tmp_path / "history.sqlite", tmp_path / "a"
    settings = dict(
        history_db=db,
        artifact_dir=artifacts,
        metrics_port=0,
        refit_every_events=1,
        units=16,
        gate="false",
    )
    data = seasonal_series(12, 600, seed=seed)
    sent = produce_series(kafka_settings, data)
    slow = service_env(kafka_settings, epochs=200, **settings)  # a refit of many seconds
    log = tmp_path / "killed.log"
    trainer = start_module("trainer", [], slow, tmp_path, log)
    try:
        wait_for_line(log, "refit epoch 1/200", timeout_s=180)
        time.sleep(random.Random(seed).uniform(0.0, 2.0))  # somewhere inside the training
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(timeout=30)
    assert "published version" not in log.read_text(), "killed before its refit ended"
    weights = consume(kafka_settings, kafka_settings.weights_topic, 10**9, timeout_s=2)
    assert weights == [], "nothing was published"
    assert not artifacts.exists() or not any(artifacts.iterdir()), "no artifact file, not even part"

    quick = service_env(kafka_settings, epochs=2, **settings)
    result = run_module("trainer", ["--once"], quick, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    latest = read_latest(kafka_settings, 1)
    assert latest.model is not None and latest.model.version == 1 and latest.refused == []
    assert [p.name for p in artifacts.iterdir()] == ["twincast-lstm-v000001.npz"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT series_id, ts FROM points").fetchall()
    assert len(rows) == sent and len(set(rows)) == sent, "no gap and no double in the history"
