"""The worker's Kafka loop: a thin shell around the pure hot path.

Commit order, per poll: (1) swap in a prepared model if there is one, (2) validate the records and
run the waves, (3) send forecasts and dead letters, (4) flush the producer and check every send
succeeded, (5) commit the consumer's offsets. A crash anywhere before (5) means the poll is
processed again (at-least-once); a signal only sets the stop flag, and the loop commits once more
on its way out.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from lstmcore.serving import ServingModel
from twincast.errors import KafkaUnavailableError, TwincastError
from twincast.weights_topic import read_latest
from worker.hotpath import Outcome, accuracy_by_version, apply_swap, process
from worker.metrics import WorkerMetrics
from worker.records import RecordSorter
from worker.settings import WorkerSettings
from worker.state_store import StateStore
from worker.weights_watcher import WeightsWatcher

log = logging.getLogger(__name__)


class DeliveryError(TwincastError):
    """Forecasts or dead letters could not be delivered; offsets are not committed."""


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
        self.swap_durations: list[float] = []  # seconds the hot path paused for each swap

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
        while not self.stop_requested.is_set():
            prepared = watcher.take()
            if prepared is not None:
                self._swap(prepared)
            batches = consumer.poll(timeout_ms=200, max_records=self.settings.max_poll_records)
            records = [r for batch in batches.values() for r in batch]
            self._update_lag(consumer)
            if not records:
                if exit_when_idle is not None and time.monotonic() - last_event >= exit_when_idle:
                    log.info("no events for %.1fs: exiting", exit_when_idle)
                    break
                continue
            last_event = time.monotonic()
            self._handle(records, producer)
            self._commit(consumer)
        self._commit(consumer)  # the last commit on the way out

    def _handle(self, records: list[Any], producer: Any) -> None:
        valid, dead = self.sorter.sort(records)
        self.metrics.events.inc(len(records))
        futures = [
            producer.send(self.settings.dlq_topic, key=key, value=value)
            for key, value in dead.messages
        ]
        for reason, count in dead.reasons.items():
            self.metrics.dlq.labels(reason).inc(count)
        outcomes = process(self.model, self.store, valid, self._observe_wave)
        futures += self.sorter.send_forecasts(producer, outcomes)
        producer.flush()
        failed = [f for f in futures if f.failed()]
        if failed:
            raise DeliveryError(f"{len(failed)} sends failed, first: {failed[0].exception}")
        self._account(outcomes)

    def _observe_wave(self, seconds: float, size: int) -> None:
        self.metrics.wave_seconds.observe(seconds)
        self.metrics.wave_size.observe(size)

    def _account(self, outcomes: list[Outcome]) -> None:
        """Metrics for one poll, aggregated first: per-event metric calls would dominate."""
        m = self.metrics
        m.forecasts.inc(len(outcomes))
        sent_at_ms = time.time() * 1000
        m.latency.observe_many(
            np.maximum(
                0.0,
                sent_at_ms
                - np.fromiter((o.event.timestamp_ms for o in outcomes), np.float64, len(outcomes)),
            )
            / 1000
        )
        for version, errors in accuracy_by_version(outcomes).items():
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
        log.info(
            "now serving model version %d (%s swap of %d series in %.3fs)",
            new.version,
            self.settings.swap_policy.value,
            len(self.store),
            seconds,
        )

    def _commit(self, consumer: Any) -> None:
        try:
            consumer.commit()
        except KafkaError as exc:
            # Not fatal: the next commit covers these offsets; a crash before it only repeats.
            log.warning("offset commit failed: %s", exc)

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
