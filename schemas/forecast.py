"""The output: one forecast for every valid event."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from math import isfinite
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from foundation.errors import SchemaError
from schemas.bounds import F64, VECTOR_FROM, interval_fields
from schemas.common import SCHEMA_VERSION, FiniteFloat, SeriesId, UtcDatetime, WireModel

# Optional Kafka headers repeating the source position (worker setting ``forecast_headers``), for
# subscribers that drop duplicates without parsing the value. Off by default: the value carries
# the same position, and each header costs kafka-python's producer a few microseconds per record.
HEADER_SOURCE_PARTITION = "twincast-source-partition"
HEADER_SOURCE_OFFSET = "twincast-source-offset"


class Forecast(WireModel):
    """A one-step-ahead forecast on ``twincast.forecasts`` (Kafka key = ``series_id``)."""

    series_id: SeriesId
    ts: UtcDatetime = Field(description="Timestamp of the event this forecast answers.")
    forecast: FiniteFloat = Field(description="Forecast of the series' next value.")
    model_version: int = Field(ge=0, description="0 = persistence forecast before any model.")
    source: Literal["model", "persistence"] | None = Field(
        None,
        description="What made the forecast: the model, or persistence (the last value: before "
        "any model, or where the model's per-series gate chose it). Absent from older workers.",
    )
    lower: FiniteFloat | None = Field(
        None,
        description="Lower bound of the prediction interval at the worker's nominal coverage "
        "(TWINCAST_INTERVAL_COVERAGE, default 0.9). Absent until the series' interval is "
        "calibrated (its first forecasts) and from older workers.",
    )
    upper: FiniteFloat | None = Field(
        None, description="Upper bound of the prediction interval; present exactly with lower."
    )
    produced_at: UtcDatetime
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)

    @model_validator(mode="after")
    def _interval_is_whole(self) -> Forecast:
        if (self.lower is None) != (self.upper is None):
            raise ValueError("lower and upper come together")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower {self.lower} is above upper {self.upper}")
        return self

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that mirror the source position."""
        return forecast_headers(self.source_partition, self.source_offset)


# The ``source`` field's JSON, by ``from_model`` (None: left out).
_SOURCE = {True: ',"source":"model"', False: ',"source":"persistence"', None: ""}

# Printable ASCII other than these needs no escape in JSON.
_PLAIN = frozenset('"\\')


class ForecastWriter:
    """Writes the JSON of ``Forecast`` messages directly, a batch at a time, for the hot path.

    Building and dumping the pydantic model costs several microseconds per forecast; this writes
    the same contract (tests decode both with ``Forecast`` and compare). The parts that are the
    same for a whole batch are formatted once, the checks and bounds of the intervals for the
    whole batch at once (``interval_fields``); a plain series id (printable ASCII without quote
    or backslash: nothing to escape) is quoted as it is, any other's JSON string is cached (a
    cache of every id cost ~120 bytes per series at 100,000 series). The caller guarantees the
    values are valid: a validated event's fields and a finite forecast (the hot path
    dead-letters non-finite ones; a non-finite forecast here raises SchemaError).
    """

    def __init__(self, source_topic: str, max_cached_ids: int = 1_000_000) -> None:
        self._topic_json = json.dumps(source_topic)
        self._ids: dict[str, str] = {}
        self._max_cached_ids = max_cached_ids
        self._middle = ""
        self._last_ts: datetime | None = None  # the last ts formatted, and its ISO text
        self._last_iso = ""
        self.begin_batch(datetime.now().astimezone())

    def begin_batch(self, produced_at: datetime) -> None:
        self._middle = (
            f',"produced_at":"{produced_at.isoformat()}","source_topic":{self._topic_json},'
            '"source_partition":'
        )

    def write_many(
        self,
        series_ids: Sequence[str],
        ts: Sequence[datetime],
        forecasts: F64,
        model_versions: Sequence[int],
        partitions: Sequence[int],
        offsets: Sequence[int],
        from_model: Sequence[bool | None] | None = None,
        half_widths: F64 | None = None,
    ) -> list[bytes]:
        """One message per row. ``from_model`` None: no ``source`` field; ``half_widths``:
        each interval is forecast -+ it (NaN or None: none, see ``interval_fields``)."""
        values = forecasts.tolist()
        if not _all_finite(forecasts, values):  # NaN or infinity is not even valid JSON
            bad = next(i for i, value in enumerate(values) if not isfinite(value))
            raise SchemaError(
                "non_finite_forecast", f"forecast {values[bad]!r} for {series_ids[bad]!r}"
            )
        none = [""] * len(series_ids)
        sources = none if from_model is None else list(map(_SOURCE.__getitem__, from_model))
        bounds = none if half_widths is None else interval_fields(forecasts, half_widths)
        head = f'{{"schema_version":{SCHEMA_VERSION},"series_id":'
        middle, plain = self._middle, _PLAIN
        out = []
        for series_id, t, forecast, version, partition, offset, source, interval in zip(
            series_ids,
            ts,
            values,
            model_versions,
            partitions,
            offsets,
            sources,
            bounds,
            strict=True,
        ):
            if series_id.isascii() and series_id.isprintable() and plain.isdisjoint(series_id):
                quoted = f'"{series_id}"'  # what json.dumps gives, without a per-series cache
            else:
                quoted = self._escaped(series_id)
            last = self._last_ts
            # Many series on one clock: consecutive events share their ts (1 us of isoformat).
            if last is None or t != last or t.tzinfo is not last.tzinfo:
                self._last_ts, self._last_iso = t, t.isoformat()
            out.append(
                f'{head}{quoted},"ts":"{self._last_iso}","forecast":{forecast!r},"model_version":'
                f'{version}{middle}{partition},"source_offset":{offset}{source}{interval}}}'.encode()
            )
        return out

    def write(
        self,
        series_id: str,
        ts: datetime,
        forecast: float,
        model_version: int,
        partition: int,
        offset: int,
        from_model: bool | None = None,
        half_width: float | None = None,
    ) -> bytes:
        """One message (``write_many`` of one row; ``half_width`` None or NaN: no interval)."""
        halves = None if half_width is None else np.array([half_width], np.float64)
        return self.write_many(
            [series_id],
            [ts],
            np.array([forecast], np.float64),
            [model_version],
            [partition],
            [offset],
            [from_model],
            halves,
        )[0]

    def _escaped(self, series_id: str) -> str:
        cached = self._ids.get(series_id)
        if cached is None:
            if len(self._ids) >= self._max_cached_ids:
                self._ids.clear()
            cached = self._ids[series_id] = json.dumps(series_id)
        return cached


def _all_finite(forecasts: F64, values: list[float]) -> bool:
    """numpy's check pays off only on a batch wide enough (polls of one event: the latency
    path)."""
    if len(values) >= VECTOR_FROM:
        return bool(np.isfinite(forecasts).all())
    return all(map(isfinite, values))


def forecast_json(
    *,
    series_id: str,
    ts: datetime,
    forecast: float,
    model_version: int,
    produced_at: datetime,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    half_width: float | None = None,
) -> bytes:
    """One forecast's JSON through ``ForecastWriter`` (convenience for single messages)."""
    writer = ForecastWriter(source_topic)
    writer.begin_batch(produced_at)
    return writer.write(
        series_id,
        ts,
        float(forecast),
        model_version,
        source_partition,
        source_offset,
        half_width=half_width,
    )


def forecast_headers(partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
    ]
