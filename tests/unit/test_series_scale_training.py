"""Two series 1,000 times apart in scale share one model fairly: each is trained and served in its
own scale, so each gets comparable relative error (with one pooled scale the small one's changes
are all but zero to the model, and it gets no better than its last value)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from lstmcore.serving import ServingModel
from tests.unit.test_served_equals_trained import _served, _settings
from trainer.plan import refit_plan
from trainer.refit import holdout_start, refit

F64 = npt.NDArray[np.float64]


def _ar_changes(n: int, scale: float, seed: int) -> F64:
    """Levels whose changes follow an AR(1) (phi 0.8): the last change predicts the next."""
    rng = np.random.default_rng(seed)
    changes = np.zeros(n)
    for t in range(1, n):
        changes[t] = 0.8 * changes[t - 1] + rng.normal()
    return (1000.0 * scale + np.cumsum(changes) * scale)[:, None]


def test_series_1000x_apart_get_comparable_relative_error(monkeypatch: pytest.MonkeyPatch) -> None:
    named = {"tiny": _ar_changes(300, 0.01, 1), "huge": _ar_changes(300, 10.0, 2)}
    settings = _settings(batch_size=2, epochs=30, units=8, layers=1, learning_rate=0.01, tbptt=16)
    outcome = refit(named, refit_plan(settings), version=1, offsets={})
    model = ServingModel.from_artifact(outcome.artifact)
    served = _served(model, list(named), list(named.values()))
    ratios = {}
    for (name, values), forecasts in zip(named.items(), served, strict=True):
        start = holdout_start(len(values), settings.holdout_fraction)
        model_mae = np.abs(forecasts[start - 1 : -1] - values[start:, 0]).mean()
        persistence_mae = np.abs(values[start - 1 : -1, 0] - values[start:, 0]).mean()
        ratios[name] = model_mae / persistence_mae
    print(f"model MAE / persistence MAE on the held-out tail: {ratios}")
    assert max(ratios.values()) < 0.85  # the model helps both, the tiny one too
    assert abs(ratios["tiny"] - ratios["huge"]) < 0.15  # and about as much
