"""The seed tutorial's own table, done right: train at batch 3, forecast with a batch-1 twin.

The tutorial's X and y were reversed; here X is the current value and y the next one. The one
10-step sequence 0.0 ... 0.9 becomes N = 3 parallel streams (contiguous segments of 3 steps), the
layout under which the batch-1 twin is exact; the twin then walks each stream from zero state.
"""

from __future__ import annotations

import numpy as np

from lstmcore.keras_model import build_twin, reset_lstm_states
from lstmcore.scaling import fit_scaler, scale, unscale_target
from lstmcore.training import TrainConfig, train
from schemas.artifact import Architecture


def test_twin_forecasts_each_next_value() -> None:
    sequence = (np.arange(10, dtype=np.float32) / 10)[:, None]
    arch = Architecture(features=1, units=10, layers=1)  # the seed's model
    scaler = fit_scaler([sequence])
    config = TrainConfig(batch_size=3, epochs=300, tbptt=3, segment_length=3, learning_rate=1e-2)
    result = train(arch, [scale(scaler, sequence)], config)
    assert result.batch_size == 3

    twin = build_twin(result.model, arch)
    forecasts = []
    for start in range(0, 9, 3):  # each stream from zero state, one message at a time
        reset_lstm_states(twin)
        for t in range(start, start + 3):
            x = scale(scaler, sequence[t : t + 1])[None]  # [1, 1, 1]
            forecasts.append(float(unscale_target(scaler, np.asarray(twin(x)))[0, 0, 0]))

    expected = sequence[1:, 0]
    for x, want, got in zip(sequence[:-1, 0], expected, forecasts, strict=True):
        print(f"x={x:.1f}  expected={want:.1f}  twin={got:.3f}")
    np.testing.assert_allclose(forecasts, expected, atol=0.05)
