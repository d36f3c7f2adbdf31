"""Per-feature standardisation fitted on training history, applied in and undone on the way out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from schemas.artifact import Scaler

Array = npt.NDArray[np.float32]

# A constant series has no spread; scaling it by 1 keeps it finite and harmless.
_MIN_SCALE = 1e-8


def fit_scaler(series: Sequence[npt.NDArray[np.floating]]) -> Scaler:
    """Mean and standard deviation of every feature over all points of all series."""
    stacked = np.concatenate([np.asarray(s, np.float64) for s in series], axis=0)
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale = np.where(scale < _MIN_SCALE, 1.0, scale)
    return Scaler(mean=[float(m) for m in mean], scale=[float(s) for s in scale])


def scale(scaler: Scaler, values: npt.NDArray[np.floating]) -> Array:
    """[..., F] original units -> scaled float32."""
    mean = np.asarray(scaler.mean, np.float64)
    spread = np.asarray(scaler.scale, np.float64)
    return ((np.asarray(values, np.float64) - mean) / spread).astype(np.float32)


def unscale_target(scaler: Scaler, y: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Scaled forecasts of feature 0 -> original units."""
    return np.asarray(y, np.float64) * scaler.scale[0] + scaler.mean[0]
