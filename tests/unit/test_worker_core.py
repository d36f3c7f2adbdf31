"""The worker's pure core: waves, the state store, scoring and swap policies, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pytest

from foundation.settings.worker import SwapPolicy
from lstmcore.serving import ServingModel
from schemas.state import COLUMNS, decode_state, encode_states
from tests.unit.test_artifact import make_artifact
from worker.hotpath import (
    BatchResult,
    EventBatch,
    accuracy_by_version,
    apply_swap,
    plan_waves,
    process,
)
from worker.state_store import StateStore

TS = datetime(2026, 1, 1, tzinfo=UTC)


def _events(pairs: list[tuple[str, float]]) -> EventBatch:
    batch = EventBatch()
    for i, (series_id, value) in enumerate(pairs):
        batch.append(series_id, TS, [float(value)], 0, i, 0)
    return batch


def _forecasts(result: BatchResult) -> list[float]:
    return [float(f) for f in result.forecasts]


def _store(model: ServingModel | None = None, capacity: int = 100, window: int = 8) -> StateStore:
    units = model.manifest.architecture.units if model else 1
    layers = model.manifest.architecture.layers if model else 1
    return StateStore(capacity=capacity, window=window, features=1, layers=layers, units=units)


def _model(version: int = 1, kind: Literal["standard", "difference"] = "standard") -> ServingModel:
    return ServingModel.from_artifact(
        make_artifact(version=version, units=5, mean=1.0, scale=2.0, kind=kind)
    )


def _sequential(model: ServingModel, events: EventBatch) -> list[float]:
    """Reference: one event at a time, in offset order, a batch-1 state (and, for a
    differencing model, the value before) per series."""
    states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    before: dict[str, np.ndarray] = {}
    out = []
    for series_id, values in zip(events.series_ids, events.values, strict=True):
        h, c = states.get(series_id, model.weights.zero_state(1))
        x = np.array([values])
        h, c, y = model.forecast(h, c, x, before.get(series_id))
        states[series_id], before[series_id] = (h, c), x
        out.append(float(y[0]))
    return out


def test_waves_hold_each_series_once_in_offset_order() -> None:
    ids = ["a", "b", "a", "a", "c", "b"]
    assert plan_waves(ids) == [[0, 1, 4], [2, 5], [3]]


@pytest.mark.parametrize("kind", ["standard", "difference"])
def test_a_poll_with_repeated_series_equals_one_by_one(
    kind: Literal["standard", "difference"],
) -> None:
    rng = np.random.default_rng(0)
    pairs = [(f"s{rng.integers(0, 4)}", float(rng.normal())) for _ in range(40)]
    events = _events(pairs)
    model = _model(kind=kind)
    result = process(model, _store(model), events)
    np.testing.assert_allclose(_forecasts(result), _sequential(model, events), atol=1e-6)
    assert set(result.versions.tolist()) == {1}


def test_polls_split_anywhere_give_the_same_forecasts() -> None:
    pairs = [(f"s{i % 3}", float(np.sin(i))) for i in range(30)]
    model = _model()
    store = _store(model)
    split = [
        f
        for part in (pairs[:7], pairs[7:19], pairs[19:])
        for f in _forecasts(process(model, store, _events(part)))
    ]
    np.testing.assert_allclose(split, _sequential(model, _events(pairs)), atol=1e-6)


def test_persistence_before_any_model_and_online_scoring() -> None:
    store = _store()
    first = process(None, store, _events([("a", 1.0), ("a", 3.0), ("b", 5.0)]))
    assert _forecasts(first) == [1.0, 3.0, 5.0]
    assert first.versions.tolist() == [0, 0, 0]
    assert first.scored.tolist() == [False, True, False]
    assert first.abs_errors[1] == 2.0 and first.persistence_abs_errors[1] == 2.0
    (acc,) = accuracy_by_version(first).values()
    assert (acc.count, acc.abs_sum, acc.sq_sum) == (1, 2.0, 4.0)


def test_store_is_bounded_least_recently_seen_first() -> None:
    store = _store(capacity=3)
    process(None, store, _events([("a", 1), ("b", 2), ("c", 3), ("a", 4), ("d", 5)]))
    assert sorted(store.series_ids()) == ["a", "c", "d"]
    # waves: [a, b, c] | [d] (evicts a) | [a] (evicts b)
    assert store.evictions == 2 and len(store) == 3
    assert store.evict("c") and not store.evict("c")


def test_window_keeps_the_last_w_inputs() -> None:
    store = _store(window=3)
    process(None, store, _events([("a", float(v)) for v in range(5)]))
    state = store.get("a")
    assert state is not None and state.window[:, 0].tolist() == [2.0, 3.0, 4.0]


def test_the_last_value_is_the_newest_input_kept() -> None:
    """The store keeps no last value apart from the window: it is the window's newest row."""
    store = _store(window=3)
    process(None, store, _events([("a", float(v)) for v in range(5)] + [("b", 7.0)]))
    a = store.get("a")
    assert a is not None and a.last_value is not None and a.last_value.tolist() == [4.0]
    store.reset_slots(store.ids.lookup(["a"]))
    reset = store.get("a")
    assert reset is not None and reset.last_value is None
    slots = store.slots_for(["a", "b", "new"])
    assert store.last_values(slots)[:, 0].tolist() == [0.0, 7.0, 0.0]


