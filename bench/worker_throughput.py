"""Benchmark the worker: throughput against a raw passthrough, step vs predict, swap pause.

1. Throughput with 10,000 series, per client (kafka-python, confluent-kafka): the worker (real
   WorkerService on that client: LSTM step, forecasts, checkpoints, commits) against a raw
   passthrough through the same Kafka client layer (consume, produce the same bytes, flush,
   commit; no model) and a forecast-shaped one, on the same broker and the same events, as
   ratios measured in one run.
2. Per-event cost of the pure step (batched over 10,000 series, and for one series) against
   ``model.predict`` and ``model(x)`` on a batch-1 Keras twin; and twincast's own work per event
   without any Kafka client, part by part (``bench.own_work``).
3. The longest pause in consumption while a new version is swapped in under ``replay`` with
   10,000 series in the store.

Run: ``make bench-worker`` (starts its own broker on free ports in a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.broker import add_client_option, chosen_clients, temporary_broker
from bench.own_work import own_work
from foundation.kafka.client import ConsumerOptions, Producer, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics
from foundation.kafka.weights_topic import publish, weights_producer
from foundation.settings.base import KafkaSettings, TopicSettings
from foundation.settings.worker import WorkerSettings
from lstmcore import quiet_keras
from lstmcore.acceptance import weights_message
from lstmcore.artifact import Artifact, seal
from lstmcore.serving import ServingModel
from schemas import Event, encode
from schemas.artifact import Architecture, Scaler, TrainingFacts, Validation
from worker.metrics import WorkerMetrics
from worker.service import WorkerService


def artifact(version: int, units: int) -> Artifact:
    arch = Architecture(features=1, units=units, layers=1)
    rng = np.random.default_rng(version)
    arrays = {
        n: rng.normal(0, 0.3, s).astype(np.float32) for n, s in arch.expected_arrays().items()
    }
    return seal(
        {
            "model_name": "bench",
            "version": version,
            "created_at": datetime.now(UTC),
            "architecture": arch,
            "training": TrainingFacts(batch_size=1, epochs=1, tbptt=1, n_series=0, n_points=0),
            "validation": Validation(model_mae=0.0, persistence_mae=0.0, points=0),
            "scaler": Scaler(kind="standard", mean=[0.0], scale=[1.0]),
        },
        arrays,
    )


def publish_and_forget(producer: Producer, topic: str, new: Artifact) -> None:
    publish(producer, topic, weights_message(new))


def produce_events(settings: KafkaSettings, series: int, per_series: int) -> int:
    options = ProducerOptions("bench-producer", acks=1, linger_ms=20, batch_size=512 * 1024)
    producer = kafka_clients(settings).producer(options)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(0)
    for t in range(per_series):
        ts = start + timedelta(seconds=t)
        for s in range(series):
            name = f"series-{s:05d}"
            value = encode(Event(series_id=name, ts=ts, value=float(rng.normal())))
            producer.send(settings.events_topic, key=name.encode(), value=value)
    producer.flush()
    producer.close()
    return series * per_series


# A real forecast's size: what the worker writes per event (its source and interval too).
FORECAST_SHAPED = (
    b'{"schema_version":1,"series_id":"series-00042","ts":"2026-01-01T00:00:07+00:00",'
    b'"forecast":0.12345678901234567,"model_version":1,"produced_at":'
    b'"2026-11-29T16:00:00.123456+00:00","source_topic":"bench-events-abcdef",'
    b'"source_partition":3,"source_offset":123456,"source":"model",'
    b'"lower":-0.39474319,"upper":0.64165677}'
)


def passthrough(
    settings: KafkaSettings, total: int, out_topic: str, forecast_shaped: bool = False
) -> float:
    """Consume, produce the same bytes, flush, commit: the floor any consumer-producer pays.

    ``forecast_shaped`` writes a forecast-sized value to the source partition instead (as the
    worker does), still without any decoding or model: the floor of writing forecasts.
    """
    clients = kafka_clients(settings)
    group = f"bench-pass-{uuid.uuid4().hex[:6]}"
    consumer = clients.consumer(ConsumerOptions("bench-pass", group_id=group, from_earliest=True))
    consumer.subscribe([settings.events_topic])
    producer = clients.producer(
        ProducerOptions("bench-pass-out", acks="all", linger_ms=5, batch_size=256 * 1024)
    )
    done, first = 0, None
    while done < total:
        records = [r for b in consumer.poll(0.2, max_records=5000).values() for r in b]
        if records and first is None:
            first = time.perf_counter()
        for r in records:
            if forecast_shaped:  # like the worker: co-partitioned output, no key hashing
                producer.send(out_topic, key=r.key, value=FORECAST_SHAPED, partition=r.partition)
            else:
                producer.send(out_topic, key=r.key, value=r.value)
        producer.flush()
        consumer.commit()
        done += len(records)
    elapsed = time.perf_counter() - (first or 0.0)
    producer.close()
    consumer.close()
    return elapsed


LOOK_EVERY_S = 0.02


def run_worker(
    settings: WorkerSettings, total: int, midway: Callable[[], None] | None = None
) -> tuple[float, WorkerService]:
    service = WorkerService(settings, WorkerMetrics())
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    events, forecasts = service.metrics.events, service.metrics.forecasts
    # Look rarely: this thread shares the GIL with the worker's, and waking every 2 ms cost the
    # worker on confluent-kafka more than half its rate (21k vs 50k events/s). At 20 ms the
    # start and the end are each seen at most 20 ms late, so the span is within ~1 %.
    while events._value.get() == 0:
        time.sleep(LOOK_EVERY_S)
    first = time.perf_counter()
    fired = False
    while forecasts._value.get() < total:
        if midway is not None and not fired and forecasts._value.get() >= total // 2:
            midway()
            fired = True
        time.sleep(LOOK_EVERY_S)
    elapsed = time.perf_counter() - first
    service.request_stop()
    thread.join(timeout=30)
    return elapsed, service


def step_vs_predict(units: int, series: int) -> None:
    keras = quiet_keras.keras()

    from lstmcore.keras_model import build_stateful_model, set_arrays

    art = artifact(1, units)
    model = ServingModel.from_artifact(art)
    twin = build_stateful_model(art.manifest.architecture, batch_size=1)
    set_arrays(twin, art.manifest.architecture, dict(art.arrays))
    x1 = np.zeros((1, 1, 1), np.float32)

    def timed(call: Callable[[], object], repeat: int) -> float:
        call()  # warm-up (tracing, caches)
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        return (time.perf_counter() - started) / repeat

    predict = timed(lambda: twin.predict(x1, verbose=0), 30)
    direct = timed(lambda: twin(x1), 100)
    h1, c1 = model.weights.zero_state(1)
    one = timed(lambda: model.forecast(h1, c1, np.zeros((1, 1))), 2000)
    hn, cn = model.weights.zero_state(series)
    batched = timed(lambda: model.forecast(hn, cn, np.zeros((series, 1))), 50) / series
    print(f"\nper-event cost, 1 layer x {units} units (Keras {keras.__version__}):")
    print(f"  {'what':<36} {'per event':>13}   speed-up over predict")
    print(f"  {'model.predict, batch-1 twin':<36} {predict * 1e6:>10.1f} us   1x")
    print(f"  {'model(x), batch-1 twin':<36} {direct * 1e6:>10.1f} us   {predict / direct:,.0f}x")
    print(f"  {'pure step, one series':<36} {one * 1e6:>10.1f} us   {predict / one:,.0f}x")
    print(
        f"  {f'pure step, {series:,} series at once':<36} {batched * 1e6:>10.2f} us   "
        f"{predict / batched:,.0f}x"
    )


def full_window_replay(units: int, series: int, window: int = 64) -> None:
    """The swap pause in the worst case: every series' window is full (pure, no Kafka)."""
    from foundation.settings.worker import SwapPolicy
    from worker.hotpath import apply_swap
    from worker.state_store import StateStore

    old, new = (ServingModel.from_artifact(artifact(v, units)) for v in (1, 2))
    store = StateStore(capacity=series, window=window, features=1, layers=1, units=units)
    slots = store.slots_for([f"series-{i:05d}" for i in range(series)])
    rng = np.random.default_rng(0)
    for _ in range(window):
        store.push_inputs(slots, rng.normal(size=(series, 1)))
    started = time.perf_counter()
    apply_swap(store, old, new, SwapPolicy.REPLAY)
    print(
        f"\nreplay swap with {series:,} series and full windows (W={window}): "
        f"{time.perf_counter() - started:.3f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--events-per-series", type=int, default=20)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--partitions", type=int, default=6)
    add_client_option(parser)
    parser.add_argument("--no-swap", action="store_true", help="skip the swap-pause measurement")
    args = parser.parse_args(argv)
    args.client = chosen_clients(args)

    step_vs_predict(args.units, args.series)
    own_work(ServingModel.from_artifact(artifact(1, args.units)), args.series)
    full_window_replay(args.units, args.series)
    with temporary_broker() as (bootstrap, _):
        measure(bootstrap, args)
    return 0


