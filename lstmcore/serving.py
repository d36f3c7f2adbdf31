"""An immutable, checked model ready for the hot path: artifact -> scaled step -> forecasts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foundation.errors import ArtifactError
from lstmcore.artifact import Artifact
from lstmcore.scaling import forecasts_from, series_inputs, step_inputs
from lstmcore.series_scales import I64, SeriesTable
from lstmcore.step import Array, StepWeights, step
from schemas.artifact import ModelManifest


@dataclass(frozen=True)
class ServingModel:
    """One published version, built and validated off the hot path; swapped in by reference."""

    manifest: ModelManifest
    weights: StepWeights
    series: SeriesTable  # per-series scales, built once here; the pooled row for unseen series

    @property
    def version(self) -> int:
        return self.manifest.version

    @classmethod
    def from_artifact(cls, artifact: Artifact, features: int | None = None) -> ServingModel:
        """Check compatibility and run a smoke step; raise ArtifactError if unfit to serve."""
        arch = artifact.manifest.architecture
        if features is not None and arch.features != features:
            raise ArtifactError(
                "incompatible", f"model expects {arch.features} features, this worker {features}"
            )
        table = artifact.series_table()  # the one its decoder (or trainer) built, if any
        model = cls(artifact.manifest, StepWeights.from_arrays(arch, artifact.arrays), table)
        h, c = model.weights.zero_state(2)
        probe = np.array([model.manifest.scaler.mean, model.manifest.scaler.mean])
        _, _, y = model.forecast(h, c, probe)
        if not np.isfinite(y).all():
            raise ArtifactError("smoke", "a smoke step produced a non-finite forecast")
        return model

    def forecast(
        self,
        h: Array,
        c: Array,
        values: npt.NDArray[np.floating],
        previous: npt.NDArray[np.floating] | None = None,
        rows: I64 | None = None,
    ) -> tuple[Array, Array, npt.NDArray[np.float64]]:
        """One step for B series: raw values [B, F] (and each series' value before them, for a
        differencing model) -> new h, c and forecasts [B] (raw units). ``rows``: each series'
        row of the scale table (``rows_for``); None scales every one with the pooled scaler."""
        scaler = self.series.scaling(rows)
        new_h, new_c, y = step(self.weights, h, c, step_inputs(scaler, values, previous))
        return new_h, new_c, forecasts_from(scaler, y[:, 0], values)

    def rows_for(self, series_ids: Sequence[str | None]) -> I64:
        return self.series.rows_for(series_ids)

    def replay(
        self, history: npt.NDArray[np.floating], series_id: str | None = None
    ) -> tuple[Array, Array]:
        """State after feeding one series' recent inputs [W, F] from zero state (in that
        series' scale; None: the pooled one)."""
        h, c = self.weights.zero_state(1)
        rows = None if series_id is None else self.rows_for([series_id])
        scaled = series_inputs(self.series.scaling(rows), np.asarray(history)[None])[0]
        for t in range(len(scaled)):
            h, c, _ = step(self.weights, h, c, scaled[t : t + 1])
        return h, c
