"""A replay swap prepared off the loop while events keep coming: forecasts stay the new twin's."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from foundation.settings.base import KafkaSettings
from foundation.settings.worker import SwapPolicy
from lstmcore.serving import ServingModel
from tests.integration.helpers import (
    consume,
    create_topics,
    forecasts_of,
    produce_series,
    publish_artifact,
    service_env,
    start_module,
)
from tests.integration.test_hot_swap import WINDOW, _metric, _wait_metric, reference
from tests.unit.test_artifact import make_artifact
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

SERIES, STEPS, CHUNK = 12, 90, 3


def _answered(port: int, count: int) -> None:
    deadline = time.monotonic() + 120
    while (_metric(port, "twincast_forecasts_produced_total") or 0) < count:
        assert time.monotonic() < deadline, f"fewer than {count} forecasts"
        time.sleep(0.1)


def test_replay_swap_prepared_while_events_keep_coming(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings, partitions=2)
    artifacts = {v: make_artifact(version=v, units=6, mean=0.1 * v, scale=1.0 + v) for v in (1, 2)}
    models = {v: ServingModel.from_artifact(a) for v, a in artifacts.items()}
    port = free_port()
    # Replayed one slot at a time over 3,000 slots, the preparation lasts long enough for events
    # to change series meanwhile; a bound of 2 sends most of those through more rounds.
    env = service_env(
        kafka_settings,
        metrics_port=port,
        replay_window=WINDOW,
        swap_policy=SwapPolicy.REPLAY.value,
        max_poll_records=7,
        state_max_series=3000,
        swap_replay_chunk=1,
        swap_on_loop_series=2,
    )
    log_path = tmp_path / "w.log"
    worker = start_module("worker", ["--exit-when-idle", "4"], env, tmp_path, log_path)
    series = seasonal_series(SERIES, STEPS, seed=11)
    try:
        publish_artifact(kafka_settings, artifacts[1])
        _wait_metric(port, "twincast_model_version", 1.0)
        produce_series(kafka_settings, {k: v[:30] for k, v in series.items()})
        _answered(port, SERIES * 30)
        publish_artifact(kafka_settings, artifacts[2])
        # The events keep coming, a few steps at a time, while the swap is prepared.
        for start in range(30, STEPS, CHUNK):
            chunk = {k: v[start : start + CHUNK] for k, v in series.items()}
            produce_series(kafka_settings, chunk, first_step=start)
        _wait_metric(port, "twincast_model_version", 2.0)
        _answered(port, SERIES * STEPS)
        total = SERIES * STEPS
        forecasts = forecasts_of(consume(kafka_settings, kafka_settings.forecasts_topic, total))
    finally:
        assert worker.wait(timeout=60) == 0, log_path.read_text()[-3000:]

    assert len(forecasts) == total
    grouped = defaultdict(list)
    for f in sorted(forecasts, key=lambda f: (f.source_partition, f.source_offset)):
        grouped[f.series_id].append(f)
    for name, got in grouped.items():
        versions = [f.model_version for f in got]
        assert versions == sorted(versions) and versions[0] == 1
        expected = reference(series[name], versions, models, SwapPolicy.REPLAY)
        np.testing.assert_allclose([f.forecast for f in got], expected, atol=1e-5)
    swapped = [line for line in log_path.read_text().splitlines() if "model version 2 (" in line]
    assert len(swapped) == 1 and "prepared off the loop" in swapped[0], swapped
    assert " 0 round(s)" not in swapped[0], "the replay was prepared off the loop"
