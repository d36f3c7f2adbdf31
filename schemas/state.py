"""Per-series state checkpoints on the compacted state topic (key = series_id).

A value is one line of JSON (the header) followed by the raw little-endian arrays it describes:
h and c as float32 ``[layers, units]``, the input window as float64 ``[window, features]`` and the
last value as float64 ``[features]`` (present when ``has_last``). A null value (tombstone) means
the series was forgotten. Plain numbers only: nothing here is ever unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foundation.errors import SchemaError
from schemas.state_header import MAX_HEADER_BYTES, STATE_SCHEMA_VERSION, parse_header


@dataclass(frozen=True)
class StateRecord:
    series_id: str
    partition: int
    next_offset: int  # the offset after the last event this state reflects
    model_version: int
    h: npt.NDArray[np.float32]
    c: npt.NDArray[np.float32]
    window: npt.NDArray[np.float64]
    last_value: npt.NDArray[np.float64] | None
    pending_forecast: float | None
    pending_version: int


@dataclass(frozen=True)
class StateColumns:
    """The states of n series side by side: what one checkpoint writes, gathered in one go."""

    series_ids: list[str]
    partitions: npt.NDArray[np.int64]  # [n]
    next_offsets: npt.NDArray[np.int64]  # [n]
    model_versions: npt.NDArray[np.int64]  # [n]
    h: npt.NDArray[np.float32]  # [n, layers, units]
    c: npt.NDArray[np.float32]  # [n, layers, units]
    windows: npt.NDArray[np.float64]  # [n, W, features], the first counts[i] rows are inputs
    counts: npt.NDArray[np.int64]  # [n]; 0 = no input yet (and no last value)
    last_values: npt.NDArray[np.float64]  # [n, features]
    pending: npt.NDArray[np.float64]  # [n]; NaN = no pending forecast
    pending_versions: npt.NDArray[np.int64]  # [n]


def encode_states(cols: StateColumns) -> list[bytes]:
    """One state record per series. The arrays are converted once for all series and cut per
    series, and the header is formatted directly: a checkpoint writes every changed series, so
    a per-series ``json.dumps`` and per-array ``tobytes`` would cost several microseconds each."""
    if not cols.series_ids:
        return []
    _, layers, units = cols.h.shape
    _, _, features = cols.windows.shape
    hs, ws, ls = layers * units * 4, cols.windows.shape[1] * features * 8, features * 8
    h_bytes = np.ascontiguousarray(cols.h, "<f4").tobytes()
    c_bytes = np.ascontiguousarray(cols.c, "<f4").tobytes()
    w_bytes = np.ascontiguousarray(cols.windows, "<f8").tobytes()
    l_bytes = np.ascontiguousarray(cols.last_values, "<f8").tobytes()
    shape = f'"layers":{layers},"units":{units},"window":'
    out = []
    for i, (series_id, partition, offset, version, count, pending, pending_version) in enumerate(
        zip(
            cols.series_ids,
            cols.partitions.tolist(),
            cols.next_offsets.tolist(),
            cols.model_versions.tolist(),
            cols.counts.tolist(),
            cols.pending.tolist(),
            cols.pending_versions.tolist(),
            strict=True,
        )
    ):
        header = (
            f'{{"schema_version":{STATE_SCHEMA_VERSION},"series_id":{json.dumps(series_id)},'
            f'"partition":{partition},"next_offset":{offset},"model_version":{version},{shape}'
            f'{count},"features":{features},"has_last":{"true" if count else "false"},'
            f'"pending_forecast":{"null" if pending != pending else repr(pending)},'
            f'"pending_version":{pending_version}}}\n'
        )
        out.append(
            b"".join(
                (
                    header.encode(),
                    h_bytes[i * hs : (i + 1) * hs],
                    c_bytes[i * hs : (i + 1) * hs],
                    w_bytes[i * ws : i * ws + count * ls],
                    l_bytes[i * ls : (i + 1) * ls] if count else b"",
                )
            )
        )
    return out


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
        header.series_id,
        header.partition,
        header.next_offset,
        header.model_version,
        h,
        c,
        window.astype(np.float64),
        None if last is None else last.astype(np.float64),
        header.pending_forecast,
        header.pending_version,
    )
