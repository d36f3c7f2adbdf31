"""What prediction intervals add to the hot path, per event: ``process()`` with and without them.

Two shapes of poll: one event (the latency path: each poll is one wave of one series, so the
per-wave cost is the per-event cost) and 5,000 events over 10,000 series (throughput: the
per-wave cost spread over 5,000 events). The pools are warmed by a first pass over the polls
(not timed). Thread CPU time (``time.thread_time``), best of ``--rounds`` x 3 (without and with
in turn): on a shared machine wall time would measure the neighbours. No Kafka; the model is
``bench.worker_throughput``'s.

Run: ``.venv/bin/python -m bench.interval_cost``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from bench.worker_throughput import artifact
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from worker.batch import EventBatch
from worker.hotpath import process
from worker.intervals import Calibrator
from worker.state_store import StateStore


def polls(series: int, per_poll: int, count: int) -> list[EventBatch]:
    """``count`` polls of random values, series taken in turn."""
    rng, ts = np.random.default_rng(0), datetime.now(UTC)
    out = []
    for p in range(count):
        batch = EventBatch()
        for k in range(p * per_poll, (p + 1) * per_poll):
            batch.append(f"s{k % series}", ts, [float(rng.normal())], 0, k, 0)
        out.append(batch)
    return out


def per_event_us(
    model: ServingModel, series: int, batches: list[EventBatch], intervals: bool, rounds: int
) -> float:
    """Best-of-``rounds`` CPU microseconds per event of ``process()`` over ``batches``."""
    settings = WorkerSettings(state_max_series=series)
    arch = model.manifest.architecture
    store = StateStore(
        capacity=series,
        window=settings.replay_window,
        features=arch.features,
        layers=arch.layers,
        units=arch.units,
    )
    calibrator = Calibrator.from_settings(settings) if intervals else None
    for batch in batches:  # warm-up: states, pools and adapted level as in a running worker
        process(model, store, batch, intervals=calibrator)
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        for batch in batches:
            process(model, store, batch, intervals=calibrator)
        best = min(best, time.thread_time() - started)
    return best / sum(len(b) for b in batches) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    model = ServingModel.from_artifact(artifact(1, args.units))
    shapes = {
        "1-event polls, 1,000 series": (1000, polls(1000, 1, 2000)),
        "polls of 5,000, 10,000 series": (10000, polls(10000, 5000, 4)),
    }
    load = os.getloadavg()[0]
    print(f"process() per event, thread CPU, best of {args.rounds} x 3 (load {load:.1f}):")
    for name, (series, batches) in shapes.items():
        # Without and with in turn, three times: the first run in a process is slower
        # (allocator, caches) and a neighbour's burst hits both alike.
        off, on = float("inf"), float("inf")
        for _ in range(3):
            off = min(off, per_event_us(model, series, batches, False, args.rounds))
            on = min(on, per_event_us(model, series, batches, True, args.rounds))
        print(f"  {name:<30} without {off:7.2f} us  with {on:7.2f} us  (+{on - off:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
