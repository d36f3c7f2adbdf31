"""Follows the weights topic in a background thread and prepares new models off the hot path.

Decoding, bounds, checksum, shape and finiteness checks and the smoke step all happen here; the
loop only picks up the newest prepared model between two waves (one reference change).

Any failure on one record is a counted refusal (``lstmcore.acceptance.accept``). Should the
thread stop anyway (a bug, a client that cannot be built), it logs why and ``alive`` turns false;
the worker's loop then starts a new watcher from where this one stopped (``restart``), so a
refused record can never leave a worker deaf to later versions.
"""

from __future__ import annotations

import logging
import threading

from foundation.errors import ArtifactError, KafkaClientError
from foundation.kafka.client import Partition
from foundation.kafka.weights_topic import weights_consumer
from foundation.settings.worker import WorkerSettings
from lstmcore.acceptance import accept
from lstmcore.serving import ServingModel
from worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class WeightsWatcher(threading.Thread):
    def __init__(
        self,
        settings: WorkerSettings,
        start_offset: int,
        current_version: int,
        metrics: WorkerMetrics,
    ) -> None:
        super().__init__(name="weights-watcher", daemon=True)
        self._settings, self._metrics = settings, metrics
        self._limits = settings.artifact_limits()
        self._offset, self._newest_version = start_offset, current_version
        self._lock = threading.Lock()
        self._ready: ServingModel | None = None
        self._stop_requested = threading.Event()

    def take(self) -> ServingModel | None:
        """The newest prepared model not yet taken, if any."""
        with self._lock:
            model, self._ready = self._ready, None
            return model

    def stop(self) -> None:
        self._stop_requested.set()

    def restart(self) -> WeightsWatcher:
        """A new watcher that goes on where this (stopped) one ended."""
        successor = WeightsWatcher(
            self._settings, self._offset, self._newest_version, self._metrics
        )
        successor._ready = self.take()  # a model prepared just before the stop is not lost
        return successor

    def run(self) -> None:
        try:
            self._follow()
        except Exception:  # a thread's exception is otherwise only printed, and the worker deaf
            log.exception("weights watcher stopped at offset %d", self._offset)

    def _follow(self) -> None:
        consumer = weights_consumer(self._settings, "worker-weights")  # fetches a whole artifact
        partition = Partition(self._settings.weights_topic, 0)
        try:
            consumer.assign([partition])
            consumer.seek(partition, self._offset)
            while not self._stop_requested.is_set():
                try:
                    batches = consumer.poll(0.5)
                except KafkaClientError as exc:
                    log.warning("weights topic poll failed, retrying: %s", exc)
                    self._stop_requested.wait(1.0)
                    continue
                for records in batches.values():
                    for record in records:
                        # Moved on first: a record that could stop the thread is not met again.
                        self._offset = record.offset + 1
                        self._consider(record.value, record.offset)
        finally:
            consumer.close()

    def _consider(self, raw: bytes | None, offset: int) -> None:
        try:
            model = accept(raw, self._settings.features, self._newest_version, self._limits)
        except ArtifactError as exc:
            self._metrics.refused.labels(exc.reason).inc()
            log.warning(
                "artifact at weights offset %d refused (%s); current model keeps serving",
                offset,
                exc,
            )
            return
        self._newest_version = model.version
        with self._lock:
            self._ready = model
        log.info("model version %d prepared for swap", model.version)
