"""What one refit trains on, bounded whatever the history holds.

A refit trains on at most ``max_series`` series, drawn without replacement from the eligible ones
with a generator seeded by (seed, version): the same history and version always give the same
sample (a retried or replayed refit trains the same model), and each version sees another sample,
so over successive refits every series takes part. Of each, only the newest
``max_points_per_series`` points are used: the stream starts from zero state at its first kept
point, as it does at the first point the history's own bound keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

Series = npt.NDArray[np.float64]


def sample_names(names: Iterable[str], max_series: int, seed: int, version: int) -> list[str]:
    """At most ``max_series`` of ``names``, sorted; deterministic per (seed, version)."""
    ordered = sorted(names)
    if len(ordered) <= max_series:
        return ordered
    rng = np.random.default_rng([seed, version])
    picked = rng.choice(len(ordered), size=max_series, replace=False)
    return [ordered[i] for i in sorted(picked.tolist())]


def bound_history(
    history: Mapping[str, Series],
    min_points: int,
    max_series: int,
    max_points_per_series: int,
    seed: int,
    version: int,
) -> dict[str, Series]:
    """The sampled series with at least ``min_points`` points, each cut to its newest points.

    Idempotent: bounding what was already bounded (the trainer reads the sample from the history
    with the same bounds) changes nothing.
    """
    eligible = (name for name, values in history.items() if len(values) >= min_points)
    chosen = sample_names(eligible, max_series, seed, version)
    return {name: history[name][-max_points_per_series:] for name in chosen}
