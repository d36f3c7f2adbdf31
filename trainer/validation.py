"""The validation walk and the per-series gate: what a candidate (and the current model) would
serve on each sampled series' held-out tail, next to the last value.

The walk is the worker's own pure step, from zero state, each series in its own scale. The gate
keeps the model on a series only where its tail MAE is below the last value's; the MAE of what
each would serve (model where kept, last value elsewhere) is what the verdict compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lstmcore.scaling import AnyScaling, forecasts_from, series_inputs
from lstmcore.serving import ServingModel
from lstmcore.step import StepWeights, step

Series = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Evaluation:
    """Held-out tail MAE of what each would serve: the candidate and the current model where
    their per-series gate chose the model, the last value elsewhere."""

    model_mae: float
    persistence_mae: float
    previous_model_mae: float | None
    points: int
    helps: Mapping[str, bool] = field(default_factory=dict)  # series -> model beat persistence
    candidate_mae: float | None = None  # the candidate on every series, before the gate


def walk(weights: StepWeights, scaler: AnyScaling, series: list[Series]) -> list[Series]:
    """Forecast of x[t+1] made at t, for every t of every series, from zero state (vectorised);
    ``scaler`` pooled or one row per series."""
    longest = max(len(s) for s in series)
    padded = np.zeros((len(series), longest, series[0].shape[1]), np.float64)
    for row, values in enumerate(series):
        padded[row, : len(values)] = values
    scaled = series_inputs(scaler, padded)
    h, c = weights.zero_state(len(series))
    forecasts = np.empty((len(series), longest), np.float64)
    for t in range(longest):
        h, c, y = step(weights, h, c, scaled[:, t])
        forecasts[:, t] = forecasts_from(scaler, y[:, 0], padded[:, t])
    return [forecasts[row, : len(values)] for row, values in enumerate(series)]


def tail_errors(forecasts: list[Series], series: list[Series], starts: list[int]) -> list[Series]:
    """Absolute errors of each series' held-out tail."""
    return [
        np.abs(f[start - 1 : len(s) - 1] - s[start:, 0])
        for f, s, start in zip(forecasts, series, starts, strict=True)
    ]


def tail_mae(forecasts: list[Series], series: list[Series], starts: list[int]) -> float:
    return float(np.concatenate(tail_errors(forecasts, series, starts)).mean())


def gated(forecasts: list[Series], series: list[Series], use_model: Sequence[bool]) -> list[Series]:
    """What is served: the model's forecasts where ``use_model``, the last value elsewhere."""
    return [f if use else s[:, 0] for f, s, use in zip(forecasts, series, use_model, strict=True)]


def series_gate(
    candidate: list[Series], persistence: list[Series], series: list[Series], starts: list[int]
) -> list[bool]:
    """Per series: does the candidate beat the last value on that series' held-out tail?"""
    ours = tail_errors(candidate, series, starts)
    theirs = tail_errors(persistence, series, starts)
    return [bool(o.mean() < t.mean()) for o, t in zip(ours, theirs, strict=True)]


def evaluate(
    candidate: tuple[StepWeights, AnyScaling],
    previous: ServingModel | None,
    names: list[str],
    series: list[Series],
    starts: list[int],
    gate: bool = True,
) -> Evaluation:
    """MAE on the held-out tails of what each would serve; the current model scales and gates
    each series as the worker does, the candidate is gated per series (``gate``) or not."""
    persistence = [s[:, 0] for s in series]  # forecast of x[t+1] is x[t]
    previous_mae = None
    if previous is not None and previous.manifest.architecture.features == series[0].shape[1]:
        rows = previous.rows_for(names)
        walked = walk(previous.weights, previous.series.scaling(rows), series)
        served = gated(walked, series, previous.series.use_model[rows].tolist())
        previous_mae = tail_mae(served, series, starts)
    forecasts = walk(*candidate, series)
    helps = series_gate(forecasts, persistence, series, starts)
    return Evaluation(
        model_mae=tail_mae(gated(forecasts, series, helps) if gate else forecasts, series, starts),
        persistence_mae=tail_mae(persistence, series, starts),
        previous_model_mae=previous_mae,
        points=sum(len(s) - start for s, start in zip(series, starts, strict=True)),
        helps=dict(zip(names, helps, strict=True)),
        candidate_mae=tail_mae(forecasts, series, starts),
    )
