"""A refit that cannot run is counted by reason every time and logged once per reason change."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from foundation.settings.trainer import TrainerSettings
from trainer.metrics import TrainerMetrics, record_skip
from trainer.plan import refit_plan
from trainer.refit import NO_HISTORY, SERIES_TOO_SHORT, NotEnoughData, refit, too_short


def skipped(m: TrainerMetrics, reason: str) -> float:
    value = m.registry.get_sample_value("twincast_trainer_refit_skipped_total", {"reason": reason})
    return value or 0.0


def test_short_series_raise_with_the_reason_and_the_setting() -> None:
    history = {f"s{i}": np.ones((12, 1)) for i in range(50)}
    plan = refit_plan(TrainerSettings(min_points_per_series=20))
    with pytest.raises(NotEnoughData) as caught:
        refit(history, plan, 1, {})
    assert caught.value.reason == SERIES_TOO_SHORT
    assert "20 points (TWINCAST_MIN_POINTS_PER_SERIES)" in str(caught.value)
    assert "50 series in the history, the longest has 12" in str(caught.value)
    assert too_short(20, 0).reason == NO_HISTORY


def test_skips_are_counted_each_time_and_logged_once_per_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = TrainerMetrics()
    caplog.set_level(logging.INFO, logger="trainer.metrics")
    for _ in range(3):
        record_skip(m, too_short(20, 50, 12))
    record_skip(m, too_short(20, 0))
    record_skip(m, too_short(20, 50, 12))
    assert skipped(m, SERIES_TOO_SHORT) == 4 and skipped(m, NO_HISTORY) == 1
    said = [r.getMessage() for r in caplog.records if "no refit can run" in r.getMessage()]
    assert len(said) == 3, said
    assert "series_too_short" in said[0] and "no_history" in said[1]
