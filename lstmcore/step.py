"""The twin's computation as a pure, vectorised function over many series at once.

``step(weights, h, c, x) -> (h, c, y)`` advances B independent series by one time step. It is
exactly what a Keras batch-1 stateful LSTM + Dense does for one series, done for B series in one
numpy call (Keras gate order i, f, c, o; sigmoid recurrent activation; tanh activation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from schemas.artifact import Architecture

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class StepWeights:
    """The weights of one model, as read-only float32 arrays in the step's layout."""

    architecture: Architecture
    kernels: tuple[Array, ...]  # per layer [inputs, 4U]
    recurrent: tuple[Array, ...]  # per layer [U, 4U]
    biases: tuple[Array, ...]  # per layer [4U]
    dense_kernel: Array  # [U, outputs]
    dense_bias: Array  # [outputs]

    @classmethod
    def from_arrays(
        cls, architecture: Architecture, arrays: Mapping[str, np.ndarray]
    ) -> StepWeights:
        def frozen(name: str) -> Array:
            array = np.array(arrays[name], dtype=np.float32, copy=True)
            array.setflags(write=False)
            return array

        layers = range(architecture.layers)
        return cls(
            architecture=architecture,
            kernels=tuple(frozen(f"lstm_{i}/kernel") for i in layers),
            recurrent=tuple(frozen(f"lstm_{i}/recurrent_kernel") for i in layers),
            biases=tuple(frozen(f"lstm_{i}/bias") for i in layers),
            dense_kernel=frozen("dense/kernel"),
            dense_bias=frozen("dense/bias"),
        )

    def zero_state(self, batch: int) -> tuple[Array, Array]:
        """h and c of ``batch`` fresh series: shape [layers, batch, units]."""
        shape = (self.architecture.layers, batch, self.architecture.units)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)


def _sigmoid(z: Array) -> Array:
    # Keras' sigmoid; the tanh form is overflow-free for large |z|.
    out: Array = 0.5 * (np.tanh(0.5 * z) + 1.0)
    return out


def step(weights: StepWeights, h: Array, c: Array, x: Array) -> tuple[Array, Array, Array]:
    """Advance every series by one step.

    h, c: [layers, B, units]; x: [B, features] (already scaled). Returns new h, c (fresh arrays;
    the inputs are not modified) and y: [B, outputs] (scaled).

    Row i of a batch is exactly series i stepped alone: that is why one call can serve every
    series of a worker.

    >>> arch = Architecture(features=1, units=3, layers=1)
    >>> rng = np.random.default_rng(0)
    >>> weights = StepWeights.from_arrays(
    ...     arch, {name: rng.normal(size=shape) for name, shape in arch.expected_arrays().items()}
    ... )
    >>> h, c = weights.zero_state(2)
    >>> h, c, y = step(weights, h, c, np.array([[0.5], [-1.0]], np.float32))
    >>> h.shape, y.shape
    ((1, 2, 3), (2, 1))
    >>> h1, c1 = weights.zero_state(1)
    >>> _, _, y1 = step(weights, h1, c1, np.array([[-1.0]], np.float32))
    >>> bool(np.allclose(y[1], y1[0], atol=1e-6))
    True
    """
    units = weights.architecture.units
    new_h = np.empty_like(h)
    new_c = np.empty_like(c)
    layer_input = x.astype(np.float32, copy=False)
    for layer in range(weights.architecture.layers):
        z = layer_input @ weights.kernels[layer]
        z += h[layer] @ weights.recurrent[layer]
        z += weights.biases[layer]
        i = _sigmoid(z[:, :units])
        f = _sigmoid(z[:, units : 2 * units])
        g = np.tanh(z[:, 2 * units : 3 * units])
        o = _sigmoid(z[:, 3 * units :])
        new_c[layer] = f * c[layer] + i * g
        new_h[layer] = o * np.tanh(new_c[layer])
        layer_input = new_h[layer]
    y: Array = layer_input @ weights.dense_kernel + weights.dense_bias
    return new_h, new_c, y


def run_sequence(weights: StepWeights, xs: Array) -> Array:
    """Feed series [B, T, F] step by step from zero state; return y [B, T, outputs]."""
    h, c = weights.zero_state(xs.shape[0])
    ys = []
    for t in range(xs.shape[1]):
        h, c, y = step(weights, h, c, xs[:, t, :])
        ys.append(y)
    return np.stack(ys, axis=1)