@dataclass(frozen=True)
class ClientFigures:
    """Seconds to move the same events through one client, three ways."""

    client: str
    passthrough_s: float
    shaped_s: float
    worker_s: float


def measure(bootstrap: str, args: argparse.Namespace) -> None:
    suffix = uuid.uuid4().hex[:6]
    names: dict[str, Any] = {
        f"{role}_topic": f"bench-{role}-{suffix}"
        for role in ("events", "weights", "forecasts", "dlq", "state")
    }
    topics = TopicSettings(bootstrap_servers=bootstrap, partitions=args.partitions, **names)
    ensure_topics(topics)
    total = produce_events(topics, args.series, args.events_per_series)
    producer = weights_producer(topics, 64 * 1024 * 1024)
    publish(producer, topics.weights_topic, weights_message(artifact(1, args.units)))

    passthrough_topic = f"bench-passthrough-{suffix}"
    ensure_topics(topics.model_copy(update={"forecasts_topic": passthrough_topic}))
    figures = [
        client_figures(topics, client, total, passthrough_topic, args) for client in args.client
    ]
    print_throughput(figures, total, args)
    if not args.no_swap:
        swap_pause(topics, producer, total, args)
    producer.close()


def worker_settings(topics: TopicSettings, client: str, name: str) -> WorkerSettings:
    """A worker of its own group, with a state topic of its own (state belongs to one group)."""
    state = f"{topics.state_topic}-{name}"
    ensure_topics(topics.model_copy(update={"state_topic": state}))
    common = topics.model_dump(include=set(KafkaSettings.model_fields))
    return WorkerSettings(
        **{**common, "state_topic": state, "kafka_client": client},
        worker_group_id=f"bench-{name}-{uuid.uuid4().hex[:6]}",
        metrics_port=0,
        max_poll_records=5000,
    )


