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
from twincast.evaluation.ets import ETS, candidates, ets_forecasts, refit_points
from twincast.evaluation.evaluate import evaluate
from twincast.evaluation.offline import run_offline
from twincast.evaluation.report import (
    Score,
    flag,
    per_series_line,
    refit_lines,
    score,
    stand_in,
    table,
)
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
    for method in ("twincast", "persistence", *RIVER, ETS):
        assert method in table
    assert "3 series, 360 events, 357 scored per method" in table
    for method in ("twincast", "persistence", *RIVER, ETS):
        assert result.scores["all"][method].points == 3 * 119, "the same points for all"
    assert len(result.run.tails) == 2 and "refit 2: accepted" in result.refits()
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


@pytest.mark.parametrize("name", ["airline", "co2", "sunspots", "synthetic", "short"])
def test_built_in_datasets(name: str) -> None:
    dataset = load(name)
    expected = {"airline": 144, "co2": 2284, "sunspots": 309, "synthetic": 4800, "short": 509}[name]
    assert len(dataset) == expected and dataset.season > 1
    for s in dataset.series.values():
        assert np.isfinite(s.values).all(), "gaps filled"
        assert s.timestamps == sorted(s.timestamps)


def test_ets_forecasts_use_past_values_only() -> None:
    values = small_dataset(1, 96).series["series-000"].values
    changed = values.copy()
    changed[60:] += 50.0  # a future the forecasts up to value 60 must not see
    a, forms = ets_forecasts(values, 24, [30, 60])
    b, _ = ets_forecasts(changed, 24, [30, 60])
    np.testing.assert_array_equal(a[:61], b[:61])
    assert not np.array_equal(a[61:], b[61:])
    np.testing.assert_array_equal(a[1:30], values[:29])  # before the first fit: the last value
    assert len(forms) == 2 and all(f.startswith("A") for f in forms)


def test_ets_beats_the_last_value_on_a_noisy_level() -> None:
    rng = np.random.default_rng(1)
    values = 10.0 + rng.normal(0, 1.0, 300)  # white noise: the mean beats the last value
    forecasts, _ = ets_forecasts(values, 0, [50, 150])
    ets_mae = float(np.abs(forecasts[51:] - values[51:]).mean())
    last_mae = float(np.abs(values[50:-1] - values[51:]).mean())
    assert ets_mae < 0.8 * last_mae


def test_ets_candidates_and_refit_points() -> None:
    assert candidates(5, 12) == [], "too short to fit"
    assert {c.label for c in candidates(20, 12)} == {"ANN", "AAdN"}, "no two seasons yet"
    assert {c.label for c in candidates(40, 12)} == {"ANN", "AAdN", "ANA", "AAdA"}
    events = ["a", "b", "a", "a", "b", "a", "b"]
    assert refit_points(events, 3) == {"a": [2, 4], "b": [1, 2]}


def test_diverged_baselines_are_flagged() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    clean, bad = stand_in(np.array([np.nan, np.inf, 2.5, np.nan]), values)
    np.testing.assert_array_equal(clean[1:], [1.0, 2.5, 3.0])
    assert bad == 2
    base = Score(1.0, 1.0, 3)
    assert flag(Score(0.9, 1.0, 3), base) == ""
    assert "non-finite" in flag(Score(0.9, 1.0, 3, nonfinite=2), base)
    assert "DIVERGED" in flag(Score(7.7e10, 1e11, 3), base)
    printed = table("t", {"s": {"persistence": base, "River SNARIMAX": Score(7.7e10, 1e11, 3)}})
    assert "DIVERGED" in printed.splitlines()[-1] and "DIVERGED" not in printed.splitlines()[-2]


def test_refit_lines_show_refused_candidates_and_why_none_ran() -> None:
    text = refit_lines(["worse_than_persistence"], [(2.0, 1.0)], [])
    assert "worse_than_persistence" in text and "candidate 2" in text and "(2.000x)" in text
    skips = [("series_too_short", f"no series has 20 points, the longest has {n}") for n in (3, 4)]
    text = refit_lines([], [], skips)
    assert "no refit could run 2 times (series_too_short); last: no series has 20 points" in text
    assert text.count("series_too_short") == 1 and "the longest has 4" in text
    assert "no refit ran at all" in text


def test_short_series_say_why_no_refit_ran() -> None:
    dataset = small_dataset(series=6, length=12)
    run = run_offline(
        dataset, TrainerSettings(refit_every_events=24, min_points_per_series=20), WorkerSettings()
    )
    assert run.refits == [] and len(run.skipped) == 2
    reason, why = run.skipped[0]
    assert reason == "series_too_short" and "no series has 20 points" in why


def test_the_per_series_line_counts_series_worse_than_the_last_value() -> None:
    rows = {
        "a": {"twincast": Score(1.0, 1.0, 9), "persistence": Score(2.0, 2.0, 9)},
        "b": {"twincast": Score(2.1, 1.0, 9), "persistence": Score(2.0, 2.0, 9)},  # 1.05x
        "c": {"twincast": Score(2.03, 1.0, 9), "persistence": Score(2.0, 2.0, 9)},  # within 2 %
        "all": {"twincast": Score(1.7, 1.0, 27), "persistence": Score(2.0, 2.0, 27)},
    }
    line = per_series_line(rows, "twincast")
    assert "more than 2% worse than the last value on 1 of 3 series (worst: b at 1.050x)" in line


def test_interval_coverage_and_width_are_scored_where_an_interval_was_issued() -> None:
    from twincast.evaluation.report import interval_line, interval_score

    actual = np.array([1.0, 2.0, 4.0, 3.0, 3.5])
    forecasts = persistence(actual)  # errors 1, 2, 1, 0.5
    half = np.array([np.nan, np.nan, 1.5, 1.5, 0.25])  # none for the first two values
    s = interval_score(score(forecasts, actual), forecasts, half, actual)
    assert s.banded == 3
    assert s.coverage == pytest.approx(1 / 3) and s.width == pytest.approx(13 / 6)
    rows = {"s": {"twincast": s}, "all": {"twincast": s}}
    line = interval_line(rows, "twincast", 0.9)
    assert "90% nominal" in line and "33.3% of the 3 values" in line and "(of 4 scored)" in line
    printed = table("t", {"s": {"persistence": score(forecasts, actual), "twincast": s}})
    assert "33.3%" in printed.splitlines()[-1] and printed.splitlines()[-2].split()[-1] == "-"


def test_offline_run_carries_the_intervals_it_issued() -> None:
    run = run_offline(small_dataset(2, 60), SMALL, WorkerSettings())
    for widths in run.half_widths.values():
        assert np.isnan(widths[:2]).all() and (widths[~np.isnan(widths)] >= 0).all()
        assert not np.isnan(widths[-20:]).any(), "calibrated well before the end"
