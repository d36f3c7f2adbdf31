"""Spread checkpoints survive kill -9: with a write age longer than the run, most series are
unwritten when the worker dies; its successor replays silently from the markers' replay points,
emits nothing again before their emit-from offsets and every forecast from there on equals the
uninterrupted run's."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas import Forecast
from schemas.state_header import Marker, decode_marker
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    run_module,
    service_env,
    start_module,
)
from tests.integration.test_worker import sequential_reference
from tests.unit.test_artifact import make_artifact
from twincast.synthetic import seasonal_series
from worker.state_writer import MARKER_PREFIX

pytestmark = pytest.mark.kafka

SERIES, STEPS, CHUNK = 30, 120, 10


def _markers(settings: KafkaSettings, isolation: str) -> dict[int, Marker]:
    """The newest position marker of each partition on the state topic."""
    records = consume(settings, settings.state_topic, 10**9, 3, isolation)
    return {
        r.partition: decode_marker(r.value)
        for r in records
        if r.key is not None and r.key.startswith(MARKER_PREFIX) and r.value is not None
    }


def _wait_for_unwritten_changes(settings: KafkaSettings, isolation: str) -> dict[int, Marker]:
    """Markers once some partition has changes not in its written states (R < M)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        markers = _markers(settings, isolation)
        if any(m.replay_from < m.next_offset for m in markers.values()):
            return markers
    raise AssertionError("no marker with a replay point below its emit-from offset")


def _positions(forecasts: list[Forecast]) -> Counter[tuple[int, int]]:
    return Counter((f.source_partition, f.source_offset) for f in forecasts)


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_kill_9_with_unwritten_series_replays_silently(
    kafka_settings: KafkaSettings, tmp_path: Path, exactly_once: bool
) -> None:
    create_topics(kafka_settings, partitions=3)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(kafka_settings, artifact)
    data = seasonal_series(SERIES, STEPS, seed=31)
    env = service_env(
        kafka_settings,
        metrics_port=0,
        commit_interval_ms=300,
        state_write_age_ms=600_000,  # longer than the run: only the final checkpoint would write
        session_timeout_ms=6000,
        exactly_once=exactly_once,
        transactional_id=f"spread-{kafka_settings.events_topic}",
    )
    isolation = "read_committed" if exactly_once else "read_uncommitted"

    def stream() -> None:
        for start in range(0, STEPS, CHUNK):
            part = {k: v[start : start + CHUNK] for k, v in data.items()}
            produce_series(kafka_settings, part, first_step=start)
            time.sleep(0.5)

    producer = threading.Thread(target=stream)
    producer.start()
    worker = start_module("worker", [], env, tmp_path, tmp_path / "killed.log")
    try:
        _wait_for_unwritten_changes(kafka_settings, isolation)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        producer.join()
    markers = _markers(kafka_settings, isolation)  # the killed worker's last word
    before = _positions(
        forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, 10**9, 5, isolation))
    )
    last = run_module("worker", ["--exit-when-idle", "8"], env, tmp_path)
    (tmp_path / "last.log").write_text(last.stderr)
    assert last.returncode == 0, last.stderr[-3000:]
    assert "replaying" in last.stderr, "the successor read again from a replay point"
    forecasts = forecasts_of(
        consume(kafka_settings, kafka_settings.forecasts_topic, 10**9, 5, isolation)
    )
    after = _positions(forecasts)
    assert len(after) == SERIES * STEPS, "every event has a forecast"
    below_m = {pos for pos in after if pos[1] < markers[pos[0]].next_offset}
    assert below_m, "the killed worker had checkpointed forecasts"
    assert all(after[pos] == before[pos] for pos in below_m), "nothing before M emitted again"
    unwritten = sum(m.next_offset - m.replay_from for m in markers.values())
    print(f"markers at the kill: {markers}; {unwritten} events replayed silently")
    assert unwritten > 0
    reference = sequential_reference(ServingModel.from_artifact(artifact), data)
    for name in data:
        mine = sorted(
            (f for f in forecasts if f.series_id == name),
            key=lambda f: (f.source_partition, f.source_offset),
        )
        firsts = {(f.source_partition, f.source_offset): f for f in reversed(mine)}
        for f in mine:  # repeats (at-least-once, from M on) equal the first
            assert abs(f.forecast - firsts[(f.source_partition, f.source_offset)].forecast) < 1e-6
        values = [firsts[pos].forecast for pos in sorted(firsts)]
        np.testing.assert_allclose(values, reference[name], atol=1e-5)
    if exactly_once:
        assert max(after.values()) == 1, "a read_committed subscriber sees each forecast once"