def client_figures(
    topics: TopicSettings, client: str, total: int, out_topic: str, args: argparse.Namespace
) -> ClientFigures:
    on_client = topics.model_copy(update={"kafka_client": client})
    passthrough_s = passthrough(on_client, total, out_topic)
    shaped_s = passthrough(on_client, total, out_topic, forecast_shaped=True)
    worker_s, _ = run_worker(worker_settings(topics, client, f"worker-{client}"), total)
    return ClientFigures(client, passthrough_s, shaped_s, worker_s)


def print_throughput(figures: list[ClientFigures], total: int, args: argparse.Namespace) -> None:
    print(
        f"\nthroughput, {args.series:,} series x {args.events_per_series} events = {total:,} "
        f"events, {args.partitions} partitions, LSTM 1 x {args.units} units "
        "(ratios: of the same client's raw passthrough, same run):"
    )
    print(f"  {'client':<16} {'what':<28} {'events/s':>10} {'ratio':>7}")
    for f in figures:
        rows = (
            ("raw passthrough (no model)", f.passthrough_s),
            ("forecast-shaped passthrough", f.shaped_s),
            ("twincast worker", f.worker_s),
        )
        for what, seconds in rows:
            ratio = f.passthrough_s / seconds
            print(f"  {f.client:<16} {what:<28} {total / seconds:>10,.0f} {ratio:>7.2f}")
    if len(figures) == 2:
        kp, ck = figures
        print(
            f"  worker on {ck.client} / worker on {kp.client}: {kp.worker_s / ck.worker_s:.2f}x; "
            f"passthrough: {kp.passthrough_s / ck.passthrough_s:.2f}x"
        )


def swap_pause(
    topics: TopicSettings, producer: Producer, total: int, args: argparse.Namespace
) -> None:
    settings = worker_settings(topics, topics.kafka_client, "swap")
    _, service = run_worker(
        settings,
        total,
        midway=lambda: publish_and_forget(producer, topics.weights_topic, artifact(2, args.units)),
    )
    pauses = service.swap_durations[1:]  # the first is loading v1 into an empty store
    stored = len(service.store)
    print(
        f"\nhot swap under replay (W={settings.replay_window}) with {stored:,} series "
        f"in the store: longest pause in consumption {max(pauses, default=float('nan')):.3f} s "
        f"({len(pauses)} swap(s))"
    )


if __name__ == "__main__":
    sys.exit(main())
