"""What every service entry point does the same way: logging, settings, stop signals."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from twincast.outage import KafkaRepeats

S = TypeVar("S", bound=BaseSettings)

log = logging.getLogger(__name__)


class _RefusedLogins(logging.Handler):
    """Remembers kafka-python reporting a refused login. Its clients retry a refused login until
    their bootstrap times out and then only say "Unable to bootstrap"; the reason is in the log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "AuthenticationFailed" in text:
            self.last = text


REFUSED_LOGINS = _RefusedLogins()


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    kafka = logging.getLogger("kafka")
    kafka.setLevel(logging.WARNING)  # kafka-python is chatty at INFO
    if REFUSED_LOGINS not in kafka.handlers:
        kafka.addHandler(REFUSED_LOGINS)
    for handler in logging.getLogger().handlers:  # REFUSED_LOGINS above still sees every one
        if not any(isinstance(f, KafkaRepeats) for f in handler.filters):
            handler.addFilter(KafkaRepeats())


def failure_message(exc: BaseException) -> str:
    """What to tell the operator when a service stops on ``exc``."""
    if REFUSED_LOGINS.last is not None:
        return (
            "Kafka refused the login: wrong SASL user name, password or mechanism? Check "
            "TWINCAST_SASL_USERNAME, TWINCAST_SASL_PASSWORD and TWINCAST_SASL_MECHANISM "
            f"(kafka-python: {REFUSED_LOGINS.last.split(': ', 1)[-1][:300]})"
        )
    return str(exc)


def load_settings(cls: type[S], prog: str) -> S | None:
    """The service's settings from the environment, or None after printing why they are bad."""
    try:
        return cls()
    except ValidationError as exc:
        print(f"{prog}: invalid settings:\n{exc}", file=sys.stderr)
        return None


def stop_on_signals(request_stop: Callable[[], None], what: str) -> None:
    """SIGTERM and SIGINT only ask the service to stop; it finishes its step and exits."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: %s", signum, what)
        request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
