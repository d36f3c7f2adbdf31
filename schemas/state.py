"""Per-series state checkpoints on the compacted state topic (key = series_id).

A value is one line of JSON (the header) followed by the raw little-endian arrays it describes:
h and c as float32 ``[layers, units]``, the input window as float64 ``[window, features]`` and the
last value as float64 ``[features]`` (present when ``has_last``). A null value (tombstone) means
the series was forgotten. Plain numbers only: nothing here is ever unpickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from foundation.errors import SchemaError
from schemas.state_header import MAX_HEADER_BYTES, STATE_SCHEMA_VERSION, parse_header

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# float32 / int32 for the interval state: a few bytes per series count at 100,000 series.
ColumnType = type[np.int64] | type[np.float64] | type[np.float32] | type[np.int32]


@dataclass(frozen=True)
class Column:
    """How a state store keeps one scalar field of every series: an array of ``dtype``."""

    dtype: ColumnType
    blank: float  # in a slot without state; NaN in a float column stands for None
    kept_on_reset: bool  # where the series stands, not what it computed: a reset keeps it


def column(dtype: ColumnType, blank: float, kept_on_reset: bool = False) -> dict[str, Column]:
    """The metadata of a scalar ``SeriesState`` field."""
    return {"column": Column(dtype, blank, kept_on_reset)}


@dataclass(frozen=True)
class SeriesState:
    """The state of one series: what the worker's store keeps and a state record carries.

    The one definition of the per-series fields. h, c, the window and the last value are arrays
    the store lays out for the hot path; every other field is a scalar declared with its
    ``Column``, from which the store's arrays, its get / put / columns / reset and ``StateRecord``
    follow. A new per-series scalar is one field here, plus its place in the codec: the header
    ``encode_states`` writes, ``schemas.state_header`` checks and ``decode_state`` passes on.
    """

    h: F32  # [layers, units]
    c: F32  # [layers, units]
    window: F64  # the last inputs, oldest first: [n <= W, features]
    last_value: F64 | None  # [features]; None exactly when the window is empty
    # The forecast made for the next value, and the model version that made it.
    pending_forecast: float | None = field(metadata=column(np.float64, math.nan))
    pending_version: int = field(metadata=column(np.int64, 0))
    # The series' events partition (-1: unknown) and the offset after the last event in h, c.
    partition: int = field(metadata=column(np.int64, -1, kept_on_reset=True))
    next_offset: int = field(metadata=column(np.int64, 0, kept_on_reset=True))
    # The version whose weights computed h and c.
    model_version: int = field(metadata=column(np.int64, 0, kept_on_reset=True))
    # Prediction intervals (worker.intervals): the series' error scale (None: no error yet),
    # how many errors it was made of (capped), and the half-width issued with the pending
    # forecast (None: no interval), so a restored series scores and calibrates as before.
    interval_scale: float | None = field(default=None, metadata=column(np.float32, math.nan))
    interval_count: int = field(default=0, metadata=column(np.int32, 0))
    interval_half_width: float | None = field(default=None, metadata=column(np.float32, math.nan))


# The scalar fields by name, in declaration order.
COLUMNS: dict[str, Column] = {
    f.name: f.metadata["column"] for f in fields(SeriesState) if f.metadata
}


@dataclass(frozen=True, kw_only=True)
class StateRecord(SeriesState):
    """A state read from the state topic, with the series it says it belongs to."""

    series_id: str


@dataclass(frozen=True)
class StateColumns:
    """The states of n series side by side: what one checkpoint writes, gathered in one go."""

    series_ids: list[str]
    h: F32  # [n, layers, units]
    c: F32  # [n, layers, units]
    windows: F64  # [n, W, features], the first counts[i] rows are inputs
    counts: npt.NDArray[np.integer]  # [n]; 0 = no input yet (and no last value)
    last_values: F64  # [n, features]
    scalars: dict[str, npt.NDArray[Any]]  # [n] per ``COLUMNS`` field; NaN = None


def encode_states(cols: StateColumns) -> list[bytes]:
    """One state record per series. The arrays are converted once for all series and cut per
    series, and the header is formatted directly: a checkpoint writes every changed series, so
    a per-series ``json.dumps`` and per-array ``tobytes`` would cost several microseconds each."""
    if not cols.series_ids:
        return []
    _, layers, units = cols.h.shape
    _, _, features = cols.windows.shape
    # Bytes per series of h (and of c), of a full window and of one input.
    cell_bytes, window_bytes, input_bytes = (
        layers * units * 4,
        cols.windows.shape[1] * features * 8,
        features * 8,
    )
    h_bytes = np.ascontiguousarray(cols.h, "<f4").tobytes()
    c_bytes = np.ascontiguousarray(cols.c, "<f4").tobytes()
    w_bytes = np.ascontiguousarray(cols.windows, "<f8").tobytes()
    l_bytes = np.ascontiguousarray(cols.last_values, "<f8").tobytes()
    shape = f'"layers":{layers},"units":{units},"window":'
    out = []
    scalars = cols.scalars
    intervals = [
        _interval_json(*fields)
        for fields in zip(
            scalars["interval_scale"].tolist(),
            scalars["interval_count"].tolist(),
            scalars["interval_half_width"].tolist(),
            strict=True,
        )
    ]
    for i, (series_id, partition, offset, version, count, pending, pending_version) in enumerate(
        zip(
            cols.series_ids,
            scalars["partition"].tolist(),
            scalars["next_offset"].tolist(),
            scalars["model_version"].tolist(),
            cols.counts.tolist(),
            scalars["pending_forecast"].tolist(),
            scalars["pending_version"].tolist(),
            strict=True,
        )
    ):
        header = (
            f'{{"schema_version":{STATE_SCHEMA_VERSION},"series_id":{json.dumps(series_id)},'
            f'"partition":{partition},"next_offset":{offset},"model_version":{version},{shape}'
            f'{count},"features":{features},"has_last":{"true" if count else "false"},'
            f'"pending_forecast":{"null" if pending != pending else repr(pending)},'
            f'"pending_version":{pending_version}{intervals[i]}}}\n'
        )
        out.append(
            b"".join(
                (
                    header.encode(),
                    h_bytes[i * cell_bytes : (i + 1) * cell_bytes],
                    c_bytes[i * cell_bytes : (i + 1) * cell_bytes],
                    w_bytes[i * window_bytes : i * window_bytes + count * input_bytes],
                    l_bytes[i * input_bytes : (i + 1) * input_bytes] if count else b"",
                )
            )
        )
    return out


def _interval_json(scale: float, count: int, half_width: float) -> str:
    """The interval fields of a header (float32 values, written as the floats they are)."""
    return (
        f',"interval_scale":{"null" if scale != scale else repr(scale)},'
        f'"interval_count":{count},'
        f'"interval_half_width":{"null" if half_width != half_width else repr(half_width)}'
    )


def decode_state(raw: bytes) -> StateRecord:
    """A state record checked in full: header fields, sizes before any array is cut, finite
    values. Anything wrong, including an error nobody foresaw, is a ``SchemaError``."""
    try:
        return _decode(raw)
    except SchemaError:
        raise
    except Exception as exc:  # a trust boundary: no record may raise anything else
        raise SchemaError("invalid", f"not a twincast state record: {exc!r:.200}") from exc


def _decode(raw: bytes) -> StateRecord:
    if not isinstance(raw, bytes):
        raise SchemaError("invalid", "a state record is bytes")
    end = raw.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0:
        raise SchemaError("invalid", f"no header line within {MAX_HEADER_BYTES} bytes")
    header, body = parse_header(raw[:end]), memoryview(raw)[end + 1 :]
    sizes = header.body_sizes()
    if len(body) != sum(sizes):
        raise SchemaError("size", f"{len(body)} bytes of arrays, expected {sum(sizes)}")
    # One finiteness check for h and c together and one for window and last value: restore
    # decodes every series, and per-array checks would double the cost of a small record.
    cells, inputs = sizes[0] + sizes[1], sizes[2]
    hc = np.frombuffer(body[:cells], "<f4")
    values = np.frombuffer(body[cells:], "<f8")
    if not (np.isfinite(hc).all() and np.isfinite(values).all()):
        raise SchemaError("non_finite", "h, c, the window or the last value hold NaN or infinity")
    shape = (header.layers, header.units)
    h = hc[: cells // 8].reshape(shape).astype(np.float32)
    c = hc[cells // 8 :].reshape(shape).astype(np.float32)
    window = values[: inputs // 8].reshape(header.window, header.features)
    last = values[inputs // 8 :] if header.has_last else None
    return StateRecord(
        series_id=header.series_id,
        h=h,
        c=c,
        window=window.astype(np.float64),
        last_value=None if last is None else last.astype(np.float64),
        pending_forecast=header.pending_forecast,
        pending_version=header.pending_version,
        partition=header.partition,
        next_offset=header.next_offset,
        model_version=header.model_version,
        interval_scale=header.interval_scale,
        interval_count=header.interval_count,
        interval_half_width=header.interval_half_width,
    )
