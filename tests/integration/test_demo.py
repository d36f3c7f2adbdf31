"""`twincast demo --duration`: the whole system runs, reports every second, and cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka_fixtures import KafkaClientName
from twincast.ports import free_port

pytestmark = pytest.mark.kafka


def test_demo_runs_and_stops_everything(tmp_path: Path, kafka_client: KafkaClientName) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINCAST_")}
    env.update(
        {
            "TWINCAST_KAFKA_PORT": str(free_port()),
            "TWINCAST_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TWINCAST_KAFKA_DIR": str(tmp_path / "kafka"),
            "TWINCAST_KAFKA_CLIENT": kafka_client,  # the demo's producer and its services
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
    )
    ports = [str(free_port()), str(free_port())]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twincast",
            "demo",
            "--duration",
            "45",
            "--rate",
            "150",
            "--series",
            "10",
            "--trainer-metrics-port",
            ports[0],
            "--worker-metrics-port",
            ports[1],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    status = [line for line in out.splitlines() if line.startswith("events/s")]
    assert len(status) >= 30, out[-3000:]
    assert any(" model v1 " in line or " model v2 " in line for line in status), out[-3000:]
    assert "everything it started is stopped" in out
    # Nothing it started is left: no broker on its data folder, no trainer or worker child.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == ""
