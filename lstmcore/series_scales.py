"""Per-series scales: fitted by the trainer, carried as plain arrays, looked up by the worker.

A global model sees every series in its own scale (DeepAR-style): series i's inputs are
``(change - mean_i) / scale_i`` and its outputs are unscaled with the same row, so a series whose
changes are ~50 and one whose changes are ~0.2 weigh alike in training and share one model fairly.
A series without a row (the trainer never saw it, or it had fewer than
``TWINCAST_MIN_POINTS_PER_SERIES`` points) is scaled by the pooled scaler: the best guess there is
for a series with no history of its own, and exactly what every series got before.

The table is built once per model (off the hot path) and never changes; the worker swaps it with
the model by reference. The arrays' layout is described by ``schemas.artifact.SeriesScales``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from foundation.errors import ArtifactError
from lstmcore.scaling import MIN_SCALE, Scaling, fit_rows
from schemas.artifact import ModelManifest, Scaler, SeriesScales

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SeriesTable:
    """Series id -> row; ``mean``/``scale`` [rows + 1, F], the last row the pooled scaler's."""

    kind: Literal["standard", "difference"]
    rows: Mapping[str, int]
    mean: F64
    scale: F64
    use_model: npt.NDArray[np.bool_]  # [rows + 1]: serve the model (else persistence); last: unseen

    @property
    def gated_to_persistence(self) -> int:
        """Series with a row that the gate serves persistence."""
        return int((~self.use_model[:-1]).sum())

    @property
    def pooled_row(self) -> int:
        return len(self.mean) - 1

    def rows_for(self, series_ids: Sequence[str | None]) -> I64:
        """Each series' row, the pooled one for a series without its own (or None: a free slot);
        one dict look-up each."""
        rows = cast(Mapping[str | None, int], self.rows)  # None is no key: the pooled row
        get, pooled = rows.get, self.pooled_row
        return np.fromiter((get(sid, pooled) for sid in series_ids), np.int64, len(series_ids))

    def scaling(self, rows: I64 | None) -> Scaling:
        """The scaling of a batch of series (rows None: every one pooled)."""
        if rows is None:
            return Scaling(self.kind, self.mean[-1], self.scale[-1])
        return Scaling(self.kind, self.mean[rows], self.scale[rows])

    @classmethod
    def from_artifact(cls, manifest: ModelManifest, arrays: Mapping[str, Any]) -> SeriesTable:
        """Check the per-series arrays (decode_artifact checked shapes, dtypes, finiteness)."""
        return cls.from_arrays(manifest.scaler, manifest.series_scales, arrays)

    @classmethod
    def from_arrays(
        cls, pooled: Scaler, scales: SeriesScales | None, arrays: Mapping[str, Any]
    ) -> SeriesTable:
        if scales is None:
            none = np.empty((0, len(pooled.mean)), np.float64)
            return cls.of_rows(pooled, {}, none, none)
        ids = decode_ids(arrays["series/id_utf8"], arrays["series/id_ends"])
        mean = np.asarray(arrays["series/mean"], np.float64)
        scale = np.asarray(arrays["series/scale"], np.float64)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            raise ArtifactError("series", "a per-series mean or scale is not finite")
        if not (scale >= MIN_SCALE).all():  # the trainer floors every scale at MIN_SCALE
            raise ArtifactError("series", f"a per-series scale is below {MIN_SCALE:g}")
        rows = {sid: row for row, sid in enumerate(ids)}
        if len(rows) != len(ids):
            raise ArtifactError("series", "a series id is listed twice")
        return cls.of_rows(pooled, rows, mean, scale, _use_model(scales, arrays))

    @classmethod
    def of_rows(
        cls,
        pooled: Scaler,
        rows: Mapping[str, int],
        mean: F64,
        scale: F64,
        use_model: npt.NDArray[np.bool_] | None = None,
    ) -> SeriesTable:
        """A table from rows already known to be consistent (the trainer's own fit; decoding
        checks them first); ``use_model`` [rows + 1], None: the model everywhere."""
        pooled_mean = np.asarray(pooled.mean, np.float64)[None, :]
        pooled_scale = np.asarray(pooled.scale, np.float64)[None, :]
        use = np.ones(len(rows) + 1, np.bool_) if use_model is None else use_model
        return cls(
            pooled.kind,
            rows,
            np.concatenate([mean, pooled_mean]),
            np.concatenate([scale, pooled_scale]),
            use,
        )


