"""A private broker for one run: free ports, a temporary folder, stopped afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foundation.settings.localkafka import LocalKafkaSettings
from twincast.localkafka.broker import LocalKafka
from twincast.ports import free_port


@contextmanager
def temporary_broker(prefix: str = "twincast-") -> Iterator[tuple[str, Path]]:
    """(bootstrap address, scratch folder) of a broker that lives for the with-block."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        settings = LocalKafkaSettings(
            kafka_port=free_port(), kafka_controller_port=free_port(), kafka_dir=Path(tmp) / "k"
        )
        broker = LocalKafka(settings)
        info = broker.up()
        try:
            yield info.bootstrap, Path(tmp)
        finally:
            broker.down()
