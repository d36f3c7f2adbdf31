"""Benchmark: does the trainer's cost stay bounded as its history and its series grow?

(a) Ingest rate against history size: events/s of the very code the trainer's poll loop runs
    (``TrainerService._ingest``: decode, gather over polls, history write with its bounds,
    offsets, metrics, history size), fed by an in-memory consumer in place of a broker (so the
    figure is the trainer's own cost, not the client's), at 0, 200k and 1M points of history over
    10k series. The per-series bound is set so that 1M points is exactly full (100 per series):
    from there the history deletes a point per event (in bulk, a quarter of a series' bound at
    once), the steady state of a long-running trainer; each size times one whole such cycle. A
    last row holds the 1M points with the bound across all series instead (oldest points first),
    and what reading a sample of the partitions (TWINCAST_TRAINER_PARTITIONS) makes of it.
(b) Refit time against the number of series: one whole refit (bounded sample, scaler, training,
    validation walk of the candidate and of the current model, gate) on 1k, 10k and 100k series,
    same settings, best of 3 rounds. Kept short: 1 epoch (the settings are printed). Also the
    time to read a refit's snapshot from the 1M-point history of (a).
Both are measured on cores shared with other work: (a) times all polls, (b) takes the best round.

Run: ``make bench-trainer-scale`` (``python -m bench.trainer_scale``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.own_work import PlainRecord
from foundation.kafka.client import Consumer, Partition
from foundation.settings.trainer import TrainerSettings
from trainer.history import SLACK_DIVISOR, Consumed, Point
from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService

TOPIC = "bench.events"
POLL = 5000  # records per poll, as the trainer asks for


class Feed:
    """Consumer stand-in: each poll returns the next prepared batch; commits cost nothing."""

    def __init__(self, batches: list[list[PlainRecord]]) -> None:
        self._batches = batches

    def poll(self, timeout_s: float, max_records: int | None = None) -> Mapping[Any, Any]:
        batch = self._batches.pop(0)
        return {Partition(TOPIC, 0): batch}

    def commit(self, offsets: object = None, timeout_s: float | None = None) -> None:
        return None


def _series_id(i: int, series: int) -> str:
    return f"series-{i % series:05d}"


def _batches(first: int, count: int, series: int) -> list[list[PlainRecord]]:
    """Encoded events, series interleaved as on a topic; offsets go on from ``first``."""
    records = [
        PlainRecord(
            TOPIC,
            0,
            o,
            0,
            None,
            json.dumps(
                {"series_id": _series_id(o, series), "ts": 1_700_000_000 + o, "value": o % 97}
            ).encode(),
        )
        for o in range(first, first + count)
    ]
    return [records[i : i + POLL] for i in range(0, count, POLL)]


def _preload(service: TrainerService, first: int, until: int, series: int) -> None:
    """Grow the history to ``until`` points without timing it (already-decoded points)."""
    for start in range(first, until, 50_000):
        end = min(until, start + 50_000)
        points = [
            Consumed(0, o, Point(_series_id(o, series), float(o), [float(o % 97)]))
            for o in range(start, end)
        ]
        service.history.ingest(TOPIC, points)


def ingest_rates(
    folder: Path, sizes: Sequence[int], series: int, events: int, bounds: tuple[int, int]
) -> list[tuple[float, float]]:
    """(events/s, CPU us per event) of the poll loop's ingest, from each history size in turn:
    ``events`` events in polls of 5000, gathered and written as the trainer does
    (TWINCAST_HISTORY_BATCH_EVENTS), timed whole, the last write included. ``bounds``: points
    per series, points in all.

    CPU time is this process's: other processes on the cores do not count in it, but the waits
    for the disk (a commit's fsync) do not either; the rate is wall time and counts both."""
    settings = TrainerSettings(
        history_db=folder / "history.sqlite",
        history_max_points=bounds[0],
        history_max_points_total=bounds[1],
        history_batch_seconds=3600,  # the batch size alone decides, whatever the machine's speed
        events_topic=TOPIC,
        metrics_port=0,
    )
    service = TrainerService(settings, TrainerMetrics())
    rates, offset = [], 0
    for size in sizes:
        if offset < size:
            _preload(service, offset, size, series)
            offset = size
        feed = cast(Consumer, Feed(_batches(offset, events, series)))
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(-(-events // POLL)):
            service._ingest(feed, timeout_ms=0)
        service.ingest.flush(feed)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rates.append((events / wall, cpu / events * 1e6))
        offset += events
    service.history.close()
    return rates


def snapshot_seconds(folder: Path, args: argparse.Namespace) -> float:
    """Reading one refit's bounded sample from the history (as (a) left it)."""
    from trainer.snapshot import SampleBounds, read_snapshot

    bounds = SampleBounds(3, args.max_series, args.max_points, 0)
    started = time.perf_counter()
    read_snapshot(folder / "history.sqlite", TOPIC, bounds, version=1)
    return time.perf_counter() - started


def refit_seconds(counts: Sequence[int], args: argparse.Namespace) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of one whole refit per series count, at the same settings, best of
    ``repeats``; the current model is a warm-up refit's, so the gate's walk of the current model
    and the warm start are included. CPU is the process's, TensorFlow's threads included."""
    from lstmcore.serving import ServingModel
    from trainer.plan import refit_plan
    from trainer.refit import refit
    from twincast.synthetic import seasonal_series

    plan = refit_plan(_refit_settings(args))
    warmup = refit(seasonal_series(100, args.points, seed=1), plan, version=1, offsets={})
    current = ServingModel.from_artifact(warmup.artifact)
    histories = [seasonal_series(count, args.points, seed=2) for count in counts]
    best = [(float("inf"), float("inf"))] * len(counts)
    for _ in range(args.repeats):  # rounds over every count: drift on shared cores hits all
        for i, history in enumerate(histories):
            started, cpu = time.perf_counter(), time.process_time()
            refit(history, plan, version=2, offsets={}, previous=current)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            best[i] = (min(best[i][0], wall), min(best[i][1], cpu))
    return best


def _refit_settings(args: argparse.Namespace) -> TrainerSettings:
    return TrainerSettings(
        units=args.units,
        epochs=args.epochs,
        batch_size=args.batch,
        refit_max_series=args.max_series,
        refit_max_points_per_series=args.max_points,
        metrics_port=0,
    )


def _table(
    title: str, units: tuple[str, str], labels: Sequence[str], values: Sequence[tuple[float, float]]
) -> None:
    """Both figures of each row, each with its ratio to the first row's (the baseline)."""
    print(title)
    print(f"  {'':>16} {units[0]:>12} {'ratio':>7} {units[1]:>14} {'ratio':>7}")
    (base_a, base_b) = values[0]
    for label, (a, b) in zip(labels, values, strict=True):
        print(f"  {label:>16} {a:>12,.1f} {a / base_a:>7.2f} {b:>14,.2f} {b / base_b:>7.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000, help="(a) series in the history")
    parser.add_argument(
        "--events",
        type=int,
        default=0,
        help="(a) events timed per size; 0: one whole cycle of the bulk delete past the bound",
    )
    parser.add_argument("--sizes", default="0,200000,1000000", help="(a) history sizes, points")
    parser.add_argument(
        "--bound", type=int, default=0, help="(a) TWINCAST_HISTORY_MAX_POINTS; 0: full at 1M"
    )
    parser.add_argument("--partitions", type=int, default=12, help="(a) events partitions")
    parser.add_argument("--sampled", type=int, default=3, help="(a) of which the trainer reads")
    parser.add_argument("--refit-series", default="1000,10000,100000", help="(b) series counts")
    parser.add_argument("--points", type=int, default=500, help="(b) points per series")
    parser.add_argument("--max-series", type=int, default=1000, help="TWINCAST_REFIT_MAX_SERIES")
    parser.add_argument("--max-points", type=int, default=400)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="(b) best of this many rounds")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    bound = args.bound or 1_000_000 // args.series
    full = sizes[-1]
    # A series past its bound is cut back once it holds a quarter more: in the timed events each
    # series goes once from its bound to the cut, so deletes are in at their steady-state rate.
    args.events = args.events or args.series * (bound // SLACK_DIVISOR + 1)
    with tempfile.TemporaryDirectory(prefix="twincast-bench-") as tmp:
        rates = ingest_rates(Path(tmp), sizes, args.series, args.events, (bound, 10 * full))
        snapshot = snapshot_seconds(Path(tmp), args)
    with tempfile.TemporaryDirectory(prefix="twincast-bench-") as tmp:
        # The same history size, now held by the bound across all series (oldest points first).
        rates += ingest_rates(Path(tmp), [full], args.series, args.events, (10 * bound, full))
    _table(
        f"(a) trainer ingest, {args.series:,} series, {args.events:,} events timed per size, "
        f"bound {bound} points/series (full from {bound * args.series:,} points)",
        ("events/s", "CPU us/event"),
        [f"{size:,} points" for size in sizes] + [f"{full:,}, total bound"],
        rates,
    )
    sampled = rates[-1][0] * args.partitions / args.sampled
    print(
        f"  reading {args.sampled} of {args.partitions} partitions "
        f"(TWINCAST_TRAINER_PARTITIONS={args.sampled}), the trainer keeps up with a deployment "
        f"of {sampled:,.0f} events/s at {full:,} points (the row above x {args.partitions}/"
        f"{args.sampled}: it reads only its partitions' events)"
    )
    print(
        f"  one refit's snapshot read from that history ({args.max_series} series): "
        f"{snapshot:.2f} s"
    )
    counts = [int(c) for c in args.refit_series.split(",")]
    seconds = refit_seconds(counts, args)
    _table(
        f"(b) one refit: sample of {args.max_series} series x newest {args.max_points} points, "
        f"{args.units} units, N={args.batch}, {args.epochs} epoch(s), warm start; "
        f"best of {args.repeats}",
        ("wall s", "CPU s"),
        [f"{count:,} series" for count in counts],
        seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
