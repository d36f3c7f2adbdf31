"""A refit on a thread of its own, so the poll loop goes on ingesting and committing meanwhile.

The thread only computes: it reads the history on its own connection (``trainer.snapshot``) and
trains. What it produced (an outcome, or the error it raised) is handed back to the poll loop's
thread, which alone records, publishes and writes the history, with its own producer and
connection; nothing but the stop event and immutable values is shared.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from trainer.refit import RefitOutcome

log = logging.getLogger(__name__)


class RefitJob:
    """``work`` running on a daemon thread: a process exiting never waits on training."""

    def __init__(self, version: int, work: Callable[[], RefitOutcome]) -> None:
        self.version = version
        self.started = time.monotonic()
        self._work = work
        self._outcome: RefitOutcome | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"refit-v{version}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome = self._work()
        except BaseException as exc:  # handed to the poll loop, which decides what it means
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()

    def outcome(self) -> RefitOutcome:
        """What the refit produced; raises what it raised. Only once ``done()``."""
        if self._error is not None:
            raise self._error
        if self._outcome is None:
            raise RuntimeError("refit job asked for its outcome before it finished")
        return self._outcome
