"""Benchmark the worker at 1k / 10k / 100k series: throughput and memory per series.

For each size the same number of events (``--events``, 200,000) goes to a worker of its own
(``python -m worker``, its own process and topics) from a backlog; per Kafka client:

1. Throughput: events over the span from the first event the worker counts (its metrics, looked
   at every 20 ms) to the broker's append time of its last forecast, as ``bench.worker_throughput``
   measures it (first record to last output).
2. Memory per series: the worker's VmRSS (and VmHWM, the peak) once every forecast is out and its
   checkpoint committed, minus those of an idle worker (connected, model loaded, partitions
   assigned, no event seen), divided by the series; and per extra series between sizes.
The pause of a replay swap is not measured here: since the replay is prepared off the loop, the
loop stands still only to install it (0-1 ms in this benchmark's windows, which are not full), and
forecasts show no gap at it; ``make bench-swap`` (``bench.swap_pause``) measures that pause with
full windows at these sizes.

Every figure is printed next to that client's 1k figure of the same run. Run: ``make bench-scale``
(starts its own broker on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.broker import add_client_option, chosen_clients, temporary_broker
from bench.scale_report import Memory, SizeFigures, marginal, memory_of, table, trimmed_since
from bench.worker_process import bench_topics, counter, log_matches, start_worker, stop, wait_for
from bench.worker_throughput import artifact
from bench.worker_traffic import Traffic, checkpointed, last_append_ms
from foundation.kafka.weights_topic import publish, weights_producer
from foundation.settings.base import TopicSettings
from lstmcore.acceptance import weights_message
from twincast.ports import free_port

SIZES = (1_000, 10_000, 100_000)
# Looking at the worker's metrics costs it a scrape: often only while it has not started yet.
FIRST_EVENT_EVERY_S = 0.02
PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class Run:
    """One worker process and what it was given."""

    topics: TopicSettings
    group: str
    port: int
    log: Path


def settings_env(run: Run, args: argparse.Namespace) -> dict[str, str]:
    env = {
        "TWINCAST_WORKER_GROUP_ID": run.group,
        "TWINCAST_METRICS_PORT": str(run.port),
        "TWINCAST_METRICS_ADDR": "127.0.0.1",
        "TWINCAST_REPLAY_WINDOW": str(args.window),
        "TWINCAST_SWAP_POLICY": "replay",
        # One capacity for every size: the store's preallocated columns then weigh the same in
        # the idle worker and in every run, and no series is evicted.
        "TWINCAST_STATE_MAX_SERIES": str(max(args.sizes)),
    }
    if args.write_age_ms is not None:  # shorter than a run: its state writes show in the rate
        env["TWINCAST_STATE_WRITE_AGE_MS"] = str(args.write_age_ms)
    return env


def new_run(bootstrap: str, client: str, args: argparse.Namespace, tmp: Path, name: str) -> Run:
    topics = bench_topics(bootstrap, client, args.partitions)
    producer = weights_producer(topics, 64 * 1024 * 1024)
    publish(producer, topics.weights_topic, weights_message(artifact(1, args.units)))
    producer.close()
    group = f"bench-scale-{uuid.uuid4().hex[:6]}"
    return Run(topics, group, free_port(), tmp / f"{client}-{name}.log")


def serving(run: Run, partitions: int) -> bool:
    """Model version 1 swapped in and every partition assigned (and restored)."""
    if not log_matches(run.log, r"now serving model version 1 "):
        return False
    held = {
        int(p)
        for m in log_matches(run.log, r"partitions \[([\d, ]*)\] assigned")
        for p in m[1].split(",")
        if p.strip()
    }
    return held == set(range(partitions))


def idle_memory(bootstrap: str, client: str, args: argparse.Namespace, tmp: Path) -> Memory:
    """A worker that has connected, loaded the model and been assigned its partitions, no event."""
    run = new_run(bootstrap, client, args, tmp, "idle")
    with run.log.open("wb") as log:
        worker = start_worker(run.topics, settings_env(run, args), log, "INFO")
        try:
            wait_for(lambda: serving(run, args.partitions), "idle worker", process=worker)
            # The heap its start freed given back, as a worker that ran traffic does.
            wait_for(lambda: trimmed_since(run.log.read_text(), 0), "idle trim", process=worker)
            return memory_of(worker.pid)
        finally:
            stop(worker)


def one_size(
    bootstrap: str, client: str, series: int, args: argparse.Namespace, tmp: Path, idle: Memory
) -> SizeFigures:
    run = new_run(bootstrap, client, args, tmp, f"{series}")
    traffic = Traffic(run.topics, [f"series-{s:05d}" for s in range(series)])
    total = traffic.send_rounds(args.events // series)
    with run.log.open("wb") as log:
        worker = start_worker(run.topics, settings_env(run, args), log, "INFO")
        try:
            return measure(run, worker, traffic, total, idle)
        finally:
            stop(worker)
            traffic.close()


Until = Callable[[Callable[[], bool], str, float], None]
EVENTS = "twincast_events_consumed_total"
FORECASTS = "twincast_forecasts_produced_total"


def measure(
    run: Run,
    worker: subprocess.Popen[bytes],
    traffic: Traffic,
    total: int,
    idle: Memory,
) -> SizeFigures:
    def until(condition: Callable[[], bool], what: str, every_s: float) -> None:
        wait_for(condition, what, every_s, process=worker)

    rate, last_ms = drain(run, until, total)
    # The memory of a worker at rest: its last checkpoint written and committed, and the heap it
    # freed given back (at its first poll without events, ``worker.heap``).
    until(lambda: checkpointed(run.topics, run.group), "checkpoint", PROGRESS_EVERY_S)
    until(lambda: trimmed_since(run.log.read_text(), last_ms), "heap trim", PROGRESS_EVERY_S)
    after = memory_of(worker.pid)
    memory = Memory(after.rss - idle.rss, after.peak - idle.peak)
    return SizeFigures(len(traffic.names), rate, memory)


def drain(run: Run, until: Until, total: int) -> tuple[float, int]:
    """Events/s from the first event counted to the last forecast's append time (and that)."""
    until(lambda: counter(run.port, EVENTS) > 0, "first event", FIRST_EVENT_EVERY_S)
    first_ms = time.time() * 1000
    until(lambda: counter(run.port, FORECASTS) >= total, "all forecasts", PROGRESS_EVERY_S)
    last_ms = last_append_ms(run.topics)
    return total / ((last_ms - first_ms) / 1000), last_ms


