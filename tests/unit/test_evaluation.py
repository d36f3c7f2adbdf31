"""``twincast evaluate`` without a broker: the protocol, the scores and the loaders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.evaluation.baselines import RIVER, persistence, river_forecasts
from twincast.evaluation.datasets import Dataset, DatasetError, Series, load
from twincast.evaluation.evaluate import evaluate
from twincast.evaluation.offline import run_offline
from twincast.evaluation.report import score
from twincast.synthetic import seasonal_series

START = datetime(2026, 1, 1, tzinfo=UTC)


def small_dataset(series: int = 3, length: int = 120) -> Dataset:
    data = seasonal_series(series, length, seed=3, trend=0.02)
    stamps = [START + timedelta(hours=t) for t in range(length)]
    return Dataset("small", {k: Series(stamps, v[:, 0].copy()) for k, v in data.items()}, season=24)


SMALL = TrainerSettings(refit_every_events=120, epochs=5, units=8)


def test_scores_count_only_values_that_had_a_forecast() -> None:
    actual = np.array([1.0, 2.0, 4.0, 3.0])
    s = score(persistence(actual), actual)
    assert s.points == 3
    assert s.mae == pytest.approx((1 + 2 + 1) / 3)
    assert s.rmse == pytest.approx(np.sqrt((1 + 4 + 1) / 3))


def test_offline_forecasts_every_value_after_the_first_and_swaps_models() -> None:
    dataset = small_dataset()
    run = run_offline(dataset, SMALL, WorkerSettings())
    assert run.refits == ["accepted", "accepted"], "a refit after each round but the last"
    for series_id, s in dataset.series.items():
        forecasts, versions = run.forecasts[series_id], run.versions[series_id]
        assert np.isnan(forecasts[0]) and not np.isnan(forecasts[1:]).any()
        assert versions[1:41].tolist() == [0] * 40, "round 1: persistence, no model yet"
        np.testing.assert_array_equal(forecasts[1:41], s.values[:40])
        assert set(versions[41:].tolist()) <= {1, 2} and versions[-1] == 2


def test_evaluation_table_has_every_method() -> None:
    result = evaluate(small_dataset(), SMALL, WorkerSettings())
    table = result.table()
    for method in ("twincast", "persistence", *RIVER):
        assert method in table
    assert result.scores["all"]["twincast"].points == 3 * 119
    name, best = result.best_river()
    assert name in RIVER and best.points == 3 * 119


def test_river_forecasts_answer_every_value() -> None:
    values = small_dataset(1).series["series-000"].values
    for make in RIVER.values():
        out = river_forecasts(make, values, 24)
        assert np.isnan(out[0]) and np.isfinite(out[1:]).all()


def test_files_load_as_datasets(tmp_path: Path) -> None:
    lines = [
        {"series_id": s, "ts": (START + timedelta(minutes=t)).isoformat(), "value": t * k}
        for t in range(5)
        for s, k in (("b", 2.0), ("a", 1.0))
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in reversed(lines)))
    dataset = load(str(path), season=4)
    assert sorted(dataset.series) == ["a", "b"] and dataset.season == 4
    assert dataset.series["b"].values.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0], "time order"
    assert [e[0] for e in dataset.events()[:4]] == ["a", "b", "a", "b"]
    csv = tmp_path / "bad.csv"
    csv.write_text("series_id,ts,value\na,2026-01-01T00:00:00Z,1\na,2026-01-01T00:01:00Z,x\n")
    with pytest.raises(DatasetError, match="line 3"):
        load(str(csv))


@pytest.mark.parametrize("name", ["airline", "co2", "sunspots", "synthetic"])
def test_built_in_datasets(name: str) -> None:
    dataset = load(name)
    expected = {"airline": 144, "co2": 2284, "sunspots": 309, "synthetic": 4800}[name]
    assert len(dataset) == expected and dataset.season > 1
    for s in dataset.series.values():
        assert np.isfinite(s.values).all(), "gaps filled"
        assert s.timestamps == sorted(s.timestamps)
