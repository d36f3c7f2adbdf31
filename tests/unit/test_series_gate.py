"""The per-series gate: the model where it beats the last value on a series' held-out tail,
persistence where it does not, decided by the trainer and obeyed by the worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from lstmcore.artifact import decode_artifact, encode_artifact
from lstmcore.serving import ServingModel
from schemas.forecast import ForecastWriter
from tests.unit.test_artifact import LIMITS
from tests.unit.test_served_equals_trained import _settings
from trainer.plan import refit_plan
from trainer.refit import Verdict, holdout_start, refit, walk
from worker.hotpath import EventBatch, process
from worker.state_store import StateStore

F64 = npt.NDArray[np.float64]
TS = datetime(2026, 1, 1, tzinfo=UTC)


def _levels(n: int, phi: float, scale: float, seed: int, tail_phi: float | None = None) -> F64:
    """Levels whose changes follow an AR(1) with coefficient ``phi`` (``tail_phi`` from 300 on)."""
    rng = np.random.default_rng(seed)
    changes = np.zeros(n)
    for t in range(1, n):
        coefficient = phi if tail_phi is None or t < 300 else tail_phi
        changes[t] = coefficient * changes[t - 1] + rng.normal()
    return (100.0 + np.cumsum(changes) * scale)[:, None]


def _deployment() -> dict[str, F64]:
    """Three series with momentum (the model learns it and helps them) and one whose changes
    turn to reversals before its held-out tail: the momentum the model learnt hurts it there."""
    series = {f"momentum-{i}": _levels(400, 0.8, 1.0 + i, seed=i) for i in range(3)}
    series["turned"] = _levels(400, 0.8, 0.5, seed=9, tail_phi=-0.8)
    return series


def _served(model: ServingModel, named: dict[str, F64]) -> dict[str, tuple[F64, list[bool]]]:
    arch = model.manifest.architecture
    store = StateStore(capacity=8, window=4, features=1, layers=arch.layers, units=arch.units)
    out: dict[str, tuple[list[float], list[bool]]] = {name: ([], []) for name in named}
    for t in range(max(len(v) for v in named.values())):
        batch = EventBatch()
        names = [name for name, v in named.items() if t < len(v)]
        for offset, name in enumerate(names):
            batch.append(name, TS, [float(named[name][t, 0])], 0, offset, 0)
        result = process(model, store, batch)
        for row, name in enumerate(names):
            out[name][0].append(float(result.forecasts[row]))
            out[name][1].append(bool(result.from_model[row]))
    return {name: (np.asarray(f), sources) for name, (f, sources) in out.items()}


def test_the_model_serves_where_it_helps_and_persistence_where_it_hurts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    named = _deployment()
    settings = _settings(batch_size=4, epochs=20, units=8, layers=1, tbptt=16, gate=True)
    outcome = refit(named, refit_plan(settings), version=1, offsets={})
    assert outcome.verdict is Verdict.ACCEPTED
    model = ServingModel.from_artifact(decode_artifact(encode_artifact(outcome.artifact), LIMITS))
    scales = model.manifest.series_scales
    assert scales is not None and scales.gated and scales.evaluated == 4

    # The trainer's decision, recomputed: the raw candidate against the last value, on each
    # series' held-out tail (whose halves are long enough for it to be decided alone).
    raw = walk(
        model.weights, model.series.scaling(model.rows_for(list(named))), list(named.values())
    )
    ratios = {}
    for (name, values), forecasts in zip(named.items(), raw, strict=True):
        start = holdout_start(len(values), settings.holdout_fraction)
        assert (len(values) - start) // 2 >= settings.gate_min_points
        ours = np.abs(forecasts[start - 1 : -1] - values[start:, 0]).mean()
        last = np.abs(values[start - 1 : -1, 0] - values[start:, 0]).mean()
        ratios[name] = ours / last
    print(f"candidate MAE / persistence MAE per series: {ratios}")
    assert all(ratios[f"momentum-{i}"] < 1 for i in range(3)), "the model helps these"
    assert ratios["turned"] > 1, "and hurts this one"
    assert outcome.evaluation.helps == {name: r < 1 for name, r in ratios.items()}

    # The worker serves each accordingly: the model's step, or exactly the last value.
    served = _served(model, named)
    for name, (forecasts, sources) in served.items():
        helps = ratios[name] < 1
        assert sources == [helps] * len(forecasts), name
        if helps:
            np.testing.assert_allclose(forecasts, raw[list(named).index(name)], atol=1e-6)
        else:
            np.testing.assert_array_equal(forecasts, named[name][:, 0])
    assert model.series.gated_to_persistence == 1
    # A series the gate never saw: the model, as it helped most evaluated series.
    assert scales.unseen == "model" and bool(model.series.use_model[model.rows_for(["new"])][0])


def test_a_forecast_says_its_source_and_old_readers_may_ignore_it() -> None:
    writer = ForecastWriter("events")
    for from_model, source in ((True, "model"), (False, "persistence"), (None, None)):
        message = json.loads(writer.write("s", TS, 1.5, 3, 0, 7, from_model))
        assert message.get("source") == source
        assert message["model_version"] == 3
