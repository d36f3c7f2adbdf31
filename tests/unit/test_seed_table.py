"""The seed tutorial's own table, done right: train at batch 3, forecast with a batch-1 twin.

The tutorial's X and y were reversed; here X is the current value and y the next one. The seed's
10-step sequence 0.0 ... 0.9 is taken as three series of four points (0.0-0.3, 0.3-0.6,
0.6-0.9), each its own stream of three steps: N = 3 parallel streams, the layout under which the
batch-1 twin is exact. Each piece is a series of its own, not a segment of one long series, because
the twin (like the worker) walks each series from zero state at its first point, and that is where
training starts each stream too.
"""

from __future__ import annotations

import numpy as np

from lstmcore.keras_model import build_twin, reset_lstm_states
from lstmcore.scaling import fit_scaler, scale, unscale_target
from lstmcore.training import TrainConfig, train
from schemas.artifact import Architecture


def test_twin_forecasts_each_next_value() -> None:
    sequence = (np.arange(10, dtype=np.float32) / 10)[:, None]
    pieces = [sequence[start : start + 4] for start in (0, 3, 6)]  # three series, 3 steps each
    arch = Architecture(features=1, units=10, layers=1)  # the seed's model
    scaler = fit_scaler(pieces, "standard")  # the seed scaled the values themselves
    config = TrainConfig(batch_size=3, epochs=300, tbptt=3, learning_rate=1e-2, seed=0)
    result = train(arch, [scale(scaler, piece) for piece in pieces], config)
    assert result.batch_size == 3

    twin = build_twin(result.model, arch)
    inputs, expected, forecasts = [], [], []
    for piece in pieces:  # each series from zero state, one message at a time
        reset_lstm_states(twin)
        for t in range(len(piece) - 1):
            x = scale(scaler, piece[t : t + 1])[None]  # [1, 1, 1]
            forecasts.append(float(unscale_target(scaler, np.asarray(twin(x)))[0, 0, 0]))
            inputs.append(float(piece[t, 0]))
            expected.append(float(piece[t + 1, 0]))

    for value, want, got in zip(inputs, expected, forecasts, strict=True):
        print(f"x={value:.1f}  expected={want:.1f}  twin={got:.3f}")
    np.testing.assert_allclose(forecasts, expected, atol=0.05)
