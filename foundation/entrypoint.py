"""What every service entry point does the same way: logging, settings, stop signals."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from foundation.kafka.outage import KafkaRepeats
from foundation.kafka.refused_logins import REFUSED_LOGINS
from foundation.settings.base import unknown_variables
from foundation.settings.known import known_variables

S = TypeVar("S", bound=BaseSettings)

log = logging.getLogger(__name__)


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
            f"(the client said: {REFUSED_LOGINS.last.split(': ', 1)[-1][:300]})"
        )
    return str(exc)


def environment_is_clean(prog: str) -> bool:
    """False, after saying which, if a TWINCAST_* variable is not a setting (a typo would
    otherwise leave a default in force without a word)."""
    problems = unknown_variables(os.environ, known_variables())
    for problem in problems:
        print(f"{prog}: {problem}", file=sys.stderr)
    return not problems


def load_settings(cls: type[S], prog: str) -> S | None:
    """The service's settings from the environment, or None after printing why they are bad."""
    if not environment_is_clean(prog):
        return None
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
