"""The worker's pure core: waves of events -> one vectorised step each -> forecasts.

No Kafka here. A poll's valid events are split into waves in which each series appears at most
once and in offset order; each wave gathers its series' states, takes one step of the pure LSTM
function for all of them, and scatters the new states back. Before any model exists the forecast is
persistence (the last value) with model version 0.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from lstmcore.scaling import scale
from lstmcore.serving import ServingModel
from lstmcore.step import step
from worker.state_store import StateStore

F64 = npt.NDArray[np.float64]


class SwapPolicy(StrEnum):
    REPLAY = "replay"  # recompute h, c from each series' last W inputs with the new weights
    KEEP = "keep"  # carry h, c over unchanged (zero if the state's shape changes)
    RESET = "reset"  # every series starts again from zero state


@dataclass(frozen=True)
class ValidEvent:
    series_id: str
    ts: datetime
    values: list[float]
    partition: int
    offset: int
    timestamp_ms: int  # Kafka record timestamp (produce time)


@dataclass(frozen=True)
class Scored:
    """The forecast made earlier for this event's value, scored now that the value is here."""

    version: int
    abs_error: float
    persistence_abs_error: float


@dataclass(frozen=True)
class Outcome:
    event: ValidEvent
    forecast: float
    model_version: int
    scored: Scored | None


def plan_waves(series_ids: Sequence[str]) -> list[list[int]]:
    """Indices grouped so that wave k holds the k-th event of every series (offset order kept)."""
    occurrences: dict[str, int] = defaultdict(int)
    waves: list[list[int]] = []
    for index, series_id in enumerate(series_ids):
        k = occurrences[series_id]
        occurrences[series_id] = k + 1
        if k == len(waves):
            waves.append([])
        waves[k].append(index)
    return waves


def process_wave(
    model: ServingModel | None, store: StateStore, events: Sequence[ValidEvent]
) -> list[Outcome]:
    """One step for every series of the wave (each appears once)."""
    slots = store.slots_for([e.series_id for e in events])
    values = np.asarray([e.values for e in events], np.float64)
    scores = _score(store, slots, values[:, 0])
    if model is None:
        forecasts, version = values[:, 0].copy(), 0
    else:
        h, c, forecasts = model.forecast(store.h[:, slots], store.c[:, slots], values)
        store.h[:, slots] = h
        store.c[:, slots] = c
        version = model.version
    store.push_inputs(slots, values)
    store.pending[slots] = forecasts
    store.pending_version[slots] = version
    return [
        Outcome(event, float(f), version, score)
        for event, f, score in zip(events, forecasts, scores, strict=True)
    ]


def _score(store: StateStore, slots: npt.NDArray[np.int64], actual: F64) -> list[Scored | None]:
    pending = store.pending[slots]
    known = ~np.isnan(pending)
    errors = np.abs(actual - pending)
    persistence = np.abs(actual - store.last_value[slots, 0])
    versions = store.pending_version[slots]
    return [
        Scored(int(versions[i]), float(errors[i]), float(persistence[i])) if known[i] else None
        for i in range(len(slots))
    ]


WaveObserver = Callable[[float, int], None]


def process(
    model: ServingModel | None,
    store: StateStore,
    events: Sequence[ValidEvent],
    on_wave: WaveObserver | None = None,
) -> list[Outcome]:
    """All waves of one poll, outcomes in the order of ``events``; ``on_wave(seconds, size)``."""
    outcomes: list[Outcome | None] = [None] * len(events)
    for whole_wave in plan_waves([e.series_id for e in events]):
        # A wave wider than the store is taken in store-sized parts; order per series is kept
        # because a series appears at most once in a wave.
        for start in range(0, len(whole_wave), store.capacity):
            wave = whole_wave[start : start + store.capacity]
            started = time.perf_counter()
            results = process_wave(model, store, [events[i] for i in wave])
            if on_wave is not None:
                on_wave(time.perf_counter() - started, len(wave))
            for index, outcome in zip(wave, results, strict=True):
                outcomes[index] = outcome
    return [o for o in outcomes if o is not None]


def apply_swap(
    store: StateStore, old: ServingModel | None, new: ServingModel, policy: SwapPolicy
) -> None:
    """Prepare every stored series' state for the new model, according to the policy."""
    arch = new.manifest.architecture
    same_shape = store.h.shape[0] == arch.layers and store.h.shape[2] == arch.units
    if policy is SwapPolicy.KEEP and old is not None and same_shape:
        return
    store.resize_state(arch.layers, arch.units)
    if policy is SwapPolicy.REPLAY and len(store):
        slots = store.occupied_slots()
        h, c = replay_states(new, store.windows[slots], store.counts[slots])
        store.h[:, slots] = h
        store.c[:, slots] = c


def replay_states(
    model: ServingModel, windows: F64, counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """h, c of many series after feeding each its window's first ``counts`` inputs from zero."""
    h, c = model.weights.zero_state(len(windows))
    scaled = scale(model.manifest.scaler, windows)
    all_active_until = int(counts.min(initial=0))
    for t in range(int(counts.max(initial=0))):
        new_h, new_c, _ = step(model.weights, h, c, scaled[:, t])
        if t < all_active_until:  # the common case, full windows: no masking needed
            h, c = new_h, new_c
            continue
        active = (t < counts)[None, :, None]
        h = np.where(active, new_h, h)
        c = np.where(active, new_c, c)
    return h, c


@dataclass
class Accuracy:
    """Online accuracy of one model version over some scored events, next to persistence's."""

    count: int = 0
    abs_sum: float = 0.0
    sq_sum: float = 0.0
    persistence_abs_sum: float = 0.0
    persistence_sq_sum: float = 0.0


def accuracy_by_version(outcomes: Sequence[Outcome]) -> dict[int, Accuracy]:
    totals: dict[int, Accuracy] = defaultdict(Accuracy)
    for outcome in outcomes:
        scored = outcome.scored
        if scored is None:
            continue
        acc = totals[scored.version]
        acc.count += 1
        acc.abs_sum += scored.abs_error
        acc.sq_sum += scored.abs_error**2
        acc.persistence_abs_sum += scored.persistence_abs_error
        acc.persistence_sq_sum += scored.persistence_abs_error**2
    return dict(totals)
