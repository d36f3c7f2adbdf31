"""The columns a poll's valid events travel in through the hot path, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass
class EventBatch:
    """The valid events of one poll, column by column, in poll order."""

    series_ids: list[str] = field(default_factory=list)
    ts: list[datetime] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)  # [n][features]
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)  # Kafka record timestamps

    def __len__(self) -> int:
        return len(self.series_ids)

    def append(
        self,
        series_id: str,
        ts: datetime,
        values: list[float],
        partition: int,
        offset: int,
        timestamp_ms: int,
    ) -> None:
        self.series_ids.append(series_id)
        self.ts.append(ts)
        self.values.append(values)
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.timestamps_ms.append(timestamp_ms)

    def take(self, rows: list[int]) -> EventBatch:
        """The events of these rows only, in that order."""
        return EventBatch(
            [self.series_ids[i] for i in rows],
            [self.ts[i] for i in rows],
            [self.values[i] for i in rows],
            [self.partitions[i] for i in rows],
            [self.offsets[i] for i in rows],
            [self.timestamps_ms[i] for i in rows],
        )


@dataclass(frozen=True)
class BatchResult:
    """Per event of the batch: its forecast and version, and the scoring of the forecast that
    an earlier event of its series made for it (``scored`` False where there was none)."""

    forecasts: F64
    versions: I64
    scored: B
    scored_versions: I64
    abs_errors: F64
    persistence_abs_errors: F64
    # True where the step went non-finite: that event gets no forecast (a dead letter instead).
    non_finite: B
    # True where the model's forecast is served; False: persistence (no model yet, or the
    # model's per-series gate chose the last value for that series).
    from_model: B
    # Prediction intervals (worker.intervals): the half-width issued with each forecast (NaN:
    # none yet), and for the forecast an earlier event issued for this one, whether it carried
    # an interval and whether this event's value fell inside it.
    half_widths: F64
    interval_scored: B
    covered: B

    @classmethod
    def empty(cls, n: int) -> BatchResult:
        return cls(
            np.zeros(n),
            np.zeros(n, np.int64),
            np.zeros(n, np.bool_),
            np.zeros(n, np.int64),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
            np.full(n, np.nan),
            np.zeros(n, np.bool_),
            np.zeros(n, np.bool_),
        )

    def take(self, rows: I64) -> BatchResult:
        """The results of these rows only."""
        return BatchResult(
            self.forecasts[rows],
            self.versions[rows],
            self.scored[rows],
            self.scored_versions[rows],
            self.abs_errors[rows],
            self.persistence_abs_errors[rows],
            self.non_finite[rows],
            self.from_model[rows],
            self.half_widths[rows],
            self.interval_scored[rows],
            self.covered[rows],
        )
