"""An honest classical baseline: statsmodels' ETS, re-estimated on past data only.

For each series, at every refit point (the ends of the replay's rounds, where twincast's trainer
refits), a small set of additive-error ETS models is fitted on the values seen so far and the one
with the lowest AICc is kept: trend none or additive damped; seasonal none or additive, the latter
only when the period is known and the history holds two full seasons plus ``MIN_FIT_POINTS``.
Until the next refit point its parameters stay fixed while its state is filtered forward one value
at a time, so the forecast of each value uses only the values before it. Before the first fit
(too little data, or the first round, when twincast has no model either) the last value stands in.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

ETS = "ETS (AICc)"
MIN_FIT_POINTS = 10  # the fewest values a non-seasonal candidate is fitted on


@dataclass(frozen=True)
class Spec:
    """One candidate form: additive error, optional damped additive trend and additive season."""

    trend: bool
    season: int  # 0 = no seasonal component

    @property
    def label(self) -> str:
        return "A" + ("Ad" if self.trend else "N") + ("A" if self.season else "N")


def candidates(points: int, season: int) -> list[Spec]:
    """The forms worth fitting on ``points`` values of a series with period ``season``."""
    if points < MIN_FIT_POINTS:
        return []
    specs = [Spec(False, 0), Spec(True, 0)]
    if season > 1 and points >= 2 * season + MIN_FIT_POINTS:
        specs += [Spec(False, season), Spec(True, season)]
    return specs


def _model(values: F64, spec: Spec) -> object:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    return ETSModel(
        values,
        error="add",
        trend="add" if spec.trend else None,
        damped_trend=spec.trend,
        seasonal="add" if spec.season else None,
        seasonal_periods=spec.season or None,
    )


def select(values: F64, season: int) -> tuple[Spec, F64] | None:
    """The lowest-AICc candidate fitted on ``values`` and its parameters (None: none fits)."""
    best: tuple[float, Spec, F64] | None = None
    for spec in candidates(len(values), season):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # convergence chatter; a bad fit loses on AICc
                fitted = _model(values, spec).fit(disp=False)  # type: ignore[attr-defined]
        except (ValueError, np.linalg.LinAlgError):
            continue
        aicc = float(fitted.aicc)
        if math.isfinite(aicc) and (best is None or aicc < best[0]):
            best = (aicc, spec, np.asarray(fitted.params, np.float64))
    return None if best is None else (best[1], best[2])


def one_step(values: F64, spec: Spec, params: F64) -> F64:
    """With fixed parameters, the forecast of each value from the values before it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        smoothed = _model(values, spec).smooth(params)  # type: ignore[attr-defined]
    return np.asarray(smoothed.fittedvalues, np.float64)


def ets_forecasts(values: F64, season: int, refit_points: Sequence[int]) -> tuple[F64, list[str]]:
    """One-step forecasts of every value (NaN for the first) and the form chosen at each refit.

    ``refit_points``: counts of this series' values seen at each refit; the model fitted at
    point p forecasts values p .. (next point - 1). Non-finite forecasts are left as they are, so
    the caller can flag a diverged fit.
    """
    out = np.concatenate([[np.nan], values[:-1]])  # the last value until a fit exists
    chosen: list[str] = []
    bounds = sorted({p for p in refit_points if 0 < p < len(values)})
    for start, end in zip(bounds, [*bounds[1:], len(values)], strict=True):
        picked = select(values[:start], season)
        if picked is None:
            continue
        spec, params = picked
        chosen.append(spec.label)
        out[start:end] = one_step(values[:end], spec, params)[start:end]
    return out, chosen


def refit_points(events: Sequence[str], round_size: int) -> dict[str, list[int]]:
    """Per series, how many of its values had arrived at the end of each round but the last:
    where twincast's trainer refits in the same replay. ``events``: series ids in replay order."""
    seen: dict[str, int] = dict.fromkeys(events, 0)
    points: dict[str, list[int]] = {k: [] for k in seen}
    for i, series_id in enumerate(events, start=1):
        seen[series_id] += 1
        if i % round_size == 0 and i < len(events):
            for name, count in seen.items():
                points[name].append(count)
    return points
