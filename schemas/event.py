"""The input event: one observation of one series."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from schemas.common import FiniteValue, SeriesId, UtcDatetime, WireModel


class Event(WireModel):
    """An observation on ``twincast.events`` (Kafka key = ``series_id``).

    Unknown fields are *ignored*, by choice: producers often carry their own metadata (source,
    unit, trace ids) and twincast should not force them to strip it. Everything twincast reads
    is validated strictly.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    series_id: SeriesId = Field(description="Non-empty id of the series; also the Kafka key.")
    ts: UtcDatetime = Field(description="Event time: ISO-8601, or epoch seconds/milliseconds.")
    value: FiniteValue = Field(
        description="The observation: a finite number, or a list of them for multi-feature series."
    )

    def features(self) -> list[float]:
        """The value as a feature vector (a scalar is a one-feature vector)."""
        return (
            [float(v) for v in self.value] if isinstance(self.value, list) else [float(self.value)]
        )
