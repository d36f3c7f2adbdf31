"""One evaluation: twincast (offline or through the pipeline) and the baselines, scored alike."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.evaluation.baselines import RIVER, persistence, river_forecasts
from twincast.evaluation.datasets import Dataset
from twincast.evaluation.offline import ModelRun, run_offline
from twincast.evaluation.report import F64, Score, overall, score, table

log = logging.getLogger(__name__)

TWINCAST = "twincast"


@dataclass(frozen=True)
class Evaluation:
    dataset: Dataset
    mode: str
    run: ModelRun
    forecasts: dict[str, dict[str, F64]]  # method -> series -> forecasts
    scores: dict[str, dict[str, Score]]  # series (and "all") -> method -> score

    def table(self) -> str:
        title = (
            f"{self.dataset.name}: {len(self.dataset.series)} series, {len(self.dataset)} points, "
            f"{self.mode}, refits {len(self.run.refits)} "
            f"({sum(v in ('accepted', 'gate_off') for v in self.run.refits)} served)"
        )
        single = len(self.dataset.series) == 1  # its "all" rows would repeat the series' rows
        return table(title, {k: v for k, v in self.scores.items() if not (single and k == "all")})

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
    if baselines:
        for method, make in RIVER.items():
            forecasts[method] = {
                series_id: river_forecasts(make, s.values, dataset.season)
                for series_id, s in dataset.series.items()
            }
    scores: dict[str, dict[str, Score]] = {}
    for series_id, s in dataset.series.items():
        scores[series_id] = {m: score(f[series_id], s.values) for m, f in forecasts.items()}
    scores["all"] = {
        m: overall([(f[sid], s.values) for sid, s in dataset.series.items()])
        for m, f in forecasts.items()
    }
    return Evaluation(dataset, "pipeline" if pipeline else "offline", run, forecasts, scores)


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
        axes.set_title(f"{evaluation.dataset.name} / {series_id}: one-step-ahead forecasts")
        axes.legend(loc="upper left", fontsize="small")
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in series_id)
        path = folder / f"{Path(evaluation.dataset.name).stem}-{safe}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written
