"""Which series owns which slot of the state store, and which were seen least recently.

A list slot -> series, and to find a series' slot an open-addressing hash table in one numpy
array (linear probing on the series' ``hash``, each hit checked against the name), sized for the
capacity when the worker starts: ~20 B per slot allocated once, where a dict of 100,000 series
grows to ~52 B per series on top of its ids, all of it added as series arrive. A batch of series
is looked up with a few array operations per probe step; a single one with a short loop. Per slot
also the value of a counter when its series was last seen (``argpartition`` finds the least
recently seen when the store is full). What a slot holds (``worker.state_store``) is not known here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

NEVER = np.iinfo(np.int64).max  # ``seen`` of a free slot: never the least recently seen
EMPTY = -1  # a free cell of the hash table
FEW = 8  # series looked up one by one: a restore's one at a time, without array set-up


class SlotMap:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: list[str | None] = [None] * capacity
        self._seen = np.full(capacity, NEVER, np.int64)  # when each slot's series was last seen
        self._clock = 0
        self._free = list(range(capacity - 1, -1, -1))
        # At most half full: probe runs stay short (~1.5 cells for a hit, ~2.5 for a miss).
        size = 1 << max(1, (2 * capacity - 1).bit_length())
        self._mask = size - 1
        self._table = np.full(size, EMPTY, np.int32 if capacity < 2**31 else np.int64)
        self._hashes = np.zeros(capacity, np.int64)  # each occupied slot's series' hash
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, series_id: object) -> bool:
        return isinstance(series_id, str) and self.get(series_id) is not None

    def series_ids(self) -> list[str]:
        ids = self._ids
        return [ids[slot] for slot in self.occupied().tolist()]

    def get(self, series_id: str) -> int | None:
        cell, _ = self._find(series_id, hash(series_id))
        return None if cell is None else int(self._table[cell])

    def _find(self, series_id: str, hashed: int) -> tuple[int | None, int]:
        """The table cell holding this series (None if absent), and the first empty cell of its
        probe run (where it would go)."""
        table, ids, mask = self._table, self._ids, self._mask
        cell = hashed & mask
        while (slot := int(table[cell])) != EMPTY:
            if int(self._hashes[slot]) == hashed and ids[slot] == series_id:
                return cell, cell
            cell = (cell + 1) & mask
        return None, cell

    def lookup(self, series_ids: Sequence[str]) -> I64:
        """The slot of each series, -1 for a series without one."""
        n = len(series_ids)
        if n <= FEW:
            return np.array(
                [-1 if (s := self.get(sid)) is None else s for sid in series_ids], np.int64
            )
        hashes = np.fromiter(map(hash, series_ids), np.int64, n)
        out = np.full(n, -1, np.int64)
        rows, cells = np.arange(n), hashes & self._mask
        while len(rows):
            slots = self._table[cells].astype(np.int64)
            occupied = slots != EMPTY
            same = np.zeros(len(rows), bool)
            same[occupied] = self._hashes[slots[occupied]] == hashes[rows[occupied]]
            check = np.flatnonzero(same)  # equal hashes: equal names, almost always
            ids = self._ids
            equal = [
                ids[slot] == series_ids[row]
                for slot, row in zip(slots[check].tolist(), rows[check].tolist(), strict=True)
            ]
            found = check[np.array(equal, bool)] if len(check) else check
            out[rows[found]] = slots[found]
            going = occupied
            going[found] = False  # found, or an empty cell ends the run: not there
            rows, cells = rows[going], (cells[going] + 1) & self._mask
        return out

    def occupied(self) -> I64:
        return np.flatnonzero(self._seen != NEVER).astype(np.int64)

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
                out[i] = self._add(series_ids[i])  # a series named twice is new once
            self._seen[out[new]] = seen[new]
        return out, new

    def _add(self, series_id: str) -> int:
        """The slot of this series, given a free one if it has none."""
        hashed = hash(series_id)
        cell, empty = self._find(series_id, hashed)
        if cell is not None:
            return int(self._table[cell])
        slot = self._free.pop()
        self._table[empty], self._hashes[slot], self._ids[slot] = slot, hashed, series_id
        self._seen[slot] = self._clock  # occupied (``place`` sets when it was seen)
        self._count += 1
        return slot

    def least_recently_seen(self, count: int) -> list[int]:
        """The ``count`` occupied slots seen longest ago (the store is full: all are occupied;
        the series being placed were just seen, so they are never among them)."""
        return [int(s) for s in np.argpartition(self._seen, count - 1)[:count]]

    def release(self, slot: int) -> str:
        """Free an occupied slot; the series it had."""
        series_id = self.name(slot)
        cell, _ = self._find(series_id, int(self._hashes[slot]))
        assert cell is not None, "an occupied slot's series is in the table"
        self._delete(cell)
        self._ids[slot] = None
        self._seen[slot] = NEVER
        self._free.append(slot)
        self._count -= 1
        return series_id

    def _delete(self, cell: int) -> None:
        """Empty this cell, moving back the later cells of its run that would no longer be
        found past it (backward-shift deletion: no tombstones, runs stay as short as built)."""
        table, mask = self._table, self._mask
        hole, cell = cell, (cell + 1) & mask
        while (slot := int(table[cell])) != EMPTY:
            home = int(self._hashes[slot]) & mask
            # The entry may move to the hole unless its home lies cyclically in (hole, cell].
            if (cell - home) & mask >= (cell - hole) & mask:
                table[hole], hole = slot, cell
            cell = (cell + 1) & mask
        table[hole] = EMPTY
