"""`twincast produce` and `twincast tail` against a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings
from schemas import Forecast, decode, decode_event
from tests.integration.helpers import consume, create_topics, service_env

pytestmark = pytest.mark.kafka

CSV = """meter,when,kwh
m1,2026-01-01T00:00:00Z,1.5
m2,1767225600,2.5
m1,2026-01-01T00:01:00Z,abc
m1,2026-01-01T00:02:00Z,nan
,2026-01-01T00:03:00Z,1.0
m2,2026-01-01T00:04:00Z,3.0
"""


def _cli(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twincast", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_produce_csv_reports_bad_lines_and_sends_the_rest(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    create_topics(kafka_settings)
    path = tmp_path / "meters.csv"
    path.write_text(CSV)
    env = service_env(kafka_settings)
    result = _cli(
        ["produce", str(path), "--series-col", "meter", "--ts-col", "when", "--value-col", "kwh"],
        env,
    )
    assert result.returncode == 1  # some lines were bad
    assert "line 4: column kwh: 'abc' is not a number" in result.stderr
    assert "line 5:" in result.stderr and "finite" in result.stderr
    assert "line 6:" in result.stderr and "series_id" in result.stderr
    assert "3 events sent, 3 bad lines skipped" in result.stderr
    events = [
        decode_event(r.value, n_features=1, max_bytes=MAX_EVENT_BYTES)
        for r in consume(kafka_settings, kafka_settings.events_topic, 3)
    ]
    assert sorted((e.series_id, e.features()[0]) for e in events) == [
        ("m1", 1.5),
        ("m2", 2.5),
        ("m2", 3.0),
    ]


def test_produce_jsonl_from_stdin(kafka_settings: KafkaSettings) -> None:
    create_topics(kafka_settings)
    lines = "\n".join(json.dumps({"series_id": f"s{i}", "ts": i, "value": i / 2}) for i in range(5))
    result = _cli(
        ["produce", "-", "--format", "jsonl"], service_env(kafka_settings), lines + "\n{bad"
    )
    assert "line 6: not valid JSON" in result.stderr
    assert len(consume(kafka_settings, kafka_settings.events_topic, 5)) == 5


def test_tail_prints_forecasts_of_one_series(kafka_settings: KafkaSettings) -> None:
    from kafka import KafkaProducer

    create_topics(kafka_settings)
    producer = KafkaProducer(**kafka_settings.client_config("test"))
    for i in range(6):
        forecast = Forecast(
            series_id=f"s{i % 2}",
            ts=datetime.fromtimestamp(1767225600 + i, UTC),
            forecast=i * 1.5,
            model_version=2,
            produced_at=datetime.fromtimestamp(1767225600, UTC),
            source_topic="e",
            source_partition=0,
            source_offset=i,
        )
        producer.send(
            kafka_settings.forecasts_topic,
            key=forecast.series_id.encode(),
            value=forecast.model_dump_json().encode(),
        )
    producer.flush()
    producer.close()
    env = service_env(kafka_settings)
    result = _cli(
        [
            "tail",
            "--series",
            "s1",
            "--json",
            "--from-beginning",
            "--max",
            "3",
            "--idle-timeout",
            "20",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    got = [decode(Forecast, line.encode()) for line in result.stdout.splitlines()]
    assert [(f.series_id, f.forecast) for f in got] == [("s1", 1.5), ("s1", 4.5), ("s1", 7.5)]
    table = _cli(["tail", "--from-beginning", "--max", "2", "--idle-timeout", "20"], env)
    assert table.stdout.splitlines()[0].split()[:3] == ["produced_at", "series_id", "ts"]
    assert len(table.stdout.splitlines()) == 3


def test_plot_draws_actuals_and_forecasts_with_version_changes(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    from tests.integration.helpers import produce_series, publish_artifact, run_module
    from tests.unit.test_artifact import make_artifact
    from twincast.synthetic import seasonal_series

    create_topics(kafka_settings)
    env = service_env(kafka_settings, metrics_port=0)
    data = seasonal_series(2, 80, seed=3)
    produce_series(kafka_settings, {k: v[:40] for k, v in data.items()})
    assert run_module("worker", ["--exit-when-idle", "2"], env, tmp_path).returncode == 0
    publish_artifact(kafka_settings, make_artifact(version=1, units=6))
    produce_series(kafka_settings, {k: v[40:] for k, v in data.items()}, first_step=40)
    assert run_module("worker", ["--exit-when-idle", "2"], env, tmp_path).returncode == 0

    out = tmp_path / "series-000.png"
    result = _cli(["plot", "series-000", "--out", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert "80 actual values, 79 forecasts, model versions [0, 1]" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    missing = _cli(["plot", "no-such-series", "--out", str(tmp_path / "x.png")], env)
    assert missing.returncode == 1 and "no events of series 'no-such-series'" in missing.stderr
