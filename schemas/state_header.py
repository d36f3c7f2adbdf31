"""The JSON parts of the state topic: a state record's header line and a position marker.

The state topic is a trust boundary: anyone who can write it can put anything there. Every field
is checked for its exact JSON type (an int is not a bool or a string), its range (offsets and
versions within int64) and its bounds (shapes small enough to describe a real model) before any
array is sized from it. Failures are ``SchemaError``s whose reason is a metric label.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from foundation.errors import SchemaError

STATE_SCHEMA_VERSION = 1
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38  # the store keeps interval state as float32
MAX_HEADER_BYTES = 4096  # a real header is ~300 bytes; the newline must come before this
MAX_MARKER_BYTES = 1024  # a real marker is ~25 bytes
# The architecture limits of schemas.artifact.Architecture: no real state is larger.
MAX_LAYERS, MAX_UNITS, MAX_FEATURES = 16, 4096, 4096
MAX_WINDOW_VALUES = 1 << 22  # window * features: 32 MiB of float64 at most
MAX_SERIES_ID = 256


class StateHeader(NamedTuple):
    """A checked header (a NamedTuple: a restore builds one per series, cheaper than a frozen
    dataclass)."""

    series_id: str
    partition: int
    next_offset: int
    model_version: int
    layers: int
    units: int
    window: int
    features: int
    has_last: bool
    pending_forecast: float | None
    pending_version: int
    # Prediction intervals; absent from records written before them (as if just reset).
    interval_scale: float | None = None
    interval_count: int = 0
    interval_half_width: float | None = None

    def body_sizes(self) -> list[int]:
        """Bytes of h, c, window and last value, in that order."""
        cells = self.layers * self.units * 4
        last = self.features * 8 if self.has_last else 0
        return [cells, cells, self.window * self.features * 8, last]


def parse_header(line: bytes) -> StateHeader:
    """The checked header of a state record (the bytes before its first newline)."""
    fields = _json_object(line, "invalid", "state header")
    version = _int(fields, "schema_version", 0, INT64_MAX)
    if version != STATE_SCHEMA_VERSION:
        raise SchemaError("schema_version", f"state schema {version}")
    header = StateHeader(
        series_id=_series_id(fields),
        partition=_int(fields, "partition", -1, INT64_MAX),  # -1: the store's "unknown"
        next_offset=_int(fields, "next_offset", 0, INT64_MAX),
        model_version=_int(fields, "model_version", 0, INT64_MAX),
        layers=_int(fields, "layers", 1, MAX_LAYERS),
        units=_int(fields, "units", 1, MAX_UNITS),
        window=_int(fields, "window", 0, MAX_WINDOW_VALUES),
        features=_int(fields, "features", 1, MAX_FEATURES),
        has_last=_bool(fields, "has_last"),
        pending_forecast=_pending(fields),
        pending_version=_int(fields, "pending_version", 0, INT64_MAX),
        interval_scale=_interval_float(fields, "interval_scale"),
        interval_count=_int(fields, "interval_count", 0, INT32_MAX)
        if "interval_count" in fields
        else 0,
        interval_half_width=_interval_float(fields, "interval_half_width"),
    )
    if header.window * header.features > MAX_WINDOW_VALUES:
        raise SchemaError("range", f"window of {header.window} x {header.features} values")
    if header.has_last != (header.window > 0):
        # The store keeps a last value exactly when it has inputs: anything else is not ours.
        raise SchemaError("invalid", "has_last must be true exactly when the window has inputs")
    return header


def _json_object(raw: bytes, reason: str, what: str) -> dict[str, object]:
    try:
        fields = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(reason, f"{what} is not JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise SchemaError(reason, f"{what} is not a JSON object")
    return fields


class Marker(NamedTuple):
    """Where a partition's checkpoint stands: the outputs of every event before ``next_offset``
    (M, emit-from) are durable, and every event before ``replay_from`` (R <= M, replay-from) is
    in the partition's written states. A new owner reads again from R, silently up to M."""

    next_offset: int
    replay_from: int


def encode_marker(next_offset: int, replay_from: int | None = None) -> bytes:
    """``replay_from`` None: R = M (every change up to M is written)."""
    replay = next_offset if replay_from is None else replay_from
    return json.dumps({"next_offset": next_offset, "replay_from": replay}).encode()


def decode_marker(raw: bytes | None) -> Marker:
    """The offsets a position marker holds, checked (not yet against the partition). A marker
    without ``replay_from`` (written before it existed) replays from ``next_offset``."""
    if raw is None or len(raw) > MAX_MARKER_BYTES:
        raise SchemaError("marker_invalid", "a marker is a small JSON object")
    fields = _json_object(raw, "marker_invalid", "marker")
    try:
        emit_from = _int(fields, "next_offset", 0, INT64_MAX)
        replay_from = _int(fields, "replay_from", 0, emit_from) if "replay_from" in fields else None
    except SchemaError as exc:
        raise SchemaError("marker_invalid", exc.detail) from exc
    return Marker(emit_from, emit_from if replay_from is None else replay_from)


def _int(fields: dict[str, Any], key: str, low: int, high: int) -> int:
    value = fields.get(key)
    if type(value) is not int:  # exactly int: bool is a subclass, and "3" is not a number
        raise SchemaError("type", f"{key} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise SchemaError("range", f"{key} = {value} is outside [{low}, {high}]")
    return value


def _bool(fields: dict[str, Any], key: str) -> bool:
    value = fields.get(key)
    if type(value) is not bool:
        raise SchemaError("type", f"{key} must be true or false, got {type(value).__name__}")
    return value


def _pending(fields: dict[str, Any]) -> float | None:
    value = fields.get("pending_forecast", 0)  # absent is an error, as is any non-float
    if value is None:
        return None
    if type(value) is not float:
        raise SchemaError("type", f"pending_forecast must be a float or null, not {value!r:.40}")
    if not math.isfinite(value):
        raise SchemaError("non_finite", "pending_forecast is not finite")
    return value


def _interval_float(fields: dict[str, Any], key: str) -> float | None:
    """A non-negative float within float32 range, or null; absent (an older record): null."""
    value = fields.get(key)
    if value is None:
        return None
    if type(value) is not float:
        raise SchemaError("type", f"{key} must be a float or null, not {value!r:.40}")
    if not math.isfinite(value):
        raise SchemaError("non_finite", f"{key} is not finite")
    if not 0.0 <= value <= FLOAT32_MAX:
        raise SchemaError("range", f"{key} = {value} is outside [0, {FLOAT32_MAX}]")
    return value


def _series_id(fields: dict[str, Any]) -> str:
    value = fields.get("series_id")
    if type(value) is not str or not value.strip() or len(value) > MAX_SERIES_ID:
        raise SchemaError("type", "series_id must be a non-empty string of at most 256 chars")
    return value
