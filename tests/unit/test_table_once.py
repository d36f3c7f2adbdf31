"""The per-series table (id -> row, scales, gate) is built once per artifact and handed on:
by its decoder (worker, acceptance) or by the trainer from its fit; never again by whoever
serves it. Counted by wrapping the one place a table is built from arrays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foundation.settings.trainer import TrainerSettings
from lstmcore.artifact import decode_artifact, encode_artifact
from lstmcore.series_scales import SeriesTable
from lstmcore.serving import ServingModel
from tests.unit.test_artifact import LIMITS, make_artifact
from tests.unit.test_series_scales import with_scales
from trainer.metrics import TrainerMetrics
from trainer.plan import refit_plan
from trainer.publish import publishable
from trainer.refit import refit
from worker.hotpath import EventBatch, process
from worker.state_store import StateStore

TS = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tables were built from artifact arrays (decoded and checked)."""
    count = [0]
    original = SeriesTable.from_arrays.__func__  # type: ignore[attr-defined]

    def counting(cls: type[SeriesTable], *args: Any) -> SeriesTable:
        count[0] += 1
        return original(cls, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(SeriesTable, "from_arrays", classmethod(counting))
    return count


def test_a_worker_builds_the_table_once(builds: list[int]) -> None:
    raw = encode_artifact(with_scales())
    model = ServingModel.from_artifact(decode_artifact(raw, LIMITS))
    assert builds[0] == 1 and len(model.series.rows) == 3


def test_the_trainer_builds_it_once_to_accept_and_not_again_to_serve(
    builds: list[int], tmp_path: Path
) -> None:
    settings = TrainerSettings(history_db=tmp_path / "h.sqlite", metrics_port=0)
    model = publishable(settings, TrainerMetrics(), with_scales(), current=0)
    assert model is not None and builds[0] == 1  # the acceptance's decode, then reused


@pytest.mark.parametrize("gate", [True, False])
def test_a_refit_hands_its_table_on(builds: list[int], gate: bool) -> None:
    rng = np.random.default_rng(1)
    history = {f"s{i}": np.cumsum(rng.normal(0, 1 + i, (60, 1)), axis=0) for i in range(4)}
    settings = TrainerSettings(
        units=4, layers=1, batch_size=4, epochs=1, tbptt=16, gate=gate, metrics_port=0
    )
    outcome = refit(history, refit_plan(settings), version=1, offsets={})
    served = ServingModel.from_artifact(outcome.artifact)
    assert builds[0] == 0  # built from the fit, gated in place, never decoded back
    decoded = ServingModel.from_artifact(decode_artifact(encode_artifact(outcome.artifact), LIMITS))
    assert builds[0] == 1
    assert served.series.rows == decoded.series.rows
    for name in ("mean", "scale", "use_model"):
        np.testing.assert_array_equal(getattr(served.series, name), getattr(decoded.series, name))


@pytest.mark.parametrize("unseen_model", [True, False])
def test_a_pooled_only_model_looks_no_row_up(
    monkeypatch: pytest.MonkeyPatch, unseen_model: bool
) -> None:
    """No per-series rows: no look-up per wave, one gate decision for the whole wave."""
    model = ServingModel.from_artifact(make_artifact(units=4))
    use = np.array([unseen_model])
    model = ServingModel(
        model.manifest, model.weights, SeriesTable(**{**vars(model.series), "use_model": use})
    )

    def no_lookup(*_: Any) -> Any:
        raise AssertionError("rows looked up for a pooled-only model")

    monkeypatch.setattr(ServingModel, "rows_for", no_lookup)
    store = StateStore(capacity=4, window=4, features=1, layers=2, units=4)
    batch = EventBatch()
    for offset, (sid, value) in enumerate([("a", 1.0), ("b", 2.0), ("a", 3.0)]):
        batch.append(sid, TS, [value], 0, offset, 0)
    result = process(model, store, batch)
    assert result.from_model.tolist() == [unseen_model] * 3
    if not unseen_model:
        np.testing.assert_array_equal(result.forecasts, [1.0, 2.0, 3.0])
