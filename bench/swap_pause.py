"""The pause in consumption during a replay swap: prepared off the loop vs all on the loop.

In process, no Kafka. For each store size (series with full windows, one LSTM layer) a loop
thread does what the worker's loop does: between two waves it lets the swap advance
(``Swapper.advance``, as ``WorkerService._loop`` does between polls), then steps a wave of
events through the hot path (``worker.hotpath.process``) with the model it serves. Waves come at
a steady rate (``--rate`` events/s in waves of ``--wave``), each series in turn in a shuffled
order, so every series keeps changing while the swap is prepared: the catch-up has work.

A wave is due at its time on the schedule, or as soon as the one before it ends if the loop is
late; its pause is from then until it is stepped. The longest one from the offer until a wave has
been stepped with the new model is the swap's; the longest one over as long a time after it, with
no swap, is the baseline (a wave's own step and the machine's noise: on a shared machine other
processes take the loop's core too). Then the same store is swapped once more the old way, all
on the loop (``apply_swap``), for comparison.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from bench.worker_throughput import artifact
from foundation.settings.worker import SwapPolicy, WorkerSettings
from lstmcore.serving import ServingModel
from worker.hotpath import EventBatch, apply_swap, process
from worker.state_store import StateStore
from worker.swap import SwapDone, Swapper, one_blas_thread

TS = datetime(2026, 1, 1, tzinfo=UTC)
WARM_UP_S = 0.5  # stepping before the swap is offered


def filled_store(series: int, window: int, units: int) -> StateStore:
    """``series`` series, each with a full window of random inputs."""
    store = StateStore(capacity=series, window=window, features=1, layers=1, units=units)
    slots = store.slots_for([f"series-{i:06d}" for i in range(series)])
    rng = np.random.default_rng(0)
    for _ in range(window):
        store.push_inputs(slots, rng.normal(size=(series, 1)))
    return store


@dataclass
class Figures:
    series: int
    swap_pause: tuple[float, float]  # longest, 99th percentile
    baseline_pause: tuple[float, float]
    done: SwapDone
    all_on_loop: float = 0.0


class Loop(threading.Thread):
    """The worker's loop in miniature: the swap's on-loop part, then a wave, on a schedule."""

    def __init__(
        self, store: StateStore, model: ServingModel, swapper: Swapper, rate: float, wave: int
    ) -> None:
        super().__init__(name="loop", daemon=True)
        self.store, self.model, self.swapper = store, model, swapper
        self.interval, self.wave = wave / rate, wave
        self.offers: queue.SimpleQueue[ServingModel] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.installed = threading.Event()
        self.done: SwapDone | None = None
        self.swapped_at = 0.0  # end of the first wave on the new model
        self.pauses: list[tuple[float, float]] = []  # (end of the wave, its pause)
        ids = store.series_ids()
        self.order = [ids[i] for i in np.random.default_rng(1).permutation(len(ids))]

    def run(self) -> None:
        due = last_end = time.perf_counter()
        k = 0
        while not self.stop.is_set():
            while not self.offers.empty():
                self.swapper.offer(self.model, self.offers.get())
            done = self.swapper.advance()
            if done is not None:
                self.model, self.done = done.model, done  # the one reference change
            process(self.model, self.store, self._batch(k))
            end = time.perf_counter()
            self.pauses.append((end, end - max(due, last_end)))
            if done is not None:
                self.swapped_at = end
                self.installed.set()
            k, last_end, due = k + 1, end, due + self.interval
            if due > end:
                time.sleep(due - end)

    def _batch(self, k: int) -> EventBatch:
        start = k * self.wave % len(self.order)
        ids = (self.order[start:] + self.order[:start])[: self.wave]
        values = np.sin(np.arange(len(ids)) + k).tolist()
        batch = EventBatch()
        for i, (series_id, value) in enumerate(zip(ids, values, strict=True)):
            batch.append(series_id, TS, [value], 0, k * self.wave + i, 0)
        return batch

    def pauses_between(self, since: float, until: float) -> tuple[float, float]:
        """The longest pause of the waves that ended in [since, until], and their 99th
        percentile (the tail without its worst few: one scheduler hiccup weighs less)."""
        pauses = [p for end, p in self.pauses if since <= end <= until] or [0.0]
        return max(pauses), float(np.percentile(pauses, 99))


def measure(series: int, args: argparse.Namespace) -> Figures:
    old, new, newest = (ServingModel.from_artifact(artifact(v, args.units)) for v in (1, 2, 3))
    store = filled_store(series, args.window, args.units)
    settings = WorkerSettings(swap_policy=SwapPolicy.REPLAY, replay_window=args.window)
    loop = Loop(store, old, Swapper(store, settings), args.rate, args.wave)
    loop.start()
    time.sleep(WARM_UP_S)
    offered = time.perf_counter()
    loop.offers.put(new)
    if not loop.installed.wait(timeout=args.timeout):
        loop.stop.set()
        raise RuntimeError(f"the swap of {series:,} series was not installed in {args.timeout}s")
    swapped = loop.swapped_at
    time.sleep(swapped - offered)  # the baseline: as long again, without a swap
    loop.stop.set()
    loop.join()
    assert loop.done is not None and loop.done.model is new
    figures = Figures(
        series,
        loop.pauses_between(offered, swapped),
        loop.pauses_between(swapped + 1e-9, time.perf_counter()),
        loop.done,
    )
    started = time.perf_counter()
    apply_swap(store, new, newest, SwapPolicy.REPLAY)  # the old way: the loop waits for it all
    figures.all_on_loop = time.perf_counter() - started
    return figures


def _ms(pause: tuple[float, float]) -> str:
    return f"{pause[0] * 1e3:.1f} ms ({pause[1] * 1e3:.1f})"


def report(rows: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"replay swap, full windows (W={args.window}), 1 x {args.units} units, the loop stepping "
        f"{args.rate:,.0f} events/s in waves of {args.wave} meanwhile "
        f"(on-loop bound {WorkerSettings().swap_on_loop_series} series):"
    )
    print(
        f"  {'series':>8} {'pause, swap (p99)':>18} {'no swap (p99)':>16} {'on loop':>9} "
        f"{'off loop':>9} {'rounds':>6} {'caught up':>9} {'all on loop':>12} {'ratio':>7}"
    )
    for f in rows:
        d = f.done
        print(
            f"  {f.series:>8,} {_ms(f.swap_pause):>18} {_ms(f.baseline_pause):>16} "
            f"{d.on_loop_seconds * 1e3:>6.1f} ms {d.prepared_seconds:>7.2f} s {d.rounds:>6} "
            f"{d.caught_up:>9,} {f.all_on_loop:>10.2f} s {f.all_on_loop / f.swap_pause[0]:>6,.0f}x"
        )
    print(
        "  pause, swap: the longest time a due wave waited from the offer to the first wave on "
        "the new model (99th percentile); no swap: the same over as long a time after it; on "
        "loop: the install's part of it; off loop: the preparation; ratio: all on loop / "
        "longest pause, swap"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, action="append", help="store size (repeat)")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s during the swap")
    parser.add_argument("--wave", type=int, default=20, help="events per wave")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest swap (s)")
    args = parser.parse_args(argv)
    one_blas_thread()  # as the worker does
    rows = [measure(series, args) for series in args.series or [1_000, 10_000, 100_000]]
    report(rows, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
