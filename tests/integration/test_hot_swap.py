"""Hot swap during a continuous stream, under each state policy, on a real broker."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foundation.settings.base import KafkaSettings
from foundation.settings.worker import SwapPolicy
from lstmcore.artifact import Artifact, encode_artifact
from lstmcore.serving import ServingModel
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    publish_raw,
    service_env,
    start_module,
)
from tests.unit.test_artifact import make_artifact
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

WINDOW = 5
SERIES, STEPS, CHUNK = 4, 150, 5


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_metric(port: int, name: str, value: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _metric(port, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.1)


def reference(
    values: np.ndarray, versions: list[int], models: dict[int, ServingModel], policy: SwapPolicy
) -> list[float]:
    """Forecasts of one series, given the version the worker used for each of its events."""
    out: list[float] = []
    h = c = None
    previous = 0
    for t, version in enumerate(versions):
        if version != previous:
            model = models[version]
            if policy is SwapPolicy.REPLAY:
                h, c = model.replay(values[max(0, t - WINDOW) : t])
            elif policy is SwapPolicy.RESET or previous == 0:
                h, c = model.weights.zero_state(1)
            previous = version
        if version == 0:
            out.append(float(values[t, 0]))
            continue
        assert h is not None and c is not None
        h, c, y = models[version].forecast(h, c, values[t : t + 1])
        out.append(float(y[0]))
    return out


def _stream(
    settings: KafkaSettings, series: dict[str, np.ndarray], first: int, end: int, port: int
) -> None:
    """Produce steps [first, end) in chunks, then wait until the worker has answered them."""
    for start in range(first, end, CHUNK):
        chunk = {k: v[start : min(start + CHUNK, end)] for k, v in series.items()}
        produce_series(settings, chunk, first_step=start)
    deadline = time.monotonic() + 120
    while (_metric(port, "twincast_forecasts_produced_total") or 0) < SERIES * end:
        assert time.monotonic() < deadline, f"steps before {end} were not all forecast"
        time.sleep(0.1)


@pytest.mark.parametrize("policy", list(SwapPolicy))
def test_swap_mid_stream(kafka_settings: KafkaSettings, tmp_path: Path, policy: SwapPolicy) -> None:
    create_topics(kafka_settings, partitions=2)
    artifacts = {v: make_artifact(version=v, units=6, mean=0.2 * v, scale=1.0 + v) for v in (1, 2)}
    models = {v: ServingModel.from_artifact(a) for v, a in artifacts.items()}
    port = free_port()
    env = service_env(
        kafka_settings,
        metrics_port=port,
        replay_window=WINDOW,
        swap_policy=policy.value,
        max_poll_records=7,
    )
    worker = start_module("worker", ["--exit-when-idle", "4"], env, tmp_path, tmp_path / "w.log")
    series = seasonal_series(SERIES, STEPS, seed=6)
    try:
        _wait_metric(port, "twincast_model_version", 0.0)
        # The stream in three parts, each swap between two of them once the worker has answered
        # everything before it: every version serves some events, however busy the machine.
        thirds = [(0, STEPS // 3), (STEPS // 3, 2 * STEPS // 3), (2 * STEPS // 3, STEPS)]
        _stream(kafka_settings, series, *thirds[0], port)
        publish_artifact(kafka_settings, artifacts[1])
        _wait_metric(port, "twincast_model_version", 1.0)
        # Refused on the way: a checksum mismatch and an older version; v1 keeps serving.
        # (Weights changed after sealing; flipping a byte of the encoded npz could hit the zip's
        # directory instead, which numpy tolerates, and the "bad" artifact would be served.)
        spoiled = {**artifacts[2].arrays, "dense/bias": artifacts[2].arrays["dense/bias"] + 1}
        publish_raw(kafka_settings, encode_artifact(Artifact(artifacts[2].manifest, spoiled)))
        publish_raw(kafka_settings, encode_artifact(make_artifact(version=1)))
        deadline = time.monotonic() + 60
        while _refused(port, ["checksum", "version"]) < 2:  # v1 still serves the next third
            assert time.monotonic() < deadline, "the two bad artifacts were not both refused"
            time.sleep(0.1)
        _stream(kafka_settings, series, *thirds[1], port)
        publish_artifact(kafka_settings, artifacts[2])
        _wait_metric(port, "twincast_model_version", 2.0)
        _stream(kafka_settings, series, *thirds[2], port)
        total = SERIES * STEPS
        forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, total))
        refused = {
            reason: _metric(port, f'twincast_artifacts_refused_total{{reason="{reason}"}}')
            for reason in ("checksum", "version")
        }
    finally:
        assert worker.wait(timeout=60) == 0, (tmp_path / "w.log").read_text()[-3000:]

    assert len(forecasts) == total
    assert len({(f.source_partition, f.source_offset) for f in forecasts}) == total
    assert refused == {"checksum": 1.0, "version": 1.0}
    grouped = defaultdict(list)
    for f in sorted(forecasts, key=lambda f: (f.source_partition, f.source_offset)):
        grouped[f.series_id].append(f)
    seen_versions: set[int] = set()
    for name, got in grouped.items():
        versions = [f.model_version for f in got]
        assert versions == sorted(versions), "model versions never go back"
        seen_versions.update(versions)
        expected = reference(series[name], versions, models, policy)
        np.testing.assert_allclose([f.forecast for f in got], expected, atol=1e-5)
    assert seen_versions == {0, 1, 2}, "both swaps happened mid-stream"


class _Payload:
    """Unpickling this creates a file: proof that a received artifact was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


