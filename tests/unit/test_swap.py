"""Replay swaps prepared off the loop (worker.swap): what changes meanwhile is caught up."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from foundation.settings.worker import SwapPolicy, WorkerSettings
from lstmcore.artifact import seal
from lstmcore.series_scales import series_scale_fields
from lstmcore.serving import ServingModel
from tests.unit.test_artifact import make_artifact
from tests.unit.test_worker_core import _events, _model, _store
from worker.hotpath import process, replay_states
from worker.state_store import StateStore
from worker.swap import SwapDone, Swapper

SERIES = 400


def _filled(model: ServingModel, window: int = 6) -> tuple[StateStore, list[str]]:
    """A full store whose series have windows of every length from 1 to full."""
    store = _store(model, capacity=SERIES, window=window)
    ids = [f"s{i}" for i in range(SERIES)]
    rng = np.random.default_rng(3)
    for k in range(window + 2):
        seen = ids[: SERIES - 50 * k] or ids[:1]
        process(model, store, _events([(sid, float(rng.normal())) for sid in seen]))
    return store, ids


def _settings(**kwargs: object) -> WorkerSettings:
    return WorkerSettings(swap_replay_chunk=32, **kwargs)  # type: ignore[arg-type]


def _until_done(swapper: Swapper) -> SwapDone:
    """What the loop does between polls, until the swap is installed."""
    deadline = time.monotonic() + 60
    while (done := swapper.advance()) is None:
        assert time.monotonic() < deadline, "the preparation never finished"
        time.sleep(0.005)
    return done


def _assert_replayed(store: StateStore, model: ServingModel) -> None:
    """Every series' h, c are a from-scratch replay of its current window under ``model``, each
    in its own scale (the model's row for it, pooled without one)."""
    slots = store.occupied_slots()
    rows = model.rows_for(store.ids_of(slots))
    h, c = replay_states(model, store.window_values(slots), store.counts[slots], rows)
    np.testing.assert_allclose(store.h[:, slots], h, atol=1e-6)
    np.testing.assert_allclose(store.c[:, slots], c, atol=1e-6)
    assert (store.scalars["model_version"][slots] == model.version).all()


def _per_series(version: int, units: int, ids: list[str]) -> ServingModel:
    """A model with its own scale for each of ``ids``, spread over six orders of magnitude."""
    base = make_artifact(version=version, units=units, mean=0.5)
    rng = np.random.default_rng(version)
    history = {sid: rng.normal(0, 10.0 ** (i % 7 - 3), (12, 1)) for i, sid in enumerate(ids)}
    field, arrays = series_scale_fields(history, base.manifest.scaler)
    fields = base.manifest.model_dump(exclude={"arrays", "sha256"}) | {"series_scales": field}
    return ServingModel.from_artifact(seal(fields, {**base.arrays, **arrays}))


@pytest.mark.parametrize("per_series", [False, True])
@pytest.mark.parametrize("catch_up", [0, 10_000])
def test_changes_during_a_preparation_are_caught_up(catch_up: int, per_series: bool) -> None:
    old = _model(1)
    ids = [f"s{i}" for i in range(SERIES)]
    new = (  # another shape
        _per_series(2, 7, ids)
        if per_series
        else ServingModel.from_artifact(make_artifact(version=2, units=7, mean=0.5))
    )
    store, ids = _filled(old)
    restored = store.get(ids[30])
    assert restored is not None and len(restored.window) > 2
    swapper = Swapper(store, _settings(swap_on_loop_series=catch_up))
    assert swapper.offer(old, new) is None and swapper.preparing is new
    # Meanwhile the loop goes on serving with the old model:
    process(old, store, _events([(sid, 0.25) for sid in ids[:5]]))  # stepped
    assert store.evict(ids[10])  # evicted: its slot is free
    process(old, store, _events([("new-a", 1.0), ("new-b", 2.0)]))  # the free slot; an eviction
    store.reset_slots(store.slots_for([ids[20]]))  # reset (a non-finite step)
    store.put(ids[40], restored)  # restored (a rebalance or a rewind): another window
    store.evict_partitions([99])  # a revoked partition none of these is on: nothing moves
    done = _until_done(swapper)

    assert done.model is new and swapper.preparing is None
    if catch_up == 0:  # what changed went through a second off-loop round
        assert (done.rounds, done.caught_up) == (2, 0)
    else:  # on the loop at the install
        assert (done.rounds, done.caught_up) == (1, 9)  # the 9 slots changed above
    assert store.h.shape == (2, SERIES, 7)
    assert "new-a" in store and "new-b" in store and ids[10] not in store
    _assert_replayed(store, new)
    assert done.series == SERIES
    out = process(new, store, _events([("new-a", 0.5), (ids[0], 0.5)]))
    assert out.versions.tolist() == [2, 2]
    # The swap itself marks nothing for the checkpoint (a restore realigns states of another
    # version the same way); what was stepped or forgotten is written as usual.
    states, forgotten, _ = store.take_changes(changed_before=float("inf"))
    assert {"new-a", ids[0]} <= set(states.series_ids) and ids[10] in forgotten


def test_a_replay_swap_marks_nothing_for_the_checkpoint() -> None:
    """Spread checkpoints: a swap must not make every series due (a restore realigns states
    of another version the same way)."""
    old, new = _model(1), _model(2)
    store, _ = _filled(old)
    store.take_changes(changed_before=float("inf"))  # the filling's checkpoint
    swapper = Swapper(store, _settings())
    swapper.offer(old, new)
    _until_done(swapper)
    states, forgotten, replay_from = store.take_changes(changed_before=float("inf"))
    assert not states.series_ids and not forgotten and not replay_from


def test_a_newer_model_overtakes_a_preparation() -> None:
    old = _model(1)
    store, ids = _filled(old)
    swapper = Swapper(store, _settings())
    newer = _model(3)
    assert swapper.offer(old, _model(2)) is None
    process(old, store, _events([(sid, 0.5) for sid in ids[:50]]))
    assert swapper.offer(old, newer) is None and swapper.preparing is newer
    done = _until_done(swapper)
    assert done.model is newer and done.rounds >= 1
    _assert_replayed(store, newer)


def test_rounds_that_do_not_shrink_leave_the_rest_to_the_loop() -> None:
    old, new = _model(1), _model(2)
    store, ids = _filled(old)
    swapper = Swapper(store, _settings(swap_on_loop_series=0))
    swapper.offer(old, new)
    process(old, store, _events([(sid, 0.5) for sid in ids]))  # every series changes meanwhile
    done = _until_done(swapper)
    assert (done.rounds, done.caught_up) == (1, SERIES)  # a second round would end no better
    _assert_replayed(store, new)


def test_a_failed_round_leaves_the_replay_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = _model(1), _model(2)
    store, _ = _filled(old)
    calls = {"n": 0}

    def first_call_fails(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return replay_states(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("worker.swap.replay_states", first_call_fails)
    swapper = Swapper(store, _settings())
    swapper.offer(old, new)
    done = _until_done(swapper)
    assert done.rounds == 1 and done.caught_up == SERIES  # all of it, on the loop
    _assert_replayed(store, new)


@pytest.mark.parametrize("policy", [SwapPolicy.KEEP, SwapPolicy.RESET])
def test_keep_and_reset_swap_at_once(policy: SwapPolicy) -> None:
    old, new = _model(1), _model(2)
    store, _ = _filled(old)
    kept = store.h.copy()
    done = Swapper(store, _settings(swap_policy=policy)).offer(old, new)
    assert done is not None and done.model is new and done.rounds == 0
    if policy is SwapPolicy.KEEP:
        np.testing.assert_array_equal(store.h, kept)
    else:
        assert not store.h.any()


def test_every_store_change_a_replay_reads_moves_the_generation() -> None:
    store, ids = _filled(_model(1))
    state = store.get(ids[1])
    assert state is not None
    slot = int(store.slots_for([ids[0]])[0])
    changes: dict[str, Callable[[], object]] = {
        "stepped": lambda: store.push_inputs(np.array([slot]), np.array([[1.0]])),
        "reset": lambda: store.reset_slots(np.array([slot])),
        "evicted": lambda: store.evict(ids[0]),
        "allocated": lambda: store.slots_for(["fresh"]),  # the slot just freed
        "restored": lambda: store.put("fresh", state),
        "revoked": lambda: store.evict_partitions([0]),
    }
    for name, change in changes.items():
        before = store.generation.copy()
        change()
        assert before[slot] != store.generation[slot], name
