"""Silent replay: from a restored partition's replay point R up to its emit-from M.

A checkpoint writes only the series due for writing (``worker.state_writer``); the others are
covered by the marker's R, the smallest offset some unwritten state lacks. A new owner (or a
rewind) restores the states, reads again from R and, for every event before M:

- skips it if its series' restored state already holds it (offset < that state's
  ``next_offset``): stepping it twice would be wrong;
- steps it otherwise, exactly as the previous owner did, but sends nothing: its forecast or dead
  letter was sent before M became durable. Control records (RESET) are applied as usual.

From M on, processing is normal, and the states equal the previous owner's: every forecast from M
on equals an uninterrupted run's. The skip rule also holds past M, up to the largest restored
``next_offset`` of the partition (a state may have become durable without its marker when an
at-least-once checkpoint broke off): an event a restored state holds is never stepped again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from foundation.kafka.client import Partition
from foundation.kafka.record import ConsumedRecord
from schemas.state import SeriesState
from schemas.state_header import Marker
from worker.batch import EventBatch

I64 = npt.NDArray[np.int64]


def not_yet_applied(offsets: I64, stored_next: I64) -> npt.NDArray[np.bool_]:
    """Which events a state does not hold yet: ``stored_next`` is the ``next_offset`` of each
    event's series before this batch (0 for a series without state). Events of one series come
    in offset order, so comparing each with the state before the batch is enough."""
    return offsets >= stored_next


class Replay:
    """Per partition being replayed: M (silent below it) and the offset below which an event
    may already be in its series' state."""

    def __init__(self) -> None:
        self._silent_until: dict[int, int] = {}
        self._guard: dict[int, int] = {}

    def start(self, partition: int, marker: Marker, restored_next: int) -> None:
        """Restored at ``marker``; ``restored_next`` is the largest ``next_offset`` among the
        partition's restored states."""
        self.stop([partition])
        if marker.replay_from < marker.next_offset:
            self._silent_until[partition] = marker.next_offset
        guard = max(marker.next_offset, restored_next)
        if marker.replay_from < guard:
            self._guard[partition] = guard

    def stop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._silent_until.pop(partition, None)
            self._guard.pop(partition, None)

    def emit_from(self) -> dict[int, int]:
        """M of each replay under way: a checkpoint's marker must not go below it."""
        return dict(self._silent_until)

    def silent(self, record: ConsumedRecord) -> bool:
        return self.silent_at(record.partition, record.offset)

    def silent_at(self, partition: int, offset: int) -> bool:
        """Whether the outputs of this event were sent before (it is below a replay's M)."""
        return offset < self._silent_until.get(partition, -1)

    def split(
        self, records: Sequence[ConsumedRecord]
    ) -> tuple[list[ConsumedRecord], Sequence[ConsumedRecord]]:
        """(silent, loud): a partition's silent records all come before its loud ones."""
        if not self._silent_until:
            return [], records
        silent = [r for r in records if self.silent(r)]
        if not silent:
            return [], records
        return silent, [r for r in records if not self.silent(r)]

    def guarded(self) -> bool:
        return bool(self._guard)

    def fresh(self, batch: EventBatch, stored_next: I64) -> list[int]:
        """Rows of ``batch`` to step: all but those below their partition's guard that their
        series' state (``stored_next``, per row) already holds."""
        offsets = np.asarray(batch.offsets, np.int64)
        guard = np.asarray([self._guard.get(p, -1) for p in batch.partitions], np.int64)
        keep = (offsets >= guard) | not_yet_applied(offsets, stored_next)
        return np.flatnonzero(keep).tolist()

    def advance(self, taken: dict[Partition, int]) -> None:
        """Forget the bounds a partition has read past (``taken``: offset after its last event)."""
        for tp, position in taken.items():
            p = tp.partition
            if self._silent_until.get(p, position) <= position:
                self._silent_until.pop(p, None)
            if self._guard.get(p, position) <= position:
                self._guard.pop(p, None)


def newest_offsets(states: Iterable[SeriesState]) -> dict[int, int]:
    """Per partition, the largest ``next_offset`` among these restored states."""
    out: dict[int, int] = {}
    for state in states:
        if state.next_offset > out.get(state.partition, -1):
            out[state.partition] = state.next_offset
    return out
