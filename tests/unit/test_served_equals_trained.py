"""What the worker serves is what the trainer trained: the whole chain, not only the step.

The trainer's own refit trains at batch N on more series than N (so in groups, with a state reset
between groups) and of unequal lengths (so with padding and chunk boundaries). The worker's hot
path then serves each whole series one event at a time, from zero state at its first event. Its
forecasts must equal, within 1e-5, the outputs of the trained batch-N Keras model on the very rows
it was trained on, and the trainer's validation walk. A layout whose rows do not start where the
worker's state starts (segments of a series, or the seed's consecutive rows) fails this test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pytest

from foundation.settings.budget import ArtifactLimits
from foundation.settings.trainer import TrainerSettings
from lstmcore.artifact import decode_artifact, encode_artifact
from lstmcore.keras_model import reset_lstm_states
from lstmcore.layout import make_groups, make_streams
from lstmcore.scaling import Scaling, forecasts_from, series_inputs
from lstmcore.serving import ServingModel
from lstmcore.training import TrainResult, step_arrays, train
from trainer.plan import refit_plan
from trainer.refit import holdout_start, refit, walk, warm_start_arrays
from trainer.sample import bound_history
from worker.hotpath import EventBatch, process
from worker.state_store import StateStore

TOLERANCE = 1e-5
N = 3
TBPTT = 4
LENGTHS = [23, 11, 17, 30, 9, 14, 21]  # 7 series > N: groups of 3, 3, 1; none a multiple of k
TS = datetime(2026, 1, 1, tzinfo=UTC)

F64 = npt.NDArray[np.float64]


def _history() -> list[F64]:
    rng = np.random.default_rng(12)
    return [np.cumsum(rng.normal(size=(n, 1)), axis=0) + 10.0 * i for i, n in enumerate(LENGTHS)]


def _settings(**changes: Any) -> TrainerSettings:
    # The service's own plan (its transform, learning rate, ...), made small and quick.
    small: dict[str, Any] = {
        "units": 8,
        "layers": 2,
        "batch_size": N,
        "epochs": 3,
        "tbptt": TBPTT,
        "min_points_per_series": 5,
        "gate": False,
        "metrics_port": 0,
    }
    return TrainerSettings(**(small | changes))


class Refitted(NamedTuple):
    model: Any  # the batch-N Keras model the refit trained
    serving: ServingModel  # what a worker serves from its artifact
    initial: dict[str, npt.NDArray[np.float32]] | None  # the weights training started from


def _refit(
    series: list[F64],
    monkeypatch: pytest.MonkeyPatch,
    settings: TrainerSettings | None = None,
    version: int = 1,
    previous: ServingModel | None = None,
) -> Refitted:
    """The trainer's refit, unchanged; the batch-N Keras model it trained is kept aside."""
    trained: list[TrainResult] = []
    initial: list[Any] = []

    def keep(*args: Any, **kwargs: Any) -> TrainResult:
        initial.append(kwargs.get("initial"))
        trained.append(train(*args, **kwargs))
        return trained[-1]

    monkeypatch.setattr("trainer.refit.train", keep)
    plan = refit_plan(settings or _settings())
    outcome = refit(_named(series), plan, version=version, offsets={}, previous=previous)
    (result,) = trained
    assert result.batch_size == N
    # What a worker decodes from the weights topic and serves.
    limits = ArtifactLimits(max_step_flops=10**6, max_version_jump=10)
    served = decode_artifact(encode_artifact(outcome.artifact), limits)
    return Refitted(result.model, ServingModel.from_artifact(served, features=1), initial[0])


def _named(series: list[F64]) -> dict[str, F64]:
    return {f"s{i}": values for i, values in enumerate(series)}


def _locate(row: npt.NDArray[np.float32], inputs: list[npt.NDArray[np.float32]]) -> tuple[int, int]:
    """Which series, from which step, a row of the layout holds (found by its values)."""
    for index, values in enumerate(inputs):
        for start in range(len(values) - len(row) + 1):
            if np.array_equal(values[start : start + len(row)], row):
                return index, start
    raise AssertionError("a layout row is no piece of any series")


def _own_scalings(serving: ServingModel, names: list[str]) -> list[Scaling]:
    """Each series' own scaling, as the artifact carries it."""
    table = serving.series
    rows = serving.rows_for(names)
    assert (rows < table.pooled_row).all(), "every trained series has its own scale"
    return [Scaling(table.kind, table.mean[r], table.scale[r]) for r in rows]


