"""Entry point of ``twincast-trainer`` / ``python -m trainer``.

Consumes the events topic into an SQLite history, refits the batch-N stateful LSTM every K events
or T seconds, and publishes validated versions to the weights topic.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from foundation.entrypoint import (
    configure_logging,
    failure_message,
    load_settings,
    stop_on_signals,
)
from foundation.errors import TwincastError
from foundation.metrics_server import MetricsServer
from foundation.settings.trainer import TrainerSettings
from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService

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
    configure_logging(args.log_level)
    settings = load_settings(TrainerSettings, "twincast-trainer")
    if settings is None:
        return 2
    metrics = TrainerMetrics()
    server = MetricsServer(metrics.registry, settings.metrics_addr, settings.metrics_port)
    try:
        service = TrainerService(settings, metrics)
        server.serve_probes(service.health)
        stop_on_signals(service.request_stop, "stopping after the current step")
        return service.run(once=args.once)
    except TwincastError as exc:  # Kafka's errors too: the client layer translates them
        log.error("%s", failure_message(exc))
        return 1
    finally:
        server.close()
