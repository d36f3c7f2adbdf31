"""The trainer's loop: ingest events into the history, refit on schedule, publish what passes.

A scheduled refit runs on a thread of its own (``trainer.background``) while this loop goes on
ingesting and committing; when it ends, this loop records and publishes its outcome. One refit at
a time; ``--once`` refits on the loop's own thread.

The poll side (events into the history) is ``trainer.ingest``; what a publish does and in which
order, ``trainer.publish``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from foundation.errors import TwincastError
from foundation.health import Health, HealthLimits
from foundation.kafka.client import Consumer, Partition, Producer
from foundation.kafka.outage import Outage, when_reachable
from foundation.settings.trainer import TrainerSettings
from lstmcore.artifact import Artifact
from lstmcore.serving import ServingModel
from trainer.background import RefitJob
from trainer.consume import Connected, connect
from trainer.history import HistoryStore
from trainer.ingest import Ingest
from trainer.metrics import TrainerMetrics, record_refit, record_skip
from trainer.plan import refit_plan
from trainer.publish import PUBLISHED_VERSION, publish_artifact
from trainer.refit import NotEnoughData, RefitOutcome, refit, too_short
from trainer.snapshot import SampleBounds, read_snapshot

log = logging.getLogger(__name__)

# kafka-python's end_offsets waits as long as its request_timeout_ms (30 s by default) when not
# told; said here, so every client waits the same.
END_OFFSETS_WAIT_S = 30.0


class RefitAborted(TwincastError):
    """A stop was requested during training; nothing is published."""


class TrainerService:
    def __init__(self, settings: TrainerSettings, metrics: TrainerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stop_requested = threading.Event()
        self.history = HistoryStore(
            settings.history_db, settings.history_max_points, settings.history_max_points_total
        )
        self.current: ServingModel | None = None
        self._new_events = 0
        self._last_refit = time.monotonic()
        self.outage = Outage(log)  # one WARNING per broker outage, INFO when it is back
        self.health = Health(self.outage, HealthLimits.of(settings))  # for /healthz, /readyz
        metrics.history_max_points.set(settings.history_max_points_total)
        self.ingest = Ingest(settings, self.history, metrics, self.outage, self.stop_requested)
        self._job: RefitJob | None = None  # the refit running beside the poll loop, if any

    def request_stop(self) -> None:
        self.stop_requested.set()

    def run(self, once: bool = False) -> int:
        """Serve until stopped (or, with ``once``, ingest what is there, refit once and return)."""
        connected = (
            self._connect()
            if once
            else when_reachable(self._connect, self.outage, self.stop_requested, self.health.beat)
        )
        if connected is None:
            self.history.close()
            return 0  # stopped before the broker came
        consumer, producer = connected.consumer, connected.producer
        try:
            if once:
                return self._run_once(consumer, list(connected.starts), producer)
            while not self.stop_requested.is_set():
                self.health.beat()
                self._ingest(consumer, timeout_ms=500)
                self._tend_refit(producer)
            self._new_events += self.ingest.flush(consumer)  # what a stop found gathered
            self._end_refit(producer)
            return 0
        finally:
            self._abandon_refit()
            consumer.close()
            producer.close()
            self.history.close()

    def _connect(self) -> Connected:
        connected = connect(self.settings, self.history)
        self.current = connected.current
        self.ingest.resume(connected.starts)
        self.health.serving(self.current.version if self.current else 0, len(connected.starts))
        if self.current is not None:
            topic = self.settings.weights_topic
            log.info("current model on %s: version %d", topic, self.current.version)
        return connected

    def _run_once(self, consumer: Consumer, assigned: list[Partition], producer: Producer) -> int:
        end = consumer.end_offsets(assigned, END_OFFSETS_WAIT_S)
        while not self.stop_requested.is_set() and any(
            consumer.position(tp) < end[tp] for tp in assigned
        ):
            self._ingest(consumer, timeout_ms=1000)
        self._new_events += self.ingest.flush(consumer)
        try:
            outcome = self._refit_and_publish(producer, raise_not_enough=True)
        except NotEnoughData as exc:
            log.error("too little data to train: %s", exc)
            return 4
        return 0 if outcome is not None else 5

    def _ingest(self, consumer: Consumer, timeout_ms: int) -> None:
        self._new_events += self.ingest.poll(consumer, timeout_ms)

    def _tend_refit(self, producer: Producer) -> None:
        """Between two polls: conclude a refit that ended, or start one that is due."""
        job = self._job
        if job is not None:
            if job.done():
                self._job = None
                self._conclude(producer, job.version, job.started, job.outcome)
            return
        if self._refit_due():
            version, work = self._begin_refit()
            self._job = RefitJob(version, work)

    def _end_refit(self, producer: Producer) -> None:
        """On stop: the running refit aborts at its next epoch (or finishes); conclude it."""
        job, self._job = self._job, None
        if job is not None:
            log.info("waiting for the refit of version %d to stop", job.version)
            job.wait()
            self._conclude(producer, job.version, job.started, job.outcome)

    def _abandon_refit(self) -> None:
        """The loop failed: stop the refit and publish nothing from it."""
        job, self._job = self._job, None
        if job is not None:
            self.stop_requested.set()
            job.wait()

    def _refit_due(self) -> bool:
        if self._new_events == 0:
            return False
        waited = time.monotonic() - self._last_refit
        return (
            self._new_events >= self.settings.refit_every_events
            or waited >= self.settings.refit_every_seconds
        )

    def _next_version(self) -> int:
        stored = int(self.history.get_fact(PUBLISHED_VERSION) or 0)
        return max(stored, self.current.version if self.current else 0) + 1

    def _on_epoch(self, epoch: int, epochs: int, loss: float) -> None:
        log.info("refit epoch %d/%d: training loss %.5f", epoch, epochs, loss)
        if self.stop_requested.is_set():
            raise RefitAborted("stop requested during training")

    def _refit_and_publish(
        self, producer: Producer, raise_not_enough: bool = False
    ) -> RefitOutcome | None:
        """Refit on this thread; publish if the gate passes (``--once``)."""
        version, work = self._begin_refit()
        return self._conclude(producer, version, time.monotonic(), work, raise_not_enough)

    def _begin_refit(self) -> tuple[int, Callable[[], RefitOutcome]]:
        """The next version and its training, bound to what is current now."""
        self._new_events, self._last_refit = 0, time.monotonic()
        version = self._next_version()
        log.info("refit of version %d starting", version)
        return version, partial(self._train, version, self.current)

    def _conclude(
        self,
        producer: Producer,
        version: int,
        started: float,
        attempt: Callable[[], RefitOutcome],
        raise_not_enough: bool = False,
    ) -> RefitOutcome | None:
        """Take the refit's outcome; publish if the gate passes. None if aborted or no data."""
        try:
            outcome = attempt()
        except NotEnoughData as exc:
            record_skip(self.metrics, exc)
            if raise_not_enough:
                raise
            return None
        except RefitAborted:
            log.info("refit of version %d aborted; nothing published", version)
            return None
        except Exception:
            # Valid events can still break training (finite values whose spread overflows, say):
            # that costs this refit, never the trainer. The current model keeps serving.
            self.metrics.refits.labels("failed").inc()
            log.exception("refit of version %d failed; nothing published; ingesting on", version)
            return None
        record_refit(self.metrics, outcome, time.monotonic() - started)
        if outcome.accepted:
            self._publish(producer, outcome.artifact)
        return outcome

    def _train(self, version: int, current: ServingModel | None) -> RefitOutcome:
        """Runs on the refit's thread: its own connection, one consistent, bounded snapshot."""
        s = self.settings
        bounds = SampleBounds(
            s.min_points_per_series, s.refit_max_series, s.refit_max_points_per_series, s.seed
        )
        snapshot = read_snapshot(s.history_db, s.events_topic, bounds, version)
        if not snapshot.series:
            raise too_short(s.min_points_per_series, snapshot.total)
        log.info(
            "refit of version %d reads %d of %d series with enough points (%d in the history)",
            version,
            len(snapshot.series),
            snapshot.eligible,
            snapshot.total,
        )
        plan = refit_plan(s)
        return refit(snapshot.series, plan, version, snapshot.offsets, current, self._on_epoch)

    def _publish(self, producer: Producer, artifact: Artifact) -> None:
        current = self.current.version if self.current else 0
        published = publish_artifact(
            self.settings, self.metrics, self.history, producer, artifact, current
        )
        if published is not None:
            self.current = published
            self.health.serving(published.version)
