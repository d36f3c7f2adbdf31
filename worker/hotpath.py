"""The worker's pure core: waves of events -> one vectorised step each -> forecasts.

No Kafka here. A poll's valid events are split into waves in which each series appears at most
once and in offset order; each wave gathers its series' states, takes one step of the pure LSTM
function for all of them, and scatters the new states back. Before any model exists the forecast is
persistence (the last value) with model version 0; afterwards, a series the model's per-series gate
sent to persistence is forecast its last value too (with the model's version, ``from_model`` False).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foundation.settings.worker import SwapPolicy
from lstmcore.scaling import series_inputs
from lstmcore.serving import ServingModel
from lstmcore.step import step
from worker.batch import BatchResult as BatchResult
from worker.batch import EventBatch as EventBatch
from worker.interval_event import calibrate_event
from worker.intervals import Calibrator, calibrate_wave
from worker.state_store import StateStore

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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


WaveObserver = Callable[[float, int], None]


def process(
    model: ServingModel | None,
    store: StateStore,
    batch: EventBatch,
    on_wave: WaveObserver | None = None,
    intervals: Calibrator | None = None,
) -> BatchResult:
    """All waves of one poll; ``on_wave(seconds, size)`` is told about each. With
    ``intervals``, each forecast gets a prediction interval (``result.half_widths``)."""
    result = BatchResult.empty(len(batch))
    if not len(batch):
        return result
    values = np.asarray(batch.values, np.float64).reshape(len(batch), -1)
    partitions = np.asarray(batch.partitions, np.int64)
    next_offsets = np.asarray(batch.offsets, np.int64) + 1
    now = time.monotonic()  # when these changes came, for the checkpoint's write age
    for whole_wave in plan_waves(batch.series_ids):
        # A wave wider than the store is taken in store-sized parts; order per series is kept
        # because a series appears at most once in a wave.
        for start in range(0, len(whole_wave), store.capacity):
            wave = np.asarray(whole_wave[start : start + store.capacity], np.int64)
            started = time.perf_counter()
            ids = [batch.series_ids[i] for i in wave]
            slots = store.slots_for(ids)
            # Each series' own scale; none to look up when every series is pooled.
            rows = model.rows_for(ids) if model and model.series.rows else None
            process_wave(model, store, slots, values[wave], wave, result, rows, intervals)
            version = model.version if model else 0
            store.mark_stepped(slots, partitions[wave], next_offsets[wave], version, now)
            if on_wave is not None:
                on_wave(time.perf_counter() - started, len(wave))
    return result


def process_wave(
    model: ServingModel | None,
    store: StateStore,
    slots: I64,
    values: F64,
    rows: I64,
    result: BatchResult,
    scale_rows: I64 | None = None,
    intervals: Calibrator | None = None,
) -> None:
    """One step for the series in ``slots`` (each once); results go to ``rows`` of ``result``.
    ``scale_rows``: the series' rows of the model's scale table (None: the pooled scale);
    ``intervals``: calibrates and issues prediction intervals (None: none)."""
    pending = store.scalars["pending_forecast"][slots]
    known = ~np.isnan(pending)
    result.scored[rows] = known
    result.scored_versions[rows] = store.scalars["pending_version"][slots]
    result.abs_errors[rows] = np.where(known, np.abs(values[:, 0] - pending), 0.0)
    last_values = store.last_values(slots)
    result.persistence_abs_errors[rows] = np.where(
        known, np.abs(values[:, 0] - last_values[:, 0]), 0.0
    )
    # Without a model the forecast is the (validated, finite) last value and h, c are unused.
    finite_state = True
    if model is None:
        forecasts, version = values[:, 0].copy(), 0
    else:
        # A series' first value has no value before it: no change (differencing models).
        seen = (store.counts[slots] > 0)[:, None]
        previous = np.where(seen, last_values, values)
        h, c, forecasts = model.forecast(
            store.h[:, slots], store.c[:, slots], values, previous, scale_rows
        )
        # The per-series gate: the last value where the model did not beat it in validation
        # (the state still advances, so the series is ready when a later version serves it).
        table = model.series
        if scale_rows is None:  # every series pooled: one decision for the whole wave
            use: bool | npt.NDArray[np.bool_] = bool(table.use_model[table.pooled_row])
            forecasts = forecasts if use else values[:, 0].copy()
        else:
            use = table.use_model[scale_rows]
            forecasts = np.where(use, forecasts, values[:, 0])
        result.from_model[rows] = use
        finite_state = bool(np.isfinite(h).all() and np.isfinite(c).all())
        store.h[:, slots] = h
        store.c[:, slots] = c
        version = model.version
    store.push_inputs(slots, values)
    store.scalars["pending_forecast"][slots] = forecasts
    store.scalars["pending_version"][slots] = version
    result.forecasts[rows] = forecasts
    result.versions[rows] = version
    if intervals is not None and len(slots) == 1:  # the latency path: scalar, same results
        calibrate_event(intervals, store, int(slots[0]), int(rows[0]), result)
    elif intervals is not None:
        calibrate_wave(intervals, store, slots, rows, result)
    # One vectorised check per wave; the per-series search only when it fails.
    if not (finite_state and np.isfinite(forecasts).all()):
        reset_non_finite(store, slots, rows, result)


def reset_non_finite(store: StateStore, slots: I64, rows: I64, result: BatchResult) -> None:
    """Series whose step went non-finite start again from zero state. Their events are marked
    for the dead-letter queue, never forecast (NaN is not even valid JSON), unless the gate
    serves the series the (finite) last value: then only its state starts again."""
    bad_state = ~np.isfinite(store.h[:, slots]).all(axis=(0, 2))
    bad_state |= ~np.isfinite(store.c[:, slots]).all(axis=(0, 2))
    bad_served = ~np.isfinite(result.forecasts[rows]) | (bad_state & result.from_model[rows])
    store.reset_slots(slots[bad_state | bad_served])
    result.forecasts[rows[bad_served]] = 0.0
    result.non_finite[rows[bad_served]] = True


@dataclass(frozen=True)
class Accuracy:
    """Online accuracy of one model version over some scored events, next to persistence's."""

    count: int
    abs_sum: float
    sq_sum: float
    persistence_abs_sum: float
    persistence_sq_sum: float


