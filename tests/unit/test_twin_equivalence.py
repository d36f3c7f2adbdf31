"""The twin rule, as tests: batch-N rows == Keras batch-1 twin == the pure numpy step."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from lstmcore.keras_model import build_twin, get_arrays, reset_lstm_states
from lstmcore.layout import make_groups, make_streams
from lstmcore.step import StepWeights, run_sequence
from lstmcore.training import TrainConfig, train
from schemas.artifact import Architecture

TOLERANCE = 1e-5


def _config(batch_size: int | Literal["all"], epochs: int) -> TrainConfig:
    # The twin rule holds whatever the learning rate and seed; these are the ones always used here.
    return TrainConfig(batch_size=batch_size, epochs=epochs, tbptt=4, learning_rate=1e-2, seed=0)


def _series(n: int, features: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Unequal lengths, so padding and chunk boundaries are exercised too.
    return [
        rng.normal(size=(int(rng.integers(9, 14)), features)).astype(np.float32) for _ in range(n)
    ]


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("units", [10, 32])
@pytest.mark.parametrize("features", [1, 3])
def test_batch_n_rows_equal_twin_and_step(n: int, units: int, features: int) -> None:
    arch = Architecture(features=features, units=units, layers=1)
    series = _series(n, features, seed=n * 100 + units + features)
    config = _config(n, epochs=2)
    result = train(arch, series, config)
    model = result.model

    # Row i of the trained batch-N model, fed chunk after chunk with state carried.
    (group,) = make_groups(make_streams(series), n, config.tbptt)
    reset_lstm_states(model)
    batch_out = np.concatenate([np.asarray(model(x)) for x, _, _ in group.chunks(config.tbptt)], 1)

    twin = build_twin(model, arch)
    weights = StepWeights.from_arrays(arch, get_arrays(model, arch))
    stepped = run_sequence(weights, group.inputs)
    for row in range(n):
        real = int(group.weights[row].sum())
        reset_lstm_states(twin)
        twin_out = np.concatenate(
            [np.asarray(twin(group.inputs[row : row + 1, t : t + 1]))[0] for t in range(real)]
        )
        np.testing.assert_allclose(twin_out, batch_out[row, :real], atol=TOLERANCE)
        np.testing.assert_allclose(stepped[row, :real], twin_out, atol=TOLERANCE)


def test_more_series_than_n_train_in_groups() -> None:
    arch = Architecture(features=1, units=10, layers=2)
    series = _series(7, 1, seed=3)
    groups = make_groups(make_streams(series), 3, 4)
    assert [g.inputs.shape[0] for g in groups] == [3, 3, 3]
    assert [int((g.weights.sum(axis=1) > 0).sum()) for g in groups] == [3, 3, 1]
    result = train(arch, series, _config(3, epochs=1))
    model = result.model
    weights = StepWeights.from_arrays(arch, get_arrays(model, arch))
    for group in groups:  # every group starts from zero state, exactly like a fresh twin
        reset_lstm_states(model)
        out = np.concatenate([np.asarray(model(x)) for x, _, _ in group.chunks(4)], 1)
        stepped = run_sequence(weights, group.inputs)
        mask = group.weights > 0
        np.testing.assert_allclose(stepped[mask], out[mask], atol=TOLERANCE)


def test_naive_layout_breaks_the_twin() -> None:
    """Consecutive rows of one series as the batch (the seed's layout) is not the twin."""
    arch = Architecture(features=1, units=10, layers=1)
    rng = np.random.default_rng(1)
    model = train(arch, _series(3, 1, 1), _config(3, epochs=1)).model
    series = rng.normal(size=(12, 1)).astype(np.float32)
    naive = series.reshape(3, 4, 1)  # rows are consecutive pieces of ONE series
    reset_lstm_states(model)
    batch_out = np.asarray(model(naive))
    weights = StepWeights.from_arrays(arch, get_arrays(model, arch))
    walked = run_sequence(weights, series[None])[0].reshape(3, 4, 1)
    assert np.abs(walked[1:] - batch_out[1:]).max() > 1e-3


@pytest.mark.parametrize(("batch_size", "expected_n"), [(1, 1), ("all", 5)])
def test_online_and_all_at_once_batch_sizes(batch_size: int | str, expected_n: int) -> None:
    arch = Architecture(features=1, units=10, layers=1)
    series = _series(5, 1, seed=9)
    config = _config(batch_size, epochs=1)  # type: ignore[arg-type]
    result = train(arch, series, config)
    assert result.batch_size == expected_n
    weights = StepWeights.from_arrays(arch, get_arrays(result.model, arch))
    for group in make_groups(make_streams(series), expected_n, 4):
        reset_lstm_states(result.model)
        out = np.concatenate([np.asarray(result.model(x)) for x, _, _ in group.chunks(4)], 1)
        mask = group.weights > 0
        np.testing.assert_allclose(
            run_sequence(weights, group.inputs)[mask], out[mask], atol=TOLERANCE
        )
