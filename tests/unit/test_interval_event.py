"""The one-event wave's scalar intervals (worker.interval_event) against the vectorised ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from worker.batch import BatchResult
from worker.interval_event import calibrate_event
from worker.intervals import Calibrator, calibrate_wave
from worker.state_store import StateStore

COLUMNS = ("interval_scale", "interval_count", "interval_half_width")


def _calibrator(adapt_rate: float) -> Calibrator:
    return Calibrator(
        coverage=0.9, scale_window=5, min_errors=4, pool_size=16, adapt_rate=adapt_rate
    )


def _error(rng: np.random.Generator, scale: float) -> float:
    """Mostly ordinary errors; sometimes the edges: zero, non-finite, beyond float32, tiny."""
    kind = rng.integers(40)
    special = [0.0, np.inf, np.nan, 1e300, 1e-300]
    return special[kind] if kind < len(special) else abs(rng.normal()) * scale


# Both paths warn alike on the edges (a score beyond float32 in the pool, as inf).
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("adapt_rate", [0.0, 0.3])
def test_one_event_waves_match_the_vectorised_path_bit_for_bit(adapt_rate: float) -> None:
    rng = np.random.default_rng(3)
    scalar, vector = _calibrator(adapt_rate), _calibrator(adapt_rate)
    stores = [StateStore(capacity=8, window=2, features=1, layers=1, units=1) for _ in "ab"]
    scales = [1e-30, 1.0, 1e30, 1.0, 5.0, 1.0]  # per series: its errors' size
    scored_intervals = 0
    for _ in range(3000):
        series = int(rng.integers(len(scales)))
        scored, error = rng.random() < 0.9, _error(rng, scales[series])  # unscored: a first value
        results = []
        for store, calibrator in zip(stores, (scalar, vector), strict=True):
            slots = store.slots_for([f"s{series}"])
            result = BatchResult.empty(1)
            result.scored[0], result.abs_errors[0] = scored, error
            if calibrator is scalar:
                calibrate_event(calibrator, store, int(slots[0]), 0, result)
            else:
                calibrate_wave(calibrator, store, slots, np.zeros(1, np.int64), result)
            results.append(result)
        for field in dataclasses.fields(BatchResult):
            a, b = (getattr(r, field.name) for r in results)
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        for name in COLUMNS:
            a_column, b_column = (s.scalars[name] for s in stores)
            np.testing.assert_array_equal(a_column, b_column, err_msg=name)
        assert scalar.level == vector.level
        scored_intervals += int(results[0].interval_scored[0])
    for part in ("scores", "filled", "next"):
        np.testing.assert_array_equal(getattr(scalar.pools, part), getattr(vector.pools, part))
    assert scored_intervals >= 1000  # the comparison covered intervals, not only NaNs
