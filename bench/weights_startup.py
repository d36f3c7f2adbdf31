"""Start-up cost of reading the weights topic: 1 version kept vs 300, newest first vs a full scan.

``read_newest_first`` with ``latest_model`` (what a worker, the trainer and ``twincast rollback``
do on start) reads the topic from its newest record backwards; the full scan is what they did
before (every record decoded from the beginning), measured in the same run as the baseline.

Run: ``make bench-weights`` (starts its own broker on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence

from bench.broker import temporary_broker
from bench.worker_throughput import artifact
from foundation.kafka.topic_reader import read_topic
from foundation.kafka.topics import ensure_topics
from foundation.kafka.weights_topic import read_newest_first, weights_producer
from foundation.settings.base import KafkaSettings, TopicSettings
from lstmcore.acceptance import latest_model, prepare
from lstmcore.artifact import encode_artifact


def fill(bootstrap: str, versions: int, units: int) -> KafkaSettings:
    topics = TopicSettings(
        bootstrap_servers=bootstrap, weights_topic=f"bench-weights-{uuid.uuid4().hex[:8]}"
    )
    ensure_topics(topics)
    producer = weights_producer(topics, topics.weights_max_message_bytes)
    for version in range(1, versions + 1):
        raw = encode_artifact(artifact(version, units))
        producer.send(topics.weights_topic, key=b"bench", value=raw)
    producer.flush()
    producer.close()
    return topics


def full_scan(settings: KafkaSettings) -> int:
    """The former start-up: decode every record from the beginning, keep the newest."""
    newest = 0
    limits = settings.artifact_limits()
    for record in read_topic(settings, settings.weights_topic):
        newest = max(newest, prepare(record.value, 1, limits).version)
    return newest


def newest_first(settings: KafkaSettings) -> int:
    model = read_newest_first(settings, latest_model(1, settings.artifact_limits())).model
    return model.version if model else 0


def best_of(runs: int, read: Callable[[KafkaSettings], int], settings: KafkaSettings) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        read(settings)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32, help="model width (32: the default)")
    parser.add_argument("--runs", type=int, default=5, help="best of this many reads")
    args = parser.parse_args(argv)
    with temporary_broker() as (bootstrap, _):
        one, many = fill(bootstrap, 1, args.units), fill(bootstrap, 300, args.units)
        print(f"weights topic start-up read, {args.units} units, best of {args.runs}:")
        for name, read in (("newest first", newest_first), ("full scan (before)", full_scan)):
            t1, t300 = best_of(args.runs, read, one), best_of(args.runs, read, many)
            print(
                f"  {name:<20} 1 version {t1 * 1000:7.0f} ms   300 versions {t300 * 1000:7.0f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
