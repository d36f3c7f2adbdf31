"""Prediction intervals for a wave of one event, in scalar arithmetic.

``calibrate_wave`` costs a few dozen numpy calls per wave whatever its width, about 60 us on
the one-event polls of the latency path (most of it numpy's per-call overhead on 1-element
arrays, not arithmetic). This is the same computation on Python floats, for a wave of one
series: the same IEEE double operations in the same order, rounded to float32 where the
vectorised code rounds (``np.float32``), so the stored state, the pools, the adapted level and the
served half-width are bit for bit the vectorised ones (tests/unit/test_interval_event.py replays
random streams through both).
"""

from __future__ import annotations

import math

import numpy as np

from worker.batch import BatchResult
from worker.intervals import MAX_SCORE, SCALE_FLOOR, Calibrator
from worker.state_store import StateStore


def calibrate_event(
    calibrator: Calibrator, store: StateStore, slot: int, row: int, result: BatchResult
) -> None:
    """``calibrate_wave`` for the single series in ``slot`` (``row`` of ``result``)."""
    columns = store.scalars
    pending = float(columns["interval_half_width"][slot])
    known = bool(result.scored[row])
    error = float(result.abs_errors[row]) if known else math.nan
    issued = known and not math.isnan(pending)
    covered = issued and error <= pending
    result.interval_scored[row] = issued
    result.covered[row] = covered
    if issued:
        calibrator.adapt_one(covered)
    scale, count = learn_event(
        calibrator, error, columns["interval_scale"][slot], int(columns["interval_count"][slot])
    )
    columns["interval_scale"][slot] = scale
    columns["interval_count"][slot] = count
    width = half_width_event(calibrator, scale, count)
    columns["interval_half_width"][slot] = width
    result.half_widths[row] = width


def learn_event(
    calibrator: Calibrator, error: float, scale: np.float32, count: int
) -> tuple[np.float32, int]:
    """``Calibrator.learn`` for one series: pool its score, then the new (scale, count)."""
    if not math.isfinite(error):  # not learnt: the scale and count stay
        return scale, count
    old = float(scale)  # a float32 widened, exactly as numpy promotes it
    if count > 0 and old >= SCALE_FLOOR and math.isfinite(old):
        calibrator.pools.add_one(calibrator.bucket_of(count), min(error / old, MAX_SCORE))
    new_count = min(count + 1, calibrator.count_cap)
    weight = 1.0 / min(max(new_count, 1), calibrator.scale_window)
    base = old if count > 0 else 0.0
    learnt = base + weight * (error - base)
    new_scale = to_float32(learnt)
    if not math.isfinite(new_scale):  # beyond float32: start that scale again
        return np.float32(np.nan), 0
    return new_scale, new_count


def half_width_event(calibrator: Calibrator, scale: np.float32, count: int) -> np.float32:
    """``Calibrator.half_widths`` for one series (NaN: not calibrated yet)."""
    if count <= 0 or not math.isfinite(scale):
        return np.float32(np.nan)
    width = to_float32(calibrator.bucket_quantile(calibrator.bucket_of(count)) * float(scale))
    return width if math.isfinite(width) else np.float32(np.nan)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_float32(value: float) -> np.float32:
    """Rounded to float32 as ``astype`` rounds (inf beyond its range, without a warning); the
    warning filter only where it can overflow (``np.errstate`` costs more than the rounding)."""
    if abs(value) <= FLOAT32_MAX or not math.isfinite(value):
        return np.float32(value)
    with np.errstate(over="ignore"):
        return np.float32(value)
