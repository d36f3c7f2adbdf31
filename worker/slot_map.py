"""Which series owns which slot of the state store, and which were seen least recently.

A plain dict series -> slot and a list slot -> series, and per slot the value of a counter when
its series was last seen (``argpartition`` finds the least recently seen when the store is full):
a series costs one dict entry, its id and a few array cells, not an ordered-dict node. What a
slot holds (``worker.state_store``) is not known here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

NEVER = np.iinfo(np.int64).max  # ``seen`` of a free slot: never the least recently seen


class SlotMap:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._slots: dict[str, int] = {}
        self._ids: list[str | None] = [None] * capacity
        self._seen = np.full(capacity, NEVER, np.int64)  # when each slot's series was last seen
        self._clock = 0
        self._free = list(range(capacity - 1, -1, -1))

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, series_id: object) -> bool:
        return series_id in self._slots

    def series_ids(self) -> list[str]:
        return list(self._slots)

    def get(self, series_id: str) -> int | None:
        return self._slots.get(series_id)

    def lookup(self, series_ids: Sequence[str]) -> I64:
        """The slot of each series, -1 for a series without one."""
        get = self._slots.get
        return np.fromiter((get(sid, -1) for sid in series_ids), np.int64, len(series_ids))

    def occupied(self) -> I64:
        return np.fromiter(self._slots.values(), np.int64, len(self._slots))

    def names_of(self, slots: I64) -> list[str | None]:
        """The series in these slots, None for a free one."""
        ids = self._ids
        return [ids[slot] for slot in slots.tolist()]

    def name(self, slot: int) -> str:
        series_id = self._ids[slot]
        assert series_id is not None, "an occupied slot has a series"
        return series_id

    def place(self, series_ids: Sequence[str], make_room: Callable[[int], None]) -> tuple[I64, I64]:
        """The slots of these series, marked seen in this order, and the indexes of those that
        got a new slot; ``make_room(count)`` is called first if fewer slots than that are free."""
        n = len(series_ids)
        out = self.lookup(series_ids)
        seen = np.arange(self._clock, self._clock + n, dtype=np.int64)
        self._clock += n
        known = out >= 0
        self._seen[out[known]] = seen[known]
        new = np.flatnonzero(~known)
        if len(new):
            shortage = len(new) - len(self._free)
            if shortage > 0:
                make_room(shortage)
            for i in new.tolist():
                slot = self._slots.get(series_ids[i])  # a series named twice is new once
                if slot is None:
                    slot = self._free.pop()
                    self._slots[series_ids[i]] = slot
                    self._ids[slot] = series_ids[i]
                out[i] = slot
            self._seen[out[new]] = seen[new]
        return out, new

    def least_recently_seen(self, count: int) -> list[int]:
        """The ``count`` occupied slots seen longest ago (the store is full: all are occupied;
        the series being placed were just seen, so they are never among them)."""
        return [int(s) for s in np.argpartition(self._seen, count - 1)[:count]]

    def release(self, slot: int) -> str:
        """Free an occupied slot; the series it had."""
        series_id = self.name(slot)
        del self._slots[series_id]
        self._ids[slot] = None
        self._seen[slot] = NEVER
        self._free.append(slot)
        return series_id
