"""The broker crashes (``kill -9``) mid-stream and stays away for a minute: the trainer and the
worker keep running and retrying, carry on when it is back, and nothing is lost: every event gets
its forecast (at-least-once: repeats equal the first; exactly-once: a read_committed subscriber
sees each once) and lands in the trainer's history exactly once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas import Event, Forecast, encode
from tests.integration.helpers import (
    START,
    consume,
    create_topics,
    forecasts_of,
    publish_artifact,
    service_env,
    start_module,
)
from tests.integration.test_recovery import _check_against_uninterrupted
from tests.kafka_fixtures import KafkaClientName
from tests.unit.test_artifact import make_artifact
from twincast.localkafka import LocalKafka
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

SERIES, STEPS, CHUNK = 8, 300, 10
HALF = STEPS // 2  # produced and answered before the crash; the rest streams through it
DOWNTIME_S = 60.0
WAIT_S = 300.0  # for conditions on a busy machine; met much sooner on an idle one


class _Stream:
    """One producer that buffers and retries through the outage (idempotent, so a retried
    batch is written once); every send's result is checked at the end."""

    def __init__(self, settings: KafkaSettings, data: dict[str, np.ndarray]) -> None:
        self.topic, self.data = settings.events_topic, data
        self.producer = KafkaProducer(
            **settings.client_config("test-producer"),
            acks="all",
            linger_ms=5,
            delivery_timeout_ms=600_000,  # longer than the outage: buffered, then delivered
            max_block_ms=600_000,
        )
        self.futures: list[FutureRecordMetadata] = []
        self.chunks_sent = 0

    def produce(self, first: int, last: int, pause_s: float = 0.2) -> None:
        for start in range(first, last, CHUNK):
            for t in range(start, min(start + CHUNK, last)):
                for name, values in self.data.items():
                    event = Event(
                        series_id=name, ts=START + timedelta(minutes=t), value=values[t, 0]
                    )
                    self.futures.append(
                        self.producer.send(self.topic, key=name.encode(), value=encode(event))
                    )
            self.chunks_sent += 1
            time.sleep(pause_s)

    def finish(self) -> None:
        self.producer.flush()
        failed = [f.exception for f in self.futures if f.failed()]
        self.producer.close()
        assert not failed, f"{len(failed)} events not produced, first: {failed[0]}"


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_broker_kill_9_for_a_minute_mid_stream(
    own_broker: LocalKafka, tmp_path: Path, exactly_once: bool, kafka_client: KafkaClientName
) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=own_broker.bootstrap,
        kafka_client=kafka_client,
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
    isolation = "read_committed" if exactly_once else "read_uncommitted"
    common = dict(metrics_port=0, session_timeout_ms=6000)
    worker_env = service_env(settings, commit_interval_ms=500, exactly_once=exactly_once, **common)
    worker = start_module("worker", [], worker_env, tmp_path, tmp_path / "worker.log")
    trainer_env = service_env(
        settings,
        history_db=db,
        artifact_dir=tmp_path / "a",
        refit_every_events=10**9,
        refit_every_seconds=10**6,  # no refit: forecasts are compared with version 1's
        **common,
    )
    trainer = start_module("trainer", [], trainer_env, tmp_path, tmp_path / "trainer.log")
    stream = _Stream(settings, data)
    try:
        stream.produce(0, HALF)
        # Both services are up and working before the crash (a fixed sleep here once let the
        # broker go away while the trainer was still starting: it exited, history 0 events).
        _wait_for(lambda: _history_count(db) >= SERIES * HALF, "trainer ingests the first half")
        _wait_for(lambda: _answered(settings, isolation) >= SERIES * HALF, "first half forecast")
        # Slower, so that the crash hits while the services are busy with the second half.
        rest = threading.Thread(target=stream.produce, args=(HALF, STEPS, 0.5))
        rest.start()
        busy = SERIES * (HALF + 2 * CHUNK)
        _wait_for(lambda: _history_count(db) >= busy, "the second half flowing")
        assert own_broker.kill(), "the broker was running"
        assert stream.chunks_sent < STEPS // CHUNK, "the crash is mid-stream"
        time.sleep(DOWNTIME_S)  # the outage under test: the one fixed wait
        assert not own_broker.running_pid()
        own_broker.up()
        rest.join(timeout=WAIT_S)
        assert not rest.is_alive(), "the stream got through"
        stream.finish()
        _wait_for(lambda: _history_count(db) >= SERIES * STEPS, "trainer ingests everything")
        _wait_for(lambda: _answered(settings, isolation) >= SERIES * STEPS, "every event forecast")
        forecasts = forecasts_of(consume(settings, settings.forecasts_topic, 10**9, 5, isolation))
        for name, service in (("worker", worker), ("trainer", trainer)):
            assert service.poll() is None, _tail(tmp_path / f"{name}.log", f"{name} exited")
    finally:
        for service in (worker, trainer):
            service.send_signal(signal.SIGTERM)
    _check_logs(worker, tmp_path / "worker.log")
    _check_logs(trainer, tmp_path / "trainer.log")
    repeats = _check_against_uninterrupted(forecasts, ServingModel.from_artifact(artifact), data)
    print(
        f"\n{isolation} through a broker kill -9 with {DOWNTIME_S:.0f}s down: "
        f"{SERIES * STEPS} events, {len(forecasts)} forecasts, {repeats} repeated (identical)"
    )
    if exactly_once:
        assert repeats == 0, "a read_committed subscriber sees each forecast once"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT series_id, ts FROM points").fetchall()
    assert len(rows) == SERIES * STEPS and len(set(rows)) == len(rows), "history: no gap, no double"


