"""``twincast evaluate --pipeline``: the same replay through the real system.

A private broker (free ports, temporary folder), ``twincast topics``, the trainer and the worker as
their own processes with the evaluation's settings. The replay goes in the rounds of the offline
mode: the events of a round are produced and forecast by the worker (the trainer is paused
meanwhile), then the evaluation waits until the trainer has refit on them
(``twincast_refits_total`` grew) and, if it published, until the worker serves that version; only
then the next round. The forecasts are read back from the forecasts topic.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import time
from pathlib import Path

from foundation.errors import TwincastError
from foundation.kafka.client import ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topic_reader import read_topic
from foundation.kafka.topics import ensure_topics
from foundation.settings.base import KafkaSettings, TopicSettings
from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from schemas import Event, Forecast, decode, encode
from twincast.children import start_module, stop_child
from twincast.evaluation.datasets import Dataset
from twincast.evaluation.offline import ForecastCollector, ModelRun, rounds
from twincast.localkafka.temporary import temporary_broker
from twincast.ports import free_port
from twincast.scrape import scrape

log = logging.getLogger(__name__)


class PipelineError(TwincastError):
    """The pipeline did not answer in time (a service died or hung)."""


def run_pipeline(
    dataset: Dataset, trainer: TrainerSettings, worker: WorkerSettings, timeout_s: float = 600
) -> ModelRun:
    with temporary_broker("twincast-evaluate-") as (bootstrap, home):
        topics = TopicSettings(bootstrap_servers=bootstrap, partitions=3)
        ensure_topics(topics)
        ports = {"trainer": free_port(), "worker": free_port()}
        env = _env(topics, home, trainer, worker, ports)
        services = {
            name: start_module(name, env[name], home / f"{name}.log")
            for name in ("trainer", "worker")
        }
        try:
            return _replay(dataset, topics, trainer, services, ports, timeout_s)
        finally:
            for child in services.values():
                stop_child(child)


def _replay(
    dataset: Dataset,
    topics: KafkaSettings,
    trainer: TrainerSettings,
    services: dict[str, subprocess.Popen[bytes]],
    ports: dict[str, int],
    timeout_s: float,
) -> ModelRun:
    urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    options = ProducerOptions("evaluate", acks="all", linger_ms=5)
    producer = kafka_clients(topics).producer(options)
    verdicts: list[str] = []
    tails: list[tuple[float, float]] = []
    skipped: list[tuple[str, str]] = []
    skips_before: dict[str, float] = {}
    outcomes: dict[str, float] = {}
    chunks = rounds(dataset.events(), trainer.refit_every_events)
    try:
        sent = 0
        for number, chunk in enumerate(chunks, start=1):
            # The worker must answer a round with the model of the round before, as offline: the
            # trainer (reading by manual assignment, no group to time out) is paused until the
            # worker has forecast the round, so it cannot publish a model before that.
            services["trainer"].send_signal(signal.SIGSTOP)
            for series_id, ts, value in chunk:
                event = encode(Event(series_id=series_id, ts=ts, value=value))
                producer.send(topics.events_topic, key=series_id.encode(), value=event)
            producer.flush()
            sent += len(chunk)
            _await_forecast_count(urls["worker"], sent, services, timeout_s)
            services["trainer"].send_signal(signal.SIGCONT)
            if number < len(chunks):  # after the last round nothing is left to forecast
                now = _await_refit(urls, services, number, outcomes, timeout_s)
                grown = [k for k, v in now.items() if v > outcomes.get(k, 0.0)]
                new = [k for k in grown if k not in ("not_enough_data", "published_version")]
                verdicts += new
                trainer_now = _samples(urls["trainer"])
                tails += [_tail(trainer_now)] * len(new)
                skipped += _new_skips(trainer_now, skips_before)
                skips_before = trainer_now
                outcomes = now
    finally:
        producer.close()
    forecasts = _await_forecasts(topics, len(dataset), services, timeout_s)
    collector = ForecastCollector(dataset)
    for f in sorted(forecasts, key=lambda f: (f.source_partition, f.source_offset)):
        half = math.nan if f.lower is None or f.upper is None else (f.upper - f.lower) / 2
        collector.add([f.series_id], [f.forecast], [f.model_version], [half])
    return collector.run(verdicts, tails, skipped)


SKIPPED = "twincast_trainer_refit_skipped_total{reason="


def _tail(trainer: dict[str, float]) -> tuple[float, float]:
    """The last refit's candidate and persistence MAE on its held-out tail."""
    mae = "twincast_trainer_validation_mae{model="
    return trainer.get(mae + "candidate}", float("nan")), trainer.get(
        mae + "persistence}", float("nan")
    )


