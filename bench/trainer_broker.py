"""Benchmark the trainer's ingest through a real broker, with 1M points already in its history.

``bench.trainer_scale`` times the trainer's own ingest code fed from memory; this runs the trainer
as it runs (``python -m trainer``, its own process, its Kafka client) on a backlog of
``--events`` events over ``--series`` series on a private broker, per client, next to baselines
from the same run on the same backlog:

1. **raw drain**: a consumer of the same client, assigned every partition by hand as the trainer
   is, polling 5,000 records at a time and doing nothing with them (the client's own ceiling);
2. **trainer, empty history**;
3. **trainer, 1M points held**: its history file prefilled before it starts, straight through
   ``HistoryStore.write`` (``--series`` x ``--bound`` points, under another topic's name so the
   trainer still reads the backlog from its beginning), full at its per-series bound: every event
   past it is one more point to delete (in bulk, ``trainer.history``);
4. **worker** (unless ``--no-worker``): the worker's drain of the same number of events over the
   same series (``bench.worker_scale``'s measure, topics of its own), for the target "trainer
   ingest >= the worker's maximum rate".

A trainer's rate: the events it wrote to its history after its first write, over the span from
that write's commit to the last one's (the history's WAL file's modification time, read when its
``twincast_trainer_events_consumed_total``, counted per write, shows the first write and then all
events; looked at every 20 ms until the first, every 0.5 s after: a scrape costs the trainer GIL
time, as it costs the worker). No refit runs (``TWINCAST_REFIT_EVERY_*`` far out; the run checks
the log). Also printed: the trainer's CPU per event over the span (all its threads, the client's
too: steadier than the wall rate on shared cores), its RSS at the end, and the history file's
bytes per point held. ``--profile DIR``: py-spy's raw stacks of each trainer run.

Run: ``make bench-trainer-kafka`` (``python -m bench.trainer_broker``; its own broker, free ports).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from bench.broker import add_client_option, chosen_clients, temporary_broker
from bench.scale_report import Memory, memory_of
from bench.worker_process import (
    bench_topics,
    counter,
    cpu_seconds,
    log_matches,
    stop,
    wait_for,
    worker_env,
)
from bench.worker_scale import one_size
from bench.worker_traffic import Traffic
from foundation.kafka.client import ConsumerOptions, Partition
from foundation.kafka.factory import kafka_clients
from foundation.settings.base import TopicSettings
from trainer.gathered import Gathered, pack
from trainer.history import HistoryStore
from twincast.ports import free_port

CONSUMED = "twincast_trainer_events_consumed_total"
# A scrape costs the trainer a request thread's GIL time: often only until its first write (as
# ``bench.worker_scale`` looks at the worker). The span's ends are the history's commit times.
LOOK_EVERY_S = 0.02
PROGRESS_EVERY_S = 0.5
FAR = str(10**9)  # refit thresholds no run reaches


def prefill(path: Path, series: int, bound: int) -> int:
    """A history of ``series`` x ``bound`` points (full at its per-series bound), written through
    the store's own API in batches as the trainer writes them. Returns the file's bytes."""
    store = HistoryStore(path, bound, 10 * series * bound)
    names = [f"series-{s:05d}" for s in range(series)]
    value = pack([0.5])
    for t in range(bound):
        batch = Gathered()
        for s, name in enumerate(names):
            batch.add_point(0, t * series + s, name, 1_600_000_000.0 + t, value)
        store.write("bench.prefill", batch)
    store.close()  # the last connection: SQLite checkpoints and removes the WAL
    return path.stat().st_size


def raw_drain(topics: TopicSettings, total: int) -> float:
    """Events/s of a consumer that only polls: first record to the last."""
    consumer = kafka_clients(topics).consumer(ConsumerOptions("bench-raw", from_earliest=True))
    topic = topics.events_topic
    partitions = [Partition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    done, first = 0, 0.0
    while done < total:
        got = sum(len(b) for b in consumer.poll(0.2, max_records=5000).values())
        if got and not done:
            first = time.perf_counter()
        done += got
    elapsed = time.perf_counter() - first
    consumer.close()
    return total / elapsed


class Figures(NamedTuple):
    events_per_s: float
    cpu_us: float | None = None  # per event
    memory: Memory | None = None


def trainer_run(
    topics: TopicSettings,
    history: Path,
    bound: int,
    total: int,
    log: Path,
    profile: Path | None = None,
) -> Figures:
    """Events/s of a trainer process from its first history write to its last, its CPU per
    event over that span (all its threads: its client's too), and its memory once it has
    written every event. ``profile``: a folder for a ``py-spy record`` of it (raw
    stacks, all threads, idle too, from the first write to its exit), if py-spy is installed."""

    port = free_port()
    env = worker_env(
        topics,
        {
            "TWINCAST_TRAINER_GROUP_ID": f"bench-trainer-{uuid.uuid4().hex[:6]}",
            "TWINCAST_METRICS_PORT": str(port),
            "TWINCAST_METRICS_ADDR": "127.0.0.1",
            "TWINCAST_HISTORY_DB": str(history),
            "TWINCAST_ARTIFACT_DIR": str(history.parent / "artifacts"),
            "TWINCAST_HISTORY_MAX_POINTS": str(bound),
            "TWINCAST_REFIT_EVERY_EVENTS": FAR,
            "TWINCAST_REFIT_EVERY_SECONDS": FAR,
        },
    )
    with log.open("wb") as out:
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer", "--log-level", "INFO"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        spy: subprocess.Popen[bytes] | None = None
        try:
            wait_for(
                lambda: counter(port, CONSUMED) > 0, "first write", LOOK_EVERY_S, process=trainer
            )
            first, first_at = counter(port, CONSUMED), written_at(history)
            cpu = cpu_seconds(trainer.pid)
            if profile is not None:
                spy = py_spy(trainer.pid, profile / f"{log.stem}.txt")
            wait_for(
                lambda: counter(port, CONSUMED) >= total,
                "all events",
                PROGRESS_EVERY_S,
                process=trainer,
            )
            last_at = written_at(history)
            cpu = cpu_seconds(trainer.pid) - cpu
            memory = memory_of(trainer.pid)
        finally:
            stop(trainer)
            if spy is not None:
                spy.wait(60)
    if log_matches(log, r"refit of version"):
        raise RuntimeError(f"a refit ran during the measured span: see {log}")
    print(f"  history after the run ({log.stem}): {file_per_point(history)}")
    return Figures((total - first) / (last_at - first_at), cpu / (total - first) * 1e6, memory)


def written_at(history: Path) -> float:
    """When the trainer last committed to its history: its WAL file's modification time (a
    commit appends to the WAL; only a commit does, while the trainer is the one writer)."""
    return Path(f"{history}-wal").stat().st_mtime


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` of ``pid`` until it exits (a measuring tool, not a dependency)."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw"]
    return subprocess.Popen(
        [*command, "--threads", "--idle", "-o", str(out)], stdout=subprocess.DEVNULL
    )


def file_per_point(history: Path) -> str:
    """The history file's size per point held (the trainer has closed it: no WAL left)."""
    db = sqlite3.connect(history)
    try:
        (held,) = db.execute("SELECT sum(points) FROM series").fetchone()
    finally:
        db.close()
    size = history.stat().st_size
    return f"{held:,} points held in {size:,} B, {size / held:.1f} B per point"


