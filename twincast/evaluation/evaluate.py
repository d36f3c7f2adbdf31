"""One evaluation: twincast (offline or through the pipeline) and the baselines, scored alike:
every method answers every value but each series' first, so each is scored on the same N - S
points (N events, S series)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.evaluation.baselines import RIVER, persistence, river_forecasts
from twincast.evaluation.datasets import Dataset
from twincast.evaluation.ets import ETS, ets_forecasts, refit_points
from twincast.evaluation.offline import ModelRun, run_offline
from twincast.evaluation.report import (
    F64,
    Score,
    interval_line,
    interval_score,
    overall,
    per_series_line,
    refit_lines,
    score,
    stand_in,
    table,
)

log = logging.getLogger(__name__)

TWINCAST = "twincast"


@dataclass(frozen=True)
class Evaluation:
    dataset: Dataset
    mode: str
    run: ModelRun
    forecasts: dict[str, dict[str, F64]]  # method -> series -> forecasts
    scores: dict[str, dict[str, Score]]  # series (and "all") -> method -> score
    ets_forms: dict[str, list[str]] = field(default_factory=dict)  # series -> form per refit
    coverage: float = math.nan  # the intervals' nominal coverage

    def table(self) -> str:
        events, series = len(self.dataset), len(self.dataset.series)
        title = (
            f"{self.dataset.name}: {series} series, {events} events, {events - series} scored "
            f"per method, {self.mode}, refits {len(self.run.refits)} "
            f"({sum(v in ('accepted', 'gate_off') for v in self.run.refits)} served)"
        )
        single = series == 1  # its "all" rows would repeat the series' rows
        rows = {k: v for k, v in self.scores.items() if not (single and k == "all")}
        return "\n".join(
            (
                table(title, rows),
                per_series_line(self.scores, TWINCAST),
                interval_line(self.scores, TWINCAST, self.coverage),
            )
        )

    def refits(self) -> str:
        """Each refit's candidate next to persistence, and why refits could not run."""
        return refit_lines(self.run.refits, self.run.tails, self.run.skipped)

    def ets_summary(self) -> str:
        """Which ETS form AICc picked at the refits, counted over series."""
        forms = [f for per_series in self.ets_forms.values() for f in per_series]
        counts = ", ".join(f"{f} x{forms.count(f)}" for f in sorted(set(forms)))
        return f"  ETS forms picked by AICc (error/trend/season): {counts or 'none (too short)'}"

    def best_river(self) -> tuple[str, Score]:
        overall_scores = self.scores["all"]
        name = min(RIVER, key=lambda m: overall_scores[m].mae)
        return name, overall_scores[name]


def refit_every(dataset: Dataset, rounds: int = 6) -> int:
    """Default round size of a replay: the data set in ``rounds`` rounds."""
    return max(1, math.ceil(len(dataset) / rounds))


def evaluate(
    dataset: Dataset,
    trainer: TrainerSettings,
    worker: WorkerSettings,
    pipeline: bool = False,
    baselines: bool = True,
) -> Evaluation:
    if pipeline:
        from twincast.evaluation.pipeline import run_pipeline

        run = run_pipeline(dataset, trainer, worker)
    else:
        run = run_offline(dataset, trainer, worker)
    forecasts: dict[str, dict[str, F64]] = {TWINCAST: run.forecasts, "persistence": {}}
    for series_id, s in dataset.series.items():
        forecasts["persistence"][series_id] = persistence(s.values)
    nonfinite: dict[str, dict[str, int]] = {}
    ets_forms: dict[str, list[str]] = {}
    if baselines:
        raw = _baselines(dataset, trainer.refit_every_events, ets_forms)
        for method, per_series in raw.items():
            forecasts[method], nonfinite[method] = {}, {}
            for series_id, values in per_series.items():
                clean, bad = stand_in(values, dataset.series[series_id].values)
                forecasts[method][series_id], nonfinite[method][series_id] = clean, bad
    scores: dict[str, dict[str, Score]] = {}
    for series_id, s in dataset.series.items():
        scores[series_id] = {
            m: replace(
                score(f[series_id], s.values), nonfinite=nonfinite.get(m, {}).get(series_id, 0)
            )
            for m, f in forecasts.items()
        }
    if run.half_widths:  # the pipeline of an older worker may have sent no intervals
        _score_intervals(dataset, run, scores)
    scores["all"] = {
        m: replace(
            overall([(f[sid], s.values) for sid, s in dataset.series.items()]),
            nonfinite=sum(nonfinite.get(m, {}).values()),
        )
        for m, f in forecasts.items()
    }
    if run.half_widths:
        all_forecasts = np.concatenate([run.forecasts[sid] for sid in dataset.series])
        all_widths = np.concatenate([run.half_widths[sid] for sid in dataset.series])
        actuals = np.concatenate([s.values for s in dataset.series.values()])
        scores["all"][TWINCAST] = interval_score(
            scores["all"][TWINCAST], all_forecasts, all_widths, actuals
        )
    mode = "pipeline" if pipeline else "offline"
    return Evaluation(dataset, mode, run, forecasts, scores, ets_forms, worker.interval_coverage)


def _score_intervals(dataset: Dataset, run: ModelRun, scores: dict[str, dict[str, Score]]) -> None:
    for series_id, s in dataset.series.items():
        scores[series_id][TWINCAST] = interval_score(
            scores[series_id][TWINCAST],
            run.forecasts[series_id],
            run.half_widths[series_id],
            s.values,
        )


def _baselines(
    dataset: Dataset, round_size: int, ets_forms: dict[str, list[str]]
) -> dict[str, dict[str, F64]]:
    """River's and ETS's raw forecasts (non-finite ones left in), per method and series; ETS
    refits where twincast's trainer does, on what had arrived by then."""
    out: dict[str, dict[str, F64]] = {}
    for method, make in RIVER.items():
        out[method] = {
            series_id: river_forecasts(make, s.values, dataset.season)
            for series_id, s in dataset.series.items()
        }
    points = refit_points([e[0] for e in dataset.events()], round_size)
    out[ETS] = {}
    for series_id, s in dataset.series.items():
        out[ETS][series_id], ets_forms[series_id] = ets_forecasts(
            s.values, dataset.season, points[series_id]
        )
    return out


def plot(evaluation: Evaluation, folder: Path) -> list[Path]:
    """One PNG per series: actuals, twincast's forecasts and the baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for series_id, s in evaluation.dataset.series.items():
        figure, axes = plt.subplots(figsize=(12, 4))
        stamps = np.array(s.timestamps)
        axes.plot(stamps, s.values, color="black", linewidth=1.5, label="actual")
        for method, per_series in evaluation.forecasts.items():
            mae = evaluation.scores[series_id][method].mae
            axes.plot(stamps, per_series[series_id], linewidth=1, label=f"{method} (MAE {mae:.4g})")
        half = evaluation.run.half_widths.get(series_id)
        if half is not None and not np.isnan(half).all():
            mid = evaluation.run.forecasts[series_id]
            coverage = evaluation.scores[series_id][TWINCAST].coverage
            axes.fill_between(
                stamps,
                mid - half,
                mid + half,
                alpha=0.2,
                linewidth=0,
                label=f"twincast interval (covered {coverage:.0%})",
            )
        axes.set_title(f"{evaluation.dataset.name} / {series_id}: one-step-ahead forecasts")
        axes.legend(loc="upper left", fontsize="small")
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in series_id)
        path = folder / f"{Path(evaluation.dataset.name).stem}-{safe}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
