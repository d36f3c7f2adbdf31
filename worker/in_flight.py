"""The sends a worker has not yet seen acknowledged, bounded.

Neither client bounds this by itself as twincast uses it: kafka-python 3.0.12 has no
``buffer_memory`` (its accumulator queues without limit while its sender thread lags), and
librdkafka's producer queue takes 100,000 messages by default. Each send's handle is a handful of
Python objects (~0.6 KB on kafka-python: its future, lock, callbacks, metadata), short-lived but
numerous at a backlog's peak; the allocator keeps the arenas that peak filled long after (CPython
returns an arena only when it is wholly free). So the worker keeps at most a bound of them: past
it, it waits for the oldest until it is back under.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from foundation.errors import KafkaClientError
from foundation.kafka.client import SendHandle


class InFlight:
    """The handles of the sends since the last checkpoint that may still fail: those not known
    acknowledged, plus the failed ones (a checkpoint reports them). Sends are acknowledged in
    about the order they were made, so the acknowledged ones are dropped from the front: each
    handle is looked at about once, and what is kept is about what the client has in flight."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._pending: deque[SendHandle] = deque()
        self._failed: list[SendHandle] = []
        self.sent = 0  # sends added since the last ``take``, kept or not

    def __len__(self) -> int:
        return len(self._pending) + len(self._failed)

    def add(self, handles: Iterable[SendHandle]) -> None:
        before = len(self._pending)
        self._pending.extend(handles)
        self.sent += len(self._pending) - before
        self._drop_done()

    def wait_under_bound(self, timeout_s: float) -> None:
        """Wait for the oldest sends until at most ``bound`` are pending. Raises the client's
        KafkaClientError(TIMEOUT) when the oldest gets no answer within ``timeout_s``; a send
        that failed is kept for the checkpoint to report, not raised here."""
        while len(self._pending) > self.bound:
            oldest = self._pending[0]
            try:
                oldest.offset(timeout_s)
            except KafkaClientError:
                if not oldest.failed():
                    raise  # no answer in time: the broker is away
            self._drop_done()

    def take(self) -> list[SendHandle]:
        """Every handle kept (failed first), and forget them."""
        handles = [*self._failed, *self._pending]
        self.clear()
        return handles

    def clear(self) -> None:
        self._pending.clear()
        self._failed = []
        self.sent = 0

    def _drop_done(self) -> None:
        pending = self._pending
        while pending:
            oldest = pending[0]
            if oldest.acknowledged():
                pending.popleft()
            elif oldest.failed():
                self._failed.append(pending.popleft())
            else:
                return
