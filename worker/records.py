"""Kafka records in, valid events and dead letters out; outcomes in, forecast messages out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import DeadLetter, encode
from schemas.codec import decode_event
from schemas.common import now_utc
from schemas.forecast import forecast_headers, forecast_json
from twincast.errors import SchemaError
from worker.hotpath import Outcome, ValidEvent
from worker.settings import WorkerSettings

MISSING_KEY = "missing_key"
KEY_MISMATCH = "key_mismatch"


@dataclass
class DeadLetters:
    messages: list[tuple[bytes | None, bytes]] = field(default_factory=list)  # (key, value)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, record: Any, reason: str, error: str) -> None:
        letter = DeadLetter.of(
            reason=reason,
            error=error,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            raw=record.value,
            key=record.key,
        )
        self.messages.append((record.key, encode(letter)))
        self.reasons[reason] += 1


class RecordSorter:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings

    def sort(self, records: Sequence[Any]) -> tuple[list[ValidEvent], DeadLetters]:
        """Validate every record; the bad ones become dead letters with reason and position."""
        valid: list[ValidEvent] = []
        dead = DeadLetters()
        for record in records:
            try:
                event = decode_event(
                    record.value, self.settings.features, self.settings.max_event_bytes
                )
            except SchemaError as exc:
                dead.add(record, exc.reason, exc.detail)
                continue
            if record.key is None:
                # Without the key the series may land on any partition, i.e. any worker's state.
                dead.add(record, MISSING_KEY, "the Kafka key must be the series_id")
                continue
            if record.key != event.series_id.encode("utf-8"):
                dead.add(
                    record,
                    KEY_MISMATCH,
                    f"Kafka key {record.key[:100]!r} is not series_id {event.series_id!r}",
                )
                continue
            valid.append(
                ValidEvent(
                    event.series_id,
                    event.ts,
                    event.features(),
                    record.partition,
                    record.offset,
                    record.timestamp,
                )
            )
        return valid, dead

    def send_forecasts(
        self, producer: Any, outcomes: Sequence[Outcome], same_partition: bool = False
    ) -> list[Any]:
        """Send one forecast per outcome.

        With ``same_partition`` (the forecasts topic has as many partitions as the events topic)
        the forecast of an event from partition p goes to partition p: co-partitioned output, and
        no per-record key hashing in the producer. Otherwise the key decides, as usual.
        """
        produced_at = now_utc().isoformat()
        topic = self.settings.events_topic
        futures = []
        for outcome in outcomes:
            event = outcome.event
            value = forecast_json(
                series_id=event.series_id,
                ts=event.ts,
                forecast=outcome.forecast,
                model_version=outcome.model_version,
                produced_at=produced_at,
                source_topic=topic,
                source_partition=event.partition,
                source_offset=event.offset,
            )
            headers = forecast_headers(event.partition, event.offset)
            futures.append(
                producer.send(
                    self.settings.forecasts_topic,
                    key=event.series_id.encode("utf-8"),
                    value=value,
                    headers=headers,
                    partition=event.partition if same_partition else None,
                )
            )
        return futures
