"""The output: one forecast for every valid event."""

from __future__ import annotations

from pydantic import Field

from schemas.common import FiniteFloat, SeriesId, UtcDatetime, WireModel

# Kafka headers repeating the source position, so a subscriber can spot a duplicate without
# parsing the value.
HEADER_SOURCE_TOPIC = "twincast-source-topic"
HEADER_SOURCE_PARTITION = "twincast-source-partition"
HEADER_SOURCE_OFFSET = "twincast-source-offset"
HEADER_MODEL_VERSION = "twincast-model-version"


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
        """Kafka headers that mirror the source position and the model version."""
        return [
            (HEADER_SOURCE_TOPIC, self.source_topic.encode()),
            (HEADER_SOURCE_PARTITION, str(self.source_partition).encode()),
            (HEADER_SOURCE_OFFSET, str(self.source_offset).encode()),
            (HEADER_MODEL_VERSION, str(self.model_version).encode()),
        ]
