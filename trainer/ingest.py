"""The trainer's poll side: events from Kafka into the history, in batches over several polls.

One history transaction per poll made every commit write one page per series touched, and past
~100k points (when the series' pages no longer share) that page writing grew with the history.
Events are gathered over polls instead and written together once ``history_batch_events`` are
waiting or ``history_batch_seconds`` have passed, so a commit's page writes are shared by many
more events. Nothing is lost meanwhile: the history's offsets move only with its points, so a
crash before a write re-reads those events from Kafka.

The group commit (the trainer's lag, for operators) says what the history holds: the offsets each
write read back in its own transaction, never the consumer's position, which runs ahead of the
history by whatever is gathered. So a commit is right whenever it happens, events waiting or not.
"""

from __future__ import annotations

import threading
import time

from foundation.errors import KafkaClientError
from foundation.kafka.client import Consumer, Partition
from foundation.kafka.outage import Outage
from foundation.kafka.unreadable import skip_unreadable, unreadable
from foundation.settings.trainer import TrainerSettings
from trainer.consume import add_unreadable, gather
from trainer.gathered import Gathered
from trainer.history import HistoryStore
from trainer.metrics import TrainerMetrics

COMMIT_WAIT_MS = 10_000
# Idle, the trainer still commits now and then: the answer tells whether the broker is there,
# so an outage is reported (once) and its end too, even when no event arrives meanwhile.
IDLE_COMMIT_S = 5.0


class Ingest:
    """Polls, decodes, gathers and writes; counts what it read in the metrics."""

    def __init__(
        self,
        settings: TrainerSettings,
        history: HistoryStore,
        metrics: TrainerMetrics,
        outage: Outage,
        stop_requested: threading.Event,
    ) -> None:
        self.settings = settings
        self.history = history
        self.metrics = metrics
        self.outage = outage
        self.stop_requested = stop_requested
        self._pending = Gathered()
        # Assigned partition -> the next offset the history needs: what the group commit says.
        self._stored: dict[Partition, int] = {}
        self._oldest_pending = time.monotonic()
        self._last_commit = time.monotonic()

    def resume(self, starts: dict[Partition, int]) -> None:
        """The partitions assigned, each with the offset the history resumes it at."""
        self._stored = dict(starts)

    def poll(self, consumer: Consumer, timeout_ms: int) -> int:
        """One poll; returns the points written to the history by it (0 while gathering)."""
        try:
            batches = consumer.poll(timeout_ms / 1000, max_records=5000)
        except KafkaClientError as exc:
            if unreadable(exc):  # a batch the client cannot parse: skip its rest
                self._skip_unreadable(consumer, exc, timeout_ms)
                return 0
            # Nothing was taken yet: wait and poll again (fatal errors raise here).
            self.stop_requested.wait(self.outage.failed(exc, "reading events"))
            return 0
        records = [r for batch in batches.values() for r in batch]
        if records:
            if not self._pending:
                self._oldest_pending = time.monotonic()
            s = self.settings
            gather(records, s.features, s.max_event_bytes, self._pending)
        waited = time.monotonic() - self._oldest_pending
        if self._pending and (
            not records  # caught up: nothing to share the write with
            or len(self._pending) >= self.settings.history_batch_events
            or waited >= self.settings.history_batch_seconds
        ):
            return self.flush(consumer)
        if not records and time.monotonic() - self._last_commit >= IDLE_COMMIT_S:
            self.commit(consumer)
        return 0

    def flush(self, consumer: Consumer) -> int:
        """Write what was gathered, in one transaction; then commit (lag). Returns points added."""
        consumed, self._pending = self._pending, Gathered()
        if not consumed:
            return 0
        topic = self.settings.events_topic
        stored = self.history.write(topic, consumed)
        for partition, offset in stored.offsets.items():
            if Partition(topic, partition) in self._stored:  # one not assigned now stays out
                self._stored[Partition(topic, partition)] = offset
        for reason, count in consumed.refusals().items():
            self.metrics.bad_events.labels(reason).inc(count)
        self.metrics.events.inc(len(consumed))
        self.commit(consumer)
        series, points = self.history.size()
        self.metrics.history_series.set(series)
        self.metrics.history_points.set(points)
        return stored.added

    def _skip_unreadable(self, consumer: Consumer, exc: KafkaClientError, timeout_ms: int) -> None:
        """Count the offsets the client cannot read as bad events; the history moves past."""
        skipped = skip_unreadable(consumer, exc, timeout_ms)
        if skipped is None:
            return  # not found yet: the next poll raises again and this runs again
        add_unreadable(skipped, self._pending)  # skip_unreadable logged them
        self.flush(consumer)

    def commit(self, consumer: Consumer) -> None:
        """Commit the offsets the history has stored, events gathered or not. Informational (the
        trainer's lag); the history is the truth, so a failed commit during an outage loses
        nothing. Bounded: a stop request must be heard."""
        self._last_commit = time.monotonic()
        if not self._stored:
            return  # not connected yet: nothing assigned, nothing to say
        try:
            consumer.commit(dict(self._stored), timeout_s=COMMIT_WAIT_MS / 1000)
        except KafkaClientError as exc:
            self.outage.failed(exc, "offset commit (history unaffected)")
            return
        self.outage.recovered()
