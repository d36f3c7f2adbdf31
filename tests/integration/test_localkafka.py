"""The local broker's lifecycle: up and down are idempotent and the broker really answers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.ports import free_port

pytestmark = pytest.mark.kafka


def test_up_up_down_down(tmp_path: Path) -> None:
    broker = LocalKafka(
        LocalKafkaSettings(
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_dir=tmp_path / "k",
        )
    )
    try:
        first = broker.up()
        assert not first.already_running
        second = broker.up()
        assert second.already_running and second.pid == first.pid

        admin = KafkaAdminClient(bootstrap_servers=first.bootstrap)
        assert isinstance(admin.list_topics(), list)
        admin.close()
        if shutil.which("kcat"):  # a non-Python client too, where the machine has one
            listing = subprocess.run(
                ["kcat", "-L", "-b", first.bootstrap, "-m", "10"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert "1 brokers" in listing.stdout
    finally:
        assert broker.down() is True
    assert broker.down() is False
    assert broker.running_pid() is None

    # Restarting over formatted storage works and keeps the cluster's data.
    try:
        assert not broker.up().already_running
    finally:
        broker.down()
