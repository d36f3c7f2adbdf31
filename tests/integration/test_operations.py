"""Operations on a real broker: roll back a model, reset a series' state, read the DLQ."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from foundation.kafka.weights_topic import read_newest_first
from foundation.settings.base import KafkaSettings
from lstmcore.acceptance import artifact_of_version, latest_model
from lstmcore.serving import ServingModel
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    run_module,
    service_env,
)
from tests.integration.test_worker import sequential_reference
from tests.unit.test_artifact import make_artifact
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twincast", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rollback_republishes_an_earlier_version(kafka_settings: KafkaSettings) -> None:
    create_topics(kafka_settings)
    old, new = make_artifact(version=1, units=5), make_artifact(version=2, units=5)
    publish_artifact(kafka_settings, old)
    publish_artifact(kafka_settings, new)
    result = _cli(["rollback", "--to", "1"], service_env(kafka_settings))
    assert result.returncode == 0, result.stderr
    assert "version 1 republished as version 3" in result.stdout
    latest = read_newest_first(
        kafka_settings, latest_model(1, kafka_settings.artifact_limits())
    ).model
    assert latest is not None and latest.version == 3
    # The very same weights and scaler; the checksum differs since it covers the version too.
    assert latest.manifest.scaler == old.manifest.scaler
    assert latest.manifest.sha256 != old.manifest.sha256
    republished = read_newest_first(
        kafka_settings, artifact_of_version(3, kafka_settings.artifact_limits())
    )
    assert republished is not None
    for name, array in old.arrays.items():
        np.testing.assert_array_equal(republished.arrays[name], array)
    missing = _cli(["rollback", "--to", "9"], service_env(kafka_settings))
    assert missing.returncode == 1 and "no valid artifact of version 9" in missing.stderr


def test_reset_series_restarts_its_state_in_order(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    artifact = make_artifact(version=1, units=6)
    publish_artifact(kafka_settings, artifact)
    data = seasonal_series(2, 30, seed=5)
    env = service_env(kafka_settings, metrics_port=0)
    produce_series(kafka_settings, {k: v[:15] for k, v in data.items()})
    assert _cli(["reset-series", "series-000"], env).returncode == 0
    produce_series(kafka_settings, {k: v[15:] for k, v in data.items()}, first_step=15)
    # One worker run sees events, the control record and more events, all in one poll.
    assert run_module("worker", ["--exit-when-idle", "2"], env, tmp_path).returncode == 0

    forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, 60))
    assert len(forecasts) == 60  # the control record itself gets no forecast
    model = ServingModel.from_artifact(artifact)
    got = {
        s: [
            f.forecast
            for f in sorted(
                (f for f in forecasts if f.series_id == s), key=lambda f: f.source_offset
            )
        ]
        for s in data
    }
    reset_ref = (
        sequential_reference(model, {"a": data["series-000"][:15]})["a"]
        + sequential_reference(model, {"b": data["series-000"][15:]})["b"]
    )
    np.testing.assert_allclose(got["series-000"], reset_ref, atol=1e-5)
    untouched = sequential_reference(model, {"c": data["series-001"]})["c"]
    np.testing.assert_allclose(got["series-001"], untouched, atol=1e-5)
    assert consume(kafka_settings, kafka_settings.dlq_topic, 1, timeout_s=3) == []


def test_dlq_command_lists_reasons_and_positions(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    from kafka import KafkaProducer

    create_topics(kafka_settings, partitions=1)
    producer = KafkaProducer(**kafka_settings.client_config("test"))
    producer.send(kafka_settings.events_topic, key=b"a", value=b"{oops")
    producer.send(
        kafka_settings.events_topic, key=b"a", value=b'{"series_id":"a","ts":1,"value":NaN}'
    )
    producer.flush()
    producer.close()
    env = service_env(kafka_settings, metrics_port=0)
    assert run_module("worker", ["--exit-when-idle", "2"], env, tmp_path).returncode == 0
    result = _cli(["dlq"], env)
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    assert lines[0].startswith(f"{kafka_settings.events_topic}[0]@0 invalid_json:")
    assert lines[1].startswith(f"{kafka_settings.events_topic}[0]@1 non_finite_value:")
    assert "raw b'{oops'" in lines[0]
