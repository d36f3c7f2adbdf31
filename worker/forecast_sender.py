"""Outcomes in, forecast messages out: one per event of a processed batch."""

from __future__ import annotations

from foundation.kafka.client import Producer, SendHandle
from foundation.settings.worker import WorkerSettings
from schemas.common import now_utc
from schemas.forecast import ForecastWriter, forecast_headers
from worker.batch import BatchResult, EventBatch


class ForecastSender:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._writer = ForecastWriter(settings.events_topic)

    def send(
        self,
        producer: Producer,
        batch: EventBatch,
        result: BatchResult,
        same_partition: bool = False,
    ) -> list[SendHandle]:
        """Send one forecast per event of the batch.

        With ``same_partition`` (the forecasts topic has as many partitions as the events topic)
        the forecast of an event from partition p goes to partition p: co-partitioned output, and
        no per-record key hashing in the producer. Otherwise the key decides, as usual.
        """
        writer = self._writer
        writer.begin_batch(now_utc())
        values = writer.write_many(
            batch.series_ids,
            batch.ts,
            result.forecasts,
            result.versions.tolist(),
            batch.partitions,
            batch.offsets,
            result.from_model.tolist(),
            result.half_widths,
        )
        out_topic, send = self.settings.forecasts_topic, producer.send
        with_headers = self.settings.forecast_headers
        futures: list[SendHandle] = []
        for series_id, partition, offset, value in zip(
            batch.series_ids, batch.partitions, batch.offsets, values, strict=True
        ):
            futures.append(
                send(
                    out_topic,
                    key=series_id.encode(),
                    value=value,
                    headers=forecast_headers(partition, offset) if with_headers else None,
                    partition=partition if same_partition else None,
                )
            )
        return futures
