"""The JSON of a forecast's interval: its ``lower`` and ``upper`` fields, a batch at a time."""

from __future__ import annotations

import math
from math import isfinite

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# A batch of fewer forecasts than this formats its bounds one at a time: numpy's fixed cost (~15
# us a batch) is more than a few forecasts' formatting (polls of one event: the latency path).
VECTOR_FROM = 64


# The bounds are written with as many decimals as a float32 half-width carries: the last digit's
# unit is at most the half-width's float32 ulp, so the decimal rounding (half of that unit at
# most) is no larger than the float32 rounding the stored half-width already went through. A
# bound's decimals: ceil((24 - e) log10 2) for a half-width in [2^(e-1), 2^e), at least one (a
# JSON number with a point, as repr writes it); exact frexp exponents make the batch and the
# one-at-a-time paths agree to the byte. Where that needs more than 17 significant digits (a
# bound large beside its half-width, or a zero half-width), float64's shortest repr is written
# instead: exact, and no longer.
_LOG10_2 = math.log10(2.0)
_MAX_DIGITS = 17
_POW10 = np.array([10.0**k for k in range(_MAX_DIGITS + 1)])  # exact in float64
_POW10_LIST = _POW10.tolist()
_FIXED = ',"lower":%.*f,"upper":%.*f'


def interval_fields(forecasts: F64, half_widths: F64) -> list[str]:
    """Each row's ``lower`` and ``upper`` fields' JSON, or "" for none: no interval (NaN), one
    beyond float range (both or neither), or a negative half-width (never made; it would put
    lower above upper). Bounds as in ``interval_field``, all of the batch's checks at once."""
    if len(forecasts) < VECTOR_FROM:
        return list(map(interval_field, forecasts.tolist(), half_widths.tolist()))
    with np.errstate(invalid="ignore", over="ignore"):
        lower, upper = forecasts - half_widths, forecasts + half_widths
        whole = (half_widths >= 0.0) & np.isfinite(lower) & np.isfinite(upper)
        exponents = np.frexp(half_widths)[1]
    decimals = np.maximum(np.ceil((24 - exponents) * _LOG10_2), 1).astype(np.int64)
    below = _POW10[np.clip(_MAX_DIGITS - decimals, 0, _MAX_DIGITS)]
    fixed = whole & (half_widths > 0.0) & (decimals <= _MAX_DIGITS)
    fixed &= np.maximum(-lower, upper) < below
    out = [""] * len(forecasts)
    rows = np.flatnonzero(fixed)
    for row, d, low, high in zip(
        rows.tolist(),
        decimals[rows].tolist(),
        lower[rows].tolist(),
        upper[rows].tolist(),
        strict=True,
    ):
        out[row] = _FIXED % (d, low, d, high)
    for row in np.flatnonzero(whole & ~fixed).tolist():  # rare: zero or narrow half-widths
        out[row] = f',"lower":{float(lower[row])!r},"upper":{float(upper[row])!r}'
    return out


def interval_field(forecast: float, half_width: float) -> str:
    """One row of ``interval_fields``, in Python floats (the same bytes)."""
    if not half_width >= 0.0:  # NaN too
        return ""
    lower, upper = forecast - half_width, forecast + half_width
    if not (isfinite(lower) and isfinite(upper)):
        return ""
    if half_width > 0.0:
        decimals = max(math.ceil((24 - math.frexp(half_width)[1]) * _LOG10_2), 1)
        if decimals <= _MAX_DIGITS and max(-lower, upper) < _POW10_LIST[_MAX_DIGITS - decimals]:
            return _FIXED % (decimals, lower, decimals, upper)
    return f',"lower":{lower!r},"upper":{upper!r}'
