"""The worker's Kafka loop: a thin shell around the pure hot path.

Commit order, per poll k: (1) swap in a prepared model if there is one, (2) validate the records
and run the waves, (3) send forecasts and dead letters, (4) wait until every send of poll k is
acknowledged and check none failed, (5) commit poll k's offsets. Steps 4-5 of poll k run after
steps 1-3 of poll k+1, so the wait for acknowledgements overlaps the next poll's work; an offset is
still never committed before the outputs of its event are acknowledged. A crash anywhere before (5)
means those events are processed again (at-least-once). A signal only sets the stop flag; on the
way out the loop flushes the producer and commits once more.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from lstmcore.serving import ServingModel
from schemas.control import RESET, control_action
from twincast.errors import KafkaUnavailableError, TwincastError
from twincast.weights_topic import read_latest
from worker.hotpath import BatchResult, EventBatch, accuracy_by_version, apply_swap, process
from worker.metrics import WorkerMetrics
from worker.records import DeadLetters, RecordSorter, split_at_controls
from worker.settings import WorkerSettings
from worker.state_store import StateStore
from worker.weights_watcher import WeightsWatcher

log = logging.getLogger(__name__)


class DeliveryError(TwincastError):
    """Forecasts or dead letters could not be delivered; offsets are not committed."""


@dataclass
class InFlight:
    """One poll's sends, not yet acknowledged, and the offsets they allow to commit."""

    futures: list[Any]
    offsets: dict[TopicPartition, int]
    processed: list[tuple[EventBatch, BatchResult]]


