"""Per-feature standardisation fitted on training history, applied in and undone on the way out.

Every function takes a ``Scaler`` (pooled: one mean and scale per feature, [F]) or a ``Scaling``
whose mean and scale have one row per series ([B, F], see ``lstmcore.series_scales``); the
arithmetic is the same, broadcast per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from schemas.artifact import Scaler

Array = npt.NDArray[np.float32]

# A constant series has no spread; scaling it by 1 keeps it finite and harmless.
MIN_SCALE = 1e-8
# A series' own scale is floored at this fraction of its largest level (and at MIN_SCALE): a
# series constant so far then gets forecasts within a hair of its last value, not the pooled
# spread of other series, and a later jump saturates the LSTM instead of overflowing it.
_RELATIVE_FLOOR = 1e-6
# Fewer points than this give no spread worth trusting: the series keeps the pooled row.
_MIN_OWN_POINTS = 3


@dataclass(frozen=True)
class Scaling:
    """The scaling of a batch of series: ``mean``, ``scale`` [F] (all alike) or [B, F]."""

    kind: Literal["standard", "difference"]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]


AnyScaling = Scaler | Scaling


def fit_scaler(
    series: Sequence[npt.NDArray[np.floating]], kind: Literal["standard", "difference"]
) -> Scaler:
    """Mean and standard deviation of every feature over all points (or, for ``difference``,
    all changes) of all series."""
    raw = [np.asarray(s, np.float64) for s in series]
    if kind == "difference":
        raw = [np.diff(s, axis=0) for s in raw if len(s) > 1] or [np.zeros((1, raw[0].shape[1]))]
    stacked = np.concatenate(raw, axis=0)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale = np.where(scale < MIN_SCALE, 1.0, scale)
    return Scaler(kind=kind, mean=[float(m) for m in mean], scale=[float(s) for s in scale])


def fit_rows(
    series: Sequence[npt.NDArray[np.floating]], pooled: Scaler
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each series' own mean and scale [S, F], floored; a series too short to have a spread
    gets the pooled row.

    ``difference``: scale only, as DeepAR-style global models do: mean 0 and the root mean square
    of the series' changes, so a model that outputs 0 is the persistence forecast on every
    series. A drift estimated from a short series' few changes was noise: on the built-in
    ``short`` set (50 series of 8-12 points) subtracting it gave 0.85x persistence, scale only
    0.63x. ``standard``: the mean and standard deviation of the series' values.
    """
    features = len(pooled.mean)
    mean = np.tile(np.asarray(pooled.mean, np.float64), (len(series), 1))
    spread = np.tile(np.asarray(pooled.scale, np.float64), (len(series), 1))
    for row, values in enumerate(series):
        raw = np.asarray(values, np.float64).reshape(len(values), features)
        if len(raw) < _MIN_OWN_POINTS:
            continue
        floor = np.maximum(_RELATIVE_FLOOR * np.abs(raw).max(axis=0), MIN_SCALE)
        if pooled.kind == "difference":
            changes = np.diff(raw, axis=0)
            mean[row], own = 0.0, np.sqrt((changes**2).mean(axis=0))
        else:
            mean[row], own = raw.mean(axis=0), raw.std(axis=0)
        spread[row] = np.maximum(own, floor)
    return mean, spread


def series_inputs(scaler: AnyScaling, values: npt.NDArray[np.floating]) -> Array:
    """One series [T, F] (or many, [B, T, F]) in original units -> the model's inputs."""
    values = np.asarray(values, np.float64)
    if scaler.kind == "difference":
        values = np.diff(values, axis=-2, prepend=values[..., :1, :])
    return scale(scaler, values)


def step_inputs(
    scaler: AnyScaling, values: npt.NDArray[np.floating], previous: npt.NDArray[np.floating] | None
) -> Array:
    """One step's values [B, F] -> inputs; ``previous`` [B, F] is each series' value before
    (only ``difference`` uses it; None means none, i.e. no change)."""
    if scaler.kind == "difference":
        values = np.asarray(values, np.float64)
        return scale(scaler, values - (values if previous is None else previous))
    return scale(scaler, values)


def forecasts_from(
    scaler: AnyScaling, y: npt.NDArray[np.floating], values: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Model outputs [...] for feature 0 -> forecasts in original units, given the values
    [..., F] they were made at."""
    out = unscale_target(scaler, y)
    if scaler.kind == "difference":
        return np.asarray(values, np.float64)[..., 0] + out
    return out


def scale(scaler: AnyScaling, values: npt.NDArray[np.floating]) -> Array:
    """[..., F] original units -> scaled float32 (per-row scalings: [B, F] or [B, T, F])."""
    mean = np.asarray(scaler.mean, np.float64)
    spread = np.asarray(scaler.scale, np.float64)
    if mean.ndim == 2 and np.ndim(values) == 3:  # one row per series, the same at every step
        mean, spread = mean[:, None, :], spread[:, None, :]
    return ((np.asarray(values, np.float64) - mean) / spread).astype(np.float32)


def unscale_target(scaler: AnyScaling, y: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Scaled forecasts of feature 0 ([B] for per-row scalings) -> original units."""
    mean = np.asarray(scaler.mean, np.float64)[..., 0]
    spread = np.asarray(scaler.scale, np.float64)[..., 0]
    out: npt.NDArray[np.float64] = np.asarray(y, np.float64) * spread + mean
    return out
