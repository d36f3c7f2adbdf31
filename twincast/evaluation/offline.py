"""``twincast evaluate --offline``: the trainer's and the worker's logic in one process, no broker.

The replay is cut into rounds of ``refit_every_events`` events. In each round the worker's hot
path (``worker.hotpath.process``, the model of the previous round, persistence before any) forecasts
every event, the events join the trainer's history (the newest ``history_max_points`` per series),
and the trainer's refit (``trainer.refit.refit``, gate included) runs on that history; an accepted
model is swapped in under the worker's swap policy before the next round. ``--pipeline`` runs the
real services in the same rounds, so both modes see the same refits at the same events. (The
trainer's time-based schedule, ``refit_every_seconds``, has no meaning in a replay.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from trainer.plan import refit_plan
from trainer.refit import NotEnoughData, refit
from twincast.evaluation.datasets import Dataset
from worker.hotpath import EventBatch, apply_swap, process
from worker.intervals import Calibrator
from worker.state_store import StateStore

log = logging.getLogger(__name__)

Event = tuple[str, datetime, float]


@dataclass
class ModelRun:
    """What twincast forecast: per series, the forecast of each value made before it arrived
    (NaN where none was made: the first value) and the model version that made it."""

    forecasts: dict[str, npt.NDArray[np.float64]]
    versions: dict[str, npt.NDArray[np.int64]]
    refits: list[str] = field(default_factory=list)  # verdict of each refit, in order
    # (candidate, persistence) MAE on the trainer's held-out tail, per refit, accepted or not
    tails: list[tuple[float, float]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (reason, why) per skipped refit
    # Per series, aligned with ``forecasts``: the half-width of the prediction interval issued
    # with each forecast (NaN: none, e.g. before the series' interval was calibrated).
    half_widths: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)


def rounds(events: Sequence[Event], size: int) -> list[Sequence[Event]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def run_offline(
    dataset: Dataset,
    trainer: TrainerSettings,
    worker: WorkerSettings,
    on_refit: Callable[[int, str], None] | None = None,
) -> ModelRun:
    # One feature; h and c of one unit until the first model's swap resizes them to its shape.
    store = StateStore(
        capacity=worker.state_max_series,
        window=worker.replay_window,
        features=1,
        layers=1,
        units=1,
    )
    intervals = Calibrator.from_settings(worker)
    collector = ForecastCollector(dataset)
    history: dict[str, list[list[float]]] = {}
    model: ServingModel | None = None
    verdicts: list[str] = []
    tails: list[tuple[float, float]] = []
    skipped: list[tuple[str, str]] = []
    offset = 0
    chunks = rounds(dataset.events(), trainer.refit_every_events)
    for number, chunk in enumerate(chunks, start=1):
        batch = EventBatch()
        for series_id, ts, value in chunk:
            batch.append(series_id, ts, [value], 0, offset, 0)
            offset += 1
            kept = history.setdefault(series_id, [])
            kept.append([value])
            del kept[: -trainer.history_max_points]
        result = process(model, store, batch, intervals=intervals)
        collector.add(
            batch.series_ids,
            result.forecasts.tolist(),
            result.versions.tolist(),
            result.half_widths.tolist(),
        )
        if number == len(chunks):
            break  # nothing is left to forecast with a newer model
        version = (model.version if model else 0) + 1
        try:
            outcome = refit(
                {k: np.asarray(v) for k, v in history.items()},
                refit_plan(trainer),
                version,
                {},
                model,
            )
        except NotEnoughData as exc:
            skipped.append((exc.reason, str(exc)))
            continue
        verdicts.append(outcome.verdict)
        ev = outcome.evaluation  # the candidate before the per-series gate: how far it was
        candidate = ev.model_mae if ev.candidate_mae is None else ev.candidate_mae
        tails.append((candidate, ev.persistence_mae))
        if on_refit is not None:
            on_refit(version, outcome.verdict)
        if outcome.accepted:
            new = ServingModel.from_artifact(outcome.artifact)
            apply_swap(store, model, new, worker.swap_policy)
            model = new
    return collector.run(verdicts, tails, skipped)


class ForecastCollector:
    """Lines up the forecast made at each event with the next value of its series."""

    def __init__(self, dataset: Dataset) -> None:
        self._made: dict[str, list[tuple[float, int, float]]] = {k: [] for k in dataset.series}

    def add(
        self,
        series_ids: list[str],
        forecasts: list[float],
        versions: list[int],
        half_widths: list[float],
    ) -> None:
        """``half_widths``: of each forecast's interval, NaN where it had none."""
        for made in zip(series_ids, forecasts, versions, half_widths, strict=True):
            self._made[made[0]].append(made[1:])

    def run(
        self,
        verdicts: list[str],
        tails: list[tuple[float, float]],
        skipped: list[tuple[str, str]] | None = None,
    ) -> ModelRun:
        forecasts, versions, widths = {}, {}, {}
        for series_id, made in self._made.items():
            # The forecast made at value i is the forecast of value i + 1.
            forecasts[series_id] = np.array([np.nan] + [f for f, _, _ in made[:-1]])
            versions[series_id] = np.array([0] + [v for _, v, _ in made[:-1]], np.int64)
            widths[series_id] = np.array([np.nan] + [w for _, _, w in made[:-1]])
        return ModelRun(forecasts, versions, verdicts, tails, skipped or [], widths)
