"""The worker's pure core: waves, the state store, scoring and swap policies, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from lstmcore.serving import ServingModel
from tests.unit.test_artifact import make_artifact
from worker.hotpath import SwapPolicy, ValidEvent, apply_swap, plan_waves, process
from worker.state_store import StateStore

TS = datetime(2026, 1, 1, tzinfo=UTC)


def _events(pairs: list[tuple[str, float]]) -> list[ValidEvent]:
    return [ValidEvent(s, TS, [v], 0, i, 0) for i, (s, v) in enumerate(pairs)]


def _store(model: ServingModel | None = None, capacity: int = 100, window: int = 8) -> StateStore:
    units = model.manifest.architecture.units if model else 1
    layers = model.manifest.architecture.layers if model else 1
    return StateStore(capacity, window, 1, layers, units)


def _model(version: int = 1) -> ServingModel:
    return ServingModel.from_artifact(make_artifact(version=version, units=5, mean=1.0, scale=2.0))


def _sequential(model: ServingModel, events: list[ValidEvent]) -> list[float]:
    """Reference: one event at a time, in offset order, a batch-1 state per series."""
    states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for e in events:
        h, c = states.get(e.series_id, model.weights.zero_state(1))
        h, c, y = model.forecast(h, c, np.array([e.values]))
        states[e.series_id] = (h, c)
        out.append(float(y[0]))
    return out


def test_waves_hold_each_series_once_in_offset_order() -> None:
    ids = ["a", "b", "a", "a", "c", "b"]
    assert plan_waves(ids) == [[0, 1, 4], [2, 5], [3]]


def test_a_poll_with_repeated_series_equals_one_by_one() -> None:
    rng = np.random.default_rng(0)
    pairs = [(f"s{rng.integers(0, 4)}", float(rng.normal())) for _ in range(40)]
    events = _events(pairs)
    model = _model()
    outcomes = process(model, _store(model), events)
    assert [o.event for o in outcomes] == events
    np.testing.assert_allclose(
        [o.forecast for o in outcomes], _sequential(model, events), atol=1e-6
    )
    assert {o.model_version for o in outcomes} == {1}


def test_polls_split_anywhere_give_the_same_forecasts() -> None:
    events = _events([(f"s{i % 3}", float(np.sin(i))) for i in range(30)])
    model = _model()
    store = _store(model)
    split = [
        o.forecast
        for part in (events[:7], events[7:19], events[19:])
        for o in process(model, store, part)
    ]
    np.testing.assert_allclose(split, _sequential(model, events), atol=1e-6)


def test_persistence_before_any_model_and_online_scoring() -> None:
    store = _store()
    first = process(None, store, _events([("a", 1.0), ("a", 3.0), ("b", 5.0)]))
    assert [(o.forecast, o.model_version) for o in first] == [(1.0, 0), (3.0, 0), (5.0, 0)]
    assert first[0].scored is None and first[2].scored is None
    scored = first[1].scored
    assert scored is not None and scored.abs_error == 2.0 and scored.persistence_abs_error == 2.0


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


def test_snapshot_restore_round_trip() -> None:
    model = _model()
    store = _store(model)
    process(model, store, _events([("a", 0.5), ("b", 1.5), ("a", 2.5)]))
    snap = store.snapshot()
    other = _store(model)
    other.restore(snap)
    after = _events([("a", 3.0), ("b", 4.0)])
    np.testing.assert_allclose(
        [o.forecast for o in process(model, other, after)],
        [o.forecast for o in process(model, store, after)],
    )


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
    assert out[0].model_version == 2
    assert out[0].scored is not None and out[0].scored.version == 1


def test_replay_from_persistence_mode_uses_the_kept_inputs() -> None:
    store = _store(window=5)
    process(None, store, _events([("a", float(v)) for v in (1, 2, 3)]))
    model = _model()
    apply_swap(store, None, model, SwapPolicy.REPLAY)
    state = store.get("a")
    h, _ = model.replay(np.array([[1.0], [2.0], [3.0]]))
    assert state is not None
    np.testing.assert_allclose(state.h, h[:, 0], atol=1e-6)
