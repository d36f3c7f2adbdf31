"""Prediction intervals (worker.intervals): coverage and width on streams with known noise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from foundation.errors import SchemaError
from schemas.state import decode_state, encode_states
from worker.hotpath import EventBatch, process
from worker.intervals import Calibrator
from worker.state_store import StateStore

F64 = npt.NDArray[np.float64]
TS = datetime(2026, 1, 1, tzinfo=UTC)


def calibrator(adapt_rate: float = 0.005, min_errors: int = 10) -> Calibrator:
    return Calibrator(
        coverage=0.9, scale_window=50, min_errors=min_errors, pool_size=2000, adapt_rate=adapt_rate
    )


def run(cal: Calibrator, errors: F64) -> tuple[F64, F64]:
    """Replays signed errors [steps, series] as the hot path does: the interval issued before
    each error, then the error scores it and is learnt. Returns (covered, half-width) per
    step and series, NaN where no interval was issued."""
    steps, n = errors.shape
    scale, count = np.full(n, np.nan, np.float32), np.zeros(n, np.int32)
    covered, widths = np.full(errors.shape, np.nan), np.full(errors.shape, np.nan)
    pending = np.full(n, np.nan, np.float32)
    for t in range(steps):
        e = np.abs(errors[t])
        issued = ~np.isnan(pending)
        hit = e <= pending
        cal.adapt(hit[issued])
        covered[t] = np.where(issued, hit, np.nan)
        widths[t] = pending
        scale, count = cal.learn(e, scale, count)
        pending = cal.half_widths(scale, count)
    return covered, widths


def test_gaussian_noise_is_covered_at_the_nominal_rate_with_the_gaussian_width() -> None:
    sigma = 2.0
    errors = np.random.default_rng(1).normal(0.0, sigma, (400, 25))
    covered, widths = run(calibrator(), errors)
    after = slice(60, None)  # warm-up: the scales' first errors and the pools filling
    coverage = np.nanmean(covered[after])
    assert abs(coverage - 0.9) <= 0.03, coverage
    # The Gaussian 90 % interval is +-1.645 sigma; the estimated scale adds some width.
    width = 2 * np.nanmean(widths[after])
    assert 2 * 1.645 * sigma * 0.95 <= width <= 2 * 1.645 * sigma * 1.15, width


def test_series_1000x_apart_each_get_their_own_width_and_coverage() -> None:
    rng = np.random.default_rng(2)
    errors = rng.normal(0.0, 1.0, (3000, 2)) * np.array([0.01, 10.0])
    covered, widths = run(calibrator(), errors)
    after = slice(100, None)
    for series in range(2):
        assert abs(np.nanmean(covered[after, series]) - 0.9) <= 0.03
    ratio = np.nanmean(widths[after, 1]) / np.nanmean(widths[after, 0])
    assert 800 <= ratio <= 1250, ratio


def test_pooled_absolute_errors_would_not_do() -> None:
    """The same two series with one pooled quantile of raw |e|: the small series is always
    covered and the large one mostly not (what normalising by each series' scale avoids)."""
    rng = np.random.default_rng(2)
    errors = np.abs(rng.normal(0.0, 1.0, (3000, 2)) * np.array([0.01, 10.0]))
    q = np.quantile(errors, 0.9)
    assert (errors[:, 0] <= q).mean() == 1.0
    assert (errors[:, 1] <= q).mean() < 0.85


def test_many_short_series_are_calibrated_against_series_at_a_count_no_higher() -> None:
    """500 series of 6 errors each, in step: from the third forecast on each gets an interval
    from the pool of the nearest lower count (no series has scored at its own count yet), which
    errs on the wide side and never covers less than nominal."""
    errors = np.random.default_rng(3).laplace(0.0, 1.0, (6, 500))
    covered, widths = run(calibrator(adapt_rate=0.0), errors)
    assert np.isnan(widths[:2]).all()  # no error yet / no score yet
    for t in range(2, 6):
        assert 0.88 <= np.nanmean(covered[t]) <= 0.99, (t, np.nanmean(covered[t]))
    assert np.nanmean(widths[2]) > np.nanmean(widths[5])  # a scale of one error is uncertain


def test_staggered_short_series_are_covered_at_the_nominal_rate() -> None:
    """Series starting one after another: each count's pool is filled by the series ahead."""
    rng = np.random.default_rng(6)
    errors = np.full((400 + 12, 400), np.nan)
    for series in range(400):
        errors[series : series + 12, series] = rng.laplace(0.0, 1.0 + series % 7, 12)
    cal = calibrator(adapt_rate=0.0)
    covered = []
    scale, count = np.full(400, np.nan, np.float32), np.zeros(400, np.int32)
    pending = np.full(400, np.nan, np.float32)
    for t in range(len(errors)):
        live = ~np.isnan(errors[t])
        e = np.abs(errors[t, live])
        issued = ~np.isnan(pending[live])
        covered.extend((e <= pending[live])[issued].tolist())
        scale[live], count[live] = cal.learn(e, scale[live], count[live])
        pending[live] = cal.half_widths(scale[live], count[live])
    assert abs(np.mean(covered[500:]) - 0.9) <= 0.03, np.mean(covered[500:])


def test_no_interval_until_the_pool_can_give_the_quantile() -> None:
    """One series: a 90 % conformal quantile needs 9 scores in its pool."""
    errors = np.random.default_rng(4).normal(0.0, 1.0, (40, 1))
    _, widths = run(calibrator(adapt_rate=0.0, min_errors=1), errors)
    issued = np.flatnonzero(~np.isnan(widths[:, 0]))
    # Error 0 sets the scale, errors 1..9 give the pool its 9 scores: an interval for error 10.
    assert issued[0] == 10 and len(issued) == 40 - 10


def test_adaptive_level_keeps_coverage_when_the_noise_grows() -> None:
    """Noise that triples gradually: the pooled quantile lags, ACI's level corrects it."""
    rng = np.random.default_rng(5)
    sigma = np.linspace(1.0, 3.0, 1500)[:, None]
    errors = rng.normal(0.0, 1.0, (1500, 20)) * sigma
    covered, _ = run(calibrator(adapt_rate=0.005), errors)
    assert abs(np.nanmean(covered[100:]) - 0.9) <= 0.03


def test_a_constant_series_gets_a_zero_width_interval_and_huge_errors_start_over() -> None:
    cal = calibrator(min_errors=1)
    scale, count = np.full(2, np.nan, np.float32), np.zeros(2, np.int32)
    for _ in range(20):
        scale, count = cal.learn(np.array([0.0, 1e300]), scale, count)
    assert scale[0] == 0.0 and count[0] == 20
    assert np.isnan(scale[1]) and count[1] == 0  # beyond float32: not a usable scale
    assert np.isnan(cal.half_widths(scale, count)).all()  # no score pooled (0 / 0) yet


def test_waves_of_many_series_keep_the_level_steady_and_the_coverage_nominal() -> None:
    """A wave's intervals are scored together: summing one step per interval (a gain of
    n x adapt_rate) swung the level between its bounds at 1,000 series a wave (coverage 0.72)."""
    cal = calibrator(adapt_rate=0.02)
    errors = np.random.default_rng(7).normal(0.0, 1.0, (300, 1000))
    scale, count = np.full(1000, np.nan, np.float32), np.zeros(1000, np.int32)
    pending = np.full(1000, np.nan, np.float32)
    levels, hits = [], []
    for t in range(len(errors)):
        e = np.abs(errors[t])
        if not np.isnan(pending).any():
            cal.adapt(e <= pending)
            levels.append(cal.level)
            hits.append(float((e <= pending).mean()))
        scale, count = cal.learn(e, scale, count)
        pending = cal.half_widths(scale, count)
    assert abs(np.mean(hits[50:]) - 0.9) <= 0.01, np.mean(hits[50:])
    assert np.std(levels[50:]) < 0.02 and max(levels[50:]) < 0.99, (np.std(levels), max(levels))


def test_one_extreme_score_never_becomes_every_series_interval() -> None:
    """A constant series' scale decays towards 0; when it then moves, its score is enormous.
    Scores stay finite, a scale below float32's smallest normal is not scored, and the level
    stays below 1, so other series keep finite intervals of their own size."""
    cal = calibrator(adapt_rate=0.02, min_errors=1)
    scale = np.array([1.0, 1e-40], np.float32)  # the second: decayed (or a hostile record)
    count = np.array([50, 50], np.int32)
    for _ in range(200):  # fill the pool with ordinary scores of the first series
        scale, count = cal.learn(np.array([1.0, 0.0]), scale, count)
    scale[1] = np.float32(1e-30)  # just above the floor: scored, and enormous
    scale, count = cal.learn(np.array([1.0, 1.0]), scale, count)
    assert np.isfinite(cal.pools.scores).all()
    for _ in range(500):  # every interval missed: the level climbs as far as it may
        cal.adapt(np.zeros(1, np.bool_))
    assert cal.level < 1.0
    width = cal.half_widths(np.array([2.0], np.float32), np.array([50], np.int32))
    assert np.isfinite(width).all() and width[0] < 10, width


def test_a_count_at_the_int32_limit_does_not_wrap() -> None:
    """A restored count may be int32's maximum: learning one more error caps it, never wraps
    it to a negative count that the next restore would refuse."""
    cal = calibrator()
    scale, count = np.array([1.0], np.float32), np.array([2**31 - 1], np.int32)
    _, new = cal.learn(np.array([1.0]), scale, count)
    assert new.dtype == np.int32 and new[0] == cal.count_cap


# The hot path and the state record.


def _batch(values: F64, first_offset: int = 0) -> EventBatch:
    """values [steps, series] as events in time order, series ``s0``, ``s1``, ..."""
    batch = EventBatch()
    steps, n = values.shape
    for t in range(steps):
        for s in range(n):
            batch.append(f"s{s}", TS, [float(values[t, s])], s % 2, first_offset + t * n + s, 0)
    return batch


def _store() -> StateStore:
    return StateStore(capacity=64, window=4, features=1, layers=1, units=1)


def test_the_hot_path_issues_and_scores_intervals_per_series() -> None:
    """Random walks 1000x apart in scale, served persistence (no model): the errors are the
    steps, so each series' interval is near +-1.645 of its own step's sigma."""
    rng = np.random.default_rng(7)
    sigma = np.where(np.arange(20) % 2, 1000.0, 1.0)
    values = np.cumsum(rng.normal(0.0, 1.0, (300, 20)) * sigma, axis=0)
    cal = calibrator()
    result = process(None, _store(), _batch(values), intervals=cal)
    assert np.isnan(result.half_widths[:20]).all()  # no error yet for any series
    late = np.arange(len(result.forecasts)) >= 100 * 20
    assert abs(result.covered[late].sum() / result.interval_scored[late].sum() - 0.9) <= 0.03
    widths = result.half_widths.reshape(300, 20)[100:]
    ratio = widths[:, 1::2].mean() / widths[:, 0::2].mean()
    assert 900 <= ratio <= 1100, ratio
    assert abs(widths[:, 0::2].mean() / 1.645 - 1.0) <= 0.1


def test_interval_state_survives_the_state_record_exactly() -> None:
    """A restored series scores its pending interval and goes on calibrating as if it had never
    left: same half-widths and hits as an uninterrupted run (pools fed alike)."""
    rng = np.random.default_rng(8)
    values = np.cumsum(rng.normal(0.0, 1.0, (60, 6)), axis=0)
    first, rest = _batch(values[:40]), _batch(values[40:], first_offset=40 * 6)
    straight, cal_a = _store(), calibrator()
    process(None, straight, first, intervals=cal_a)
    expected = process(None, straight, rest, intervals=cal_a)
    before, cal_b = _store(), calibrator()
    process(None, before, first, intervals=cal_b)
    ids = before.series_ids()
    raws = encode_states(before.columns(ids))
    records = {sid: decode_state(raw) for sid, raw in zip(ids, raws, strict=True)}
    for sid, record in records.items():
        kept = before.get(sid)
        assert kept is not None and record.interval_count == kept.interval_count > 0
        assert record.interval_scale == kept.interval_scale is not None
        assert record.interval_half_width == kept.interval_half_width is not None
    after = _store()
    after.restore(records)
    got = process(None, after, rest, intervals=cal_b)
    np.testing.assert_array_equal(got.half_widths, expected.half_widths)
    np.testing.assert_array_equal(got.covered, expected.covered)
    assert got.interval_scored.all()


def test_a_record_written_before_intervals_reads_as_uncalibrated() -> None:
    store = _store()
    process(None, store, _batch(np.arange(30.0).reshape(15, 2)), intervals=calibrator())
    (raw,) = encode_states(store.columns(["s0"]))
    line, body = raw.split(b"\n", 1)
    header = json.loads(line)
    for key in ("interval_scale", "interval_count", "interval_half_width"):
        del header[key]
    record = decode_state(json.dumps(header).encode() + b"\n" + body)
    assert (record.interval_scale, record.interval_count, record.interval_half_width) == (
        None,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("interval_count", -1, "range"),
        ("interval_count", "3", "type"),
        ("interval_count", 2**31, "range"),
        ("interval_scale", "1.0", "type"),
        ("interval_scale", -1.0, "range"),
        ("interval_scale", 1e39, "range"),
        ("interval_half_width", 2, "type"),
    ],
)
def test_hostile_interval_fields_are_refused(field: str, value: object, reason: str) -> None:
    store = _store()
    process(None, store, _batch(np.arange(30.0).reshape(15, 2)), intervals=calibrator())
    (raw,) = encode_states(store.columns(["s0"]))
    line, body = raw.split(b"\n", 1)
    header = json.loads(line)
    header[field] = value
    with pytest.raises(SchemaError) as caught:
        decode_state(json.dumps(header).encode() + b"\n" + body)
    assert caught.value.reason == reason


def test_watched_series_export_their_value_forecast_and_bounds() -> None:
    from foundation.settings.worker import WorkerSettings
    from worker.metrics import WorkerMetrics

    watched = WorkerSettings(interval_watch_series=" s1, ,s3 ").watched_series()
    assert watched == {"s1", "s3"} and not WorkerSettings().watched_series()
    values = np.cumsum(np.random.default_rng(9).normal(0.0, 1.0, (40, 2)), axis=0)
    batch = _batch(values)
    result = process(None, _store(), batch, intervals=calibrator(min_errors=1))
    metrics = WorkerMetrics()
    metrics.watch(batch, result, watched)
    get = metrics.registry.get_sample_value
    labels = {"series_id": "s1"}
    assert get("twincast_watched_series", {**labels, "line": "value"}) == values[-1, 1]
    forecast = get("twincast_watched_series", {**labels, "line": "forecast"})
    lower = get("twincast_watched_series", {**labels, "line": "lower"})
    upper = get("twincast_watched_series", {**labels, "line": "upper"})
    assert lower is not None and upper is not None and forecast is not None
    assert lower < forecast == values[-1, 1] < upper
    assert get("twincast_watched_series", {"series_id": "s0", "line": "value"}) is None
