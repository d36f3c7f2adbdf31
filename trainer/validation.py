"""The validation walk, the per-series gate and what the verdict scores.

The walk is the worker's own pure step, from zero state, each series in its own scale. The gate
is chosen on the held-out tails and the verdict scored there too, but never on the same points:
each tail is cut in two halves, in time order, and each half is scored with the gate chosen on
the other (cross-fitting). Choosing and scoring on the same points made the gated MAE at most
persistence's by construction, so the verdict leaned to the candidate; now every scored point
is scored by a decision it took no part in. The gate the artifact carries is chosen by the same
rule on the whole tail: the verdict judges the rule out of sample, on twice the points a single
split would leave it, and the decision served uses every held-out point.

A series whose first half has fewer than ``min_gate_points`` points is too short to be decided
on its own: all such series are decided together, the model only if it beats the last value
pooled over their points, each series' errors in its own scale (the model when there is no
point to choose on at all: the verdict alone judges it then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from lstmcore.scaling import AnyScaling, forecasts_from, series_inputs
from lstmcore.serving import ServingModel
from lstmcore.step import StepWeights, step

Series = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Evaluation:
    """MAE on the held-out tails of what each would serve (the candidate's gate cross-fitted):
    the candidate and the current model where their per-series gate chose the model, the last
    value elsewhere."""

    model_mae: float
    persistence_mae: float
    previous_model_mae: float | None
    points: int  # scored: every held-out point
    helps: Mapping[str, bool] = field(default_factory=dict)  # series -> the gate chose the model
    candidate_mae: float | None = None  # the candidate on every series, before the gate
    pooled: int = 0  # series too short to be gated on their own, decided together


@dataclass(frozen=True)
class TailSplit:
    """Where each series' held-out tail starts, and where its second half starts."""

    starts: list[int]
    middles: list[int]

    @classmethod
    def of(cls, series: Sequence[Series], starts: list[int]) -> TailSplit:
        """The first half is the earlier half of the tail, rounded down: a tail of one point has
        an empty first half, one of three a first half of one point and a second of two."""
        ends = [start + (len(s) - start) // 2 for s, start in zip(series, starts, strict=True)]
        return cls(list(starts), ends)


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


def errors(
    forecasts: list[Series], series: list[Series], begins: list[int], ends: list[int] | None = None
) -> list[Series]:
    """Absolute errors of each series' points [begin, end) (end None: to its last point)."""
    stops = ends if ends is not None else [len(s) for s in series]
    return [
        np.abs(f[begin - 1 : stop - 1] - s[begin:stop, 0])
        for f, s, begin, stop in zip(forecasts, series, begins, stops, strict=True)
    ]


def pooled_mae(parts: list[Series]) -> float:
    return float(np.concatenate(parts).mean())


def gated(forecasts: list[Series], series: list[Series], use_model: Sequence[bool]) -> list[Series]:
    """What is served: the model's forecasts where ``use_model``, the last value elsewhere."""
    return [f if use else s[:, 0] for f, s, use in zip(forecasts, series, use_model, strict=True)]


def series_gate(
    candidate: list[Series],
    persistence: list[Series],
    series: list[Series],
    part: tuple[list[int], list[int]],
    own: Sequence[bool],
    scales: Sequence[float],
) -> list[bool]:
    """Per series, on the points [begin, end) of ``part`` only: does the candidate beat the last
    value? Series not ``own`` are decided together, their errors each in its own ``scales`` (so
    a large series does not decide for small ones); with no point among them, the model."""
    ours = errors(candidate, series, *part)
    theirs = errors(persistence, series, *part)
    short = [i for i, alone in enumerate(own) if not alone]
    pooled_ours = [ours[i] / scales[i] for i in short]
    together = sum(map(len, pooled_ours)) == 0 or bool(
        pooled_mae(pooled_ours) < pooled_mae([theirs[i] / scales[i] for i in short])
    )
    return [
        bool(o.mean() < t.mean()) if alone else together
        for o, t, alone in zip(ours, theirs, own, strict=True)
    ]


def judge(
    names: list[str],
    forecasts: list[Series],
    series: list[Series],
    split: TailSplit,
    min_gate_points: int,
    scales: Sequence[float],
    gate: bool = True,
) -> Evaluation:
    """The candidate's gate and its cross-fitted MAE on the held-out tails, next to
    persistence's on the very same points (``gate`` False: the candidate served everywhere).

    Each half of a tail is scored with the gate chosen on the other half, so no point is scored
    by a decision it took part in; the gate served is chosen on the whole tail by the same rule.
    ``scales``: each series' scale of its first feature (for the pooled decision)."""
    persistence = [s[:, 0] for s in series]  # forecast of x[t+1] is x[t]
    ends = [len(s) for s in series]
    first, second = (split.starts, split.middles), (split.middles, ends)
    own = [m - b >= min_gate_points for b, m in zip(*first, strict=True)]
    served: list[Series] = []
    if gate:
        on_first = series_gate(forecasts, persistence, series, first, own, scales)
        on_second = series_gate(forecasts, persistence, series, second, own, scales)
        served = errors(gated(forecasts, series, on_second), series, *first)
        served += errors(gated(forecasts, series, on_first), series, *second)
    else:
        served = errors(forecasts, series, split.starts)
    helps = series_gate(forecasts, persistence, series, (split.starts, ends), own, scales)
    return Evaluation(
        model_mae=pooled_mae(served),
        persistence_mae=pooled_mae(errors(persistence, series, split.starts)),
        previous_model_mae=None,
        points=sum(e - start for e, start in zip(ends, split.starts, strict=True)),
        helps=dict(zip(names, helps, strict=True)),
        candidate_mae=pooled_mae(errors(forecasts, series, split.starts)),
        pooled=len(own) - sum(own),
    )


def evaluate(
    candidate: tuple[StepWeights, AnyScaling],
    previous: ServingModel | None,
    names: list[str],
    series: list[Series],
    starts: list[int],
    min_gate_points: int,
    gate: bool = True,
) -> Evaluation:
    """MAE on the held-out tails of what each would serve; the current model scales and gates
    each series as the worker does (with the gate it was published with), the
    candidate is gated per series, cross-fitted (``gate``), or not."""
    split = TailSplit.of(series, starts)
    previous_mae = None
    if previous is not None and previous.manifest.architecture.features == series[0].shape[1]:
        rows = previous.rows_for(names)
        walked = walk(previous.weights, previous.series.scaling(rows), series)
        served = gated(walked, series, previous.series.use_model[rows].tolist())
        previous_mae = pooled_mae(errors(served, series, split.starts))
    weights, scaling = candidate
    spread = np.asarray(scaling.scale, np.float64)  # pooled [F] or one row per series [N, F]
    scales = np.broadcast_to(spread, (len(series), spread.shape[-1]))[:, 0]
    forecasts = walk(weights, scaling, series)
    judged = judge(names, forecasts, series, split, min_gate_points, scales.tolist(), gate)
    return replace(judged, previous_model_mae=previous_mae)
