"""The worker end to end on a real broker: one forecast per event, equal to a sequential twin."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas import DeadLetter, Forecast, decode
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
from tests.unit.test_artifact import make_artifact
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka


def sequential_reference(
    model: ServingModel, series: dict[str, np.ndarray]
) -> dict[str, list[float]]:
    """One event at a time per series, batch-1 state from zero: what every forecast must equal."""
    out = {}
    for name, values in series.items():
        h, c = model.weights.zero_state(1)
        forecasts, before = [], None
        for value in values:
            h, c, y = model.forecast(h, c, value[None, :], before)
            forecasts.append(float(y[0]))
            before = value[None, :]
        out[name] = forecasts
    return out


def by_series(forecasts: list[Forecast]) -> dict[str, list[Forecast]]:
    grouped: dict[str, list[Forecast]] = defaultdict(list)
    for f in sorted(forecasts, key=lambda f: (f.source_partition, f.source_offset)):
        grouped[f.series_id].append(f)
    return grouped


def test_one_forecast_per_event_equal_to_the_sequential_twin(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    artifact = make_artifact(version=4, units=8, mean=0.5, scale=1.5)
    publish_artifact(kafka_settings, artifact)
    series = seasonal_series(7, 60, seed=2)
    sent = produce_series(kafka_settings, series)  # interleaved: a poll holds many per series
    env = service_env(kafka_settings, metrics_port=0, max_poll_records=500, forecast_headers=True)
    result = run_module("worker", ["--exit-when-idle", "3"], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    records = consume(kafka_settings, kafka_settings.forecasts_topic, sent)
    forecasts = forecasts_of(records)
    assert len(forecasts) == sent
    positions = {(f.source_partition, f.source_offset) for f in forecasts}
    assert len(positions) == sent, "exactly one forecast per event"
    for record, forecast in zip(records, forecasts, strict=True):
        assert record.key == forecast.series_id.encode()
        headers = dict(record.headers)
        assert headers["twincast-source-offset"] == str(forecast.source_offset).encode()
    reference = sequential_reference(ServingModel.from_artifact(artifact), series)
    for name, got in by_series(forecasts).items():
        assert [f.model_version for f in got] == [4] * len(got)
        assert [f.ts for f in got] == sorted(f.ts for f in got), "offset order per series"
        np.testing.assert_allclose([f.forecast for f in got], reference[name], atol=1e-5)
        # Prediction intervals: calibrated once the series' scale has 10 errors
        # (TWINCAST_INTERVAL_MIN_ERRORS) and the pool enough scores; then on every forecast.
        assert all(f.lower is not None and f.upper is not None for f in got[20:]), name
        for f in got:
            if f.lower is not None and f.upper is not None:
                assert f.lower <= f.forecast <= f.upper, name


def test_persistence_before_any_model(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    create_topics(kafka_settings)
    series = seasonal_series(3, 10, seed=4)
    sent = produce_series(kafka_settings, series)
    env = service_env(kafka_settings, metrics_port=0)
    assert run_module("worker", ["--exit-when-idle", "2"], env, tmp_path).returncode == 0
    records = consume(kafka_settings, kafka_settings.forecasts_topic, sent)
    assert all(not r.headers for r in records), "source headers are off by default"
    for name, got in by_series(forecasts_of(records)).items():
        assert [f.model_version for f in got] == [0] * 10
        assert [f.forecast for f in got] == pytest.approx(series[name][:, 0].tolist())


BAD: list[tuple[str, bytes | None, bytes | None]] = [
    ("invalid_json", b"a", b"{oops"),
    ("not_utf8", b"a", b"\xff\xfe\xfd"),
    ("schema_violation", b"a", b'{"ts": 1, "value": 1.0}'),
    ("non_finite_value", b"a", b'{"series_id": "a", "ts": 1, "value": NaN}'),
    ("wrong_feature_count", b"a", b'{"series_id": "a", "ts": 1, "value": [1.0, 2.0]}'),
    ("missing_key", None, b'{"series_id": "a", "ts": 1, "value": 1.0}'),
    ("key_mismatch", b"b", b'{"series_id": "a", "ts": 1, "value": 1.0}'),
    (
        "oversized",
        b"a",
        b'{"series_id": "a", "ts": 1, "value": 1.0, "pad": "' + b"x" * 70_000 + b'"}',
    ),
    ("null_value", b"a", None),
]


def test_bad_input_goes_to_the_dlq_and_metrics_count_it(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, partitions=1)  # one partition: offsets are easy to predict
    port = free_port()
    producer = KafkaProducer(**kafka_settings.client_config("test"), acks="all")
    good = 0
    for i, (_, key, raw) in enumerate(BAD):
        value = json.dumps({"series_id": "a", "ts": i, "value": float(i)}).encode()
        producer.send(kafka_settings.events_topic, key=b"a", value=value)
        producer.send(kafka_settings.events_topic, key=key, value=raw)
        good += 1
    producer.flush()
    producer.close()
    env = service_env(kafka_settings, metrics_port=port)
    worker = start_module("worker", ["--exit-when-idle", "6"], env, tmp_path, tmp_path / "w.log")
    try:
        letters = [
            decode(DeadLetter, r.value)
            for r in consume(kafka_settings, kafka_settings.dlq_topic, len(BAD))
        ]
        forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, good))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    finally:
        assert worker.wait(timeout=60) == 0, (tmp_path / "w.log").read_text()[-3000:]
    assert [(d.reason, d.source_offset) for d in letters] == [
        (reason, 2 * i + 1) for i, (reason, _, _) in enumerate(BAD)
    ]
    assert all(d.source_topic == kafka_settings.events_topic and d.error for d in letters)
    assert letters[1].raw() == b"\xff\xfe\xfd" and letters[7].raw_truncated
    assert sorted(f.source_offset for f in forecasts) == [2 * i for i in range(len(BAD))]
    assert f"twincast_events_consumed_total {2 * len(BAD)}.0" in metrics
    assert f"twincast_forecasts_produced_total {good}.0" in metrics
    for reason, _, _ in BAD:
        assert f'twincast_dlq_messages_total{{reason="{reason}"}} 1.0' in metrics


def _parse(metrics: str) -> dict[str, float]:
    out = {}
    for line in metrics.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_every_worker_metric_exists_and_counts_match(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, partitions=2)
    artifact = make_artifact(version=2, units=6)
    publish_artifact(kafka_settings, artifact)
    series = seasonal_series(3, 30, seed=9)
    sent = produce_series(kafka_settings, series)
    port = free_port()
    env = service_env(kafka_settings, metrics_port=port)
    worker = start_module("worker", ["--exit-when-idle", "4"], env, tmp_path, tmp_path / "w.log")
    try:
        forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, sent))
        time.sleep(0.5)  # the counters are updated right after the flush that sent the forecasts
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            m = _parse(response.read().decode())
    finally:
        assert worker.wait(timeout=60) == 0, (tmp_path / "w.log").read_text()[-3000:]
    assert len(forecasts) == sent == 90
    assert m["twincast_events_consumed_total"] == sent
    assert m["twincast_forecasts_produced_total"] == sent
    assert m["twincast_model_swaps_total"] == 1
    assert m["twincast_model_version"] == 2
    assert m["twincast_state_series"] == 3
    assert m["twincast_state_evictions_total"] == 0
    assert {'twincast_consumer_lag{partition="0"}', 'twincast_consumer_lag{partition="1"}'} <= set(
        m
    )
    assert m['twincast_consumer_lag{partition="0"}'] == 0
    assert m["twincast_wave_step_seconds_count"] >= 30  # each series has 30 events: >= 30 waves
    assert m["twincast_end_to_end_latency_seconds_count"] == sent
    assert m["twincast_swap_duration_seconds_count"] == 1
    scored = sent - 3  # the first event of each series has no earlier forecast to score
    assert m['twincast_forecasts_scored_total{model_version="2"}'] == scored
    model = ServingModel.from_artifact(artifact)
    reference = sequential_reference(model, series)
    abs_error = sum(abs(series[n][t + 1, 0] - reference[n][t]) for n in series for t in range(29))
    persistence = sum(abs(series[n][t + 1, 0] - series[n][t, 0]) for n in series for t in range(29))
    assert m['twincast_forecast_abs_error_total{model_version="2"}'] == pytest.approx(
        abs_error, rel=1e-4
    )
    assert m['twincast_persistence_abs_error_total{model_version="2"}'] == pytest.approx(
        persistence
    )
    assert 'twincast_forecast_squared_error_total{model_version="2"}' in m
    assert 'twincast_persistence_squared_error_total{model_version="2"}' in m
    assert "twincast_artifacts_refused_total" not in m or m["twincast_artifacts_refused_total"] == 0
    assert "twincast_wave_series_count" in m
    assert m["twincast_interval_nominal_coverage"] == 0.9
    assert 0 < m["twincast_intervals_covered_total"] <= m["twincast_intervals_scored_total"]
    issued = sum(f.lower is not None for f in forecasts)
    assert m["twincast_intervals_issued_total"] == issued > 0
