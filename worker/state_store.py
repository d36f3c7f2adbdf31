"""One explicit, bounded per-series state store: get / put / snapshot / restore / evict.

Each series owns a slot in preallocated arrays, so a wave gathers and scatters the states of all its
series with one fancy-index each. Least-recently-seen series are evicted when the store is full.
What a series' state holds is ``schemas.state.SeriesState``: its scalar fields each get one array
here (``scalars``, by field name), derived from that one definition.

A window is kept as float32 steps from each input to the next, under the exact float64 last
value (``push_inputs``, ``window_values``): half a float64 window's bytes, and a replay reads each
input to within a float32 rounding of the steps after it, however far the series' level is from 0.

Bookkeeping is per slot too, to keep a series' memory close to its state (~0.68 KB at W=64, 32
units): which series has which slot and which were seen least recently (``worker.slot_map``)
and, for spread checkpoints (``worker.state_writer``), the offset of the first event a slot's
written state lacks and the time of that first unwritten change; no ordered dict and no set of
changed series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.state import COLUMNS, SeriesState, StateColumns
from worker.slot_map import SlotMap
from worker.unwritten import CLEAN, Changes, replay_points

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# A step beyond float32's range is stored as its largest value: the inputs before it come back
# shifted (finite, so their state record still reads back); the last value stays exact.
_STEP_MAX = float(np.finfo(np.float32).max)


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
        self.ids = SlotMap(capacity)
        # Checkpointing (``worker.state_writer``): per slot, the offset of the first event in
        # memory that its written state lacks, and when that change came (monotonic seconds).
        # Only the store's methods change them, so every change of state is marked the same way.
        self.unwritten_from = np.full(capacity, CLEAN, np.int64)
        self.changed_at = np.full(capacity, np.inf, np.float64)
        self._forgotten: dict[str, int] = {}  # series -> its partition, for tombstones
        # The window as steps: row i of a slot's first ``counts`` rows holds input i minus input
        # i-1, rounded to float32 (row 0's is unused); input i is the last value minus the steps
        # after it. Why not the inputs: float64 inputs take twice the bytes (512 B a series at
        # W=64, 32 units, of ~0.93 KB), and float32 inputs lose what matters on offset data (a
        # level of 1e6 leaves 0.06 of resolution). A step is rounded relative to itself, so the
        # precision follows the series' variation, not its level, and never decays along a trend:
        # each step is taken from the exact last value. For the default ``difference`` transform
        # the replayed changes are the steps themselves, within one float32 rounding.
        self.window_steps = np.zeros((capacity, window, features), np.float32)
        # The newest input, exact: what the hot path's persistence and differencing read, so
        # forecasts are those of a float64 window bit for bit. 0 in a slot without inputs.
        self.last = np.zeros((capacity, features), np.float64)
        self.counts = np.zeros(capacity, np.int32)  # inputs in the window (W is far below 2**31)
        # One array per scalar field of ``SeriesState``, e.g. scalars["pending_forecast"].
        self.scalars: dict[str, npt.NDArray[Any]] = {
            name: np.full(capacity, column.blank, column.dtype) for name, column in COLUMNS.items()
        }
        # Per slot, a counter of changes to what a replay reads (its window and count) and to
        # who owns it: every method below that changes them bumps it, so a replay computed off
        # the loop (``worker.swap``) can tell afterwards which slots it must compute again.
        self.generation = np.zeros(capacity, np.int64)
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
        return len(self.ids)

    def __contains__(self, series_id: object) -> bool:
        return series_id in self.ids

    def series_ids(self) -> list[str]:
        return self.ids.series_ids()

    def slots_for(self, series_ids: Sequence[str]) -> I64:
        """Slots of the given series, creating (and evicting for) the new ones; marks them seen."""
        if len(series_ids) > self.capacity:
            raise ValueError("more series in one step than the state store's capacity")
        out, new = self.ids.place(series_ids, self._evict_oldest)
        if len(new):
            self._clear(out[new])  # one fancy-index per array for all new slots
        return out

    def _evict_oldest(self, count: int) -> None:
        """Evict the ``count`` least recently seen series (the store is full)."""
        for slot in self.ids.least_recently_seen(count):
            self._forget(slot)
            self.evictions += 1

    def _clear(self, slots: I64) -> None:
        self.reset_slots(slots)
        for name, column in COLUMNS.items():
            self.scalars[name][slots] = column.blank

    def reset_slots(self, slots: I64 | int) -> None:
        """Zero state for these slots: no inputs, no last value, no pending forecast. The series
        keep their slots and positions (and are checkpointed as reset once marked changed)."""
        self.h[:, slots] = 0.0
        self.c[:, slots] = 0.0
        self.counts[slots] = 0
        self.last[slots] = 0.0
        self.bump(slots)
        for name, column in COLUMNS.items():
            if not column.kept_on_reset:
                self.scalars[name][slots] = column.blank

    def evict(self, series_id: str) -> bool:
        """Forget a series (it will start again from zero state). True if it was there."""
        slot = self.ids.get(series_id)
        if slot is None:
            return False
        self._forget(slot)
        return True

    def _forget(self, slot: int) -> None:
        """Free the slot; its series gets a tombstone if it has a partition."""
        partition = int(self.scalars["partition"][slot])
        series_id = self._release(slot)
        if partition >= 0:
            self._forgotten[series_id] = partition

    def _release(self, slot: int) -> str:
        self.bump(slot)
        self.unwritten_from[slot] = CLEAN
        self.changed_at[slot] = np.inf
        return self.ids.release(slot)

    def evict_partitions(self, partitions: Iterable[int]) -> int:
        """Drop every series of these partitions (handed to another worker); no tombstones."""
        slots = self.occupied_slots()
        gone = slots[np.isin(self.scalars["partition"][slots], list(partitions))]
        for slot in gone.tolist():
            self._forgotten.pop(self._release(slot), None)
        return len(gone)

    def push_inputs(self, slots: I64, values: F64) -> None:
        """Append one input per slot to its window (dropping the oldest when full)."""
        counts = self.counts[slots]
        full = counts >= self.window
        if full.any():
            rolled = slots[full]
            self.window_steps[rolled, :-1] = self.window_steps[rolled, 1:]
        position = np.minimum(counts, self.window - 1)
        # From the exact last value: a step's rounding is its own, none is carried to the next.
        with np.errstate(over="ignore"):  # finite values of opposite sign past ±9e307: inf, clipped
            steps = values - self.last[slots]
        np.maximum(steps, -_STEP_MAX, out=steps)  # not np.clip: half its cost on one series
        np.minimum(steps, _STEP_MAX, out=steps)
        self.window_steps[slots, position] = steps
        self.last[slots] = values
        self.counts[slots] = np.minimum(counts + 1, self.window)
        self.bump(slots)

    def last_values(self, slots: I64) -> F64:
        """Each slot's last input, [n, features] (0 without one)."""
        return self.last[slots]

    def window_values(self, slots: I64) -> F64:
        """The slots' windows in original units, [n, W, features] (float64; rows past a slot's
        count are 0): the newest input is the last value, each before it the next minus its
        step. One array of the result's size, in place: a swap reads every slot's window."""
        counts = self.counts[slots]
        kept = (np.arange(self.window) < counts[:, None])[:, :, None]
        after = self.window_steps[slots].astype(np.float64)
        after *= kept  # a row past the count holds a stale step
        # Summed from the newest end: a large old step (a level far from today's) is added only
        # into the inputs before it, never into the small steps after it.
        np.cumsum(after[:, :0:-1], axis=1, out=after[:, :0:-1])  # row i: its step and those after
        after[:, :-1] = after[:, 1:]  # row i: the steps after input i
        after[:, -1] = 0.0
        # Input i is the last value minus the steps after it; the newest is the last exactly.
        np.subtract(self.last[slots][:, None, :], after, out=after)
        after *= kept  # 0 past the count
        return after

    def next_offsets_of(self, series_ids: Sequence[str]) -> I64:
        """The ``next_offset`` of each series' state, 0 for a series without one."""
        slots = self.ids.lookup(series_ids)
        return np.where(slots >= 0, self.scalars["next_offset"][slots], 0)

    def get(self, series_id: str) -> SeriesState | None:
        slot = self.ids.get(series_id)
        if slot is None:
            return None
        count = int(self.counts[slot])
        return SeriesState(
            h=self.h[:, slot].copy(),
            c=self.c[:, slot].copy(),
            window=self.window_values(np.array([slot]))[0, :count],
            last_value=self.last[slot].copy() if count else None,
            **{name: _python(values[slot]) for name, values in self.scalars.items()},
        )

    def put(self, series_id: str, state: SeriesState) -> None:
        (slot,) = self.slots_for([series_id])
        self.bump(slot)
        if state.h.shape == self.h[:, slot].shape:  # else: a model of another shape, zero state
            self.h[:, slot] = state.h
            self.c[:, slot] = state.c
        count = min(len(state.window), self.window)
        window = state.window[len(state.window) - count :]
        self.window_steps[slot, 0] = 0.0
        with np.errstate(over="ignore"):  # a float64 step beyond its range: inf, then clipped
            steps = np.diff(window, axis=0)
        self.window_steps[slot, 1:count] = np.clip(steps, -_STEP_MAX, _STEP_MAX)
        # The last value is the window's newest row: twincast writes records whose last value
        # is that row, and the window is read back from it (``window_values``).
        self.last[slot] = window[-1] if count else 0.0
        self.counts[slot] = count
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
        slots = self.ids.lookup(list(states))
        slots = slots[slots >= 0]  # a state evicted again by a later one in this restore (-1)
        self.unwritten_from[slots] = CLEAN
        self.changed_at[slots] = np.inf

    def mark_changed(self, series_ids: Iterable[str]) -> None:
        """These series' states need writing at the next checkpoint, whatever their age. Their
        first unwritten event (if any) stays where it was: it is where a replay must start."""
        slots = [slot for sid in series_ids if (slot := self.ids.get(sid)) is not None]
        self.changed_at[slots] = -np.inf

    def mark_stepped(
        self, slots: I64, partitions: I64, next_offsets: I64, version: int, now: float
    ) -> None:
        """Record where each stepped series (in ``slots``, each once) now stands, and for those
        whose written state was current, that the event before ``next_offsets`` is the first it
        lacks (at ``now``, monotonic seconds)."""
        self.scalars["partition"][slots] = partitions
        self.scalars["next_offset"][slots] = next_offsets
        self.scalars["model_version"][slots] = version
        first = self.unwritten_from[slots] == CLEAN
        self.unwritten_from[slots[first]] = next_offsets[first] - 1
        self.changed_at[slots] = np.minimum(self.changed_at[slots], now)

    def take_changes(self, changed_before: float) -> Changes:
        """For one checkpoint: the states whose first unwritten change came before
        ``changed_before`` (monotonic seconds; ``inf``: every changed state), the series
        forgotten since the last call, and per partition the smallest first unwritten offset
        of the states still unwritten after this write (partitions without any are absent)."""
        slots = self.occupied_slots()
        changed_at = self.changed_at[slots]  # inf: unchanged (inf <= inf: not a due one)
        due = slots[(changed_at < np.inf) & (changed_at <= changed_before)]
        changed = self.columns([self.ids.name(slot) for slot in due.tolist()])
        self.unwritten_from[due] = CLEAN
        self.changed_at[due] = np.inf
        forgotten, self._forgotten = self._forgotten, {}
        return Changes(changed, forgotten, self._replay_points(slots))

    def _replay_points(self, slots: I64) -> dict[int, int]:
        pending = slots[self.unwritten_from[slots] != CLEAN]
        return replay_points(self.scalars["partition"][pending], self.unwritten_from[pending])

    def ids_of(self, slots: I64) -> list[str | None]:
        """The series in these slots, None for a free one (to find rows in a model's tables)."""
        return self.ids.names_of(slots)

    def columns(self, series_ids: list[str]) -> StateColumns:
        """The states of these (stored) series side by side, copied with one gather per array."""
        slots = self.ids.lookup(series_ids)
        if (slots < 0).any():  # -1 would silently read the last slot's series
            raise KeyError("columns() of a series that is not stored")
        return StateColumns(
            series_ids=series_ids,
            h=self.h[:, slots].transpose(1, 0, 2),
            c=self.c[:, slots].transpose(1, 0, 2),
            windows=self.window_values(slots),
            counts=self.counts[slots],
            last_values=self.last_values(slots),
            scalars={name: values[slots] for name, values in self.scalars.items()},
        )

    def occupied_slots(self) -> I64:
        return self.ids.occupied()


def _python(value: np.generic) -> Any:
    """A stored scalar as the state field holds it: an int or float, and NaN as None."""
    plain = value.item()
    return None if plain != plain else plain  # only NaN differs from itself