class WorkerService:
    def __init__(self, settings: WorkerSettings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stop_requested = threading.Event()
        self.model: ServingModel | None = None
        self.store = StateStore(
            settings.state_max_series, settings.replay_window, settings.features, 1, 1
        )
        self.sorter = RecordSorter(settings)
        self._evictions_counted = 0
        self.swap_durations: list[float] = []
        self._co_partitioned = False  # seconds the hot path paused for each swap

    def request_stop(self) -> None:
        self.stop_requested.set()

    def run(self, exit_when_idle: float | None = None) -> int:
        s = self.settings
        latest = read_latest(s, s.features)
        for _, reason in latest.refused:
            self.metrics.refused.labels(reason).inc()
        if latest.model is not None:
            self._swap(latest.model)
        else:
            log.info("no model yet: persistence forecasts (model version 0) until one arrives")
        watcher = WeightsWatcher(
            s, s.features, latest.next_offset, self.model.version if self.model else 0, self.metrics
        )
        watcher.start()
        consumer, producer = self._consumer(), self._producer()
        self._co_partitioned = self._partition_counts_match(producer)
        try:
            self._loop(consumer, producer, watcher, exit_when_idle)
            return 0
        finally:
            watcher.stop()
            producer.close()
            consumer.close()
            watcher.join(timeout=5)

    def _loop(
        self, consumer: Any, producer: Any, watcher: WeightsWatcher, exit_when_idle: float | None
    ) -> None:
        last_event = time.monotonic()
        in_flight: InFlight | None = None
        while not self.stop_requested.is_set():
            prepared = watcher.take()
            if prepared is not None:
                self._swap(prepared)
            batches = consumer.poll(timeout_ms=200, max_records=self.settings.max_poll_records)
            records = [r for batch in batches.values() for r in batch]
            self._update_lag(consumer)
            sent = self._handle(batches, records, producer) if records else None
            if in_flight is not None:
                self._settle(in_flight, consumer, producer)
            in_flight = sent
            if records:
                last_event = time.monotonic()
            elif exit_when_idle is not None and time.monotonic() - last_event >= exit_when_idle:
                log.info("no events for %.1fs: exiting", exit_when_idle)
                break
        if in_flight is not None:  # the last commit on the way out
            self._settle(in_flight, consumer, producer)

    def _handle(
        self, batches: dict[TopicPartition, list[Any]], records: list[Any], producer: Any
    ) -> InFlight:
        """Validate, process and send one poll; nothing here waits for the broker."""
        self.metrics.events.inc(len(records))
        futures: list[Any] = []
        processed = []
        for segment, control in split_at_controls(records):
            valid, dead = self.sorter.sort(segment)
            futures += [
                producer.send(self.settings.dlq_topic, key=key, value=value)
                for key, value in dead.messages
            ]
            for reason, count in dead.reasons.items():
                self.metrics.dlq.labels(reason).inc(count)
            result = process(self.model, self.store, valid, self._observe_wave)
            futures += self.sorter.send_forecasts(producer, valid, result, self._co_partitioned)
            processed.append((valid, result))
            if control is not None:
                futures += self._apply_control(control, producer)
        # A poll's records come per partition in offset order: the last one sets the commit.
        offsets = {tp: batch[-1].offset + 1 for tp, batch in batches.items() if batch}
        return InFlight(futures, offsets, processed)

    def _apply_control(self, record: Any, producer: Any) -> list[Any]:
        """Carry out an operator's control record, in order with the events around it."""
        action = control_action(record.headers)
        if action == RESET and record.key is not None:
            series_id = record.key.decode("utf-8", "replace")
            self.store.evict(series_id)
            self.metrics.resets.inc()
            log.info("series %r reset by a control record at offset %d", series_id, record.offset)
            return []
        dead = DeadLetters()
        dead.add(record, "unknown_control", f"unknown control action {action!r} or no key")
        self.metrics.dlq.labels("unknown_control").inc()
        return [producer.send(self.settings.dlq_topic, key=k, value=v) for k, v in dead.messages]

    def _settle(self, in_flight: InFlight, consumer: Any, producer: Any) -> None:
        """Wait until a poll's sends are acknowledged, then commit its offsets."""
        if not all(f.is_done for f in in_flight.futures):
            producer.flush()
        failed = [f for f in in_flight.futures if f.failed()]
        if failed:
            raise DeliveryError(f"{len(failed)} sends failed, first: {failed[0].exception}")
        for batch, result in in_flight.processed:
            self._account(batch, result)
        commit = {tp: OffsetAndMetadata(off, "", -1) for tp, off in in_flight.offsets.items()}
        try:
            consumer.commit(commit)
        except KafkaError as exc:
            # Not fatal: a later commit covers these offsets; a crash before it only repeats.
            log.warning("offset commit failed: %s", exc)

    def _observe_wave(self, seconds: float, size: int) -> None:
        self.metrics.wave_seconds.observe(seconds)
        self.metrics.wave_size.observe(size)

    def _account(self, batch: EventBatch, result: BatchResult) -> None:
        """Metrics for one poll, aggregated first: per-event metric calls would dominate."""
        m = self.metrics
        m.forecasts.inc(len(batch))
        sent_at_ms = time.time() * 1000
        latency_ms = sent_at_ms - np.asarray(batch.timestamps_ms, np.float64)
        m.latency.observe_many(np.maximum(0.0, latency_ms) / 1000)
        for version, errors in accuracy_by_version(result).items():
            label = str(version)
            m.scored.labels(label).inc(errors.count)
            m.abs_error.labels(label).inc(errors.abs_sum)
            m.sq_error.labels(label).inc(errors.sq_sum)
            m.persistence_abs_error.labels(label).inc(errors.persistence_abs_sum)
            m.persistence_sq_error.labels(label).inc(errors.persistence_sq_sum)
        m.state_series.set(len(self.store))
        m.state_evictions.inc(self.store.evictions - self._evictions_counted)
        self._evictions_counted = self.store.evictions

    def _swap(self, new: ServingModel) -> None:
        started = time.perf_counter()
        apply_swap(self.store, self.model, new, self.settings.swap_policy)
        self.model = new  # the one reference change
        seconds = time.perf_counter() - started
        self.swap_durations.append(seconds)
        self.metrics.swap_seconds.observe(seconds)
        self.metrics.swaps.inc()
        self.metrics.model_version.set(new.version)
        self.metrics.model_created.set(new.manifest.created_at.timestamp())
        log.info(
            "now serving model version %d (%s swap of %d series in %.3fs)",
            new.version,
            self.settings.swap_policy.value,
            len(self.store),
            seconds,
        )

    def _partition_counts_match(self, producer: Any) -> bool:
        s = self.settings
        events = producer.partitions_for(s.events_topic)
        forecasts = producer.partitions_for(s.forecasts_topic)
        match = bool(events) and events == forecasts
        if not match:
            log.warning(
                "%s and %s differ in partitions: forecasts are placed by key hash",
                s.events_topic,
                s.forecasts_topic,
            )
        return match

    def _update_lag(self, consumer: Any) -> None:
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag.labels(str(tp.partition)).set(highwater - consumer.position(tp))

    def _consumer(self) -> Any:
        s = self.settings
        try:
            consumer = KafkaConsumer(
                **s.client_config("worker"),
                group_id=s.worker_group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
        except KafkaError as exc:
            raise KafkaUnavailableError(f"cannot reach {s.bootstrap_servers}: {exc}") from exc
        consumer.subscribe([s.events_topic])
        return consumer

    def _producer(self) -> Any:
        return KafkaProducer(
            **self.settings.client_config("worker-producer"),
            acks="all",
            linger_ms=self.settings.linger_ms,
            batch_size=256 * 1024,
            retries=5,
        )
