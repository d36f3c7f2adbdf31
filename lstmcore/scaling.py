"""Per-feature standardisation fitted on training history, applied in and undone on the way out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from schemas.artifact import Scaler

Array = npt.NDArray[np.float32]

# A constant series has no spread; scaling it by 1 keeps it finite and harmless.
_MIN_SCALE = 1e-8


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
    scale = np.where(scale < _MIN_SCALE, 1.0, scale)
    return Scaler(kind=kind, mean=[float(m) for m in mean], scale=[float(s) for s in scale])


def series_inputs(scaler: Scaler, values: npt.NDArray[np.floating]) -> Array:
    """One series [T, F] (or many, [B, T, F]) in original units -> the model's inputs."""
    values = np.asarray(values, np.float64)
    if scaler.kind == "difference":
        values = np.diff(values, axis=-2, prepend=values[..., :1, :])
    return scale(scaler, values)


def step_inputs(
    scaler: Scaler, values: npt.NDArray[np.floating], previous: npt.NDArray[np.floating] | None
) -> Array:
    """One step's values [B, F] -> inputs; ``previous`` [B, F] is each series' value before
    (only ``difference`` uses it; None means none, i.e. no change)."""
    if scaler.kind == "difference":
        values = np.asarray(values, np.float64)
        return scale(scaler, values - (values if previous is None else previous))
    return scale(scaler, values)


def forecasts_from(
    scaler: Scaler, y: npt.NDArray[np.floating], values: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Model outputs [...] for feature 0 -> forecasts in original units, given the values
    [..., F] they were made at."""
    out = unscale_target(scaler, y)
    if scaler.kind == "difference":
        return np.asarray(values, np.float64)[..., 0] + out
    return out


def scale(scaler: Scaler, values: npt.NDArray[np.floating]) -> Array:
    """[..., F] original units -> scaled float32."""
    mean = np.asarray(scaler.mean, np.float64)
    spread = np.asarray(scaler.scale, np.float64)
    return ((np.asarray(values, np.float64) - mean) / spread).astype(np.float32)


def unscale_target(scaler: Scaler, y: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Scaled forecasts of feature 0 -> original units."""
    return np.asarray(y, np.float64) * scaler.scale[0] + scaler.mean[0]
