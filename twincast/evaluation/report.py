"""Scores and the printed table: MAE and RMSE per series and overall, each method side by side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Score:
    mae: float
    rmse: float
    points: int


def score(forecasts: F64, actuals: F64) -> Score:
    """Over the values every method forecast (all but each series' first)."""
    mask = ~np.isnan(forecasts)
    errors = forecasts[mask] - actuals[mask]
    return Score(float(np.abs(errors).mean()), float(np.sqrt((errors**2).mean())), int(mask.sum()))


def overall(per_series: list[tuple[F64, F64]]) -> Score:
    forecasts = np.concatenate([f for f, _ in per_series])
    actuals = np.concatenate([a for _, a in per_series])
    return score(forecasts, actuals)


def table(title: str, rows: dict[str, dict[str, Score]]) -> str:
    """rows: series (or "all") -> method -> score. One line per series and method."""
    methods = list(next(iter(rows.values())))
    width = max(len(m) for m in methods)
    lines = [
        title,
        f"  {'series':<14} {'method':<{width}} {'MAE':>12} {'RMSE':>12} {'vs persist.':>12}",
    ]
    for series_id, scores in rows.items():
        base = scores["persistence"].mae
        for method, s in scores.items():
            ratio = f"{s.mae / base:.3f}" if base > 0 else "-"
            name = series_id[:14]
            lines.append(
                f"  {name:<14} {method:<{width}} {s.mae:>12.5g} {s.rmse:>12.5g} {ratio:>12}"
            )
    return "\n".join(lines)
