"""A worker as its own process (``python -m worker``), with topics of its own, for benchmarks that
look at it from outside: its forecasts' append times, its log, its metrics, its memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from foundation.kafka.client import Consumer, ConsumerOptions, Partition
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics
from foundation.settings.base import KafkaSettings, TopicSettings
from twincast.scrape import scrape, total


def bench_topics(bootstrap: str, client: str, partitions: int) -> TopicSettings:
    """Fresh topics (a worker's state belongs to one group, so each run gets its own); the
    forecasts topic stamps each forecast with the time the broker appended it."""
    suffix = uuid.uuid4().hex[:6]
    names: dict[str, Any] = {
        f"{role}_topic": f"bench-{role}-{suffix}"
        for role in ("events", "weights", "forecasts", "dlq", "state")
    }
    topics = TopicSettings(
        bootstrap_servers=bootstrap, kafka_client=client, partitions=partitions, **names
    )
    ensure_topics(topics)
    admin = kafka_clients(topics).admin("bench-admin")
    admin.alter_topic_configs(topics.forecasts_topic, {"message.timestamp.type": "LogAppendTime"})
    admin.close()
    return topics


def worker_env(topics: KafkaSettings, given: dict[str, str]) -> dict[str, str]:
    """This environment without its ``TWINCAST_*`` settings, plus the topics' and ``given``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env.update(
        TWINCAST_BOOTSTRAP_SERVERS=topics.bootstrap_servers,
        TWINCAST_KAFKA_CLIENT=topics.kafka_client,
        TWINCAST_WORKER_GROUP_ID=f"bench-worker-{uuid.uuid4().hex[:6]}",
        TWINCAST_METRICS_PORT="0",
        TF_CPP_MIN_LOG_LEVEL="3",
        **{f"TWINCAST_{r.upper()}_TOPIC": n for r, n in topics.topic_names().items()},
    )
    env.update(given)
    return env


def start_worker(
    topics: KafkaSettings,
    given: dict[str, str],
    log: IO[bytes] | None = None,
    level: str = "WARNING",
) -> subprocess.Popen[bytes]:
    """``log``: where its output goes (None: this process's own)."""
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "--log-level", level],
        env=worker_env(topics, given),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )


def stop(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the worker commits and exits), then SIGKILL if it does not."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def reader(topics: KafkaSettings, topic: str) -> Consumer:
    """A consumer of every partition of ``topic`` from its beginning (no group)."""
    consumer = kafka_clients(topics).consumer(ConsumerOptions("bench-read", from_earliest=True))
    partitions = [Partition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return consumer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counter(port: int, name: str) -> float:
    """A counter of a worker's metrics endpoint; 0 while the endpoint is not up yet."""
    try:
        return total(scrape(f"http://127.0.0.1:{port}/metrics"), name)
    except OSError:
        return 0.0


def wait_for(
    condition: Callable[[], bool],
    what: str,
    every_s: float = 0.1,
    timeout_s: float = 900.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Look at ``condition()`` every ``every_s`` until it is true; raise after ``timeout_s``, or
    as soon as ``process`` (the one that should make it true) has exited."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the worker exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout_s:.0f} s")
        time.sleep(every_s)


def log_matches(log: Path, pattern: str) -> list[re.Match[str]]:
    return list(re.finditer(pattern, log.read_text(errors="replace")))
