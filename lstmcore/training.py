"""The manual epoch loop: stateful batch-N training over the N-stream layout.

The twin rule in one example: train at batch N = 3 on three series, then the batch-1 twin (Keras,
or the pure step the worker runs) fed one series from zero state reproduces that series' row.

>>> from lstmcore.keras_model import build_twin, get_arrays
>>> from lstmcore.layout import make_groups, make_streams
>>> from lstmcore.step import StepWeights, step
>>> arch = Architecture(features=1, units=4, layers=1)
>>> rng = np.random.default_rng(0)
>>> series = [rng.normal(size=(n, 1)).astype(np.float32) for n in (9, 7, 5)]
>>> config = TrainConfig(batch_size=3, epochs=2, tbptt=4, learning_rate=1e-2, seed=0)
>>> model = train(arch, series, config).model

Row i of the batch-N model: the layout's chunks in time order, from zero state. Each row holds one
whole series (longest first); row 1 is the series of 7 points, its 6 steps that have a next value.

>>> (group,) = make_groups(make_streams(series), 3, config.tbptt)
>>> reset_lstm_states(model)
>>> rows = np.concatenate([np.asarray(model(x)) for x, _, _ in group.chunks(4)], axis=1)
>>> i, steps = 1, 6
>>> bool(np.array_equal(group.inputs[i, :steps], series[1][:-1]))
True

The twins, started from zero state and fed that series one value at a time:

>>> twin = build_twin(model, arch)
>>> keras_twin = [np.asarray(twin(series[1][None, t : t + 1]))[0, 0] for t in range(steps)]
>>> weights = StepWeights.from_arrays(arch, get_arrays(model, arch))
>>> h, c = weights.zero_state(1)
>>> stepped = []
>>> for t in range(steps):
...     h, c, y = step(weights, h, c, series[1][t : t + 1])
...     stepped.append(y[0])
>>> bool(np.abs(np.array(keras_twin) - rows[i, :steps]).max() < 1e-5)
True
>>> bool(np.abs(np.array(stepped) - rows[i, :steps]).max() < 1e-5)
True
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lstmcore import quiet_keras
from lstmcore.keras_model import (
    build_stateful_model,
    compile_for_training,
    reset_lstm_states,
    set_arrays,
)
from lstmcore.layout import StreamGroup, make_groups, make_streams
from lstmcore.step import StepWeights
from schemas.artifact import Architecture

log = logging.getLogger(__name__)

Array = np.ndarray


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train. ``batch_size`` is N: 1 (online, one stream at a time), N, or "all".

    No defaults: the trainer's settings are the one place that has them, so a caller that leaves
    one out learns it at once instead of silently training another model than the service does.
    """

    batch_size: int | Literal["all"]
    epochs: int
    tbptt: int
    learning_rate: float
    seed: int


@dataclass(frozen=True)
class TrainResult:
    model: Any
    batch_size: int
    epoch_losses: list[float]
    seconds: float


ProgressCallback = Callable[[int, int, float], None]


def resolve_batch_size(config: TrainConfig, n_streams: int) -> int:
    if config.batch_size == "all":
        return max(n_streams, 1)
    return config.batch_size


def train(
    architecture: Architecture,
    series: Sequence[Array],
    config: TrainConfig,
    on_epoch: ProgressCallback | None = None,
    initial: Mapping[str, Array] | None = None,
) -> TrainResult:
    """Train a stateful model on scaled series [T_i, F]; states reset per group and epoch.

    ``initial``: weights to start from (a warm start), else a fresh initialisation. Only the
    starting point changes: the layout and the resets, hence the twin rule, are the same.
    """
    keras = quiet_keras.keras()

    keras.utils.set_random_seed(config.seed)
    streams = make_streams(series)
    if not streams:
        raise ValueError("no series with at least two points to train on")
    n = resolve_batch_size(config, len(streams))
    groups = make_groups(streams, n, config.tbptt)
    model = build_stateful_model(architecture, n)
    if initial is not None:
        set_arrays(model, architecture, dict(initial))
    compile_for_training(model, config.learning_rate)
    started = time.monotonic()
    losses = []
    for epoch in range(config.epochs):
        loss = run_epoch(model, groups, config.tbptt)
        losses.append(loss)
        if on_epoch is not None:
            on_epoch(epoch + 1, config.epochs, loss)
    return TrainResult(model, n, losses, time.monotonic() - started)


def step_arrays(weights: StepWeights) -> dict[str, Array]:
    """A served model's weights under the artifact's array names (to warm-start from them)."""
    arrays: dict[str, Array] = {}
    for layer in range(weights.architecture.layers):
        arrays[f"lstm_{layer}/kernel"] = np.array(weights.kernels[layer])
        arrays[f"lstm_{layer}/recurrent_kernel"] = np.array(weights.recurrent[layer])
        arrays[f"lstm_{layer}/bias"] = np.array(weights.biases[layer])
    arrays["dense/kernel"] = np.array(weights.dense_kernel)
    arrays["dense/bias"] = np.array(weights.dense_bias)
    return arrays


def run_epoch(model: Any, groups: Sequence[StreamGroup], k: int) -> float:
    """One pass over every group; returns the padding-weighted mean training loss."""
    total, weight = 0.0, 0.0
    for group in groups:
        # Each group is a fresh set of streams: its rows must start from zero state.
        reset_lstm_states(model)
        for x, y, w in group.chunks(k):
            real = float(w.sum())
            if real == 0.0:
                continue  # all padding: nothing to learn, and it would only move the state
            loss = model.train_on_batch(x, y, sample_weight=w)
            total += float(np.asarray(loss)) * real
            weight += real
    reset_lstm_states(model)
    mean = total / weight if weight else math.nan
    return mean