def test_snapshot_restore_round_trip() -> None:
    model = _model()
    store = _store(model)
    process(model, store, _events([("a", 0.5), ("b", 1.5), ("a", 2.5)]))
    snap = store.snapshot()
    other = _store(model)
    other.restore(snap)
    after = _events([("a", 3.0), ("b", 4.0)])
    np.testing.assert_allclose(
        _forecasts(process(model, other, after)), _forecasts(process(model, store, after))
    )


def test_checkpoint_records_decode_to_the_stored_states() -> None:
    """Columnar encoding of many series at once == each series' own state, field by field."""
    model = _model()
    store = _store(model, window=3)
    odd_name = 'quo"te \\ ünï ✓'
    process(model, store, _events([("a", 0.5), (odd_name, 1.5), ("a", 2.5), ("a", 3.5)]))
    process(model, store, _events([("a", 4.5), ("b", -1.0)]))  # a's window is full and rolled
    store.slots_for(["empty"])  # a series without any input yet
    ids = ["a", odd_name, "b", "empty"]
    records = [decode_state(raw) for raw in encode_states(store.columns(ids))]
    for series_id, record in zip(ids, records, strict=True):
        state = store.get(series_id)
        assert state is not None and record.series_id == series_id
        np.testing.assert_array_equal(record.h, state.h)
        np.testing.assert_array_equal(record.c, state.c)
        np.testing.assert_array_equal(record.window, state.window)
        if state.last_value is None:
            assert record.last_value is None
        else:
            np.testing.assert_array_equal(record.last_value, state.last_value)
        assert record.pending_forecast == state.pending_forecast
        assert (record.partition, record.next_offset, record.model_version) == (
            state.partition,
            state.next_offset,
            state.model_version,
        )
        assert record.pending_version == state.pending_version
        for name in COLUMNS:  # whatever scalar fields a state has, the record carries them all
            assert getattr(record, name) == getattr(state, name), name
    assert records[0].window[:, 0].tolist() == [2.5, 3.5, 4.5]
    assert records[3].window.shape == (0, 1) and records[3].pending_forecast is None


@pytest.mark.parametrize("policy", list(SwapPolicy))
def test_swap_policies(policy: SwapPolicy) -> None:
    old, new = _model(1), _model(2)
    store = _store(old, window=4)
    history = _events([(f"s{i % 2}", float(np.cos(i))) for i in range(10)])
    process(old, store, history)
    kept = store.snapshot()
    apply_swap(store, old, new, policy)
    for series_id in ("s0", "s1"):
        state = store.get(series_id)
        assert state is not None
        if policy is SwapPolicy.REPLAY:
            h, c = new.replay(kept[series_id].window)
            np.testing.assert_allclose(state.h, h[:, 0], atol=1e-6)
            np.testing.assert_allclose(state.c, c[:, 0], atol=1e-6)
        elif policy is SwapPolicy.KEEP:
            np.testing.assert_array_equal(state.h, kept[series_id].h)
        else:
            assert not state.h.any() and not state.c.any()
    out = process(new, store, _events([("s0", 0.3)]))
    assert out.versions.tolist() == [2]
    assert out.scored.tolist() == [True] and out.scored_versions.tolist() == [1]


def test_replay_from_persistence_mode_uses_the_kept_inputs() -> None:
    store = _store(window=5)
    process(None, store, _events([("a", float(v)) for v in (1, 2, 3)]))
    model = _model()
    apply_swap(store, None, model, SwapPolicy.REPLAY)
    state = store.get("a")
    h, _ = model.replay(np.array([[1.0], [2.0], [3.0]]))
    assert state is not None
    np.testing.assert_allclose(state.h, h[:, 0], atol=1e-6)


def test_a_restore_of_more_states_than_fit_keeps_the_newest_as_written() -> None:
    """States evicted again within one restore are looked up as -1: they must not mark the
    store's last slot (another series) as written."""
    model = _model()
    source = _store(model, capacity=5)
    process(model, source, _events([(name, 1.0) for name in "pqrst"]))
    store = _store(model, capacity=3)
    store.restore(source.snapshot())
    assert sorted(store.series_ids()) == ["r", "s", "t"]
    assert store.take_changes(np.inf).states.series_ids == []
    store.mark_changed(["t"])
    assert store.take_changes(np.inf).states.series_ids == ["t"]
    with pytest.raises(KeyError):
        store.columns(["p"])
