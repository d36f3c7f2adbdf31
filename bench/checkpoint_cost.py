"""Benchmark spread checkpoints: worker throughput with 1,000 vs 100,000 series, and memory per
series at 100,000 series.

Each run: its own topics on one broker, ``--events`` events spread over the series (in time
order, every series in turn), then a real worker process (``python -m worker``) reads them all;
throughput is forecasts per second from the first forecast to the last (seen on the forecasts
topic's end offsets). Memory: the worker's RSS once done (and its peak) minus that of an idle
worker process with the same settings on an empty topic, per series. ``--write-age-ms 0``
measures the old behaviour (every changed series written at every checkpoint).

Run: ``make bench-checkpoint`` (starts its own broker on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.broker import temporary_broker
from bench.worker_process import cpu_seconds
from bench.worker_throughput import artifact, produce_events
from foundation.kafka.client import ConsumerOptions, Partition
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics
from foundation.kafka.weights_topic import publish, weights_producer
from foundation.settings.base import TopicSettings
from lstmcore.acceptance import weights_message


def memory(pid: int) -> tuple[int, int]:
    """(RSS, peak RSS) of a process, in bytes."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024)


def topics_for(bootstrap: str, partitions: int, name: str) -> TopicSettings:
    names: dict[str, Any] = {
        f"{role}_topic": f"ckpt-{name}-{role}-{uuid.uuid4().hex[:6]}"
        for role in ("events", "weights", "forecasts", "dlq", "state")
    }
    topics = TopicSettings(bootstrap_servers=bootstrap, partitions=partitions, **names)
    ensure_topics(topics)
    producer = weights_producer(topics, 64 * 1024 * 1024)
    publish(producer, topics.weights_topic, weights_message(artifact(1, 32)))
    producer.close()
    return topics


def start_worker(
    topics: TopicSettings, args: argparse.Namespace, log: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env.update({f"TWINCAST_{role.upper()}_TOPIC": t for role, t in topics.topic_names().items()})
    env.update(
        TWINCAST_BOOTSTRAP_SERVERS=topics.bootstrap_servers,
        TWINCAST_WORKER_GROUP_ID=f"ckpt-{uuid.uuid4().hex[:6]}",
        TWINCAST_METRICS_PORT="0",
        TWINCAST_STATE_MAX_SERIES=str(args.capacity),
    )
    if args.write_age_ms is not None:
        env["TWINCAST_STATE_WRITE_AGE_MS"] = str(args.write_age_ms)
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


def wait_for(log: Path, text: str, worker: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker never logged {text!r}: {log.read_text()[-2000:]}")
        time.sleep(0.2)


@dataclass(frozen=True)
class Figures:
    rate: float  # events per second, wall clock, first forecast to last
    cpu_rate: float  # events per CPU second of the worker process (less noisy on a busy host)
    rss: int
    peak: int


def watch(topics: TopicSettings, total: int, pid: int) -> tuple[float, float]:
    """(events/s, events per worker CPU second) from the first forecast to the last, read
    from the forecasts topic's end offsets."""
    consumer = kafka_clients(topics).consumer(ConsumerOptions("ckpt-bench-watch"))
    tps = [Partition(topics.forecasts_topic, p) for p in range(topics.partitions)]
    first: tuple[float, float, int] | None = None
    try:
        while True:
            done = sum(consumer.end_offsets(tps, 30).values())
            if done and first is None:
                first = (time.perf_counter(), cpu_seconds(pid), done)
            if done >= total and first is not None:
                wall, cpu = time.perf_counter() - first[0], cpu_seconds(pid) - first[1]
                return (done - first[2]) / wall, (done - first[2]) / max(cpu, 1e-9)
            time.sleep(0.1)
    finally:
        consumer.close()


def run(bootstrap: str, series: int, args: argparse.Namespace, folder: Path) -> Figures:
    """A worker through ``args.events`` events over ``series`` series."""
    topics = topics_for(bootstrap, args.partitions, f"{series}")
    total = produce_events(topics, series, args.events // series)
    log = folder / f"worker-{series}.log"
    worker = start_worker(topics, args, log)
    try:
        rate, cpu_rate = watch(topics, total, worker.pid)
        rss, peak = memory(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return Figures(rate, cpu_rate, rss, peak)


def idle_rss(bootstrap: str, args: argparse.Namespace, folder: Path) -> int:
    topics = topics_for(bootstrap, args.partitions, "idle")
    log = folder / "worker-idle.log"
    worker = start_worker(topics, args, log)
    try:
        wait_for(log, "assigned", worker)
        time.sleep(2)  # settle: the first poll's buffers
        return memory(worker.pid)[0]
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--few", type=int, default=1_000)
    parser.add_argument("--many", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--write-age-ms", type=int, default=None, help="default: the setting's")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, temporary_broker() as (bootstrap, _):
        folder = Path(tmp)
        idle = idle_rss(bootstrap, args, folder)
        few = run(bootstrap, args.few, args, folder)
        many = run(bootstrap, args.many, args, folder)
    age = "setting's default" if args.write_age_ms is None else f"{args.write_age_ms} ms"
    print(f"\ncheckpoint cost, {args.events:,} events per run, write age {age}")
    for n, f in ((args.few, few), (args.many, many)):
        print(
            f"  {n:>7,} series: {f.rate:8,.0f} events/s, {f.cpu_rate:8,.0f} per worker CPU s, "
            f"RSS {f.rss / 2**20:,.0f} MiB (peak {f.peak / 2**20:,.0f})"
        )
    print(
        f"  {args.many:,} / {args.few:,} series: {many.rate / few.rate:.2f} of the events/s, "
        f"{many.cpu_rate / few.cpu_rate:.2f} of the events per CPU s"
    )
    per_series, peak = (many.rss - idle) / args.many, (many.peak - idle) / args.many
    over_few = (many.rss - few.rss) / (args.many - args.few)
    print(
        f"  memory at {args.many:,} series over an idle worker ({idle / 2**20:.0f} MiB): "
        f"{per_series:,.0f} B per series (peak {peak:,.0f}); over the {args.few:,}-series "
        f"worker's: {over_few:,.0f} B per series"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
