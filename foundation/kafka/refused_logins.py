"""Remembers a refused Kafka login, so a service can say so clearly: from kafka-python's log, or
told by librdkafka's error callback (``foundation.kafka.confluent.errors.on_error``).

A log handler, installed by the entry point on the ``kafka`` logger; services read it (the
trainer stops waiting for a broker that refuses its login).
"""

from __future__ import annotations

import logging


class RefusedLogins(logging.Handler):
    """Remembers kafka-python reporting a refused login. Its clients retry a refused login until
    their bootstrap times out and then only say "Unable to bootstrap"; the reason is in the log.

    SCRAM refusals are logged as ``SaslAuthenticationFailedError``. With PLAIN the broker answers
    the credentials with that error and closes the connection at once, and kafka-python often sees
    only the close ("socket disconnected"), on every retry. So a connection lost within
    ``PLAIN_DROP_WINDOW_S`` of sending PLAIN credentials counts as a refusal too; it only matters
    when the service then fails (a broker that answers the login never triggers it).
    """

    PLAIN_DROP_WINDOW_S = 5.0

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None
        self._plain_sent_at: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "AuthenticationFailed" in text:
            self.last = text
        elif record.name.endswith("sasl.plain") and "password" in text:
            self._plain_sent_at = record.created
        elif "socket disconnected" in text and self._plain_sent_at is not None:
            if record.created - self._plain_sent_at <= self.PLAIN_DROP_WINDOW_S:
                self.last = "the broker closed the connection on the PLAIN credentials"
            self._plain_sent_at = None

    def refused(self, reason: str) -> None:
        """A client library said, with an error code rather than a log line, that the broker
        refused the login (librdkafka does, through its error callback)."""
        self.last = reason


REFUSED_LOGINS = RefusedLogins()
