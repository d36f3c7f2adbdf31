"""The worker's Kafka loop: a thin shell around the pure hot path.

A checkpoint (every ``commit_interval_ms`` and on the way out) writes the states of the series
due for writing (changed for ``state_write_age_ms``; every changed one on the way out) and a
position marker per partition (``worker.state_writer``), and commits the consumed offsets, in the
order ``worker.delivery`` writes down (at-least-once, or one transaction for exactly-once). A
worker that is assigned a partition restores its states and reads again from its marker's replay
point, silently up to its emit-from offset (``worker.replay``), so every event after the last
checkpoint is recomputed from the state it had then: a repeated forecast equals the first one. A
signal only sets the stop flag; the loop checkpoints once more on its way out.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Sequence

import numpy as np

from foundation.errors import KafkaClientError
from foundation.health import Health, HealthLimits
from foundation.kafka.client import Consumer, Partition
from foundation.kafka.outage import Outage, when_reachable
from foundation.kafka.record import ConsumedRecord
from foundation.kafka.unreadable import skip_unreadable, unreadable
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from schemas.control import RESET
from worker.delivery import Delivery, TransactionAborted
from worker.forecast_sender import ForecastSender
from worker.heap import HeapTrimmer
from worker.hotpath import (
    BatchResult,
    EventBatch,
    accuracy_by_version,
    process,
    realign,
)
from worker.intervals import Calibrator
from worker.metrics import WorkerMetrics
from worker.positions import Batches, PartitionPositions
from worker.rebalance import Rebalance, RebalanceKind, RebalanceListener
from worker.records import Control, DeadLetters, EventValidator, drop_non_finite, split_at_controls
from worker.replay import Replay, newest_offsets
from worker.restore import Expectation, read_states
from worker.startup import connect
from worker.state_store import StateStore
from worker.state_writer import CheckpointPlan
from worker.swap import SwapDone, Swapper
from worker.weights_watcher import WeightsWatcher

log = logging.getLogger(__name__)

WATCHER_RESTART_PAUSE_S = 5.0  # a watcher that keeps stopping is not restarted in a busy loop
POLL_TIMEOUT_S = 0.2
# How long a rewind waits for a partition's beginning offset: what kafka-python waited unasked.
OFFSETS_WAIT_S = 30.0


class WorkerService:
    def __init__(self, settings: WorkerSettings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stop_requested = threading.Event()
        self.model: ServingModel | None = None
        # h and c of one unit until the first model's swap resizes them to its shape.
        self.store = StateStore(
            capacity=settings.state_max_series,
            window=settings.replay_window,
            features=settings.features,
            layers=1,
            units=1,
        )
        self.intervals = Calibrator.from_settings(settings)  # pooled side of the intervals
        metrics.interval_nominal.set(settings.interval_coverage)
        self._watched = settings.watched_series()  # exported as gauges, for the dashboard
        self.validator = EventValidator(settings)
        self.forecasts = ForecastSender(settings)
        self.swap_durations: list[float] = []  # seconds the hot path paused for each swap
        self.swapper = Swapper(self.store, settings)  # replay swaps prepared off the loop
        self._co_partitioned = False
        self._evictions_counted = 0
        self.delivery: Delivery | None = None  # set when the producer exists
        self.positions = PartitionPositions()
        self.replay = Replay()
        # Rebalance news from the listener, which the client may call on its IO thread: the
        # loop applies it between polls, so the store is only ever touched by one thread.
        self._rebalances: queue.SimpleQueue[Rebalance] = queue.SimpleQueue()
        self.watcher: WeightsWatcher  # started by run()
        self._watcher_restart_at = 0.0
        # Partitions assigned but not restored yet (the broker was away): not held until they
        # are, so their records are dropped and no event meets a state that is not its
        # partition's committed one.
        self._unrestored: set[Partition] = set()
        self._retry_at = 0.0
        self.outage = Outage(log)
        self.health = Health(self.outage, HealthLimits.of(settings))  # for /healthz, /readyz
        self.heap = HeapTrimmer(settings.heap_trim_interval_ms / 1000)

    def request_stop(self) -> None:
        self.stop_requested.set()

    def run(self, exit_when_idle: float | None = None) -> int:
        s = self.settings
        # Started while the broker is away (a restart during an outage): wait for it.
        connected = when_reachable(
            lambda: connect(s, self.outage), self.outage, self.stop_requested, self.health.beat
        )
        if connected is None:
            return 0  # stopped before the broker came
        latest, consumer = connected.latest, connected.consumer
        self.delivery, self._co_partitioned = connected.delivery, connected.co_partitioned
        for _, reason in latest.refused:
            self.metrics.refused.labels(reason).inc()
        if latest.model is not None:
            self._swap(latest.model)
        else:
            log.info("no model yet: persistence forecasts (model version 0) until one arrives")
        version = self.model.version if self.model else 0
        self.health.serving(version)
        self.watcher = WeightsWatcher(s, latest.next_offset, version, self.metrics)
        self.watcher.start()
        try:
            consumer.subscribe([s.events_topic], listener=RebalanceListener(self._rebalances))
            self._loop(consumer, exit_when_idle)
            return 0
        finally:
            self.watcher.stop()
            self.swapper.cancel()
            self.delivery.close()  # bounded: the broker may be away
            consumer.close()
            self.watcher.join(timeout=5)

    def _watch(self) -> None:
        """Restart a weights watcher that stopped (it logged why), at most every few seconds."""
        if self.watcher.is_alive() or time.monotonic() < self._watcher_restart_at:
            return
        log.error("the weights watcher stopped: starting a new one where it ended")
        self.metrics.watcher_restarts.inc()
        self._watcher_restart_at = time.monotonic() + WATCHER_RESTART_PAUSE_S
        self.watcher = self.watcher.restart()
        self.watcher.start()

    def _loop(self, consumer: Consumer, exit_when_idle: float | None) -> None:
        last_event = last_checkpoint = time.monotonic()
        interval = self.settings.commit_interval_ms / 1000
        while not self.stop_requested.is_set():
            self.health.beat()
            self._watch()
            prepared = self.watcher.take()
            if prepared is not None:
                self._swapped(self.swapper.offer(self.model, prepared))
            self._swapped(self.swapper.advance())
            if self._unrestored:
                self._retry_restore(consumer)
            try:
                batches = consumer.poll(POLL_TIMEOUT_S, self.settings.max_poll_records)
            except KafkaClientError as exc:
                if unreadable(exc):  # a batch the client cannot parse: skip its rest
                    self._skip_unreadable(consumer, exc)
                    continue
                # Nothing was taken yet: wait and poll again (fatal errors raise here).
                self.stop_requested.wait(self.outage.failed(exc, "reading events"))
                continue
            self._apply_rebalances(consumer)
            if batches:
                batches = self.positions.keep_in_order(consumer, batches)
            records = [r for batch in batches.values() for r in batch]
            self._update_lag(consumer)
            self.heap.polled(len(records))
            if records or not consumer.assignment():
                # Idle time counts only while partitions are ours (a join can take a while).
                last_event = time.monotonic()
            if records:
                try:
                    self._handle(batches, records)
                except KafkaClientError as exc:  # a send not queued or not answered in time
                    self.outage.failed(exc, "sending")
                    self._recover(consumer, abandon=True)
            if time.monotonic() - last_checkpoint >= interval:
                self.checkpoint(consumer)
                self.heap.checkpointed()
                last_checkpoint = time.monotonic()
            if exit_when_idle is not None and time.monotonic() - last_event >= exit_when_idle:
                log.info("no events for %.1fs: exiting", exit_when_idle)
                break
        self.checkpoint(consumer, final=True)  # the last commit on the way out

    def _handle(self, batches: Batches, records: Sequence[ConsumedRecord]) -> None:
        """Validate, process and send one poll; nothing here waits for the broker, unless more
        than ``TWINCAST_MAX_IN_FLIGHT_SENDS`` sends are unacknowledged (``Delivery.track``)."""
        self.metrics.events.inc(len(records))
        self.positions.consumed(batches)
        for segment, control in split_at_controls(records):
            silent, loud = self.replay.split(segment)
            if silent:  # read again after a restore: their outputs were sent before
                fresh = self._fresh(self.validator.validate(silent)[0])
                process(self.model, self.store, fresh, intervals=self.intervals)
                self.metrics.replayed.inc(len(silent))
            if loud:
                self._forecast(loud)
            if control is not None:
                self._apply_control(control)
        self.replay.advance(self.positions.taken())

    def _forecast(self, segment: Sequence[ConsumedRecord]) -> None:
        valid, dead = self.validator.validate(segment)
        valid = self._fresh(valid)
        result = process(self.model, self.store, valid, self._observe_wave, self.intervals)
        if result.non_finite.any():  # never a NaN forecast: those events are dead letters
            valid, result = drop_non_finite(segment, valid, result, dead)
        self._send_dead_letters(dead)
        delivery = self._deliver()
        delivery.track(self.forecasts.send(delivery.producer, valid, result, self._co_partitioned))
        self._account(valid, result)

    def _fresh(self, batch: EventBatch) -> EventBatch:
        """Without the events a restored state already holds (``worker.replay``)."""
        if not self.replay.guarded():
            return batch
        return batch.take(self.replay.fresh(batch, self.store.next_offsets_of(batch.series_ids)))

    def _skip_unreadable(self, consumer: Consumer, exc: KafkaClientError) -> None:
        """Dead-letter every offset the client cannot read; the commit moves past them."""
        skipped = skip_unreadable(consumer, exc, timeout_ms=int(POLL_TIMEOUT_S * 1000))
        if skipped is None or not self.positions.holds(skipped.partition):
            return  # not found yet: the next poll raises again and this runs again
        if not self.replay.silent_at(skipped.partition.partition, skipped.first_offset):
            dead = DeadLetters()  # (below a replay's M they were dead-lettered before)
            dead.add_unreadable(skipped)
            self._send_dead_letters(dead)
        self.positions.skipped_to(skipped.partition, skipped.end_offset)
        self.replay.advance(self.positions.taken())

    def _apply_control(self, control: Control) -> None:
        """Carry out an operator's control record, in order with the events around it."""
        record, action = control.record, control.action
        if action == RESET and record.key is not None:
            series_id = record.key.decode("utf-8", "replace")
            self.store.evict(series_id)
            self.metrics.resets.inc()
            log.info("series %r reset by a control record at offset %d", series_id, record.offset)
            return
        if self.replay.silent(record):
            return  # its dead letter was sent before
        dead = DeadLetters()
        dead.add(record, "unknown_control", f"unknown control action {action!r} or no key")
        self._send_dead_letters(dead)

    def _send_dead_letters(self, dead: DeadLetters) -> None:
        """Through the delivery (so exactly-once writes them in the checkpoint's transaction),
        counted by reason."""
        for key, value in dead.messages:
            self._deliver().send(self.settings.dlq_topic, key, value)
        for reason, count in dead.reasons.items():
            self.metrics.dlq.labels(reason).inc(count)

    def checkpoint(self, consumer: Consumer, final: bool = False) -> None:
        """Due states (``final``: every changed one), position markers and consumed offsets, in
        the delivery's order."""
        self._apply_rebalances(consumer)  # never write the state of a series no longer ours
        age_s = self.settings.state_write_age_ms / 1000
        plan = CheckpointPlan(
            read_to={tp.partition: offset for tp, offset in self.positions.taken().items()},
            emit_from=self.replay.emit_from(),
            changed_before=math.inf if final else time.monotonic() - age_s,
        )
        try:
            if self._deliver().commit(
                consumer, self.store, self.settings.state_topic, self.positions.uncommitted(), plan
            ):
                self.positions.committed()
        except TransactionAborted:  # aborted, or (at-least-once) sends not acknowledged
            self._recover(consumer, abandon=False)

    def _recover(self, consumer: Consumer, abandon: bool) -> None:
        """Back to the last committed checkpoint after a failed one; nothing was committed."""
        if abandon:
            self._deliver().abandon()
        self.metrics.rewinds.inc()
        if not self.stop_requested.is_set():  # on the way out the next owner recomputes it
            self._rewind(consumer)

    def _deliver(self) -> Delivery:
        if self.delivery is None:
            raise RuntimeError("the worker's producer is not running")
        return self.delivery

    def _apply_rebalances(self, consumer: Consumer) -> None:
        while not self._rebalances.empty():
            kind, partitions = self._rebalances.get()
            if kind is RebalanceKind.REVOKED:
                self.on_revoked(partitions)
                if partitions and self._deliver().abandon():
                    # Exactly-once: the aborted transaction held the kept partitions' work too.
                    log.info("open transaction aborted on a rebalance: back to the last commit")
                    self.metrics.rewinds.inc()
                    self._rewind(consumer)
            else:
                self._restore(partitions, consumer, rewinding=False)

    def on_revoked(self, partitions: Iterable[Partition]) -> None:
        """Forget the series of partitions another worker takes over.

        Their state is not written any more (the new owner may be restoring it already) and their
        offsets are not committed: the new owner resumes from the last checkpoint, skipping what
        that state reflects and recomputing the rest identically.
        """
        self.positions.release(partitions)
        self._unrestored.difference_update(partitions)
        gone = {tp.partition for tp in partitions}
        self.replay.stop(gone)
        dropped = self.store.evict_partitions(gone)
        if partitions:
            log.info("partitions %s revoked: %d series handed over", sorted(gone), dropped)
        self.health.hold(len(self.positions.held()), len(self._unrestored))

    def _rewind(self, consumer: Consumer) -> None:
        """Back to the last committed checkpoint of every partition still held: drop their
        series, restore their committed states, read again from their markers."""
        kept = list(self.positions.held() | self._unrestored)
        self.on_revoked(kept)
        self._restore(kept, consumer, rewinding=True)

    def _restore(self, partitions: list[Partition], consumer: Consumer, rewinding: bool) -> None:
        """``on_assigned``, or if the broker is away, note the partitions to restore later."""
        try:
            self.on_assigned(partitions, consumer, rewinding)
        except (KafkaClientError, TimeoutError) as exc:  # fatal errors raise in ``failed``
            self._retry_at = time.monotonic() + self.outage.failed(exc, "restoring state")
            self.on_revoked(partitions)  # undo whatever the failed try did: not held
            self._unrestored.update(partitions)
        self.health.hold(len(self.positions.held()), len(self._unrestored), assigned=True)

    def _retry_restore(self, consumer: Consumer) -> None:
        """Try the unrestored partitions again once the pause is over.

        The loop keeps polling meanwhile (their records are dropped, as they are not held):
        a client hears of rebalances only in a poll, and the news may be what settles them.
        Not polling here once left a confluent-kafka worker retrying forever a seek on
        partitions librdkafka no longer fetched ("Erroneous state") after a broker restart."""
        if time.monotonic() < self._retry_at:
            return
        partitions = list(self._unrestored)
        self.on_revoked(partitions)
        # Rewinding: they may have been read past while they were not ours to process.
        self._restore(partitions, consumer, rewinding=True)

    def on_assigned(
        self, partitions: list[Partition], consumer: Consumer, rewinding: bool = False
    ) -> None:
        """Restore the state of every series of the new partitions before any of their events,
        and resume each partition where its restored state ends."""
        if not partitions:
            return
        started = time.perf_counter()
        fit = Expectation.of(self.settings.features, self.settings.replay_window, self.model)
        restored = read_states(self.settings, [tp.partition for tp in partitions], fit)
        for reason, count in restored.refused.items():
            self.metrics.state_refused.labels(reason).inc(count)
        states, markers = restored.states, restored.positions
        self.positions.hold(partitions)
        newest = newest_offsets(states.values())
        for tp in partitions:
            marker = markers.get(tp.partition)
            position = None if marker is None else marker.replay_from
            if marker is not None:
                self.replay.start(tp.partition, marker, newest.get(tp.partition, 0))
                emit, replay = marker
                if replay < emit:
                    log.info(
                        "partition %d: replaying %d to %d silently", tp.partition, replay, emit
                    )
            if position is None and rewinding:  # never checkpointed: the group's commit or start
                position = consumer.committed(tp)
                if position is None:
                    position = consumer.beginning_offsets([tp], OFFSETS_WAIT_S)[tp]
            if position is not None:
                consumer.seek(tp, position)
                self.positions.resume_at(tp, position)
        self.store.restore(states)  # a state record is a SeriesState: nothing to copy
        if self.model is not None:  # states of an older model follow the swap policy
            stale = [sid for sid, r in states.items() if r.model_version != self.model.version]
            realign(self.store, stale, self.model, self.settings.swap_policy)
        seconds = time.perf_counter() - started
        self.metrics.restore_seconds.observe(seconds)
        log.info(
            "partitions %s assigned: %d series restored in %.2fs (%d state records refused)",
            sorted(tp.partition for tp in partitions),
            len(states),
            seconds,
            sum(restored.refused.values()),
        )

    def _observe_wave(self, seconds: float, size: int) -> None:
        self.metrics.wave_seconds.observe(seconds)
        self.metrics.wave_size.observe(size)

    def _account(self, batch: EventBatch, result: BatchResult) -> None:
        """Metrics for one batch, aggregated first: per-event metric calls would dominate."""
        m = self.metrics
        m.forecasts.inc(len(batch))
        made = ~result.non_finite
        from_model = int((result.from_model & made).sum())
        m.forecasts_by_source.labels("model").inc(from_model)
        m.forecasts_by_source.labels("persistence").inc(int(made.sum()) - from_model)
        latency_ms = time.time() * 1000 - np.asarray(batch.timestamps_ms, np.float64)
        m.latency.observe_many(np.maximum(0.0, latency_ms) / 1000)
        for version, errors in accuracy_by_version(result).items():
            label = str(version)
            m.scored.labels(label).inc(errors.count)
            m.abs_error.labels(label).inc(errors.abs_sum)
            m.sq_error.labels(label).inc(errors.sq_sum)
            m.persistence_abs_error.labels(label).inc(errors.persistence_abs_sum)
            m.persistence_sq_error.labels(label).inc(errors.persistence_sq_sum)
        m.account_intervals(result, made, self.intervals.level)
        if self._watched:
            m.watch(batch, result, self._watched)
        m.state_series.set(len(self.store))
        m.state_evictions.inc(self.store.evictions - self._evictions_counted)
        self._evictions_counted = self.store.evictions

    def _swap(self, new: ServingModel) -> None:
        """The whole swap at once: at start-up, before anything is consumed."""
        self._swapped(self.swapper.swap_now(self.model, new))

    def _swapped(self, done: SwapDone | None) -> None:
        if done is None:
            return
        new = self.model = done.model  # the one reference change, states installed already
        self.health.serving(new.version)
        self.swap_durations.append(done.on_loop_seconds)
        self.metrics.swap_seconds.observe(done.on_loop_seconds)
        if done.rounds:
            self.metrics.swap_prepare_seconds.observe(done.prepared_seconds)
        self.metrics.swaps.inc()
        self.heap.worked()  # the old model's arrays and the replay's temporaries are freed
        self.metrics.model_version.set(new.version)
        self.metrics.model_created.set(new.manifest.created_at.timestamp())
        self.metrics.gated_series.set(new.series.gated_to_persistence)
        log.info(
            "now serving model version %d (%s swap of %d series in %.3fs on the loop; "
            "prepared off the loop in %.2fs, %d round(s), %d series caught up on the loop)",
            new.version,
            self.settings.swap_policy.value,
            done.series,
            done.on_loop_seconds,
            done.prepared_seconds,
            done.rounds,
            done.caught_up,
        )

    def _update_lag(self, consumer: Consumer) -> None:
        # From what the worker took, not consumer.position(): that may wait for the broker.
        for tp, taken in self.positions.taken().items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.lag.labels(str(tp.partition)).set(highwater - taken)
