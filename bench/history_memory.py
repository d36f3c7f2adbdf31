"""What the trainer's history holds in memory per series: open a history of ``--series`` series.

The trainer keeps per series only its history's bookkeeping (``trainer.history``: each live
series' name and number, and the rows it holds); what it reads from Kafka is per poll, not per
series. A history of ``--series`` x 3 points is written through the store's own API, then opened
in a fresh process, which prints, per series:

- the Python objects the open made (``tracemalloc``, in a second fresh process: tracing costs
  memory of its own);
- its RSS after the open minus before (a full collection and ``malloc_trim`` before each look),
  which counts SQLite's pages read to load the series table too;
- the same RSS after one write that adds a point to every series (SQLite's cache grows with the
  pages the write touches: the figure to compare is the open's).

Run: ``python -m bench.history_memory`` (no broker, a few seconds).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from bench.scale_report import memory_of
from trainer.gathered import Gathered, pack
from trainer.history import HistoryStore
from worker.heap import trim_heap

BOUND = 100  # points per series: over the 3 held, so no series is cut


def fill(path: Path, series: int, rounds: int = 3) -> None:
    store = HistoryStore(path, BOUND)
    value = pack([0.5])
    for t in range(rounds):
        batch = Gathered()
        for s in range(series):
            batch.add_point(0, t * series + s, f"series-{s:06d}", float(t), value)
        store.write("bench.memory", batch)
    store.close()


def _settled() -> int:
    gc.collect()
    trim_heap()
    return memory_of(os.getpid()).rss


def measure(path: Path, series: int, traced: bool) -> str:
    """In this (fresh) process: what opening, then writing once to every series, costs."""
    if traced:
        tracemalloc.start()
        store = HistoryStore(path, BOUND)
        held = tracemalloc.get_traced_memory()[0]
        store.close()
        return f"Python objects {held / series:,.0f} B"
    before = _settled()
    store = HistoryStore(path, BOUND)
    opened = _settled() - before
    batch = Gathered()
    for s in range(series):
        batch.add_point(0, 10 * series + s, f"series-{s:06d}", 9.0, pack([0.5]))
    store.write("bench.memory", batch)
    del batch
    written = _settled() - before
    store.close()
    return f"RSS +{opened / series:,.0f} B after the open, +{written / series:,.0f} after a write"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--measure", choices=("rss", "traced"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child: one measurement in a fresh process
        print(measure(args.path, args.series, args.measure == "traced"))
        return 0
    with tempfile.TemporaryDirectory(prefix="twincast-bench-") as tmp:
        template = Path(tmp) / "template.sqlite"
        fill(template, args.series)
        figures = []
        for kind in ("traced", "rss"):
            path = Path(tmp) / f"{kind}.sqlite"
            path.write_bytes(template.read_bytes())
            command = [sys.executable, "-m", "bench.history_memory", "--series", str(args.series)]
            command += ["--measure", kind, "--path", str(path)]
            figures.append(subprocess.run(command, check=True, capture_output=True, text=True))
    result = "; ".join(f.stdout.strip() for f in figures)
    print(f"trainer history, {args.series:,} series, per series: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