def worker_rate(bootstrap: str, client: str, args: argparse.Namespace, tmp: Path) -> float:
    """The worker's drain of the same events over the same series (``bench.worker_scale``)."""
    scale_args = argparse.Namespace(
        window=64,
        units=32,
        partitions=args.partitions,
        write_age_ms=None,
        sizes=[args.series],
        events=args.events,
    )
    idle = Memory(0, 0)  # its memory is not what is compared here
    figures = one_size(bootstrap, client, args.series, scale_args, tmp, idle)
    return figures.events_per_s


def one_client(
    bootstrap: str, client: str, args: argparse.Namespace, tmp: Path, full: Path
) -> None:
    topics = bench_topics(bootstrap, client, args.partitions)
    traffic = Traffic(topics, [f"series-{s:05d}" for s in range(args.series)])
    total = traffic.send_rounds(args.events // args.series)
    traffic.close()
    rows = [("raw drain", Figures(raw_drain(topics, total)))]
    empty = tmp / f"{client}-empty" / "history.sqlite"
    empty.parent.mkdir()
    spy = args.profile
    figures = trainer_run(topics, empty, args.bound, total, tmp / f"{client}-empty.log", spy)
    rows.append(("trainer, empty history", figures))
    held = tmp / f"{client}-full" / "history.sqlite"
    held.parent.mkdir()
    shutil.copy(full, held)
    figures = trainer_run(topics, held, args.bound, total, tmp / f"{client}-full.log", spy)
    rows.append((f"trainer, {args.series * args.bound:,} points held", figures))
    if args.worker:
        worker = Figures(worker_rate(bootstrap, client, args, tmp))
        rows.append((f"worker, {args.series:,} series", worker))
    report(client, total, rows)


def report(client: str, total: int, rows: list[tuple[str, Figures]]) -> None:
    print(f"\ntrainer through Kafka, {client}: {total:,} events; ratios to the raw drain, same run")
    print(f"  {'':>32} {'events/s':>10} {'ratio':>6} {'CPU us/event':>13} {'RSS MiB':>8}")
    base = rows[0][1].events_per_s
    for label, (rate, cpu, memory) in rows:
        cpu_text = f"{cpu:13.2f}" if cpu is not None else f"{'':>13}"
        rss = f"{memory.rss / 2**20:8.0f}" if memory else f"{'':>8}"
        print(f"  {label:>32} {rate:>10,.0f} {rate / base:>6.2f} {cpu_text} {rss}")
    print(
        "  (CPU: the trainer process's, all threads, over the span; one core's worth of "
        "events/s is 1e6 / it)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--bound", type=int, default=100, help="TWINCAST_HISTORY_MAX_POINTS")
    parser.add_argument("--events", type=int, default=500_000, help="the backlog drained")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--no-worker", dest="worker", action="store_false")
    parser.add_argument(
        "--profile", type=Path, help="a folder for py-spy's raw stacks of each trainer run"
    )
    add_client_option(parser)
    args = parser.parse_args(argv)
    args.client = chosen_clients(args)
    with temporary_broker() as (bootstrap, tmp):
        full = tmp / "prefilled.sqlite"
        size = prefill(full, args.series, args.bound)
        points = args.series * args.bound
        print(f"history prefilled: {points:,} points, {size:,} B ({size / points:.1f} B per point)")
        for client in args.client:
            one_client(bootstrap, client, args, tmp, full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
