"""Hostile artifacts on a real weights topic: each is refused by reason, none stops a worker, and
the valid version published after it is served (live, at start-up and by ``twincast rollback``).

Injected per kind: declared-huge arrays (a small member whose .npy header declares 4 TiB), version
2^63, version 2^62 (in int64, absurdly far ahead), a model over the step budget, a record on which
zipfile raises an unforeseen RuntimeError mid-decode, a changed scaler under the old checksum.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation.kafka import weights_topic
from foundation.kafka.topic_reader import read_backwards
from foundation.kafka.weights_topic import weights_producer
from foundation.settings.base import KafkaSettings
from lstmcore import acceptance
from lstmcore.artifact import encode_artifact
from lstmcore.serving import ServingModel
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    publish_raw,
    read_latest,
    service_env,
    start_module,
)
from tests.integration.test_hot_swap import _metric, _wait_metric
from tests.unit.test_artifact import make_artifact
from tests.unit.test_artifact_bounds import declared_huge, encrypted_flag, resealed, with_manifest
from twincast.operations import rollback
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

BUDGET = 5000  # multiply-adds: 6 units (462) fit, 40 units (19,400) do not


def _valid(version: int) -> bytes:
    return encode_artifact(make_artifact(version=version, units=6))


def hostile(kind: str) -> bytes:
    base = make_artifact(version=50, units=6)
    raw = encode_artifact(base)
    if kind == "declared_huge":
        return declared_huge(raw)
    if kind == "version_2_63":
        return resealed(base, version=2**63)
    if kind == "version_far_ahead":
        return resealed(base, version=2**62)
    if kind == "too_wide":
        return encode_artifact(make_artifact(version=50, units=40))
    if kind == "mid_decode_exception":
        return encrypted_flag(raw)
    assert kind == "scaler_changed"
    return with_manifest(raw, {"scaler": {"kind": "standard", "mean": [7.0], "scale": [1.0]}})


# Each hostile kind and the reason it is refused for.
HOSTILE = {
    "declared_huge": "too_large",
    "version_2_63": "version",
    "version_far_ahead": "version",
    "too_wide": "budget",
    "mid_decode_exception": "unexpected",
    "scaler_changed": "checksum",
}


def _refused(port: int, reason: str) -> float:
    return _metric(port, f'twincast_artifacts_refused_total{{reason="{reason}"}}') or 0.0


def _stop(worker: subprocess.Popen[bytes], log: Path) -> str:
    peak = _peak_rss_kib(worker.pid)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert peak < 1_500_000, f"worker peaked at {peak} KiB: something was allocated"
    return log.read_text()


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _forecast_versions(settings: KafkaSettings, expected: int) -> list[int]:
    records = consume(settings, settings.forecasts_topic, expected)
    assert len(records) == expected, f"{len(records)} of {expected} forecasts"
    return [f.model_version for f in forecasts_of(records)]


def test_each_hostile_artifact_is_refused_and_the_next_version_served(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    publish_artifact(kafka_settings, make_artifact(version=1, units=6))
    port, log = free_port(), tmp_path / "w.log"
    env = service_env(kafka_settings, metrics_port=port, max_step_flops=BUDGET)
    worker = start_module("worker", [], env, tmp_path, log)
    sent, served = 0, []
    try:
        _wait_metric(port, "twincast_model_version", 1.0)
        for version, (kind, reason) in enumerate(HOSTILE.items(), start=2):
            before = _refused(port, reason)
            publish_raw(kafka_settings, hostile(kind))
            publish_raw(kafka_settings, _valid(version))
            _wait_metric(port, "twincast_model_version", float(version))
            assert _refused(port, reason) == before + 1, f"{kind} counted as {reason}"
            sent += produce_series(kafka_settings, seasonal_series(2, 5, seed=version))
            served.append(version)
        versions = _forecast_versions(kafka_settings, sent)
    finally:
        text = _stop(worker, log)
    assert set(versions) <= set(served) and max(versions) == served[-1], "forecasts kept coming"
    assert text.count("refused") >= len(HOSTILE), "each refusal is logged"
    assert "Traceback" not in text


def test_a_worker_starts_on_a_topic_whose_newest_records_are_hostile(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    for version in (1, 2):
        publish_raw(kafka_settings, _valid(version))
    kinds = ["version_far_ahead", "declared_huge", "mid_decode_exception", "version_2_63"]
    for kind in kinds:
        publish_raw(kafka_settings, hostile(kind))
    latest = read_latest(kafka_settings, 1)  # the trainer's version lookup
    assert latest.model is not None and latest.model.version == 2
    assert sorted(r for _, r in latest.refused) == sorted(HOSTILE[k] for k in kinds)

    port, log = free_port(), tmp_path / "w.log"
    worker = start_module(
        "worker", [], service_env(kafka_settings, metrics_port=port), tmp_path, log
    )
    try:
        _wait_metric(port, "twincast_model_version", 2.0)
        assert _refused(port, "version") == 2 and _refused(port, "unexpected") == 1
        sent = produce_series(kafka_settings, seasonal_series(2, 5, seed=1))
        assert set(_forecast_versions(kafka_settings, sent)) == {2}
        # A rollback reads the topic newest first too, and publishes what workers accept.
        assert rollback(kafka_settings, 1, 64 * 1024 * 1024) == 3
        _wait_metric(port, "twincast_model_version", 3.0)
        publish_raw(kafka_settings, _valid(4))
        _wait_metric(port, "twincast_model_version", 4.0)
    finally:
        _stop(worker, log)


def test_start_up_does_not_grow_with_the_versions_kept(
    kafka_settings: KafkaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 300 versions on the topic start-up reads and decodes what it does with 2: the newest
    records first, and stops at the first valid pair. (Its time is measured by bench-weights.)"""
    create_topics(kafka_settings)
    read: list[int] = []
    decoded: list[int] = []

    def counting_reader(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for record in read_backwards(*args, **kwargs):
            read.append(record.offset)
            yield record

    real_prepare = acceptance.prepare

    def counting_prepare(raw: bytes | None, *args: Any) -> ServingModel:
        decoded.append(1)
        return real_prepare(raw, *args)

    monkeypatch.setattr(weights_topic, "read_backwards", counting_reader)
    monkeypatch.setattr(acceptance, "prepare", counting_prepare)
    producer = weights_producer(kafka_settings, 64 * 1024 * 1024)
    seen = {}
    for version in range(1, 301):
        producer.send(kafka_settings.weights_topic, key=b"test", value=_valid(version))
        producer.flush()
        if version in (2, 300):
            read.clear()
            decoded.clear()
            latest = read_latest(kafka_settings, 1)
            assert latest.model is not None and latest.model.version == version
            seen[version] = (len(read), len(decoded))
    producer.close()
    print(f"\nrecords read, artifacts decoded: 2 versions {seen[2]}, 300 versions {seen[300]}")
    assert seen[300] == seen[2], "start-up work does not grow with the versions kept"
    assert seen[300][1] == 2, "the newest valid artifact and the one it follows"
