"""What prediction intervals add to the hot path, per event: ``process()`` and the forecasts'
encoding (``ForecastSender.send``), each with and without them.

Three shapes of poll: one event (the latency path: each poll is one wave of one series, so the
per-wave cost is the per-event cost), and 5,000 events over 1,000 series (five waves a poll) and
over 10,000 series (throughput: the per-wave cost spread over 5,000 events). The pools are warmed
by a first pass over the polls (not timed). The encoding is timed on the forecasts of the last
pass (with intervals, 99.6 % of the 1-event polls' forecasts carry one and all of the others')
to a producer that only counts; next to it, the bounds alone (``interval_fields``) against
their previous form, float64's shortest repr written one message at a time (``repr_bounds``,
kept here as the baseline), and the bytes a message takes. Thread CPU time
(``time.thread_time``), best of ``--rounds`` x 3 (without and with in turn): on a shared machine
wall time would measure the neighbours. No Kafka; the model is ``bench.worker_throughput``'s.

Run: ``.venv/bin/python -m bench.interval_cost``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from math import isfinite

import numpy as np
import numpy.typing as npt

from bench.own_work import CountingProducer, model_store
from bench.worker_throughput import artifact
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from schemas.bounds import interval_fields
from schemas.forecast import ForecastWriter
from worker.batch import BatchResult, EventBatch
from worker.forecast_sender import ForecastSender
from worker.hotpath import process
from worker.intervals import Calibrator

F64 = npt.NDArray[np.float64]


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


def best_us(work: Callable[[], object], events: int, rounds: int) -> float:
    """Best-of-``rounds`` thread CPU microseconds per event of ``work()``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        work()
        best = min(best, time.thread_time() - started)
    return best / events * 1e6


def per_event_us(
    model: ServingModel, series: int, batches: list[EventBatch], intervals: bool, rounds: int
) -> tuple[float, list[BatchResult]]:
    """Best-of-``rounds`` CPU microseconds per event of ``process()`` over ``batches``, and the
    results of the last pass."""
    settings = WorkerSettings(state_max_series=series)
    store = model_store(model, settings)
    calibrator = Calibrator.from_settings(settings) if intervals else None
    for batch in batches:  # warm-up: states, pools and adapted level as in a running worker
        process(model, store, batch, intervals=calibrator)
    results: list[BatchResult] = []

    def one_pass() -> None:
        results[:] = [process(model, store, batch, intervals=calibrator) for batch in batches]

    return best_us(one_pass, sum(len(b) for b in batches), rounds), results


def sender_us(batches: list[EventBatch], results: list[BatchResult], rounds: int) -> float:
    """Best-of-``rounds`` CPU microseconds per forecast of ``ForecastSender.send``."""
    sender = ForecastSender(WorkerSettings())

    def one_pass() -> None:
        producer = CountingProducer()
        for batch, result in zip(batches, results, strict=True):
            sender.send(producer, batch, result)

    return best_us(one_pass, sum(len(b) for b in batches), rounds)


def message_bytes(batches: list[EventBatch], results: list[BatchResult]) -> float:
    """Mean bytes of a forecast message."""
    writer, total = ForecastWriter(WorkerSettings().events_topic), 0
    for b, r in zip(batches, results, strict=True):
        messages = writer.write_many(
            b.series_ids, b.ts, r.forecasts, r.versions.tolist(), b.partitions, b.offsets,
            r.from_model.tolist(), r.half_widths,
        )  # fmt: skip
        total += sum(map(len, messages))
    return total / sum(len(b) for b in batches)


def repr_bounds(forecasts: F64, half_widths: F64) -> list[str]:
    """The bounds' previous form: float64's shortest repr, one message at a time."""
    return [
        _repr_bound(f, h) for f, h in zip(forecasts.tolist(), half_widths.tolist(), strict=True)
    ]


def _repr_bound(forecast: float, half_width: float) -> str:
    if not half_width >= 0.0:
        return ""
    lower, upper = forecast - half_width, forecast + half_width
    if not (isfinite(lower) and isfinite(upper)):
        return ""
    return f',"lower":{lower!r},"upper":{upper!r}'


def bounds_us(results: list[BatchResult], form: Callable[[F64, F64], list[str]]) -> float:
    def one_pass() -> None:
        for r in results:
            form(r.forecasts, r.half_widths)

    return best_us(one_pass, sum(len(r.forecasts) for r in results), 5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    model = ServingModel.from_artifact(artifact(1, args.units))
    shapes = {
        "1-event polls, 1,000 series": (1000, polls(1000, 1, 2000)),
        "polls of 5,000, 1,000 series": (1000, polls(1000, 5000, 4)),
        "polls of 5,000, 10,000 series": (10000, polls(10000, 5000, 4)),
    }
    load = os.getloadavg()[0]
    print(f"per event, thread CPU, best of {args.rounds} x 3 (load {load:.1f}):")
    for name, (series, batches) in shapes.items():
        # Without and with in turn, three times: the first run in a process is slower
        # (allocator, caches) and a neighbour's burst hits both alike.
        cost = dict.fromkeys(("process off", "process on", "send off", "send on"), float("inf"))
        for _ in range(3):
            off, plain = per_event_us(model, series, batches, False, args.rounds)
            on, banded = per_event_us(model, series, batches, True, args.rounds)
            for key, us in (
                ("process off", off),
                ("process on", on),
                ("send off", sender_us(batches, plain, args.rounds)),
                ("send on", sender_us(batches, banded, args.rounds)),
            ):
                cost[key] = min(cost[key], us)
        print(f"  {name}")
        for what, key in (("process()", "process"), ("forecast encoding", "send")):
            off, on = cost[f"{key} off"], cost[f"{key} on"]
            print(f"    {what:<18} without {off:6.2f} us  with {on:6.2f} us  ({on - off:+.2f})")
        now, before = bounds_us(banded, interval_fields), bounds_us(banded, repr_bounds)
        longer = np.mean([len(a) - len(b) for r in banded for a, b in zip(
            repr_bounds(r.forecasts, r.half_widths), interval_fields(r.forecasts, r.half_widths),
            strict=True,
        )])  # fmt: skip
        without_bytes, with_bytes = message_bytes(batches, plain), message_bytes(batches, banded)
        print(
            f"    {'bounds alone':<18} {now:6.2f} us, as float64 repr per message {before:6.2f}"
            f" us (ratio {now / before:.2f})\n    bytes a message: without {without_bytes:.0f},"
            f" with {with_bytes:.0f} (float64 repr bounds: {with_bytes + longer:.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
