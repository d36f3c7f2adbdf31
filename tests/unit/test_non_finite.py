"""No forecast is ever non-finite: the worker's loop sends a non-finite step's event to the DLQ
(and counts it) instead of forecasting it, and the series starts again from zero state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from foundation.kafka.client import Headers, Partition
from foundation.settings.worker import WorkerSettings
from schemas import DeadLetter, Event, decode, encode
from tests.unit.test_state_validation import MODEL, TS
from worker.delivery import Delivery
from worker.metrics import WorkerMetrics
from worker.records import NON_FINITE_FORECAST
from worker.service import WorkerService


@dataclass
class _Record:
    key: bytes
    value: bytes
    offset: int
    topic: str = "twincast.events"
    partition: int = 0
    timestamp: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class _Sent:
    def failed(self) -> bool:
        return False

    def acknowledged(self) -> bool:
        return True

    def error(self) -> BaseException | None:
        return None

    def offset(self, timeout_s: float) -> int:
        return 0


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> _Sent:
        assert value is not None, "forecasts and dead letters always have a value"
        self.sent.append((topic, key, value))
        return _Sent()

    def flush(self, timeout_s: float | None = None) -> None:
        pass

    def partitions_for(self, topic: str) -> set[int]:
        return set()

    def close(self, timeout_s: float | None = None) -> None:
        pass


def _poll(pairs: list[tuple[str, float]], first: int) -> list[_Record]:
    return [
        _Record(sid.encode(), encode(Event(series_id=sid, ts=TS, value=v)), first + i)
        for i, (sid, v) in enumerate(pairs)
    ]


def test_a_non_finite_step_is_dead_lettered_counted_and_never_forecast() -> None:
    settings = WorkerSettings()
    service = WorkerService(settings, WorkerMetrics())
    service._swap(MODEL)
    producer = _Producer()
    service.delivery = Delivery(producer, settings.max_in_flight_sends)
    tp = Partition(settings.events_topic, 0)
    first = _poll([("a", 1.0), ("b", 1.0)], 0)
    service._handle({tp: first}, first)
    (slot,) = service.store.slots_for(["a"])
    service.store.c[:, slot] = np.inf  # a poisoned state, had one got in
    second = _poll([("a", 2.0), ("b", 2.0)], 2)
    service._handle({tp: second}, second)

    forecasts = [json.loads(v) for t, _, v in producer.sent if t == settings.forecasts_topic]
    letters = [decode(DeadLetter, v) for t, _, v in producer.sent if t == settings.dlq_topic]
    assert [(f["series_id"], f["source_offset"]) for f in forecasts] == [
        ("a", 0),
        ("b", 1),
        ("b", 3),
    ]
    assert all(np.isfinite(f["forecast"]) for f in forecasts)
    assert [(d.reason, d.source_offset) for d in letters] == [(NON_FINITE_FORECAST, 2)]
    sample = service.metrics.registry.get_sample_value
    assert sample("twincast_dlq_messages_total", {"reason": NON_FINITE_FORECAST}) == 1
    assert sample("twincast_forecasts_produced_total") == 3
    state = service.store.get("a")
    assert state is not None and not state.c.any() and len(state.window) == 0
