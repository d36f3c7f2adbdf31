"""One explicit, bounded per-series state store: get / put / snapshot / restore / evict.

Each series owns a slot in preallocated arrays, so a wave gathers and scatters the states of all its
series with one fancy-index each. Least-recently-seen series are evicted when the store is full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from schemas.state import StateColumns

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SeriesState:
    """A copy of one series' state, for checkpoints and tests."""

    h: F32  # [layers, units]
    c: F32  # [layers, units]
    window: F64  # the last inputs, oldest first: [n <= W, features]
    last_value: F64 | None  # [features]
    pending_forecast: float | None  # forecast made for the next value
    pending_version: int
    partition: int = -1  # events partition of the series (-1 = unknown)
    next_offset: int = 0  # offset after the last event this state reflects
    model_version: int = 0  # version whose weights computed h and c


class StateStore:
    def __init__(
        self, *, capacity: int, window: int, features: int, layers: int, units: int
    ) -> None:
        """Room for ``capacity`` series, each with its last ``window`` inputs of ``features``
        values and an h, c of ``[layers, units]`` (resized when a model of another shape comes)."""
        if capacity < 1 or window < 1:
            raise ValueError("capacity and window must be positive")
        self.capacity, self.window, self.features = capacity, window, features
        self.evictions = 0
        self._slots: OrderedDict[str, int] = OrderedDict()  # in least-recently-seen order
        # Checkpointing: series changed since the last checkpoint, and series forgotten since.
        # Only the store's methods change them, so every change of state is marked the same way.
        self._changed: set[str] = set()
        self.forgotten: dict[str, int] = {}  # series -> its partition, for tombstones
        self._free = list(range(capacity - 1, -1, -1))
        self.windows = np.zeros((capacity, window, features), np.float64)
        self.counts = np.zeros(capacity, np.int64)  # inputs in the window
        self.last_value = np.zeros((capacity, features), np.float64)
        self.pending = np.full(capacity, np.nan, np.float64)
        self.pending_version = np.zeros(capacity, np.int64)
        self.partition = np.full(capacity, -1, np.int64)
        self.next_offset = np.zeros(capacity, np.int64)
        self.state_version = np.zeros(capacity, np.int64)
        self.resize_state(layers, units)

    def resize_state(self, layers: int, units: int) -> None:
        """New (zero) h and c arrays, for a model of another shape."""
        self.h = np.zeros((layers, self.capacity, units), np.float32)
        self.c = np.zeros((layers, self.capacity, units), np.float32)

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, series_id: object) -> bool:
        return series_id in self._slots

    def series_ids(self) -> list[str]:
        return list(self._slots)

    def slots_for(self, series_ids: Sequence[str]) -> I64:
        """Slots of the given series, creating (and evicting for) the new ones; marks them seen."""
        if len(series_ids) > self.capacity:
            raise ValueError("more series in one step than the state store's capacity")
        out = np.empty(len(series_ids), np.int64)
        protect: set[str] | None = None
        for i, series_id in enumerate(series_ids):
            slot = self._slots.get(series_id)
            if slot is None:
                protect = set(series_ids) if protect is None else protect
                slot = self._allocate(series_id, protect)
            else:
                self._slots.move_to_end(series_id)
            out[i] = slot
        return out

    def _allocate(self, series_id: str, protect: set[str]) -> int:
        if not self._free:
            # The least recently seen series that is not part of this very step.
            victim = next(sid for sid in self._slots if sid not in protect)
            self.evict(victim)
            self.evictions += 1
        slot = self._free.pop()
        self._clear(slot)
        self._slots[series_id] = slot
        return slot

    def _clear(self, slot: int) -> None:
        self.reset_slots(slot)
        self.partition[slot] = -1
        self.next_offset[slot] = 0
        self.state_version[slot] = 0

    def reset_slots(self, slots: I64 | int) -> None:
        """Zero state for these slots: no inputs, no last value, no pending forecast. The series
        keep their slots and positions (and are checkpointed as reset once marked changed)."""
        self.h[:, slots] = 0.0
        self.c[:, slots] = 0.0
        self.counts[slots] = 0
        self.last_value[slots] = 0.0
        self.pending[slots] = np.nan
        self.pending_version[slots] = 0

    def evict(self, series_id: str) -> bool:
        """Forget a series (it will start again from zero state). True if it was there."""
        slot = self._slots.pop(series_id, None)
        if slot is None:
            return False
        self._free.append(slot)
        self._changed.discard(series_id)
        if self.partition[slot] >= 0:
            self.forgotten[series_id] = int(self.partition[slot])
        return True

    def evict_partitions(self, partitions: Iterable[int]) -> int:
        """Drop every series of these partitions (handed to another worker); no tombstones."""
        gone = set(partitions)
        victims = [sid for sid, slot in self._slots.items() if int(self.partition[slot]) in gone]
        for series_id in victims:
            self._free.append(self._slots.pop(series_id))
            self._changed.discard(series_id)
            self.forgotten.pop(series_id, None)
        return len(victims)

    def push_inputs(self, slots: I64, values: F64) -> None:
        """Append one input per slot to its window (dropping the oldest when full)."""
        full = self.counts[slots] >= self.window
        if full.any():
            rolled = slots[full]
            self.windows[rolled, :-1] = self.windows[rolled, 1:]
        position = np.minimum(self.counts[slots], self.window - 1)
        self.windows[slots, position] = values
        self.counts[slots] = np.minimum(self.counts[slots] + 1, self.window)
        self.last_value[slots] = values

    def get(self, series_id: str) -> SeriesState | None:
        slot = self._slots.get(series_id)
        if slot is None:
            return None
        count = int(self.counts[slot])
        pending = float(self.pending[slot])
        return SeriesState(
            h=self.h[:, slot].copy(),
            c=self.c[:, slot].copy(),
            window=self.windows[slot, :count].copy(),
            last_value=self.last_value[slot].copy() if count else None,
            pending_forecast=None if np.isnan(pending) else pending,
            pending_version=int(self.pending_version[slot]),
            partition=int(self.partition[slot]),
            next_offset=int(self.next_offset[slot]),
            model_version=int(self.state_version[slot]),
        )

    def put(self, series_id: str, state: SeriesState) -> None:
        (slot,) = self.slots_for([series_id])
        if state.h.shape == self.h[:, slot].shape:  # else: a model of another shape, zero state
            self.h[:, slot] = state.h
            self.c[:, slot] = state.c
        count = min(len(state.window), self.window)
        self.windows[slot, :count] = state.window[len(state.window) - count :]
        self.counts[slot] = count
        if state.last_value is not None:
            self.last_value[slot] = state.last_value
        self.pending[slot] = np.nan if state.pending_forecast is None else state.pending_forecast
        self.pending_version[slot] = state.pending_version
        self.partition[slot] = state.partition
        self.next_offset[slot] = state.next_offset
        self.state_version[slot] = state.model_version
        self.forgotten.pop(series_id, None)

    def snapshot(self, series_ids: Iterable[str] | None = None) -> dict[str, SeriesState]:
        ids = self.series_ids() if series_ids is None else series_ids
        return {sid: s for sid in ids if (s := self.get(sid)) is not None}

    def restore(self, states: dict[str, SeriesState]) -> None:
        """Put states read back from the state topic: as they are there already, they are not
        changes to checkpoint (even if the series had changed before)."""
        for series_id, state in states.items():
            self.put(series_id, state)
        self._changed.difference_update(states)

    def mark_changed(self, series_ids: Iterable[str]) -> None:
        """These series' states need writing at the next checkpoint."""
        self._changed.update(series_ids)

    def mark_stepped(
        self,
        series_ids: Sequence[str],
        slots: I64,
        partitions: I64,
        next_offsets: I64,
        version: int,
    ) -> None:
        """Record where each stepped series (``series_ids`` in ``slots``) now stands, and that
        it needs a checkpoint."""
        self.partition[slots] = partitions
        self.next_offset[slots] = next_offsets
        self.state_version[slots] = version
        self._changed.update(series_ids)

    def take_changes(self) -> tuple[StateColumns, dict[str, int]]:
        """States changed and series forgotten since the last call, for one checkpoint."""
        changed = self.columns(list(self._changed))
        forgotten = dict(self.forgotten)
        self._changed.clear()
        self.forgotten.clear()
        return changed, forgotten

    def columns(self, series_ids: list[str]) -> StateColumns:
        """The states of these (stored) series side by side, copied with one gather per array."""
        slots = np.fromiter((self._slots[sid] for sid in series_ids), np.int64, len(series_ids))
        return StateColumns(
            series_ids=series_ids,
            partitions=self.partition[slots],
            next_offsets=self.next_offset[slots],
            model_versions=self.state_version[slots],
            h=self.h[:, slots].transpose(1, 0, 2),
            c=self.c[:, slots].transpose(1, 0, 2),
            windows=self.windows[slots],
            counts=self.counts[slots],
            last_values=self.last_value[slots],
            pending=self.pending[slots],
            pending_versions=self.pending_version[slots],
        )

    def occupied_slots(self) -> I64:
        return np.fromiter(self._slots.values(), np.int64, len(self._slots))
