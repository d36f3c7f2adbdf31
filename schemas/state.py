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

from twincast.errors import SchemaError

STATE_SCHEMA_VERSION = 1


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


def encode_state(record: StateRecord) -> bytes:
    layers, units = record.h.shape
    window, features = record.window.shape  # [0, F] for a series without inputs yet
    header = {
        "schema_version": STATE_SCHEMA_VERSION,
        "series_id": record.series_id,
        "partition": record.partition,
        "next_offset": record.next_offset,
        "model_version": record.model_version,
        "layers": layers,
        "units": units,
        "window": window,
        "features": features,
        "has_last": record.last_value is not None,
        "pending_forecast": record.pending_forecast,
        "pending_version": record.pending_version,
    }
    parts = [
        json.dumps(header).encode() + b"\n",
        np.ascontiguousarray(record.h, "<f4").tobytes(),
        np.ascontiguousarray(record.c, "<f4").tobytes(),
        np.ascontiguousarray(record.window, "<f8").tobytes(),
    ]
    if record.last_value is not None:
        parts.append(np.ascontiguousarray(record.last_value, "<f8").tobytes())
    return b"".join(parts)


def decode_state(raw: bytes) -> StateRecord:
    try:
        line, body = raw.split(b"\n", 1)
        h = json.loads(line)
        if h["schema_version"] != STATE_SCHEMA_VERSION:
            raise SchemaError("unsupported_schema_version", f"state schema {h['schema_version']}")
        layers, units, window, features = h["layers"], h["units"], h["window"], h["features"]
        sizes = [
            layers * units * 4,
            layers * units * 4,
            window * features * 8,
            features * 8 if h["has_last"] else 0,
        ]
        if len(body) != sum(sizes):
            raise SchemaError("state_size", f"{len(body)} bytes of arrays, expected {sum(sizes)}")
        cut = np.cumsum([0, *sizes])
        hs = np.frombuffer(body[cut[0] : cut[1]], "<f4").reshape(layers, units)
        cs = np.frombuffer(body[cut[1] : cut[2]], "<f4").reshape(layers, units)
        win = np.frombuffer(body[cut[2] : cut[3]], "<f8").reshape(window, features)
        last = np.frombuffer(body[cut[3] : cut[4]], "<f8") if h["has_last"] else None
        return StateRecord(
            h["series_id"],
            h["partition"],
            h["next_offset"],
            h["model_version"],
            hs.astype(np.float32),
            cs.astype(np.float32),
            win.astype(np.float64),
            None if last is None else last.astype(np.float64),
            h["pending_forecast"],
            h["pending_version"],
        )
    except SchemaError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SchemaError("invalid_state", f"not a twincast state record: {exc}") from exc
