"""Data sets for ``twincast evaluate``: built-in ones and the user's CSV / JSON Lines files.

Built-ins need the optional ``eval`` extra (River and statsmodels ship the data) except
``synthetic`` and ``short``. Each data set knows its season length, which the seasonal baselines
need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from foundation.errors import SchemaError, TwincastError
from twincast.produce import ColumnMap, guess_format, open_input, rows, to_event
from twincast.synthetic import seasonal_series


class DatasetError(TwincastError):
    """A data set cannot be loaded."""


@dataclass(frozen=True)
class Series:
    timestamps: list[datetime]
    values: npt.NDArray[np.float64]  # [T]


@dataclass(frozen=True)
class Dataset:
    name: str
    series: dict[str, Series]
    season: int  # period of the seasonal baselines; 0 = none

    def events(self) -> list[tuple[str, datetime, float]]:
        """Every point in event-time order (ties: by series id): the replay order."""
        merged = [
            (series_id, ts, float(value))
            for series_id, s in self.series.items()
            for ts, value in zip(s.timestamps, s.values.tolist(), strict=True)
        ]
        return sorted(merged, key=lambda e: (e[1], e[0]))

    def __len__(self) -> int:
        return sum(len(s.values) for s in self.series.values())


def _airline() -> Dataset:
    from river import datasets

    stream = datasets.AirlinePassengers()  # type: ignore[no-untyped-call]
    points = [(x["month"].replace(tzinfo=UTC), float(y)) for x, y in stream]
    return _single("airline", points, season=12)


def _co2() -> Dataset:
    import statsmodels.api as sm

    frame = sm.datasets.co2.load_pandas().data
    filled = frame["co2"].interpolate(limit_direction="both")  # 59 weekly gaps
    points = [(ts.to_pydatetime().replace(tzinfo=UTC), float(v)) for ts, v in filled.items()]
    return _single("co2", points, season=52)


def _sunspots() -> Dataset:
    import statsmodels.api as sm

    frame = sm.datasets.sunspots.load_pandas().data
    points = [
        (datetime(int(year), 1, 1, tzinfo=UTC), float(v))
        for year, v in zip(frame["YEAR"], frame["SUNACTIVITY"], strict=True)
    ]
    return _single("sunspots", points, season=11)


def _synthetic() -> Dataset:
    """8 series, 600 hourly points: level, trend, daily seasonality and noise, seeded."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(hours=t) for t in range(600)]
    data = seasonal_series(8, 600, seed=7, period=24.0, noise=0.1, trend=0.02)
    return Dataset(
        "synthetic", {k: Series(stamps, v[:, 0].copy()) for k, v in data.items()}, season=24
    )


def _short() -> Dataset:
    """50 quarterly series of 8 to 12 points each, starting over two years (seeded): many short
    series, the case ``min_points_per_series`` decides (one pooled model or none at all)."""
    rng = np.random.default_rng(11)
    lengths = rng.integers(8, 13, 50)
    starts = rng.integers(0, 8, 50)
    data = seasonal_series(50, 20, seed=11, period=4.0, noise=0.15, trend=0.2)
    series = {}
    for (name, values), length, begin in zip(data.items(), lengths, starts, strict=True):
        stamps = [
            datetime(2020 + (begin + q) // 4, 1 + 3 * ((begin + q) % 4), 1, tzinfo=UTC)
            for q in range(length)
        ]
        series[name] = Series(stamps, values[begin : begin + length, 0].copy())
    return Dataset("short", series, season=4)


def _single(name: str, points: list[tuple[datetime, float]], season: int) -> Dataset:
    stamps = [ts for ts, _ in points]
    return Dataset(name, {name: Series(stamps, np.array([v for _, v in points]))}, season)


BUILT_IN: dict[str, Callable[[], Dataset]] = {
    "airline": _airline,
    "co2": _co2,
    "sunspots": _sunspots,
    "synthetic": _synthetic,
    "short": _short,
}


def load(source: str, columns: ColumnMap | None = None, season: int = 0) -> Dataset:
    """A built-in data set by name, or a CSV / JSON Lines file of events."""
    if source in BUILT_IN:
        try:
            return BUILT_IN[source]()
        except ImportError as exc:
            raise DatasetError(
                f"the built-in data set {source!r} needs the eval extra: "
                "pip install 'twincast[eval]'"
            ) from exc
    return load_file(source, columns or ColumnMap(), season)


def load_file(path: str, columns: ColumnMap, season: int) -> Dataset:
    points: dict[str, list[tuple[datetime, float]]] = {}
    with open_input(path) as stream:
        for number, row in rows(stream, guess_format(path)):
            try:
                if isinstance(row, str):
                    raise SchemaError("invalid_json", row)
                event = to_event(row, columns, 1)
            except SchemaError as exc:
                raise DatasetError(f"{path} line {number}: {exc.detail}") from exc
            value = event.value[0] if isinstance(event.value, list) else event.value
            points.setdefault(event.series_id, []).append((event.ts, float(value)))
    if not points:
        raise DatasetError(f"{path} holds no events")
    series = {}
    for series_id, found in points.items():
        found.sort(key=lambda p: p[0])
        series[series_id] = Series([ts for ts, _ in found], np.array([v for _, v in found]))
    return Dataset(path, series, season)