@pytest.mark.parametrize("module", ["trainer", "worker"])
def test_a_service_started_while_the_broker_is_away_waits_for_it(
    own_broker: LocalKafka, tmp_path: Path, module: str, kafka_client: KafkaClientName
) -> None:
    """A trainer or worker (re)started during a broker outage waits for it instead of exiting:
    the history got 0 of 2,400 events when an earlier version of the test above stopped the
    broker while the trainer was still starting (it exited 1, "cannot reach")."""
    suffix = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=own_broker.bootstrap,
        kafka_client=kafka_client,
        events_topic=f"a-events-{suffix}",
        weights_topic=f"a-weights-{suffix}",
        forecasts_topic=f"a-forecasts-{suffix}",
        dlq_topic=f"a-dlq-{suffix}",
        state_topic=f"a-state-{suffix}",
    )
    create_topics(settings)
    assert own_broker.kill()
    db, log = tmp_path / "history.sqlite", tmp_path / f"{module}.log"
    env = service_env(settings, history_db=db, artifact_dir=tmp_path / "a", metrics_port=0)
    service = start_module(module, [], env, tmp_path, log)
    try:
        _wait_for(lambda: "Kafka unreachable" in log.read_text("utf-8", "replace"), "waiting")
        assert service.poll() is None, _tail(log, f"the {module} exited")
        own_broker.up()
        data = seasonal_series(SERIES, HALF, seed=5)
        stream = _Stream(settings, data)
        stream.produce(0, HALF, pause_s=0)
        stream.finish()
        if module == "trainer":
            _wait_for(lambda: _history_count(db) >= SERIES * HALF, "the trainer ingests")
        else:
            _wait_for(
                lambda: _answered(settings, "read_uncommitted") >= SERIES * HALF,
                "the worker forecasts every event",
            )
        assert service.poll() is None, _tail(log, f"the {module} exited")
    finally:
        service.send_signal(signal.SIGTERM)
    _check_logs(service, log)
    assert "Kafka is back" in log.read_text("utf-8", "replace")


def _check_logs(service: subprocess.Popen[bytes], log: Path) -> None:
    """A clean exit, and the outage reported once (not per record) if it was noticed at all."""
    assert service.wait(timeout=120) == 0, _tail(log, "exit code")
    text = log.read_text("utf-8", "replace")
    outages = text.count("Kafka unreachable")
    assert outages <= 3, _tail(log, f"{outages} outage warnings")
    assert outages == 0 or "Kafka is back" in text, _tail(log, "the end of the outage is said")


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S:.0f}s: {what}"
        time.sleep(0.5)


def _history_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM points").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def _answered(settings: KafkaSettings, isolation: str) -> int:
    """Events with at least one forecast on the topic (repeats counted once)."""
    records = consume(settings, settings.forecasts_topic, 10**9, 3, isolation)
    forecasts: list[Forecast] = forecasts_of(records)
    return len({(f.source_partition, f.source_offset) for f in forecasts})


def _tail(log: Path, what: str) -> str:
    return f"{what}:\n" + log.read_text("utf-8", "replace")[-4000:]
