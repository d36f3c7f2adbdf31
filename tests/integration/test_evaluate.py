"""``twincast evaluate --pipeline`` through a real broker, trainer and worker agrees with
``--offline`` on the same data and settings."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from foundation.settings.worker import WorkerSettings
from tests.kafka_fixtures import KafkaClientName
from tests.unit.test_evaluation import SMALL, small_dataset
from twincast.evaluation.evaluate import evaluate

pytestmark = pytest.mark.kafka

# Stated tolerance: the trainer process and the offline run train the same seeded model on the
# same rounds of events; forecasts may differ only by floating-point noise.
FORECAST_ATOL = 1e-4


def test_pipeline_agrees_with_offline(
    monkeypatch: pytest.MonkeyPatch, kafka_client: KafkaClientName
) -> None:
    # The pipeline's own clients and its services read the client from the environment.
    monkeypatch.setenv("TWINCAST_KAFKA_CLIENT", kafka_client)
    dataset = small_dataset()
    offline = evaluate(dataset, SMALL, WorkerSettings(), baselines=False)
    pipeline = evaluate(dataset, SMALL, WorkerSettings(), pipeline=True, baselines=False)
    assert pipeline.run.refits == offline.run.refits == ["accepted", "accepted"]
    worst = 0.0
    for series_id in dataset.series:
        np.testing.assert_array_equal(
            pipeline.run.versions[series_id], offline.run.versions[series_id]
        )
        a, b = pipeline.run.forecasts[series_id][1:], offline.run.forecasts[series_id][1:]
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"largest difference of a forecast, pipeline vs offline: {worst:.2e}")
    assert worst < FORECAST_ATOL
    p, o = pipeline.scores["all"]["twincast"], offline.scores["all"]["twincast"]
    assert p.mae == pytest.approx(o.mae, rel=1e-3) and p.points == o.points


def test_evaluate_command_on_a_csv_file(tmp_path: Path) -> None:
    dataset = small_dataset(series=2, length=60)
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["meter", "time", "kwh"])
        for series_id, ts, value in dataset.events():
            writer.writerow([series_id, ts.isoformat(), value])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twincast",
            "evaluate",
            str(path),
            "--refit-every",
            "40",
            "--season",
            "24",
            "--series-column",
            "meter",
            "--ts-column",
            "time",
            "--value-column",
            "kwh",
            "--plot",
            str(tmp_path / "png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"TWINCAST_EPOCHS": "3", "TWINCAST_UNITS": "8", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "2 series, 120 events, 118 scored per method, offline" in out
    for method in ("twincast", "persistence", "River HoltWinters", "River SNARIMAX", "ETS (AICc)"):
        assert method in out
    assert "refit 1: " in out and "held-out tail MAE candidate" in out
    # It trained (TensorFlow imported) without TensorFlow's start-up lines on stderr.
    for noise in ("absl::InitializeLog", "Could not find cuda drivers", "oneDNN"):
        assert noise not in result.stderr, result.stderr[-3000:]
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
