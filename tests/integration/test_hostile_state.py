"""The state topic is a trust boundary. A first worker run leaves good states and markers; then
every hostile kind is written straight into the state topic, each on its own series or partition,
and a second worker restores from it. It must not crash, every event gets a finite forecast, and
since each bad record is refused in favour of the good state before it, every series' forecasts
equal an uninterrupted run's; a series whose only record is bad starts from zero state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas.state import decode_state
from schemas.state_header import encode_marker
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
from tests.integration.test_worker import by_series, sequential_reference
from tests.unit.test_artifact import make_artifact
from tests.unit.test_state_validation import edit_header, with_arrays
from twincast.synthetic import seasonal_series
from worker.state_writer import MARKER_PREFIX, marker_key

pytestmark = pytest.mark.kafka

SERIES, HALF = 12, 40
REFUSED = re.compile(rb"state record refused at partition \d+ offset \d+ \((\w+)\)")


def _newest(settings: KafkaSettings) -> dict[bytes, tuple[int, bytes]]:
    """The newest (partition, value) of every key on the state topic."""
    newest: dict[bytes, tuple[int, bytes]] = {}
    for record in consume(settings, settings.state_topic, 10**9, 5):
        newest[record.key] = (record.partition, record.value)
    return newest


def _hostile(newest: dict[bytes, tuple[int, bytes]]) -> list[tuple[bytes, int | None, bytes]]:
    """(key, partition, value) of every hostile record, and the reasons they must be refused."""
    out: list[tuple[bytes, int | None, bytes]] = []

    def good(i: int) -> tuple[int, bytes]:
        return newest[f"s{i:02d}".encode()]

    def put(i: int, value: bytes) -> None:
        out.append((f"s{i:02d}".encode(), good(i)[0], value))

    put(0, edit_header(good(0)[1], pending_forecast="1.5"))
    window = decode_state(good(1)[1]).window
    put(1, with_arrays(good(1)[1], window=np.column_stack([window, window])))  # 2 features
    put(2, edit_header(good(2)[1], next_offset=2**63))
    h = decode_state(good(3)[1]).h
    put(3, with_arrays(good(3)[1], h=np.full_like(h, np.nan)))
    put(4, with_arrays(good(4)[1], h=np.ones((h.shape[0], 4))))  # other units
    put(5, with_arrays(good(5)[1], h=np.ones((h.shape[0] + 1, h.shape[1]))))  # other layers
    put(6, good(7)[1])  # s07's state under s06's key
    put(8, os.urandom(300))
    out.append((b"fresh", None, os.urandom(300)))  # no good state before it: zero state
    markers = {p: v for k, (p, v) in newest.items() if k.startswith(MARKER_PREFIX)}
    out += [(marker_key(0), 0, b"not json {"), (marker_key(0), 0, markers[0])]
    out.append((marker_key(1), 1, encode_marker(10**12)))  # past the end
    out.append((marker_key(2), 2, b"\xff\x00 not json"))  # newest: the one before it counts
    return out


EXPECTED = {
    "type": 1,
    "features": 1,
    "range": 1,
    "non_finite": 1,
    "shape": 2,
    "key": 1,
    "invalid": 2,
    "marker_invalid": 1,
    "marker_past_end": 1,
}


def _wait_for(
    path: Path, text: bytes, process: subprocess.Popen[bytes], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_bytes():
        assert process.poll() is None, path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.1)


def test_hostile_state_records_are_refused_and_counted(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, partitions=3)
    artifact = make_artifact(version=1, units=8)
    publish_artifact(kafka_settings, artifact)
    data = seasonal_series(SERIES, 2 * HALF, seed=31)
    data = {f"s{i:02d}": v for i, v in enumerate(data.values())}
    fresh = next(iter(seasonal_series(1, HALF, seed=32).values()))
    env = service_env(kafka_settings, metrics_port=0, commit_interval_ms=300)
    produce_series(kafka_settings, {k: v[:HALF] for k, v in data.items()})
    first = run_module("worker", ["--exit-when-idle", "3"], env, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]

    producer = KafkaProducer(**kafka_settings.client_config("test-hostile"), acks="all")
    for key, partition, value in _hostile(_newest(kafka_settings)):
        producer.send(kafka_settings.state_topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()

    log = tmp_path / "second.log"
    worker = start_module("worker", [], env, tmp_path, log)
    try:
        _wait_for(log, b"series restored", worker)
        # Produced only now: the marker past the end is clamped to the end the restore saw.
        later = {k: v[HALF:] for k, v in data.items()} | {"fresh": fresh}
        sent = produce_series(kafka_settings, later, first_step=HALF)
        expected = SERIES * HALF + sent
        records = consume(kafka_settings, kafka_settings.forecasts_topic, expected, 120)
        assert len(records) >= expected, (len(records), log.read_text()[-3000:])
        assert worker.poll() is None, "the worker is still up"
    finally:
        worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, log.read_text()[-3000:]

    refused = Counter(m.decode() for m in REFUSED.findall(log.read_bytes()))
    print(f"refused state records by reason: {dict(refused)}")
    assert set(refused) == set(EXPECTED) and all(refused[r] >= n for r, n in EXPECTED.items())
    forecasts = forecasts_of(records)  # a NaN forecast would fail to decode here
    assert all(np.isfinite(f.forecast) for f in forecasts)
    got = by_series(forecasts)
    model = ServingModel.from_artifact(artifact)
    reference = sequential_reference(model, data) | sequential_reference(model, {"fresh": fresh})
    assert set(got) == set(reference)
    for name, series in got.items():
        unique = {(f.source_partition, f.source_offset): f.forecast for f in series}
        values = [unique[p] for p in sorted(unique)]
        assert len(values) == len(reference[name]), f"every event of {name} is forecast"
        np.testing.assert_allclose(values, reference[name], atol=1e-5, err_msg=name)
