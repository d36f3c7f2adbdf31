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

S = TypeVar("S", bound=BaseSettings)

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO


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
