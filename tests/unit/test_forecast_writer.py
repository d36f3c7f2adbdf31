"""What ``ForecastWriter`` writes decodes through ``Forecast`` to what it was given: every field
exactly, the interval's bounds to within the float32 precision of the half-width they came from;
a batch written at once is byte for byte what one message at a time gives."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Forecast, decode
from schemas.bounds import VECTOR_FROM, interval_field, interval_fields
from schemas.forecast import ForecastWriter

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FORECASTS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e15, -1e16, 2.0**60, 5e-324]),
)
# Half-widths as the worker makes them (float32, NaN: none yet), and a few it never does.
HALF_WIDTHS = st.one_of(
    st.floats(0, width=32, allow_nan=False, allow_infinity=False),
    st.floats(0.0009765625, 1024.0, width=32),
    st.sampled_from([math.nan, 0.0, -1.0, math.inf, 1e-45, 3.4e38, 1.7e308]),
)
ROWS = st.lists(st.tuples(FORECASTS, HALF_WIDTHS), min_size=1, max_size=3 * VECTOR_FROM)


def bound_error(half_width: float, bound: float) -> float:
    """How far a written bound may be from the exact one: half the half-width's float32 ulp
    (the decimal rounding) and half a float64 ulp of the bound (the reader's own parsing)."""
    return math.ldexp(1.0, math.frexp(half_width)[1] - 25) + math.ulp(bound) / 2


def fields(i: int) -> tuple[str, datetime, int, int, int, bool | None]:
    """Row i's series id (every third one escaped), ts, version, partition, offset, source."""
    series_id = f"s{i % 7}" if i % 3 else 'q"u\\ö\t'
    return (
        series_id,
        TS + timedelta(seconds=i // 4),
        i % 4,
        i % 5,
        10 * i,
        (None, True, False)[i % 3],
    )


def write(writer: ForecastWriter, rows: list[tuple[float, float]]) -> list[bytes]:
    ids, ts, versions, partitions, offsets, sources = zip(
        *map(fields, range(len(rows))), strict=True
    )
    return writer.write_many(
        ids,
        ts,
        np.array([f for f, _ in rows], np.float64),
        versions,
        partitions,
        offsets,
        sources,
        np.array([h for _, h in rows], np.float64),
    )


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_what_is_written_decodes_to_what_was_given(rows: list[tuple[float, float]]) -> None:
    writer = ForecastWriter("ev.ents")
    writer.begin_batch(TS)
    for i, (message, (forecast, half)) in enumerate(zip(write(writer, rows), rows, strict=True)):
        got = decode(Forecast, message)
        series_id, ts, version, partition, offset, from_model = fields(i)
        assert (got.series_id, got.ts, got.forecast, got.model_version) == (
            series_id,
            ts,
            forecast,
            version,
        )
        assert (got.source_partition, got.source_offset) == (partition, offset)
        assert (got.source_topic, got.produced_at) == ("ev.ents", TS)
        assert got.source == {None: None, True: "model", False: "persistence"}[from_model]
        lower, upper = forecast - half, forecast + half
        if not (half >= 0 and math.isfinite(lower) and math.isfinite(upper)):
            assert got.lower is None and got.upper is None
            continue
        assert got.lower is not None and got.upper is not None
        assert got.lower <= forecast <= got.upper
        assert abs(got.lower - lower) <= bound_error(half, lower)
        assert abs(got.upper - upper) <= bound_error(half, upper)


@settings(max_examples=200, deadline=None)
@given(ROWS)
def test_a_batch_at_once_is_the_same_bytes_as_one_at_a_time(
    rows: list[tuple[float, float]],
) -> None:
    forecasts = np.array([f for f, _ in rows], np.float64)
    halves = np.array([h for _, h in rows], np.float64)
    one_by_one = [interval_field(f, h) for f, h in rows]
    assert interval_fields(forecasts, halves) == one_by_one
    # numpy's path for any batch, however short
    padded = np.resize(forecasts, VECTOR_FROM), np.resize(halves, VECTOR_FROM)
    assert interval_fields(*padded)[: len(rows)] == one_by_one[:VECTOR_FROM]
    writer = ForecastWriter("t")
    writer.begin_batch(TS)
    single = []
    for i, (forecast, half) in enumerate(rows):
        series_id, ts, version, partition, offset, from_model = fields(i)
        single.append(
            writer.write(series_id, ts, forecast, version, partition, offset, from_model, half)
        )
    assert write(writer, rows) == single


def test_bounds_are_as_precise_as_a_float32_half_width_and_exact_where_that_is_no_shorter() -> None:
    # A half-width in [0.25, 0.5): its float32 ulp is 2^-25 (3e-8), 8 decimals resolve it.
    assert interval_field(12.0, 0.3) == ',"lower":11.70000000,"upper":12.30000000'
    assert interval_field(-1.5, 0.25) == ',"lower":-1.75000000,"upper":-1.25000000'
    assert interval_field(1e9, 64.0) == ',"lower":999999936.000000,"upper":1000000064.000000'
    # A wide one: at least one decimal (a JSON number with a point, as repr writes it).
    assert interval_field(0.0, 1e8) == ',"lower":-100000000.0,"upper":100000000.0'
    # More than 17 significant digits would be needed: float64's shortest repr, exact.
    big = 2.0**60
    assert interval_field(big, 0.25) == f',"lower":{big - 0.25!r},"upper":{big + 0.25!r}'
    assert interval_field(5.0, 0.0) == ',"lower":5.0,"upper":5.0'
    assert interval_field(1.0, 1e-30) == ',"lower":1.0,"upper":1.0'
