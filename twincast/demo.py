"""``twincast demo``: the whole system on one machine, with a status line every second.

Starts (or reuses) the local broker, creates the topics, starts the trainer and the worker as
child processes, streams a synthetic multi-series data set through them in real time and prints
events/s, forecasts/s, series, model version and online MAE (model next to persistence) every
second. Ctrl-C (or the end of ``--duration``) stops everything it started.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from foundation.kafka.client import ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics
from foundation.settings.base import TopicSettings
from schemas import Event, encode
from twincast.children import start_module, stop_child
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.scrape import scrape, total
from twincast.synthetic import seasonal_series

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None
    rate: float  # events per second, all series together
    series: int
    trainer_metrics_port: int = 9101
    worker_metrics_port: int = 9102


class SyntheticStream(threading.Thread):
    """Produces the synthetic series in real time, one time step for all series at a time."""

    def __init__(self, topics: TopicSettings, options: DemoOptions) -> None:
        super().__init__(name="demo-producer", daemon=True)
        self.topics, self.options = topics, options
        self.stop_requested = threading.Event()
        self.sent = 0

    def run(self) -> None:
        options = ProducerOptions("demo-producer", linger_ms=10)
        producer = kafka_clients(self.topics).producer(options)
        n, step_s = self.options.series, self.options.series / self.options.rate
        start, block = datetime.now(UTC), 0
        try:
            while not self.stop_requested.is_set():
                data = seasonal_series(n, 200, seed=42, noise=0.08, trend=0.02, start=block * 200)
                for t in range(200):
                    ts = start + timedelta(minutes=block * 200 + t)
                    for name, values in data.items():
                        event = Event(series_id=name, ts=ts, value=float(values[t, 0]))
                        producer.send(
                            self.topics.events_topic, key=name.encode(), value=encode(event)
                        )
                        self.sent += 1
                    if self.stop_requested.wait(step_s):
                        return
                block += 1
        finally:
            producer.flush()
            producer.close()


class StatusLine:
    """One line per second from the worker's metrics: rates and online accuracy."""

    def __init__(self, worker_url: str) -> None:
        self.url = worker_url
        self.previous: dict[str, float] | None = None
        self.at = time.monotonic()

    def line(self) -> str:
        try:
            now = scrape(self.url)
        except OSError:
            return "waiting for the worker's metrics endpoint ..."
        moment = time.monotonic()
        before, self.previous, seconds = self.previous or now, now, max(moment - self.at, 1e-6)
        self.at = moment

        def rate(name: str) -> float:
            return (total(now, name) - total(before, name)) / seconds

        scored = _model_only(now, "twincast_forecasts_scored_total")
        model_mae = _mae(now, "twincast_forecast_abs_error_total", scored)
        persistence_mae = _mae(now, "twincast_persistence_abs_error_total", scored)
        return (
            f"events/s {rate('twincast_events_consumed_total'):7.0f} | "
            f"forecasts/s {rate('twincast_forecasts_produced_total'):7.0f} | "
            f"series {now.get('twincast_state_series', 0):5.0f} | "
            f"model v{now.get('twincast_model_version', 0):.0f} | "
            f"online MAE model {model_mae} vs persistence {persistence_mae}"
        )


def _model_only(samples: dict[str, float], name: str) -> float:
    """A counter summed over real model versions (>= 1), leaving out persistence (version 0)."""
    return total(samples, name) - samples.get(f"{name}{{model_version=0}}", 0.0)


def _mae(samples: dict[str, float], name: str, scored: float) -> str:
    """MAE over every forecast made by a real model so far (the same events for both names)."""
    return f"{_model_only(samples, name) / scored:.4f}" if scored > 0 else "  -   "


def _service_env(topics: TopicSettings, home: Path, options: DemoOptions) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env.update(
        {
            "TWINCAST_BOOTSTRAP_SERVERS": topics.bootstrap_servers,
            # The services use the client the demo itself was told to (TWINCAST_KAFKA_CLIENT).
            "TWINCAST_KAFKA_CLIENT": topics.kafka_client,
            "TWINCAST_HISTORY_DB": str(home / "history.sqlite"),
            "TWINCAST_ARTIFACT_DIR": str(home / "artifacts"),
            "TWINCAST_REFIT_EVERY_EVENTS": str(max(500, int(options.rate * 15))),
            "TWINCAST_REFIT_EVERY_SECONDS": "60",
            "TWINCAST_EPOCHS": "15",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
    )
    for role, name in topics.topic_names().items():
        env[f"TWINCAST_{role.upper()}_TOPIC"] = name
    return env


def run_demo(options: DemoOptions) -> int:
    broker = LocalKafka(LocalKafkaSettings())
    info = broker.up()
    print(f"Kafka {'reused' if info.already_running else 'started'} at {info.bootstrap}")
    topics = TopicSettings(bootstrap_servers=info.bootstrap)
    ensure_topics(topics)
    home = broker.home / "demo"
    home.mkdir(parents=True, exist_ok=True)
    env = _service_env(topics, home, options)
    trainer = start_module(
        "trainer",
        {**env, "TWINCAST_METRICS_PORT": str(options.trainer_metrics_port)},
        home / "trainer.log",
        new_session=True,  # the terminal's Ctrl-C reaches the demo, which stops them in order
    )
    worker = start_module(
        "worker",
        {**env, "TWINCAST_METRICS_PORT": str(options.worker_metrics_port)},
        home / "worker.log",
        new_session=True,
    )
    stream = SyntheticStream(topics, options)
    stream.start()
    print(
        f"trainer metrics http://127.0.0.1:{options.trainer_metrics_port}/metrics, log "
        f"{home / 'trainer.log'}\nworker  metrics http://127.0.0.1:{options.worker_metrics_port}"
        f"/metrics, log {home / 'worker.log'}\nCtrl-C stops everything."
    )
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    status = StatusLine(f"http://127.0.0.1:{options.worker_metrics_port}/metrics")
    deadline = None if options.duration_s is None else time.monotonic() + options.duration_s
    code = 0
    try:
        while not stop.wait(1.0):
            print(status.line(), flush=True)
            for name, child in (("trainer", trainer), ("worker", worker)):
                if child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; see {home / (name + '.log')}")
                    stop.set()
                    code = 1
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        stream.stop_requested.set()
        stream.join(timeout=10)
        for child in (worker, trainer):
            stop_child(child)
        if not info.already_running:
            broker.down()
        print(f"demo stopped: {stream.sent} events sent; everything it started is stopped")
    return code