def _trained_rows(
    model: Any, serving: ServingModel, names: list[str], heads: list[F64]
) -> list[F64]:
    """Forecasts (original units) of the batch-N model, row by row, on the layout it trained on:
    each group from zero state, its chunks in time order, each series in its own scale."""
    scalings = _own_scalings(serving, names)
    inputs = [series_inputs(sc, head) for sc, head in zip(scalings, heads, strict=True)]
    out = [np.full(len(head) - 1, np.nan) for head in heads]
    for group in make_groups(make_streams(inputs), N, TBPTT):
        reset_lstm_states(model)
        ys = np.concatenate([np.asarray(model(x)) for x, _, _ in group.chunks(TBPTT)], axis=1)
        for row in range(N):
            real = int(group.weights[row].sum())
            if real:
                index, start = _locate(group.inputs[row, :real], inputs)
                values = heads[index][start : start + real]
                out[index][start : start + real] = forecasts_from(
                    scalings[index], ys[row, :real, 0], values
                )
    return out


def _served(serving: ServingModel, names: list[str], series: list[F64]) -> list[F64]:
    """The worker's hot path, one event per poll, the series interleaved as on a topic."""
    arch = serving.manifest.architecture
    store = StateStore(
        capacity=len(series), window=8, features=1, layers=arch.layers, units=arch.units
    )
    out: list[list[float]] = [[] for _ in series]
    for t in range(max(len(s) for s in series)):
        for index, values in enumerate(series):
            if t < len(values):
                batch = EventBatch()
                batch.append(names[index], TS, [float(values[t, 0])], 0, t, 0)
                out[index].append(float(process(serving, store, batch).forecasts[0]))
    return [np.asarray(f) for f in out]


def test_the_worker_serves_what_was_trained(monkeypatch: pytest.MonkeyPatch) -> None:
    series = _history()
    model, serving, _ = _refit(series, monkeypatch)
    _assert_served_as_trained(model, serving, _named(series), _settings())


def test_a_bounded_warm_started_refit_is_served_as_trained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sampled series, their newest points only, training started from the current model: the
    twin rule holds on exactly the windows trained on, each from zero state at its first point."""
    series = _history()
    current = _refit(series, monkeypatch).serving  # version 1, trained from scratch
    settings = _settings(refit_max_series=5, refit_max_points_per_series=15)
    model, serving, initial = _refit(series, monkeypatch, settings, version=2, previous=current)

    assert initial is not None, "version 2 starts from version 1's weights"
    for name, array in step_arrays(current.weights).items():
        np.testing.assert_array_equal(initial[name], array)
    s = settings
    sample = bound_history(_named(series), s.min_points_per_series, 5, 15, seed=s.seed, version=2)
    assert serving.manifest.training.n_series == len(sample) == 5
    windows = list(sample.values())
    assert max(len(w) for w in windows) == 15 < max(len(v) for v in series)
    _assert_served_as_trained(model, serving, sample, settings)


def test_a_warm_start_needs_the_same_architecture(monkeypatch: pytest.MonkeyPatch) -> None:
    current = _refit(_history(), monkeypatch).serving
    assert warm_start_arrays(refit_plan(_settings()), current) is not None
    assert warm_start_arrays(refit_plan(_settings(units=4)), current) is None
    assert warm_start_arrays(refit_plan(_settings(warm_start=False)), current) is None
    assert warm_start_arrays(refit_plan(_settings()), None) is None


def _assert_served_as_trained(
    model: Any, serving: ServingModel, named: dict[str, F64], settings: TrainerSettings
) -> None:
    names, series = list(named), list(named.values())
    heads = [s[: holdout_start(len(s), settings.holdout_fraction)] for s in series]

    served = _served(serving, names, series)
    trained = _trained_rows(model, serving, names, heads)
    walked = walk(serving.weights, serving.series.scaling(serving.rows_for(names)), series)

    pairs = list(zip(served, trained, walked, strict=True))
    vs_trained = max(float(np.abs(s[: len(t)] - t).max()) for s, t, _ in pairs)
    vs_walk = max(float(np.abs(s - w).max()) for s, _, w in pairs)
    print(f"max |served - trained| = {vs_trained:.2e}, max |served - walk| = {vs_walk:.2e}")
    for served_i, trained_i, walked_i in pairs:
        assert not np.isnan(trained_i).any()  # every trained row was found in the layout
        np.testing.assert_allclose(served_i[: len(trained_i)], trained_i, atol=TOLERANCE)
        np.testing.assert_allclose(served_i, walked_i, atol=TOLERANCE)
