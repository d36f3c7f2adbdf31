"""twincast's own work per event, without any Kafka client: what the worker adds to the client.

The worker's per-poll steps run on ready-made records (a plain record type, no client's record
wrapper) and a producer that only counts what it is given, so what is timed is twincast alone:
decoding and validating events, waves and the LSTM step, encoding forecasts, encoding a
checkpoint's states. Times are the thread's CPU time (``time.thread_time``): on a machine whose
cores are shared (by the broker, say) wall time would measure the neighbours. Best of a few
rounds, after one untimed round (every series seen and its interval calibrated, as in a running
worker).

Run: ``python -m bench.own_work [--series N]`` (times), ``--memory [--events N]`` (resident bytes
per series that the store and a run of polls leave, ``own_memory``).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from foundation.kafka.client import Headers
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from schemas import Event, encode
from worker.forecast_sender import ForecastSender
from worker.heap import resident_bytes, trim_heap
from worker.hotpath import process
from worker.intervals import Calibrator
from worker.records import EventValidator, split_at_controls
from worker.state_store import StateStore
from worker.state_writer import CheckpointPlan, write_state_changes


@dataclass(frozen=True)
class PlainRecord:
    """A consumed record with nothing behind it (``ConsumedRecord``'s fields)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: None = None


Polls = list[list[PlainRecord]]


class Handle:
    def failed(self) -> bool:
        return False

    def acknowledged(self) -> bool:
        return True

    def error(self) -> BaseException | None:
        return None

    def offset(self, timeout_s: float) -> int:
        return -1


class CountingProducer:
    """Takes what a producer would be given, and only counts it."""

    def __init__(self) -> None:
        self.sent = 0
        self._handle = Handle()

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> Handle:
        self.sent += 1
        return self._handle

    def flush(self, timeout_s: float | None = None) -> None:
        """Nothing is queued."""

    def partitions_for(self, topic: str) -> set[int]:
        return set()

    def close(self, timeout_s: float | None = None) -> None:
        """Nothing to close."""


def polls(series: int, per_poll: int, count: int, partitions: int) -> Polls:
    return list(each_poll(series, per_poll, count, partitions))


def each_poll(
    series: int, per_poll: int, count: int, partitions: int
) -> Iterator[list[PlainRecord]]:
    """``count`` polls of ``per_poll`` events going round ``series`` series, made one by one."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for p in range(count):
        records = []
        for i in range(per_poll):
            n = p * per_poll + i
            name = f"series-{n % series:05d}"
            ts = start + timedelta(seconds=n // series)
            value = encode(Event(series_id=name, ts=ts, value=float(np.sin(n))))
            records.append(PlainRecord("events", n % partitions, n, 0, name.encode(), value))
        yield records


class Clock:
    """Thread CPU seconds per part of the work."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.thread_time()
        yield
        self.parts[name] = self.parts.get(name, 0.0) + time.thread_time() - started


def model_store(model: ServingModel, settings: WorkerSettings) -> StateStore:
    """An empty store of ``settings.state_max_series`` series, in ``model``'s shape."""
    arch = model.manifest.architecture
    return StateStore(
        capacity=settings.state_max_series,
        window=settings.replay_window,
        features=arch.features,
        layers=arch.layers,
        units=arch.units,
    )


def one_round(
    model: ServingModel,
    store: StateStore,
    settings: WorkerSettings,
    batches: Iterable[list[PlainRecord]],
    producer: CountingProducer,
) -> Clock:
    """Every poll through the worker's steps, then one checkpoint of every series touched."""
    clock = Clock()
    validator, sender = EventValidator(settings), ForecastSender(settings)
    intervals = Calibrator.from_settings(settings)  # as the worker: every forecast gets one
    for records in batches:
        with clock.part("split at controls"):
            runs = list(split_at_controls(records))
        for run, _ in runs:
            with clock.part("decode and validate"):
                valid, _dead = validator.validate(run)
            with clock.part("waves and step"):
                result = process(model, store, valid, intervals=intervals)
            with clock.part("forecast encoding"):
                sender.send(producer, valid, result)
    with clock.part("checkpoint encoding"):
        every = CheckpointPlan(read_to={}, emit_from={}, changed_before=float("inf"))
        write_state_changes(producer, "state", store, every)
    return clock


def own_work(model: ServingModel, series: int, per_poll: int = 5000, rounds: int = 3) -> None:
    settings = WorkerSettings(state_max_series=series)
    batches = polls(series, per_poll, max(2, 2 * series // per_poll), 6)
    store = model_store(model, settings)
    # Not timed: on a fresh store no series has an interval yet, so that round's encoding is the
    # cheapest, and the best of the rounds would be it rather than a running worker's.
    one_round(model, store, settings, batches, CountingProducer())
    clocks = [
        one_round(model, store, settings, batches, CountingProducer()).parts for _ in range(rounds)
    ]
    events = sum(len(b) for b in batches)
    print(
        f"\ntwincast's own work per event, no Kafka client ({events:,} events, {series:,} series "
        f"x 2, polls of {per_poll:,}, one checkpoint of every series; thread CPU, best of "
        f"{rounds}):"
    )
    for part in clocks[0]:
        seconds = min(c[part] for c in clocks)
        print(f"  {part:<22} {seconds / events * 1e6:6.2f} us")
    print(f"  {'all of it':<22} {min(sum(c.values()) for c in clocks) / events * 1e6:6.2f} us")


def own_memory(model: ServingModel, series: int, events: int, per_poll: int = 5000) -> None:
    """Resident memory per series that twincast's own work leaves: RSS after ``events`` events
    over ``series`` series (then a full collection and a heap trim) minus RSS before them with
    the store allocated, as in an idle worker. No Kafka client: the store and what a run of
    polls leaves in the allocators."""
    settings = WorkerSettings(state_max_series=series)
    store = model_store(model, settings)
    gc.collect()
    trim_heap()
    before = resident_bytes()
    batches = each_poll(series, per_poll, max(1, events // per_poll), 6)
    one_round(model, store, settings, batches, CountingProducer())
    gc.collect()
    trim_heap()
    after = resident_bytes()
    print(
        f"\ntwincast's own memory, no Kafka client ({events:,} events over {len(store):,} "
        f"series, then a collection and a heap trim): {after - before:,} B over the allocated "
        f"store, {(after - before) / len(store):,.0f} B per series"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bench.worker_throughput import artifact

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="for the memory figure")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--memory", action="store_true", help="the memory figure, not times")
    args = parser.parse_args(argv)
    model = ServingModel.from_artifact(artifact(1, args.units))
    if args.memory:
        own_memory(model, args.series, args.events)
    else:
        own_work(model, args.series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
