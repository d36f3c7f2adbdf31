"""A librdkafka call that can block past any timeout, bounded from outside: it runs in a helper
thread and the caller waits for it until a deadline, one call at a time.

confluent-kafka releases the GIL inside such a call and librdkafka is thread-safe, so the client
stays usable from the caller's thread meanwhile. A call that has not returned by its deadline is
left running (a daemon thread): there is no way to cancel it. The next call first waits for it
(within its own deadline), so a broker outage leaves at most one such thread per client, and
calls complete in the order they were made (an old commit never lands after a newer one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from foundation.errors import KafkaClientError, KafkaErrorKind

log = logging.getLogger(__name__)


class OneAtATime:
    """Runs ``what`` calls of one client in a helper thread, each waited for until a deadline."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._pending: threading.Thread | None = None

    def busy(self) -> bool:
        """True while a call that timed out is still blocked in librdkafka."""
        return self._pending is not None and self._pending.is_alive()

    def run(self, call: Callable[[], None], deadline: float) -> None:
        """``call`` in a helper thread; what it raises is raised here. A retriable
        KafkaClientError(TIMEOUT) if it has not returned by ``deadline`` (``time.monotonic``),
        or if an earlier call that timed out is still blocked then."""
        started = time.monotonic()
        if self._pending is not None:
            self._pending.join(max(0.0, deadline - started))
            if self._pending.is_alive():
                raise self._timeout(started, "an earlier one still waits for its answer")
        outcome: list[BaseException | None] = []
        given_up: list[bool] = []  # the caller stopped waiting: nobody else will see the outcome
        handover = threading.Lock()

        def helper() -> None:
            failure: BaseException | None = None
            try:
                call()
            except BaseException as exc:  # handed to the caller's thread below
                failure = exc
            with handover:
                outcome.append(failure)
                late = bool(given_up)
            if late:
                log.warning("%s answered after its caller gave up: %s", self._what, failure or "ok")

        self._pending = threading.Thread(target=helper, name=f"twincast {self._what}", daemon=True)
        self._pending.start()
        self._pending.join(max(0.0, deadline - time.monotonic()))
        with handover:
            if not outcome:
                given_up.append(True)
                raise self._timeout(started, "no answer from Kafka")
        self._pending = None
        if outcome[0] is not None:
            raise outcome[0]

    def _timeout(self, started: float, why: str) -> KafkaClientError:
        waited = time.monotonic() - started
        return KafkaClientError(
            KafkaErrorKind.TIMEOUT, f"{self._what}: {why} after {waited:.1f}s", retriable=True
        )
