"""The forecasts twincast is measured against, with the same online protocol: the forecast of
each value is made before that value is learned.

- persistence: the last value;
- River's ``HoltWinters`` (alpha 0.3, beta 0.1, gamma 0.6, the data set's season; River's own
  example) and ``SNARIMAX`` (p=2, d=1, q=1 and one seasonal AR term at the data set's season, on
  standardised inputs; one setting for every data set).
  Before a River model can forecast (HoltWinters needs a whole season first) the persistence
  forecast stands in, so every method answers every value. A non-finite forecast is returned as
  it is: the evaluation replaces it by the last value and flags the method as diverged. River is
  an optional dependency (the ``eval`` extra).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def persistence(values: F64) -> F64:
    return np.concatenate([[np.nan], values[:-1]])


def _holt_winters(season: int) -> Any:
    from river import time_series

    return time_series.HoltWinters(  # type: ignore[no-untyped-call]
        alpha=0.3, beta=0.1, gamma=0.6, seasonality=max(season, 0)
    )


def _snarimax(season: int) -> Any:
    from river import linear_model, preprocessing, time_series

    regressor = preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_lr=0.0)
    seasonal = {"m": season, "sp": 1} if season > 1 else {}
    return time_series.SNARIMAX(p=2, d=1, q=1, regressor=regressor, **seasonal)


RIVER: dict[str, Callable[[int], Any]] = {
    "River HoltWinters": _holt_winters,
    "River SNARIMAX": _snarimax,
}


def river_forecasts(make: Callable[[int], Any], values: F64, season: int) -> F64:
    model = make(season)
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values.tolist()):
        if i > 0:
            try:
                out[i] = float(model.forecast(horizon=1)[0])
            except (IndexError, ValueError, ZeroDivisionError):
                out[i] = values[i - 1]  # not enough data for this model yet
            except OverflowError:
                out[i] = math.inf  # diverged
        model.learn_one(value)
    return out
