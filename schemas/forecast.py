"""The output: one forecast for every valid event."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import Field

from schemas.common import SCHEMA_VERSION, FiniteFloat, SeriesId, UtcDatetime, WireModel

# Kafka headers repeating the source position, so a subscriber can spot a duplicate without
# parsing the value. (Only these two: every header costs the producer several microseconds.)
HEADER_SOURCE_PARTITION = "twincast-source-partition"
HEADER_SOURCE_OFFSET = "twincast-source-offset"


class Forecast(WireModel):
    """A one-step-ahead forecast on ``twincast.forecasts`` (Kafka key = ``series_id``)."""

    series_id: SeriesId
    ts: UtcDatetime = Field(description="Timestamp of the event this forecast answers.")
    forecast: FiniteFloat = Field(description="Forecast of the series' next value.")
    model_version: int = Field(ge=0, description="0 = persistence forecast before any model.")
    produced_at: UtcDatetime
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that mirror the source position."""
        return forecast_headers(self.source_partition, self.source_offset)


def forecast_json(
    *,
    series_id: str,
    ts: datetime,
    forecast: float,
    model_version: int,
    produced_at: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
) -> bytes:
    """The JSON of a ``Forecast`` written directly, for the hot path.

    Building and dumping the pydantic model costs several microseconds per forecast; this writes
    the same contract (tests decode both with ``Forecast`` and compare). The caller guarantees the
    values are valid: a validated event's fields and a finite forecast.
    """
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"series_id":{json.dumps(series_id)},'
        f'"ts":"{ts.isoformat()}","forecast":{float(forecast)!r},"model_version":{model_version},'
        f'"produced_at":"{produced_at}","source_topic":{json.dumps(source_topic)},'
        f'"source_partition":{source_partition},"source_offset":{source_offset}}}'
    ).encode()


def forecast_headers(partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
    ]
