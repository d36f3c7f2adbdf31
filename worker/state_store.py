"""One explicit, bounded per-series state store: get / put / snapshot / restore / evict.

Each series owns a slot in preallocated arrays, so a wave gathers and scatters the states of all its
series with one fancy-index each. Least-recently-seen series are evicted when the store is full.
What a series' state holds is ``schemas.state.SeriesState``: its scalar fields each get one array
here (``scalars``, by field name), derived from that one definition.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.state import COLUMNS, SeriesState, StateColumns

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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
        self._forgotten: dict[str, int] = {}  # series -> its partition, for tombstones
        self._free = list(range(capacity - 1, -1, -1))
        self.windows = np.zeros((capacity, window, features), np.float64)
        self.counts = np.zeros(capacity, np.int64)  # inputs in the window
        self.last_value = np.zeros((capacity, features), np.float64)
        # One array per scalar field of ``SeriesState``, e.g. scalars["pending_forecast"].
        self.scalars: dict[str, npt.NDArray[Any]] = {
            name: np.full(capacity, column.blank, column.dtype) for name, column in COLUMNS.items()
        }
        # Per slot, a counter of changes to what a replay reads (its window and count) and to
        # who owns it: every method below that changes them bumps it, so a replay computed off
        # the loop from the arrays can tell afterwards which slots it must compute again.
        self.generation = np.zeros(capacity, np.int64)
        # Slot -> its series (None: free), for work done a few slots at a time between polls.
        self.ids = np.full(capacity, None, object)
        self.resize_state(layers, units)

    def resize_state(self, layers: int, units: int) -> None:
        """New (zero) h and c arrays, for a model of another shape."""
        self.h = np.zeros((layers, self.capacity, units), np.float32)
        self.c = np.zeros((layers, self.capacity, units), np.float32)
        self.bump(slice(None))

    def bump(self, slots: I64 | int | slice) -> None:
        """Count a change to these slots' state (see ``generation``)."""
        self.generation[slots] += 1

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
        self.ids[slot] = series_id
        return slot

    def _clear(self, slot: int) -> None:
        self.reset_slots(slot)
        for name, column in COLUMNS.items():
            self.scalars[name][slot] = column.blank

    def reset_slots(self, slots: I64 | int) -> None:
        """Zero state for these slots: no inputs, no last value, no pending forecast. The series
        keep their slots and positions (and are checkpointed as reset once marked changed)."""
        self.h[:, slots] = 0.0
        self.c[:, slots] = 0.0
        self.counts[slots] = 0
        self.bump(slots)
        self.last_value[slots] = 0.0
        for name, column in COLUMNS.items():
            if not column.kept_on_reset:
                self.scalars[name][slots] = column.blank

    def evict(self, series_id: str) -> bool:
        """Forget a series (it will start again from zero state). True if it was there."""
        slot = self._slots.pop(series_id, None)
        if slot is None:
            return False
        self._free.append(slot)
        self.bump(slot)
        self.ids[slot] = None
        self._changed.discard(series_id)
        partition = int(self.scalars["partition"][slot])
        if partition >= 0:
            self._forgotten[series_id] = partition
        return True

    def evict_partitions(self, partitions: Iterable[int]) -> int:
        """Drop every series of these partitions (handed to another worker); no tombstones."""
        gone = set(partitions)
        partition = self.scalars["partition"]
        victims = [sid for sid, slot in self._slots.items() if int(partition[slot]) in gone]
        for series_id in victims:
            slot = self._slots.pop(series_id)
            self._free.append(slot)
            self.bump(slot)
            self.ids[slot] = None
            self._changed.discard(series_id)
            self._forgotten.pop(series_id, None)
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
        self.bump(slots)

    def get(self, series_id: str) -> SeriesState | None:
        slot = self._slots.get(series_id)
        if slot is None:
            return None
        count = int(self.counts[slot])
        return SeriesState(
            h=self.h[:, slot].copy(),
            c=self.c[:, slot].copy(),
            window=self.windows[slot, :count].copy(),
            last_value=self.last_value[slot].copy() if count else None,
            **{name: _python(values[slot]) for name, values in self.scalars.items()},
        )

    def put(self, series_id: str, state: SeriesState) -> None:
        (slot,) = self.slots_for([series_id])
        self.bump(slot)
        if state.h.shape == self.h[:, slot].shape:  # else: a model of another shape, zero state
            self.h[:, slot] = state.h
            self.c[:, slot] = state.c
        count = min(len(state.window), self.window)
        self.windows[slot, :count] = state.window[len(state.window) - count :]
        self.counts[slot] = count
        if state.last_value is not None:
            self.last_value[slot] = state.last_value
        for name, values in self.scalars.items():
            value = getattr(state, name)
            values[slot] = np.nan if value is None else value
        self._forgotten.pop(series_id, None)

    def snapshot(self, series_ids: Iterable[str] | None = None) -> dict[str, SeriesState]:
        ids = self.series_ids() if series_ids is None else series_ids
        return {sid: s for sid in ids if (s := self.get(sid)) is not None}

    def restore(self, states: Mapping[str, SeriesState]) -> None:
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
        self.scalars["partition"][slots] = partitions
        self.scalars["next_offset"][slots] = next_offsets
        self.scalars["model_version"][slots] = version
        self._changed.update(series_ids)

    def take_changes(self) -> tuple[StateColumns, dict[str, int]]:
        """States changed and series forgotten since the last call, for one checkpoint."""
        changed = self.columns(list(self._changed))
        forgotten = dict(self._forgotten)
        self._changed.clear()
        self._forgotten.clear()
        return changed, forgotten

    def columns(self, series_ids: list[str]) -> StateColumns:
        """The states of these (stored) series side by side, copied with one gather per array."""
        slots = np.fromiter((self._slots[sid] for sid in series_ids), np.int64, len(series_ids))
        return StateColumns(
            series_ids=series_ids,
            h=self.h[:, slots].transpose(1, 0, 2),
            c=self.c[:, slots].transpose(1, 0, 2),
            windows=self.windows[slots],
            counts=self.counts[slots],
            last_values=self.last_value[slots],
            scalars={name: values[slots] for name, values in self.scalars.items()},
        )

    def occupied_slots(self) -> I64:
        return np.fromiter(self._slots.values(), np.int64, len(self._slots))


def _python(value: np.generic) -> Any:
    """A stored scalar as the state field holds it: an int or float, and NaN as None."""
    plain = value.item()
    return None if plain != plain else plain  # only NaN differs from itself