def _tampered(kind: str, marker: Path) -> bytes:
    """A version-9 artifact spoiled in one way (or an older, valid one)."""
    import json
    import pickle

    from tests.unit.test_artifact import _members, _npz

    if kind == "older":
        return encode_artifact(make_artifact(version=2, units=6))
    raw = encode_artifact(make_artifact(version=9, units=6))
    members = _members(raw)
    if kind == "truncated":
        return raw[: len(raw) * 2 // 3]
    if kind == "raw_pickle":
        return pickle.dumps({"manifest": _Payload(marker), **members})
    if kind == "checksum":
        members["dense/bias"] = members["dense/bias"] + 1.0
    elif kind == "shape":
        members["dense/kernel"] = np.zeros((2, 1), np.float32)
    elif kind == "nan":
        members["lstm_0/bias"] = np.full_like(members["lstm_0/bias"], np.nan)
    elif kind == "inf":
        members["dense/kernel"] = np.full_like(members["dense/kernel"], -np.inf)
    elif kind == "pickle_in_npz":
        members["lstm_0/bias"] = np.array([_Payload(marker)], dtype=object)
    elif kind == "manifest":
        manifest = json.loads(members["manifest"].tobytes())
        manifest["schema_version"] = 99
        members["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    return _npz(members)


# Each hostile artifact and the reason it is refused for.
HOSTILE_WEIGHTS = {
    "truncated": "format",
    "raw_pickle": "format",
    "pickle_in_npz": "format",
    "checksum": "checksum",
    "shape": "shape",
    "nan": "non_finite",
    "inf": "non_finite",
    "manifest": "manifest",
    "older": "version",
}


def test_refused_artifacts_leave_the_current_model_serving(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    publish_artifact(kafka_settings, make_artifact(version=3, units=6))
    marker = tmp_path / "unpickled"
    port = free_port()
    env = service_env(kafka_settings, metrics_port=port)
    worker = start_module("worker", ["--exit-when-idle", "4"], env, tmp_path, tmp_path / "w.log")
    reasons = sorted(set(HOSTILE_WEIGHTS.values()))
    try:
        _wait_metric(port, "twincast_model_version", 3.0)
        for kind in HOSTILE_WEIGHTS:
            publish_raw(kafka_settings, _tampered(kind, marker))
        deadline = time.monotonic() + 30
        while _refused(port, reasons) < len(HOSTILE_WEIGHTS):
            assert time.monotonic() < deadline, "not every bad artifact was refused"
            time.sleep(0.1)
        sent = produce_series(kafka_settings, seasonal_series(3, 20, seed=1))
        forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, sent))
        refused = {
            r: _metric(port, f'twincast_artifacts_refused_total{{reason="{r}"}}') for r in reasons
        }
        version = _metric(port, "twincast_model_version")
    finally:
        assert worker.wait(timeout=60) == 0, (tmp_path / "w.log").read_text()[-3000:]
    assert len(forecasts) == sent
    assert {f.model_version for f in forecasts} == {3} and version == 3.0, "v3 kept serving"
    expected = Counter(HOSTILE_WEIGHTS.values())
    assert refused == {r: float(expected[r]) for r in reasons}, "each one counted by its reason"
    assert not marker.exists(), "nothing received was ever unpickled"
    log = (tmp_path / "w.log").read_text()
    assert log.count("refused") >= len(HOSTILE_WEIGHTS), "each refusal is logged"


def _refused(port: int, reasons: list[str]) -> float:
    return sum(
        _metric(port, f'twincast_artifacts_refused_total{{reason="{r}"}}') or 0.0 for r in reasons
    )
