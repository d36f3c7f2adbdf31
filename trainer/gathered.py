"""Consumed records in columns, as one history write takes them.

The trainer's ingest ran at ~10 us per event before any history grew, and half of it was Python
objects made per event (a ``Point`` and a ``Consumed`` each, an ISO timestamp, a JSON value).
Here a record is a few list appends: its position, and for a valid event its series, its time
as epoch seconds and its value packed as float64 (what the history stores and a refit reads
back with one ``np.frombuffer``, not a ``json.loads`` per point).
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import numpy.typing as npt

from foundation.errors import TwincastError

NOT_A_POINT = ""  # a record that is no event (a control record) and no refusal either
FLOAT64 = np.dtype("<f8")


class MixedFeatures(TwincastError):
    """Stored values of one series do not all have the same number of features."""


@cache
def packer(features: int) -> Callable[..., bytes]:
    """Packs ``features`` numbers as little-endian float64 (raises on a number out of range)."""
    return struct.Struct(f"<{features}d").pack


def pack(values: Sequence[float]) -> bytes:
    return packer(len(values))(*values)


def unpack(blobs: Sequence[bytes]) -> npt.NDArray[np.float64]:
    """Packed values (in order) as a [T, F] array."""
    if not blobs:
        return np.empty((0, 1), np.float64)
    joined = b"".join(blobs)
    if len(joined) != len(blobs) * len(blobs[0]):
        raise MixedFeatures(f"{len(blobs)} stored values do not all have the same feature count")
    return np.frombuffer(joined, FLOAT64).astype(np.float64).reshape(len(blobs), -1)


@dataclass
class Gathered:
    """Every record's position and outcome; the valid events' points in columns."""

    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    # Per record: None for a point, its refusal reason, or NOT_A_POINT.
    outcomes: list[str | None] = field(default_factory=list)
    series_ids: list[str] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)  # epoch seconds
    values: list[bytes] = field(default_factory=list)  # packed float64, one per feature

    def __len__(self) -> int:
        return len(self.offsets)

    def add_point(
        self, partition: int, offset: int, series_id: str, ts: float, value: bytes
    ) -> None:
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.outcomes.append(None)
        self.series_ids.append(series_id)
        self.ts.append(ts)
        self.values.append(value)

    def add_skipped(self, partition: int, offset: int, reason: str = NOT_A_POINT) -> None:
        """A position without a point: the history passes it."""
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.outcomes.append(reason)

    def next_offsets(self) -> dict[int, int]:
        """Partition -> one past the highest offset gathered."""
        out: dict[int, int] = {}
        for partition, offset in zip(self.partitions, self.offsets, strict=True):
            if offset >= out.get(partition, 0):
                out[partition] = offset + 1
        return out

    def refusals(self) -> Counter[str]:
        return Counter(reason for reason in self.outcomes if reason)

    def records(self) -> Iterator[tuple[int, int, int | None, str | None]]:
        """(partition, offset, index of its point or None, refusal reason or None) per record."""
        point = 0
        for partition, offset, outcome in zip(
            self.partitions, self.offsets, self.outcomes, strict=True
        ):
            if outcome is None:
                yield partition, offset, point, None
                point += 1
            else:
                yield partition, offset, None, outcome or None
