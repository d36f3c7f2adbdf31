"""Riding out a Kafka outage: retry what a broker restart explains, stop on what it cannot.

A broker that is away or restarting shows itself as many errors: connection refused, timeouts,
leader elections, and also errors kafka-python does not mark ``retriable`` although a rejoin or a
rewind fixes them (a commit refused after the group moved on, an idempotent producer's sequence
lost with the broker's state). So a service waits and tries again on every Kafka error, saying so
once per outage, not once per record, except on the few that waiting cannot fix: a refused login,
a missing permission, a message the broker will never take, a topic that stays missing. Those end
the service with a message that says what to do.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from foundation.errors import (
    KafkaClientError,
    KafkaErrorKind,
    KafkaUnavailableError,
    TwincastError,
)
from foundation.kafka.refused_logins import REFUSED_LOGINS

T = TypeVar("T")

_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.5, 5.0
# A topic is briefly unknown while a restarted broker loads its logs; longer means it is gone.
MISSING_TOPIC_LIMIT_S = 60.0
K = KafkaErrorKind
_FATAL = frozenset({K.AUTH, K.PERMISSION, K.TOO_LARGE, K.CONFIG})
_ADVICE = {
    K.AUTH: "Kafka refused the login: check TWINCAST_SASL_USERNAME and TWINCAST_SASL_PASSWORD",
    K.PERMISSION: "Kafka refused permission: grant this principal's ACLs on its topics and groups",
    K.UNKNOWN_TOPIC: "a topic is missing: create it with `twincast topics`",
    K.TOO_LARGE: "raise the topic's max.message.bytes and the client's max_request_size",
}


class KafkaRepeats(logging.Filter):
    """Lets through one record per kafka-python message template and minute: during an outage
    its clients log each reconnect attempt (over a thousand lines a minute, with tracebacks)."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key, now = (record.name, str(record.msg)), time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return False
        self._last[key] = now
        return True


class KafkaFatalError(TwincastError):
    """A Kafka error that retrying cannot fix; the message says what to do."""


def advice(exc: BaseException) -> str:
    """What an operator should do about an error that retrying cannot fix."""
    kind = _kind(exc)
    if kind is not None and kind in _ADVICE:
        return _ADVICE[kind]
    return "this error does not go away by retrying: check the broker and the settings"


def _kind(exc: BaseException) -> KafkaErrorKind | None:
    """The kind of a Kafka error (a KafkaClientError's); None for any other error."""
    return exc.kind if isinstance(exc, KafkaClientError) else None


class Outage:
    """One tracker per service: WARNING when an outage starts, INFO when Kafka answers again,
    and a pause between tries that grows up to a few seconds."""

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self.since: float | None = None  # monotonic time of the first failure of this outage
        self._missing_since: float | None = None
        self._tries = 0

    @staticmethod
    def check(exc: BaseException, what: str) -> None:
        """Raise KafkaFatalError if retrying cannot help; else let the caller retry. For errors
        that are no outage, such as a commit refused because the group moved on."""
        if not _retriable(exc):
            raise KafkaFatalError(f"{what} failed: {exc}; {advice(exc)}") from exc

    def failed(self, exc: BaseException, what: str) -> float:
        """Note a failure of ``what``; the seconds to wait before the next try. Raises
        KafkaFatalError if retrying cannot help."""
        self.check(exc, what)
        now = time.monotonic()
        self._check_missing_topic(exc, what, now)
        if self.since is None:
            self.since = now
            self.log.warning("Kafka unreachable (%s failed: %s): retrying until back", what, exc)
        self._tries += 1
        return float(min(_LONGEST_PAUSE_S, _FIRST_PAUSE_S * 2 ** min(self._tries - 1, 8)))

    def recovered(self) -> None:
        """Kafka answered: end the outage, if there was one."""
        if self.since is not None:
            self.log.info("Kafka is back after %.1fs: carrying on", time.monotonic() - self.since)
        self.since, self._missing_since, self._tries = None, None, 0

    def _check_missing_topic(self, exc: BaseException, what: str, now: float) -> None:
        if _kind(exc) is not K.UNKNOWN_TOPIC:
            self._missing_since = None
            return
        if self._missing_since is None:
            self._missing_since = now
        elif now - self._missing_since > MISSING_TOPIC_LIMIT_S:
            raise KafkaFatalError(
                f"{what} failed for {MISSING_TOPIC_LIMIT_S:.0f}s: {exc}; {advice(exc)}"
            ) from exc


# What a start that cannot reach Kafka raises.
_UNREACHABLE: tuple[type[BaseException], ...] = (KafkaClientError, KafkaUnavailableError)


def when_reachable(
    connect: Callable[[], T],
    outage: Outage,
    stop: threading.Event,
    tried: Callable[[], None] = lambda: None,
) -> T | None:
    """``connect()`` once Kafka answers: a service (re)started while the broker is away waits
    for it instead of exiting. None if stopped meanwhile. A refused login or anything else
    retrying cannot fix is raised, not waited out. ``tried`` is called before every try (the
    service's heartbeat: waiting for the broker is no hang)."""
    while True:
        tried()
        try:
            connected = connect()
        except _UNREACHABLE as exc:
            if REFUSED_LOGINS.last is not None:
                raise
            cause = exc.__cause__
            if cause is None or _kind(cause) is None:
                cause = exc
            if stop.wait(outage.failed(cause, "starting")):
                return None
            continue
        outage.recovered()
        return connected


def _retriable(exc: BaseException) -> bool:
    kind = _kind(exc)
    if kind is not None:
        return kind not in _FATAL
    return isinstance(exc, OSError)  # sockets, our own bounded waits