def accuracy_by_version(result: BatchResult) -> dict[int, Accuracy]:
    versions = result.scored_versions[result.scored]
    errors = result.abs_errors[result.scored]
    baseline = result.persistence_abs_errors[result.scored]
    out = {}
    for version in np.unique(versions).tolist():
        mask = versions == version
        e, p = errors[mask], baseline[mask]
        out[int(version)] = Accuracy(
            int(mask.sum()),
            float(e.sum()),
            float((e * e).sum()),
            float(p.sum()),
            float((p * p).sum()),
        )
    return out


def apply_swap(
    store: StateStore, old: ServingModel | None, new: ServingModel, policy: SwapPolicy
) -> None:
    """Prepare every stored series' state for the new model, according to the policy."""
    arch = new.manifest.architecture
    same_shape = store.h.shape[0] == arch.layers and store.h.shape[2] == arch.units
    occupied = store.occupied_slots()
    # Not marked for writing: a state written before the swap is realigned the same way when
    # it is restored (``realign``), so rewriting every series would buy nothing.
    store.scalars["model_version"][occupied] = new.version
    if policy is SwapPolicy.KEEP and old is not None and same_shape:
        return
    store.resize_state(arch.layers, arch.units)
    if policy is SwapPolicy.REPLAY and len(store):
        slots = store.occupied_slots()
        rows = new.rows_for(store.ids_of(slots))
        h, c = replay_states(new, store.window_values(slots), store.counts[slots], rows)
        store.h[:, slots] = h
        store.c[:, slots] = c


def realign(
    store: StateStore, series_ids: Sequence[str], model: ServingModel, policy: SwapPolicy
) -> None:
    """Bring restored states computed by another model version in line with ``model`` (not
    marked for writing: any later restore realigns them the same way)."""
    present = [sid for sid in series_ids if sid in store]
    if not present or policy is SwapPolicy.KEEP:
        return
    slots = store.slots_for(present)
    if policy is SwapPolicy.REPLAY:
        rows = model.rows_for(present)
        h, c = replay_states(model, store.window_values(slots), store.counts[slots], rows)
    else:
        h, c = model.weights.zero_state(len(slots))
    store.h[:, slots] = h
    store.c[:, slots] = c
    store.scalars["model_version"][slots] = model.version


def replay_states(
    model: ServingModel, windows: F64, counts: npt.NDArray[np.integer], rows: I64 | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """h, c of many series after feeding each its window's first ``counts`` inputs from zero,
    each in its own scale (``rows`` of the model's scale table; None: the pooled scale)."""
    h, c = model.weights.zero_state(len(windows))
    scaled = series_inputs(model.series.scaling(rows), windows)
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
