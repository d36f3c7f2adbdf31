"""The trainer gathers events over polls and writes them to the history together: nothing is
written (nor committed) before a batch is full, its time is up, or a poll comes back empty."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from bench.own_work import PlainRecord
from foundation.kafka.client import Consumer, Partition
from foundation.settings.trainer import TrainerSettings
from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService

TOPIC = "events"


class Polls:
    """A consumer stand-in that hands out prepared polls (then nothing) and counts commits."""

    def __init__(self, polls: list[list[int]]) -> None:
        self.polls = polls
        self.commits = 0

    def poll(self, timeout_s: float, max_records: int | None = None) -> Mapping[Any, Any]:
        offsets = self.polls.pop(0) if self.polls else []
        records = [
            PlainRecord(
                TOPIC, 0, o, 0, None, json.dumps({"series_id": "a", "ts": o, "value": o}).encode()
            )
            for o in offsets
        ]
        return {Partition(TOPIC, 0): records} if records else {}

    def commit(self, offsets: object = None, timeout_s: float | None = None) -> None:
        assert offsets is not None, "the history's offsets, never the consumer's positions"
        self.commits += 1


def test_events_are_written_in_batches_and_when_caught_up(tmp_path: Path) -> None:
    settings = TrainerSettings(
        history_db=tmp_path / "h.sqlite",
        history_batch_events=5,
        history_batch_seconds=3600,
        events_topic=TOPIC,
        metrics_port=0,
    )
    service = TrainerService(settings, TrainerMetrics())
    polls = Polls([[0, 1, 2], [3, 4, 5], [6]])
    consumer = cast(Consumer, polls)
    service.ingest.resume({Partition(TOPIC, 0): 0})
    try:
        service._ingest(consumer, 0)
        assert service.history.size() == (0, 0) and polls.commits == 0  # gathered, not written
        service._ingest(consumer, 0)  # 6 waiting >= 5: written together
        assert service.history.size() == (1, 6) and polls.commits == 1
        assert service.history.offsets(TOPIC) == {0: 6}
        service._ingest(consumer, 0)
        assert service.history.size() == (1, 6)
        service._ingest(consumer, 0)  # an empty poll: caught up, the rest is written
        assert service.history.size() == (1, 7) and polls.commits == 2
        assert service.history.offsets(TOPIC) == {0: 7}
        assert service._new_events == 7
        assert service.metrics.events._value.get() == 7
    finally:
        service.history.close()
