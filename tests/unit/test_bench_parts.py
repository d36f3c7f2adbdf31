"""The benchmarks' own shortcuts keep to the contracts they stand in for."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bench.latency import _event
from bench.own_work import CountingProducer, one_round, polls
from foundation.settings.worker import WorkerSettings
from lstmcore.serving import ServingModel
from schemas import Event, decode
from worker.state_store import StateStore


def test_the_load_generators_events_are_valid() -> None:
    for name, t in (("series-00007", 0), ("series-00999", 12_345)):
        event = decode(Event, _event(name, t))
        assert event.series_id == name
        assert event.ts == datetime.fromtimestamp(1_700_000_000 + t, UTC)
        assert event.value == float(np.sin(t / 7))


def test_own_work_runs_every_event_through_every_part() -> None:
    from bench.worker_throughput import artifact

    model = ServingModel.from_artifact(artifact(1, 4))
    batches = polls(series=50, per_poll=40, count=5, partitions=3)
    settings = WorkerSettings(state_max_series=50)
    store = StateStore(capacity=50, window=settings.replay_window, features=1, layers=1, units=4)
    producer = CountingProducer()
    clock = one_round(model, store, settings, batches, producer)
    assert set(clock.parts) == {
        "split at controls",
        "decode and validate",
        "waves and step",
        "forecast encoding",
        "checkpoint encoding",
    }
    assert producer.sent == 200 + 50  # a forecast per event, then one state per series
    assert len(store) == 50


def test_the_forecast_shaped_passthrough_writes_a_real_forecast() -> None:
    from bench.worker_throughput import FORECAST_SHAPED
    from schemas import Forecast
    from schemas.forecast import ForecastWriter

    shaped = decode(Forecast, FORECAST_SHAPED)
    writer = ForecastWriter(shaped.source_topic)
    writer.begin_batch(shaped.produced_at)
    half = (shaped.upper or 0.0) - shaped.forecast
    again = writer.write_many(
        [shaped.series_id],
        [shaped.ts],
        np.array([shaped.forecast]),
        [shaped.model_version],
        [shaped.source_partition],
        [shaped.source_offset],
        [True],
        np.array([np.float32(half)], np.float64),
    )
    assert decode(Forecast, again[0]) == shaped


def test_the_interval_cost_bench_encodes_what_it_processed_and_its_baseline_is_exact() -> None:
    from bench.interval_cost import message_bytes, per_event_us, polls, repr_bounds, sender_us
    from bench.worker_throughput import artifact
    from schemas.bounds import interval_fields

    model = ServingModel.from_artifact(artifact(1, 4))
    batches = polls(series=50, per_poll=40, count=5)
    _, plain = per_event_us(model, 50, batches, intervals=False, rounds=1)
    _, banded = per_event_us(model, 50, batches, intervals=True, rounds=1)
    assert all(np.isnan(r.half_widths).all() for r in plain)
    assert all(np.isfinite(r.half_widths).all() for r in banded)  # warmed: every one has one
    assert sender_us(batches, banded, rounds=1) > 0
    assert message_bytes(batches, banded) > message_bytes(batches, plain)
    for r in banded:  # the baseline: the exact bounds, which the written ones round
        exact = repr_bounds(r.forecasts, r.half_widths)
        written = interval_fields(r.forecasts, r.half_widths)
        for half, a, b in zip(r.half_widths.tolist(), exact, written, strict=True):
            assert a.startswith(',"lower":') and b.startswith(',"lower":')
            for x, y in zip(a.split(",")[1:], b.split(",")[1:], strict=True):
                assert abs(float(x.split(":")[1]) - float(y.split(":")[1])) <= half * 2**-23


def test_the_swap_pause_bench_swaps_under_its_load_and_then_all_on_the_loop() -> None:
    import argparse

    from bench.swap_pause import measure

    args = argparse.Namespace(window=8, units=4, rate=2000.0, wave=20, timeout=60.0)
    figures = measure(300, args)
    assert figures.done.model.version == 2 and figures.done.rounds >= 1
    assert figures.done.series == 300 and figures.all_on_loop > 0
    longest, p99 = figures.swap_pause
    assert longest >= p99 > 0 and longest >= figures.done.on_loop_seconds


def test_the_trainer_scale_feed_is_all_valid_events() -> None:
    from bench.trainer_scale import POLL, _batches
    from trainer.consume import to_consumed

    batches = _batches(first=7, count=POLL + 3, series=4)
    assert [len(b) for b in batches] == [POLL, 3]
    consumed = to_consumed(batches[1], n_features=1, max_bytes=1024)
    assert [c.offset for c in consumed] == [POLL + 7, POLL + 8, POLL + 9]
    assert all(c.point is not None and c.bad_reason is None for c in consumed)
    assert [c.point.series_id for c in consumed if c.point] == [
        "series-00003",
        "series-00000",
        "series-00001",
    ]
