"""Scores and the printed table: MAE and RMSE per series and overall, each method side by side,
with a note where a baseline diverged."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# A method this many times worse than the last value has not learned the series, it has diverged
# (River's SNARIMAX reached 7.7e10 on a series whose persistence MAE was ~1): said, not printed
# as if it were a result.
DIVERGED_RATIO = 5.0


@dataclass(frozen=True)
class Score:
    mae: float
    rmse: float
    points: int
    nonfinite: int = 0  # forecasts that were NaN or infinite (the last value stood in)
    # Prediction intervals (twincast only): the share of the values with an interval that fell
    # inside it, the intervals' mean width (upper - lower) and how many values had one.
    coverage: float = math.nan
    width: float = math.nan
    banded: int = 0


def interval_score(s: Score, forecasts: F64, half_widths: F64, actuals: F64) -> Score:
    """``s`` with the coverage and mean width of the intervals forecast -+ ``half_widths``
    (NaN: none) over the values that had one."""
    mask = ~np.isnan(half_widths) & ~np.isnan(forecasts)
    if not mask.any():
        return s
    inside = np.abs(actuals[mask] - forecasts[mask]) <= half_widths[mask]
    return replace(
        s,
        coverage=float(inside.mean()),
        width=float(2 * half_widths[mask].mean()),
        banded=int(mask.sum()),
    )


def score(forecasts: F64, actuals: F64) -> Score:
    """Over the values every method forecast (all but each series' first)."""
    mask = ~np.isnan(forecasts)
    errors = forecasts[mask] - actuals[mask]
    return Score(float(np.abs(errors).mean()), float(np.sqrt((errors**2).mean())), int(mask.sum()))


def overall(per_series: list[tuple[F64, F64]]) -> Score:
    forecasts = np.concatenate([f for f, _ in per_series])
    actuals = np.concatenate([a for _, a in per_series])
    return score(forecasts, actuals)


def stand_in(raw: F64, values: F64) -> tuple[F64, int]:
    """``raw`` with every non-finite forecast after the first value replaced by the last value,
    and how many were replaced."""
    out = raw.copy()
    bad = ~np.isfinite(out)
    bad[0] = False  # the first value has no forecast by any method
    out[bad] = values[:-1][bad[1:]]
    return out, int(bad.sum())


def flag(s: Score, persistence: Score) -> str:
    """Why a score is not to be taken at face value, or ''."""
    notes = []
    if s.nonfinite:
        notes.append(f"DIVERGED: {s.nonfinite} non-finite forecasts (last value used)")
    if not math.isfinite(s.mae) or (
        persistence.mae > 0 and s.mae > DIVERGED_RATIO * persistence.mae
    ):
        notes.append(f"DIVERGED: MAE > {DIVERGED_RATIO:g}x persistence")
    return "; ".join(notes)


def table(title: str, rows: dict[str, dict[str, Score]]) -> str:
    """rows: series (or "all") -> method -> score. One line per series and method."""
    methods = list(next(iter(rows.values())))
    width = max(len(m) for m in methods)
    lines = [
        title,
        f"  {'series':<14} {'method':<{width}} {'MAE':>12} {'RMSE':>12} {'vs persist.':>12}"
        f" {'coverage':>9} {'width':>10}",
    ]
    for series_id, scores in rows.items():
        base = scores["persistence"]
        for method, s in scores.items():
            ratio = f"{s.mae / base.mae:.3f}" if base.mae > 0 else "-"
            note = flag(s, base)
            band = f"{s.coverage:>9.1%} {s.width:>10.4g}" if s.banded else f"{'-':>9} {'-':>10}"
            lines.append(
                f"  {series_id[:14]:<14} {method:<{width}} {s.mae:>12.5g} {s.rmse:>12.5g} "
                f"{ratio:>12} {band}" + (f"  {note}" if note else "")
            )
    return "\n".join(lines)


def refit_lines(
    verdicts: list[str], tails: list[tuple[float, float]], skipped: list[tuple[str, str]]
) -> str:
    """Each refit's candidate next to persistence on the trainer's held-out tail, accepted or
    not; and why refits could not run, once per reason (with the latest explanation)."""
    lines = []
    for number, (verdict, (candidate, last)) in enumerate(zip(verdicts, tails, strict=True), 1):
        ratio = f"{candidate / last:.3f}" if last > 0 else "-"
        lines.append(
            f"  refit {number}: {verdict:<22} held-out tail MAE candidate {candidate:.5g}, "
            f"persistence {last:.5g} ({ratio}x)"
        )
    latest = dict(skipped)  # reason -> its last explanation, in order of first appearance
    for reason, why in latest.items():
        count = sum(r == reason for r, _ in skipped)
        lines.append(
            f"  no refit could run {count} time{'s' * (count > 1)} ({reason}); last: {why}"
        )
    if not verdicts:
        lines.append("  no refit ran at all: twincast's forecasts above are the last value")
    return "\n".join(lines)


# Issue 15's per-series target: never more than this much worse than the last value on a series.
PER_SERIES_TOLERANCE = 1.02


def per_series_line(rows: dict[str, dict[str, Score]], method: str) -> str:
    """How ``method`` compares with the last value series by series (the per-series target)."""
    ratios = {
        sid: scores[method].mae / scores["persistence"].mae
        for sid, scores in rows.items()
        if sid != "all" and scores["persistence"].mae > 0
    }
    if not ratios:
        return f"  per series: no series with a persistence error to compare {method} with"
    worse = sorted((r, sid) for sid, r in ratios.items() if r > PER_SERIES_TOLERANCE)
    worst_ratio, worst = max((r, sid) for sid, r in ratios.items())
    return (
        f"  per series: {method} is more than {PER_SERIES_TOLERANCE - 1:.0%} worse than the last "
        f"value on {len(worse)} of {len(ratios)} series (worst: {worst} at {worst_ratio:.3f}x)"
    )


def interval_line(rows: dict[str, dict[str, Score]], method: str, nominal: float) -> str:
    """``method``'s interval coverage against the nominal, overall and its spread over series."""
    total = rows["all"][method]
    if not total.banded:
        return f"  intervals: {method} issued none (no series had enough scored errors)"
    per_series = [
        scores[method].coverage
        for sid, scores in rows.items()
        if sid != "all" and scores[method].banded
    ]
    return (
        f"  intervals ({nominal:.0%} nominal): {method} covered {total.coverage:.1%} of the "
        f"{total.banded} values given an interval (of {total.points} scored), mean width "
        f"{total.width:.4g} (MAE {total.mae:.4g}); per series {min(per_series):.1%} to "
        f"{max(per_series):.1%}"
    )
