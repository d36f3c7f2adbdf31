"""What a checkpoint takes from the state store: the states not written yet, the series forgotten,
and per partition the first event some unwritten state lacks (where a new owner must replay from).

The store keeps per slot the offset of the first event its written state lacks (``CLEAN``: none)
and when that change came; ``worker.state_writer`` writes what ``StateStore.take_changes`` gives.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from schemas.state import StateColumns

I64 = npt.NDArray[np.int64]

# ``unwritten_from`` of a slot whose state in memory is the one on the state topic.
CLEAN = np.iinfo(np.int64).max


class Changes(NamedTuple):
    """What one checkpoint writes: states, tombstones and where each partition must replay from."""

    states: StateColumns
    forgotten: dict[str, int]  # series -> partition
    replay_from: dict[int, int]  # partition -> first offset some unwritten state lacks


def replay_points(partitions: I64, unwritten_from: I64) -> dict[int, int]:
    """Per partition, the smallest of its unwritten series' first unwritten offsets. One
    ``minimum.at`` over a table indexed by partition, no sort: a checkpoint does this for every
    pending series (100,000 and more), the few partitions being small numbers."""
    if not len(partitions):
        return {}
    low = int(partitions.min())
    smallest = np.full(int(partitions.max()) - low + 1, CLEAN, np.int64)
    np.minimum.at(smallest, partitions - low, unwritten_from)
    (present,) = np.nonzero(np.bincount(partitions - low, minlength=len(smallest)))
    return dict(zip((present + low).tolist(), smallest[present].tolist(), strict=True))
