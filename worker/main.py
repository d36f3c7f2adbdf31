"""Entry point of ``twincast-worker`` / ``python -m worker``.

Consumes the events topic and, for every event, advances that series' batch-1 LSTM state and sends
a one-step forecast; hot-swaps new model versions from the weights topic; bad input goes to the DLQ.
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
from foundation.settings.worker import WorkerSettings
from worker.heap import tune_malloc
from worker.metrics import WorkerMetrics
from worker.service import WorkerService
from worker.swap import one_blas_thread

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twincast-worker", description=__doc__)
    parser.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="exit (after a final commit) once no event arrived for this long",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    settings = load_settings(WorkerSettings, "twincast-worker")
    if settings is None:
        return 2
    one_blas_thread()
    tuned = tune_malloc(settings.malloc_arena_max, settings.malloc_mmap_threshold_bytes)
    if tuned:
        log.info("glibc malloc: %s", ", ".join(tuned))
    metrics = WorkerMetrics()
    server = MetricsServer(metrics.registry, settings.metrics_addr, settings.metrics_port)
    try:
        service = WorkerService(settings, metrics)
        server.serve_probes(service.health)
        stop_on_signals(service.request_stop, "finishing the current batch, committing and exiting")
        return service.run(exit_when_idle=args.exit_when_idle)
    except TwincastError as exc:  # KafkaClientError included
        log.error("%s", failure_message(exc))
        return 1
    finally:
        server.close()