def report(client: str, idle: Memory, rows: list[SizeFigures], args: argparse.Namespace) -> None:
    mib = 1024 * 1024
    print(
        f"\nworker scale, {client}: {args.events:,} events per size, {args.partitions} "
        f"partitions, LSTM 1 x {args.units} units, W={args.window}, memory above an "
        f"idle worker (RSS {idle.rss / mib:,.1f} MiB, peak {idle.peak / mib:,.1f} MiB); ratios "
        f"to {rows[0].series:,} series, same run:"
    )
    print("\n".join(table(rows)))
    print("\n".join(marginal(rows)))
    print("  replay swap pauses: make bench-swap (in process, full windows at these sizes)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="series")
    parser.add_argument("--events", type=int, default=200_000, help="events at every size")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--window", type=int, default=64, help="TWINCAST_REPLAY_WINDOW")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--write-age-ms", type=int, help="TWINCAST_STATE_WRITE_AGE_MS (default: the worker's)"
    )
    add_client_option(parser)
    args = parser.parse_args(argv)
    args.client = chosen_clients(args)
    with temporary_broker() as (bootstrap, tmp):
        for client in args.client:
            idle = idle_memory(bootstrap, client, args, tmp)
            rows = [one_size(bootstrap, client, n, args, tmp, idle) for n in args.sizes]
            report(client, idle, rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
