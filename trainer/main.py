"""Entry point of ``twincast-trainer`` / ``python -m trainer``.

Consumes the events topic into an SQLite history, refits the batch-N stateful LSTM every K events
or T seconds, and publishes validated versions to the weights topic.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from pydantic import ValidationError

from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService
from trainer.settings import TrainerSettings
from twincast.errors import TwincastError
from twincast.metrics_server import MetricsServer

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twincast-trainer", description=__doc__)
    parser.add_argument(
        "--once",
        action="store_true",
        help="ingest what is on the topic now, refit once, publish if it passes, exit "
        "(0 = done, 4 = too little data)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        settings = TrainerSettings()
    except ValidationError as exc:
        print(f"twincast-trainer: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    metrics = TrainerMetrics()
    server = MetricsServer(metrics.registry, settings.metrics_addr, settings.metrics_port)
    try:
        service = TrainerService(settings, metrics)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping after the current step", signum)
            service.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        return service.run(once=args.once)
    except TwincastError as exc:
        log.error("%s", exc)
        return 1
    finally:
        server.close()