def _use_model(scales: SeriesScales, arrays: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """The gate's decision per row, then the unseen series' (all model without a gate)."""
    unseen = np.array([scales.unseen == "model"])
    if not scales.gated:
        return np.concatenate([np.ones(scales.count, np.bool_), unseen])
    flags = np.asarray(arrays["series/use_model"])
    if not np.isin(flags, (0, 1)).all():
        raise ArtifactError("series", "series/use_model holds values other than 0 and 1")
    return np.concatenate([flags == 1, unseen])


def decode_ids(utf8: npt.NDArray[Any], ends: npt.NDArray[Any]) -> list[str]:
    """Series ids from their concatenated UTF-8 bytes and end offsets; refused if inconsistent."""
    ends = np.asarray(ends, np.int64)
    if len(ends) and (ends[0] < 0 or (np.diff(ends) < 0).any() or ends[-1] != len(utf8)):
        raise ArtifactError("series", "series/id_ends do not cut series/id_utf8 into ids")
    if not len(ends) and len(utf8):
        raise ArtifactError("series", "series/id_utf8 holds bytes but no id")
    raw = np.asarray(utf8, np.uint8).tobytes()
    starts = [0, *ends[:-1].tolist()]
    try:
        return [raw[a:b].decode("utf-8") for a, b in zip(starts, ends.tolist(), strict=True)]
    except UnicodeDecodeError as exc:
        raise ArtifactError("series", f"a series id is not UTF-8: {exc}") from exc


def encode_ids(series_ids: Sequence[str]) -> tuple[npt.NDArray[np.uint8], I64]:
    encoded = [sid.encode("utf-8") for sid in series_ids]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), ends


def fitted_table(
    series: Mapping[str, F64], pooled: Scaler
) -> tuple[SeriesScales, dict[str, npt.NDArray[Any]], SeriesTable]:
    """``series_scale_fields`` and their table, built from the fit (no decoding, no checks)."""
    field, arrays = series_scale_fields(series, pooled)
    rows = {sid: row for row, sid in enumerate(sorted(series))}
    table = SeriesTable.of_rows(pooled, rows, arrays["series/mean"], arrays["series/scale"])
    return field, arrays, table


def series_scale_fields(
    series: Mapping[str, F64], pooled: Scaler
) -> tuple[SeriesScales, dict[str, npt.NDArray[Any]]]:
    """The manifest field and the arrays for these series' own scales (fitted on ``series``)."""
    ids = sorted(series)
    mean, scale = fit_rows([series[sid] for sid in ids], pooled)
    utf8, ends = encode_ids(ids)
    arrays: dict[str, npt.NDArray[Any]] = {
        "series/id_utf8": utf8,
        "series/id_ends": ends,
        "series/mean": mean,
        "series/scale": scale,
    }
    return SeriesScales(count=len(ids), id_bytes=len(utf8)), arrays


def with_gate(
    scales: SeriesScales,
    arrays: Mapping[str, npt.NDArray[Any]],
    table: SeriesTable,
    decisions: Mapping[str, bool],
) -> tuple[SeriesScales, dict[str, npt.NDArray[Any]], SeriesTable]:
    """Add the per-series gate: ``decisions`` (series -> the model beat persistence on its
    held-out tail) for the evaluated series. A series not evaluated (or unseen) is served the
    model if it helped at least half of the evaluated series, else persistence: what happened
    on the typical series is the best guess for one the gate knows nothing of."""
    helped = sum(decisions.values())
    unseen_model = 2 * helped >= len(decisions) > 0
    use = np.full(scales.count, unseen_model, np.uint8)
    for sid, decision in decisions.items():
        use[table.rows[sid]] = decision
    field = scales.model_copy(
        update={
            "gated": True,
            "unseen": "model" if unseen_model else "persistence",
            "evaluated": len(decisions),
            "helped": helped,
        }
    )
    gated = replace(table, use_model=np.concatenate([use == 1, [unseen_model]]))
    return field, {**arrays, "series/use_model": use}, gated
