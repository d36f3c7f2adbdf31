"""The state store's windows as float32 steps under an exact float64 last value.

What is checked: each input read back is within a float32 rounding of the steps after it (so
offset data keeps its noise and a trend its precision), the last value is exact, a replay from
the stored window equals one from the exact inputs within the swap tests' tolerance, and a state
record written and restored changes neither the window (beyond float64 rounding of the level)
nor the forecasts that follow.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest

from lstmcore.artifact import seal
from lstmcore.series_scales import series_scale_fields
from lstmcore.serving import ServingModel
from schemas.state import decode_state, encode_states
from tests.unit.test_artifact import make_artifact
from tests.unit.test_worker_core import _events
from worker.hotpath import process, replay_states
from worker.state_store import StateStore

F64 = npt.NDArray[np.float64]
W = 16
SERIES = 12
U = 2.0**-24  # float32's unit roundoff


def _store(capacity: int = SERIES, units: int = 5) -> StateStore:
    return StateStore(capacity=capacity, window=W, features=1, layers=2, units=units)


def _pushed(store: StateStore, values: F64) -> list[str]:
    """``values`` [series, T] pushed event by event; the series' ids."""
    ids = [f"s{i}" for i in range(len(values))]
    slots = store.slots_for(ids)
    for t in range(values.shape[1]):
        store.push_inputs(slots, values[:, t, None])
    return ids


def _bound(exact: F64) -> F64:
    """Per input of windows [n, W] (oldest first): a float32 rounding of every step after it,
    plus a few float64 roundings of the level."""
    steps = np.abs(np.diff(exact, axis=1))
    after = np.concatenate([np.cumsum(steps[:, ::-1], axis=1)[:, ::-1], steps[:, :1] * 0], 1)
    bound: F64 = U * after + 4 * np.spacing(np.abs(exact).max(axis=1, keepdims=True))
    return bound


CASES: dict[str, Callable[[np.random.Generator, int], F64]] = {
    "offset 1e6 + 0.01 noise": lambda rng, t: 1e6 + 0.01 * rng.normal(size=(SERIES, t)),
    "1e-3 scale": lambda rng, t: 1e-3 * rng.normal(size=(SERIES, t)),
    "trend 1e3 a step": lambda rng, t: 1e3 * np.arange(t) + rng.normal(size=(SERIES, t)),
    "random walk": lambda rng, t: np.cumsum(rng.normal(size=(SERIES, t)), axis=1),
}


@pytest.mark.parametrize("case", CASES)
def test_inputs_come_back_within_a_rounding_of_the_steps_after_them(case: str) -> None:
    values = CASES[case](np.random.default_rng(1), 5_000)
    store = _store()
    ids = _pushed(store, values)
    slots = store.slots_for(ids)
    exact = values[:, -W:]
    got = store.window_values(slots)[:, :, 0]
    assert (np.abs(got - exact) <= _bound(exact)).all()
    # The newest input and the last value exactly (what the hot path reads).
    assert (got[:, -1] == exact[:, -1]).all()
    assert (store.last_values(slots)[:, 0] == exact[:, -1]).all()
    # The changes a ``difference`` model sees: each within a float32 rounding of its own size.
    changes = np.diff(exact, axis=1)
    slack = 4 * np.spacing(np.abs(exact).max())
    assert (np.abs(np.diff(got, axis=1) - changes) <= U * np.abs(changes) + slack).all()
    # Float32 inputs themselves would have lost the offset series' noise.
    if case.startswith("offset"):
        assert np.abs(exact.astype(np.float32) - exact).max() > 0.01


def test_a_large_old_step_does_not_swamp_the_small_ones_after_it() -> None:
    """A counter at 1e15 that drops to noise of 1e-3: the inputs after the drop come back within
    a rounding of their own steps and level, not of the 1e15 before them."""
    values = 1e-3 * np.random.default_rng(2).normal(size=(SERIES, W))
    values[:, 0] = 1e15
    store = _store()
    got = store.window_values(store.slots_for(_pushed(store, values)))[:, :, 0]
    steps = np.abs(np.diff(values[:, 1:], axis=1))
    after = np.concatenate([np.cumsum(steps[:, ::-1], axis=1)[:, ::-1], steps[:, :1] * 0], 1)
    bound = U * after + 4 * np.spacing(np.abs(values[:, 1:]))
    assert (np.abs(got[:, 1:] - values[:, 1:]) <= bound).all()


