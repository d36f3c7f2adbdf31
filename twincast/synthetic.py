"""Synthetic multi-series data: seasonality, trend and noise, reproducible from a seed.

Used by the demo producer, the tests and the benchmarks, so all of them see the same kind of data.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def seasonal_series(
    n_series: int,
    length: int,
    seed: int = 0,
    period: float = 24.0,
    noise: float = 0.05,
    trend: float = 0.0,
    start: int = 0,
) -> dict[str, npt.NDArray[np.float64]]:
    """``n_series`` series named ``series-000``..., each [length, 1].

    Series differ in phase, amplitude (0.5-2) and level (-1..1). ``start`` shifts time, so a later
    call continues the same series (same seed) with fresh noise: data a model did not train on.
    """
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, n_series)
    amplitudes = rng.uniform(0.5, 2.0, n_series)
    levels = rng.uniform(-1.0, 1.0, n_series)
    noise_rng = np.random.default_rng([seed, start])
    t = np.arange(start, start + length, dtype=np.float64)
    out = {}
    for i in range(n_series):
        clean = (
            levels[i]
            + trend * t / period
            + amplitudes[i] * np.sin(2 * np.pi * t / period + phases[i])
        )
        values = clean + noise_rng.normal(0.0, noise * amplitudes[i], length)
        out[f"series-{i:03d}"] = values[:, None]
    return out
