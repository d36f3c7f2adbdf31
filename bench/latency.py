"""End-to-end latency of the worker under steady load: forecast append time minus event create time.

1. The worker's maximum rate, measured here: 1,000 series x ``--backlog`` events are produced
   first, then a worker (``python -m worker``, its own process) drains them; the rate is the
   number of forecasts over the span of their append times.
2. The same worker then gets a steady load of 20 %, 50 % and 80 % of that rate (events spread
   evenly over 1,000 series, sent in 10 ms ticks) for ``--seconds`` each.
3. Every forecast is paired with its event by (source partition, offset): latency is the
   forecast's append time (the forecasts topic uses ``LogAppendTime``) minus the event's create
   time (set by the producer when it sends). p50 / p99 / max per load.

Run: ``make bench-latency`` (own broker on free ports in a temporary folder). The producer, the
broker and the worker share the machine's cores, as they would on one small host.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np

from bench.broker import temporary_broker
from bench.worker_process import bench_topics, reader, start_worker, stop
from bench.worker_throughput import artifact
from foundation.kafka.client import Producer, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.weights_topic import publish, weights_producer
from foundation.settings.base import KafkaSettings
from lstmcore.acceptance import weights_message
from schemas import Forecast, decode
from schemas.common import SCHEMA_VERSION

LOADS = (0.2, 0.5, 0.8)
TICK_S = 0.01


@dataclass(frozen=True)
class Phase:
    load: float
    rate: float
    started_ms: float
    ended_ms: float


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=60, help="events per series, max rate")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--client",
        action="append",
        choices=["kafka-python", "confluent-kafka"],
        help="Kafka client of the worker and the benchmark (repeat for both)",
    )
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the worker, e.g. TWINCAST_COMMIT_INTERVAL_MS=1000 (repeat)",
    )
    parser.add_argument("--loads", type=float, nargs="+", default=list(LOADS))
    args = parser.parse_args(argv)
    args.client = args.client or ["kafka-python", "confluent-kafka"]
    with temporary_broker() as (bootstrap, _):
        for client in args.client:
            measure(bootstrap, client, args)
    return 0


def measure(bootstrap: str, client: str, args: argparse.Namespace) -> None:
    topics = bench_topics(bootstrap, client, args.partitions)
    weights = weights_producer(topics, 64 * 1024 * 1024)
    publish(weights, topics.weights_topic, weights_message(artifact(1, 32)))
    weights.close()
    producer = kafka_clients(topics).producer(ProducerOptions("bench-load", acks=1, linger_ms=2))
    names = [f"series-{s:05d}" for s in range(args.series)]
    for t in range(args.backlog):
        _send(producer, topics.events_topic, names, t)
    producer.flush()
    worker = start_worker(topics, dict(kv.split("=", 1) for kv in args.worker_env))
    try:
        backlog = args.series * args.backlog
        appended = _wait_for_forecasts(topics, backlog)
        spans = [a for (_, _, a) in appended.values()]
        max_rate = backlog / ((max(spans) - min(spans)) / 1000)
        phases = [
            _steady(producer, topics, names, load * max_rate, load, args) for load in args.loads
        ]
        expected = backlog + sum(round(p.rate * args.seconds) for p in phases)
        appended = _wait_for_forecasts(topics, expected)
    finally:
        stop(worker)
        producer.close(30)
    _report(topics, _event_times(topics), appended, phases, max_rate, args)


def _send(producer: Producer, topic: str, names: list[str], t: int) -> None:
    for name in names:
        producer.send(topic, name.encode(), _event(name, t))


@cache
def _iso(t: int) -> str:
    return datetime.fromtimestamp(1_700_000_000 + t, UTC).isoformat()


def _event(name: str, t: int) -> bytes:
    """An event's JSON written directly: the load generator shares the cores with the worker,
    and building each event through pydantic took a third of a core at 35,000 events/s.
    (``test_the_load_generators_events_are_valid`` checks it against the contract.)"""
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"series_id":"{name}","ts":"{_iso(t)}",'
        f'"value":{float(np.sin(t / 7))!r}}}'
    ).encode()


def _steady(
    producer: Producer,
    topics: KafkaSettings,
    names: list[str],
    rate: float,
    load: float,
    args: argparse.Namespace,
) -> Phase:
    """Send ``rate`` events/s in ticks of 10 ms for ``args.seconds``; the due count is computed
    from the clock, so a late tick catches up instead of lowering the rate."""
    total = round(rate * args.seconds)
    started = time.perf_counter()
    started_ms = time.time() * 1000
    sent, t = 0, 10_000 + int(load * 1000)
    while sent < total:
        due = min(total, round((time.perf_counter() - started) * rate))
        for i in range(sent, due):
            name = names[i % len(names)]
            if i % len(names) == 0:
                t += 1
            producer.send(topics.events_topic, name.encode(), _event(name, t))
        sent = due
        time.sleep(TICK_S)
    producer.flush()
    return Phase(load, rate, started_ms, time.time() * 1000)


def _wait_for_forecasts(topics: KafkaSettings, count: int) -> dict[tuple[int, int], Any]:
    """Every forecast, keyed by its event's (partition, offset), once ``count`` have arrived."""
    seen: dict[tuple[int, int], Any] = {}
    consumer = reader(topics, topics.forecasts_topic)
    deadline = time.monotonic() + 600
    while len(seen) < count and time.monotonic() < deadline:
        for batch in consumer.poll(0.5).values():
            for record in batch:
                forecast = decode(Forecast, record.value)
                key = (forecast.source_partition, forecast.source_offset)
                seen[key] = (record.partition, record.offset, record.timestamp)
    consumer.close()
    if len(seen) < count:
        raise RuntimeError(f"only {len(seen)} of {count} forecasts arrived in 10 minutes")
    return seen


def _event_times(topics: KafkaSettings) -> dict[tuple[int, int], int]:
    consumer = reader(topics, topics.events_topic)
    ends = consumer.end_offsets(sorted(consumer.assignment()), 30)
    times: dict[tuple[int, int], int] = {}
    while len(times) < sum(ends.values()):
        for batch in consumer.poll(0.5).values():
            times.update({(r.partition, r.offset): r.timestamp for r in batch})
    consumer.close()
    return times


def _report(
    topics: KafkaSettings,
    created: dict[tuple[int, int], int],
    appended: dict[tuple[int, int], Any],
    phases: list[Phase],
    max_rate: float,
    args: argparse.Namespace,
) -> None:
    print(
        f"\nlatency, forecast append - event create, {args.series:,} series, "
        f"{args.partitions} partitions, client {topics.kafka_client}, worker max rate "
        f"{max_rate:,.0f} events/s (backlog of {args.series * args.backlog:,}):"
    )
    print(f"  {'load':>5} {'events/s':>9} {'events':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for phase in phases:
        latencies = np.array(
            [
                appended[key][2] - ts
                for key, ts in created.items()
                if phase.started_ms <= ts <= phase.ended_ms and key in appended
            ],
            np.float64,
        )
        p50, p99 = np.percentile(latencies, [50, 99])
        print(
            f"  {phase.load:>5.0%} {phase.rate:>9,.0f} {len(latencies):>8,} "
            f"{p50:>8.1f} {p99:>8.1f} {latencies.max():>8.1f}"
        )


if __name__ == "__main__":
    sys.exit(main())
