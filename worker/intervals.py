"""Prediction intervals: normalised online split-conformal, calibrated from one-step errors.

Per series the store keeps two numbers and the interval it issued (``SeriesState``'s
``interval_scale``, ``interval_count``, ``interval_half_width``, float32 / int32): ``s``, the
series' own error scale (the mean |error| of its scored forecasts, then an exponential average
over ``scale_window`` errors), and ``n``, how many errors ``s`` was made of (capped). When an
error ``e`` arrives, its normalised score ``r = |e| / s`` is computed with ``s`` from *before*
``e`` (so it is out of sample, as a split-conformal calibration score must be) and goes to a
bounded pool of recent scores, pooled over all series; then ``s`` learns ``e``. A forecast's
half-width is the conformal quantile of the pool times the series' ``s``: per series in scale,
pooled in shape, so series 1000x apart in scale get intervals 1000x apart in width.

A score's distribution depends on how many errors ``s`` was made of (``s`` of one error makes
``|e2| / |e1|``, a heavy tail), so the pool is split by ``n``: one pool per count 1 ..
``min_errors`` - 1 and one for ``min_errors`` and more. A series with few errors (a short or new
series) is thus calibrated against other series at the same count, its interval wide as its
scale is uncertain; a pool too small for the quantile (fewer than about 1 / (1 - coverage)
scores) borrows the quantile of the nearest lower count that has one (wider: a scale of fewer
errors is less certain), and with none gives no interval: ``lower`` / ``upper`` are left out
rather than made up.

Under drift the pooled quantile lags; an adaptive conformal correction (Gibbs & Candes 2021,
"Adaptive conformal inference under distribution shift") moves the level used by
``adapt_rate`` per scored interval, up after a miss and down after a hit (a wave's steps
together capped at its whole coverage gap), so the long-run coverage holds. The pools and that
level are the worker's (not per series, not checkpointed): after a restart they fill again
from new errors.

>>> calibrator = Calibrator(
...     coverage=0.9, scale_window=50, min_errors=1, pool_size=100, adapt_rate=0.0
... )
>>> scale, count = np.array([np.nan, np.nan], np.float32), np.zeros(2, np.int32)
>>> for e in np.linspace(0.1, 2.0, 20):  # two series, errors 1000x apart
...     scale, count = calibrator.learn(np.array([e, 1000 * e]), scale, count)
>>> w = calibrator.half_widths(scale, count)
>>> bool(np.isclose(w[1] / w[0], 1000))
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from foundation.settings.worker import WorkerSettings
from worker.batch import BatchResult
from worker.state_store import StateStore

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]

SCALE_FLOOR = float(np.finfo(np.float32).tiny)
# Scores are kept finite in the float32 pools (an inf would make a quantile NaN).
MAX_SCORE = float(np.finfo(np.float32).max)
# The largest step of the adaptive level per wave, as a share of the wave's coverage gap.
MAX_WAVE_GAIN = 1.0


class ScorePools:
    """One ring of recent scores per count bucket (float32, ``size`` each)."""

    def __init__(self, buckets: int, size: int) -> None:
        self.scores = np.zeros((buckets, size), np.float32)
        self.filled = np.zeros(buckets, np.int64)  # scores held (<= size)
        self.next = np.zeros(buckets, np.int64)  # where the next score goes

    def add(self, buckets: npt.NDArray[np.int64], scores: F64) -> None:
        size = self.scores.shape[1]
        distinct = distinct_of(buckets)
        for bucket in distinct:  # a loop over buckets, not events
            new = scores if len(distinct) == 1 else scores[buckets == bucket]
            new = new[-size:]
            start = int(self.next[bucket])
            if start + len(new) <= size:  # the usual case: no wrap, one slice
                self.scores[bucket, start : start + len(new)] = new
            else:
                self.scores[bucket, (start + np.arange(len(new))) % size] = new
            self.next[bucket] = (start + len(new)) % size
            self.filled[bucket] = min(size, int(self.filled[bucket]) + len(new))

    def add_one(self, bucket: int, score: float) -> None:
        """``add`` of a single score (the one-event wave's path, ``worker.interval_event``)."""
        start = int(self.next[bucket])
        self.scores[bucket, start] = score
        self.next[bucket] = (start + 1) % self.scores.shape[1]
        self.filled[bucket] = min(self.scores.shape[1], int(self.filled[bucket]) + 1)

    def quantile(self, bucket: int, level: float, coverage: float) -> float:
        """The conformal quantile: the ceil((m + 1) level)-th smallest of the bucket's m scores
        (at most the largest); NaN while m is too small for ``coverage`` itself, i.e. while
        ceil((m + 1) coverage) > m."""
        m = int(self.filled[bucket])
        if m == 0 or math.ceil((m + 1) * coverage) > m:
            return math.nan
        rank = min(max(math.ceil((m + 1) * level), 1), m)
        return float(np.partition(self.scores[bucket, :m], rank - 1)[rank - 1])


class Calibrator:
    """The pooled side of the intervals; the per-series side lives in the state store."""

    def __init__(
        self,
        *,
        coverage: float,
        scale_window: int,
        min_errors: int,
        pool_size: int,
        adapt_rate: float,
    ) -> None:
        self.coverage, self.scale_window, self.min_errors = coverage, scale_window, min_errors
        self.adapt_rate = adapt_rate
        self.level = coverage  # the ACI-corrected quantile level
        self.pools = ScorePools(min_errors, pool_size)
        self.count_cap = max(scale_window, min_errors)

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> Calibrator:
        return cls(
            coverage=settings.interval_coverage,
            scale_window=settings.interval_scale_window,
            min_errors=settings.interval_min_errors,
            pool_size=settings.interval_pool_size,
            adapt_rate=settings.interval_adapt_rate,
        )

    def bucket(self, counts: I32) -> npt.NDArray[np.int64]:
        """The pool of a series whose scale was made of ``counts`` (>= 1) errors."""
        return (np.minimum(counts, self.min_errors) - 1).astype(np.int64)

    def bucket_of(self, count: int) -> int:
        """``bucket`` of one count."""
        return min(count, self.min_errors) - 1

    def learn(self, abs_errors: F64, scales: F32, counts: I32) -> tuple[F32, I32]:
        """Pool each error's score under its series' scale from before it, then update the
        scale; returns the new (scale, count). Non-finite errors are not learnt."""
        usable = np.isfinite(abs_errors)
        # A scale below float32's smallest normal (a constant series' scale decays towards 0,
        # or a hostile record) gives scores beyond any meaning: such a series is not scored.
        calibrated = usable & (counts > 0) & (scales >= SCALE_FLOOR) & np.isfinite(scales)
        if calibrated.any():
            with np.errstate(over="ignore"):  # beyond float64: MAX_SCORE
                scores = np.minimum(abs_errors[calibrated] / scales[calibrated], MAX_SCORE)
            self.pools.add(self.bucket(counts[calibrated]), scores)
        # In int64: a restored count at int32's maximum must not wrap to a negative one.
        counts64 = counts.astype(np.int64)
        new_counts = np.where(usable, np.minimum(counts64 + 1, self.count_cap), counts64)
        weight = 1.0 / np.clip(new_counts, 1, self.scale_window)  # a running mean, then EWMA
        old = np.where(counts > 0, scales, 0.0)
        learnt = old + weight * (np.where(usable, abs_errors, 0.0) - old)
        with np.errstate(over="ignore"):
            new_scales = np.where(usable, learnt, scales).astype(np.float32)
        lost = usable & ~np.isfinite(new_scales)  # beyond float32: start that scale again
        new_scales[lost], new_counts[lost] = np.nan, 0
        return new_scales, new_counts.astype(np.int32)

    def adapt(self, covered: B) -> None:
        """ACI: each scored interval moves the level by ``adapt_rate`` times (miss - alpha),
        alpha = 1 - coverage; kept within [coverage / 2, 1 - alpha / 10] (below 1, so the
        pool's single largest score, one extreme error, is never the quantile).

        A wave's intervals are scored together, with no feedback between them, so their steps
        add up: n series make a gain of n x adapt_rate on the wave's miss rate, and above ~1
        the level swung between its bounds (coverage 0.72 with 1,000 series a wave). The gain
        is capped at ``MAX_WAVE_GAIN`` (1): a wave then closes at most its whole gap, whatever its
        width (stable: the level no longer overshoots); waves of fewer than 1 / adapt_rate
        series (50) are unchanged."""
        if self.adapt_rate and len(covered):
            self._move(1.0 - float(covered.mean()), len(covered))

    def adapt_one(self, covered: bool) -> None:
        """``adapt`` of a single scored interval (the same arithmetic, as Python floats)."""
        if self.adapt_rate:
            self._move(0.0 if covered else 1.0, 1)

    def _move(self, miss_rate: float, scored: int) -> None:
        alpha = 1.0 - self.coverage
        gain = min(self.adapt_rate * scored, MAX_WAVE_GAIN)
        level = self.level + gain * (miss_rate - alpha)
        self.level = min(1.0 - alpha / 10, max(self.coverage / 2, level))

    def half_widths(self, scales: F32, counts: I32) -> F32:
        """Each series' half-width (NaN: not calibrated yet), rounded to float32 as stored."""
        out = np.full(len(scales), np.nan, np.float32)
        ready = (counts > 0) & np.isfinite(scales)
        if not ready.any():
            return out
        buckets = self.bucket(counts[ready])
        quantiles = np.full(self.min_errors, np.nan)
        known: dict[int, float] = {}
        for bucket in distinct_of(buckets):
            quantiles[bucket] = self._quantile(bucket, known)
        with np.errstate(over="ignore", invalid="ignore"):
            out[ready] = (quantiles[buckets] * scales[ready]).astype(np.float32)
        out[~np.isfinite(out)] = np.nan
        return out

    def bucket_quantile(self, bucket: int) -> float:
        """The quantile ``half_widths`` uses for a series in ``bucket`` (NaN: none yet)."""
        return self._quantile(bucket, {})

    def _quantile(self, bucket: int, known: dict[int, float]) -> float:
        """The bucket's quantile or, while its pool is too small, the nearest lower count's:
        a scale made of fewer errors gives heavier-tailed scores, so it errs on the wide side
        (series moving in step reach a count before any series has scored at it)."""
        for lower in range(bucket, -1, -1):
            if lower not in known:
                known[lower] = self.pools.quantile(lower, self.level, self.coverage)
            if not math.isnan(known[lower]):
                return known[lower]
        return math.nan


def distinct_of(buckets: npt.NDArray[np.int64]) -> list[int]:
    """The distinct buckets; most waves have one (series past ``min_errors``), or one event."""
    first = int(buckets[0])
    if len(buckets) == 1 or (buckets == first).all():
        return [first]
    return [int(b) for b in np.unique(buckets)]


def calibrate_wave(
    calibrator: Calibrator, store: StateStore, slots: I64, rows: I64, result: BatchResult
) -> None:
    """For one wave (``result`` already holds its errors and forecasts): score each series'
    pending interval against this value, learn the error, and issue the new forecast's
    half-width (kept in the store, to be scored by the series' next value)."""
    columns = store.scalars
    pending = columns["interval_half_width"][slots]
    known = result.scored[rows]
    errors = np.where(known, result.abs_errors[rows], np.nan)
    issued = known & ~np.isnan(pending)
    covered = issued & (errors <= pending)
    result.interval_scored[rows] = issued
    result.covered[rows] = covered
    calibrator.adapt(covered[issued])
    scale, count = calibrator.learn(
        errors, columns["interval_scale"][slots], columns["interval_count"][slots]
    )
    columns["interval_scale"][slots] = scale
    columns["interval_count"][slots] = count
    widths = calibrator.half_widths(scale, count)
    columns["interval_half_width"][slots] = widths
    result.half_widths[rows] = widths