def test_windows_not_full_and_reset_slots() -> None:
    store = _store()
    slots = store.slots_for(["a", "b", "c"])
    store.push_inputs(slots[:2], np.array([[5.0], [7.0]]))
    store.push_inputs(slots[1:2], np.array([[7.5]]))
    windows = store.window_values(slots)[:, :, 0]
    assert windows[0].tolist() == [5.0] + [0.0] * (W - 1)
    assert windows[1].tolist() == [7.0, 7.5] + [0.0] * (W - 2)
    assert (windows[2] == 0).all()
    store.reset_slots(slots[1])
    assert (store.window_values(slots[1:2]) == 0).all() and store.last_values(slots)[1, 0] == 0
    store.push_inputs(slots[1:2], np.array([[9.0]]))
    assert store.window_values(slots[1:2])[0, :2, 0].tolist() == [9.0, 0.0]


def _scaled_model(values: F64, kind: str, units: int = 5) -> ServingModel:
    """A model with each series' own scale fitted on its values (as a trainer would)."""
    base = make_artifact(version=3, units=units, kind=kind)  # type: ignore[arg-type]
    history = {f"s{i}": v[:, None] for i, v in enumerate(values)}
    field, arrays = series_scale_fields(history, base.manifest.scaler)
    fields = base.manifest.model_dump(exclude={"arrays", "sha256"}) | {"series_scales": field}
    return ServingModel.from_artifact(seal(fields, {**base.arrays, **arrays}))


@pytest.mark.parametrize("kind", ["difference", "standard"])
@pytest.mark.parametrize("case", CASES)
def test_a_replay_from_the_steps_equals_one_from_the_exact_inputs(case: str, kind: str) -> None:
    values = CASES[case](np.random.default_rng(2), 300)
    store = _store()
    ids = _pushed(store, values)
    slots = store.slots_for(ids)
    model = _scaled_model(values, kind)
    rows, counts = model.rows_for(ids), store.counts[slots]
    h, c = replay_states(model, store.window_values(slots), counts, rows)
    h0, c0 = replay_states(model, values[:, -W:, None], counts, rows)
    np.testing.assert_allclose(h, h0, atol=1e-6)  # the swap tests' tolerance
    np.testing.assert_allclose(c, c0, atol=1e-6)


def _restored(store: StateStore, ids: list[str]) -> StateStore:
    """Another store with these series' states written as records and read back."""
    records = encode_states(store.columns(ids))
    again = _store(capacity=store.capacity, units=store.h.shape[2])
    again.restore({sid: decode_state(raw) for sid, raw in zip(ids, records, strict=True)})
    return again


@pytest.mark.parametrize("case", CASES)
def test_a_write_and_restore_keeps_the_window_and_the_forecasts(case: str) -> None:
    rng = np.random.default_rng(4)
    values = CASES[case](rng, 300)
    model = _scaled_model(values, "difference")
    store = _store()
    ids = [f"s{i}" for i in range(SERIES)]
    for t in range(values.shape[1] - 1):
        process(model, store, _events([(sid, values[i, t]) for i, sid in enumerate(ids)]))
    again = _restored(store, ids)
    slots, slots_again = store.slots_for(ids), again.slots_for(ids)
    assert (again.last_values(slots_again) == store.last_values(slots)).all()
    before, after = store.window_values(slots), again.window_values(slots_again)
    # float64 roundings of the level in the written window, one a step at most
    assert np.abs(after - before).max() <= 4 * W * np.spacing(np.abs(values).max())
    rows = model.rows_for(ids)
    h, c = replay_states(model, after, again.counts[slots_again], rows)
    h0, c0 = replay_states(model, before, store.counts[slots], rows)
    np.testing.assert_allclose(h, h0, atol=1e-6)
    np.testing.assert_allclose(c, c0, atol=1e-6)
    # The hot path reads h, c and the last value only: what follows is the same bit for bit.
    last = _events([(sid, values[i, -1]) for i, sid in enumerate(ids)])
    assert (process(model, again, last).forecasts == process(model, store, last).forecasts).all()


def test_steps_beyond_float32_saturate_and_the_state_still_reads_back() -> None:
    store = _store()
    slots = store.slots_for(["huge"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the cast either
        for value in (0.0, 1e300, -1e300, 1.7e308, -1.7e308, 5.0):
            store.push_inputs(slots, np.array([[value]]))
        window = store.window_values(slots)
    assert np.isfinite(window).all() and window[0, 5, 0] == 5.0
    assert store.last_values(slots)[0, 0] == 5.0
    (record,) = encode_states(store.columns(["huge"]))
    assert decode_state(record).last_value is not None
    # A restored window whose steps are past float64's range too.
    state = store.get("huge")
    assert state is not None
    edge = np.array([[1.7e308], [-1.7e308], [2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.put("edge", replace(state, window=edge, last_value=edge[-1]))
    (slot,) = store.slots_for(["edge"])
    assert np.isfinite(store.window_values(np.array([slot]))).all()
    assert store.last_values(np.array([slot]))[0, 0] == 2.0
