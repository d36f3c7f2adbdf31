"""Benchmark: how long a worker takes to recover after ``kill -9`` with 10,000 series.

A worker serves 10,000 series (3 events each) and checkpoints; it is killed with SIGKILL; one more
event per series arrives; a new worker starts. Printed: the restore of the state topic as the
worker logs it, and the time from the new worker's start until every one of the 10,000 new events
has its forecast, next to the same time for a worker with nothing to restore (the baseline).
Run: ``make bench-recovery`` (starts its own broker on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import worker_process
from bench.broker import temporary_broker
from bench.worker_process import counter, wait_for
from bench.worker_throughput import artifact, produce_events
from foundation.kafka.topics import ensure_topics
from foundation.kafka.weights_topic import publish, weights_producer
from foundation.settings.base import TopicSettings
from lstmcore.acceptance import weights_message
from twincast.ports import free_port

SESSION_TIMEOUT_S = 10.0


def start_worker(
    topics: TopicSettings, port: int, group: str, log: Path
) -> subprocess.Popen[bytes]:
    given = {
        "TWINCAST_METRICS_PORT": str(port),
        "TWINCAST_WORKER_GROUP_ID": group,
        "TWINCAST_COMMIT_INTERVAL_MS": "500",
    }
    return worker_process.start_worker(topics, given, log.open("wb"), "INFO")


def wait_forecasts(port: int, count: float, timeout_s: float = 600) -> float:
    started = time.monotonic()
    forecasts = "twincast_forecasts_produced_total"
    wait_for(lambda: counter(port, forecasts) >= count, "forecasts", 0.05, timeout_s)
    return time.monotonic() - started


def measure(bootstrap: str, series: int, tmp: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    names: dict[str, Any] = {
        f"{r}_topic": f"rec-{r}-{suffix}"
        for r in ("events", "weights", "forecasts", "dlq", "state")
    }
    topics = TopicSettings(bootstrap_servers=bootstrap, partitions=6, **names)
    ensure_topics(topics)
    producer = weights_producer(topics, 64 * 1024 * 1024)
    publish(producer, topics.weights_topic, weights_message(artifact(1, 32)))
    producer.close()
    produce_events(topics, series, 3)

    port = free_port()
    first = start_worker(topics, port, "rec-group", tmp / "first.log")
    wait_forecasts(port, series * 3)
    time.sleep(1.5)  # at least one checkpoint after the last event
    first.send_signal(signal.SIGKILL)
    first.wait()
    produce_events(topics, series, 1)  # one new event per series after the crash

    port = free_port()
    started = time.monotonic()
    second = start_worker(topics, port, "rec-group", tmp / "second.log")
    wait_forecasts(port, series)
    recovered = time.monotonic() - started
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)
    log = (tmp / "second.log").read_text()
    restore = re.findall(r"(\d+) series restored in ([\d.]+)s", log)

    # Baseline: a new group with a state topic of its own (state belongs to one worker group),
    # so nothing to restore; the time to its first `series` forecasts.
    fresh_topics = topics.model_copy(update={"state_topic": f"rec-state-fresh-{suffix}"})
    ensure_topics(fresh_topics)
    port = free_port()
    started = time.monotonic()
    fresh = start_worker(fresh_topics, port, "rec-fresh", tmp / "fresh.log")
    wait_forecasts(port, series)
    baseline = time.monotonic() - started
    fresh.send_signal(signal.SIGTERM)
    fresh.wait(timeout=60)

    restored = sum(int(n) for n, _ in restore)
    seconds = sum(float(s) for _, s in restore)
    print(f"kill -9 with {series:,} series in the store:")
    print(f"  state restored by the new worker: {restored:,} series in {seconds:.2f} s")
    print(
        f"  (the killed worker stays in the group until its session times out: "
        f"{SESSION_TIMEOUT_S:.0f} s here, TWINCAST_SESSION_TIMEOUT_MS)"
    )
    print(f"  new worker start -> all {series:,} new events forecast: {recovered:.1f} s")
    print(
        f"  baseline, a new worker with no state to restore -> its first {series:,} forecasts: "
        f"{baseline:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    args = parser.parse_args(argv)
    with temporary_broker() as (bootstrap, tmp):
        measure(bootstrap, args.series, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