def _new_skips(trainer: dict[str, float], before: dict[str, float]) -> list[tuple[str, str]]:
    """The reasons (twincast_trainer_refit_skipped_total) counted since ``before``."""
    return [
        (key[len(SKIPPED) : -1], "the trainer's log says why")
        for key, value in trainer.items()
        if key.startswith(SKIPPED)
        for _ in range(int(value - before.get(key, 0.0)))
    ]


SERVED = ("accepted", "gate_off")


def _await_refit(
    urls: dict[str, str],
    services: dict[str, subprocess.Popen[bytes]],
    refits: int,
    before: dict[str, float],
    timeout_s: float,
) -> dict[str, float]:
    """Wait for the trainer's refit number ``refits`` to end (an accepted one ends when it is
    published: the trainer counts the outcome first) and for the worker to serve it; returns
    the trainer's refit counts by outcome."""
    deadline = time.monotonic() + timeout_s
    prefix = "twincast_refits_total{outcome="
    served_before = sum(before.get(k, 0.0) for k in SERVED)
    while True:
        _check_alive(services, deadline)
        trainer = _samples(urls["trainer"])
        outcomes = {k[len(prefix) : -1]: v for k, v in trainer.items() if k.startswith(prefix)}
        published = trainer.get("twincast_trainer_published_version", 0.0)
        if sum(outcomes.values()) >= refits and (
            sum(outcomes.get(k, 0.0) for k in SERVED) == served_before
            or published > before.get("published_version", 0.0)
        ):
            break
        time.sleep(0.2)
    while _samples(urls["worker"]).get("twincast_model_version", -1.0) < published:
        _check_alive(services, deadline)
        time.sleep(0.1)
    return {**outcomes, "published_version": published}


def _await_forecast_count(
    url: str, sent: int, services: dict[str, subprocess.Popen[bytes]], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while _samples(url).get("twincast_forecasts_produced_total", 0.0) < sent:
        _check_alive(services, deadline)
        time.sleep(0.05)


def _await_forecasts(
    topics: KafkaSettings,
    expected: int,
    services: dict[str, subprocess.Popen[bytes]],
    timeout_s: float,
) -> list[Forecast]:
    deadline = time.monotonic() + timeout_s
    while True:
        _check_alive(services, deadline)
        records = list(read_topic(topics, topics.forecasts_topic))
        # At-least-once may repeat a forecast (identically): one per source position counts.
        unique = {(r.partition, r.offset): r for r in records}
        by_position = {
            (f.source_partition, f.source_offset): f
            for f in (decode(Forecast, r.value) for r in unique.values())
        }
        if len(by_position) >= expected:
            return list(by_position.values())
        time.sleep(0.5)


def _samples(url: str) -> dict[str, float]:
    try:
        return scrape(url)
    except OSError:
        return {}  # not listening yet


def _check_alive(services: dict[str, subprocess.Popen[bytes]], deadline: float) -> None:
    for name, child in services.items():
        if child.poll() is not None:
            raise PipelineError(f"the {name} exited with {child.returncode}")
    if time.monotonic() > deadline:
        raise PipelineError("the pipeline did not answer in time")


def _env(
    topics: TopicSettings,
    home: Path,
    trainer: TrainerSettings,
    worker: WorkerSettings,
    ports: dict[str, int],
) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    base["TF_CPP_MIN_LOG_LEVEL"] = "3"
    base["TWINCAST_BOOTSTRAP_SERVERS"] = topics.bootstrap_servers
    base["TWINCAST_KAFKA_CLIENT"] = topics.kafka_client  # the evaluation's own, for its services
    for role, name in topics.topic_names().items():
        base[f"TWINCAST_{role.upper()}_TOPIC"] = name
    out = {}
    for name, settings in (("trainer", trainer), ("worker", worker)):
        env = dict(base)
        for field, value in settings.model_dump(exclude=set(KafkaSettings.model_fields)).items():
            if value is not None:
                env[f"TWINCAST_{field.upper()}"] = str(value)
        env["TWINCAST_METRICS_PORT"] = str(ports[name])
        env["TWINCAST_METRICS_ADDR"] = "127.0.0.1"
        out[name] = env
    out["trainer"]["TWINCAST_HISTORY_DB"] = str(home / "history.sqlite")
    out["trainer"]["TWINCAST_ARTIFACT_DIR"] = str(home / "artifacts")
    out["trainer"]["TWINCAST_REFIT_EVERY_SECONDS"] = str(10**9)  # rounds of events only
    return out
