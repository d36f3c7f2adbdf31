"""Build the stateful Keras model for any batch size and move weights in and out of it."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmcore import quiet_keras
from schemas.artifact import Architecture


def build_stateful_model(architecture: Architecture, batch_size: int) -> Any:
    """Stateful LSTM stack + Dense, fixed batch size, any sequence length, not compiled.

    Returns sequences so every step of a chunk is a training target (next-step forecast). Only a
    model that trains needs an optimizer (``compile_for_training``); a twin only steps.
    """
    keras = quiet_keras.keras()

    inputs = keras.Input(batch_shape=(batch_size, None, architecture.features))
    hidden = inputs
    for layer in range(architecture.layers):
        hidden = keras.layers.LSTM(
            architecture.units, stateful=True, return_sequences=True, name=f"lstm_{layer}"
        )(hidden)
    outputs = keras.layers.Dense(architecture.outputs, name="dense")(hidden)
    return keras.Model(inputs, outputs)


def compile_for_training(model: Any, learning_rate: float) -> None:
    """MSE loss, Adam at the given learning rate."""
    keras = quiet_keras.keras()

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")


def reset_lstm_states(model: Any) -> None:
    """Keras 3 has no Model.reset_states(); reset every stateful RNN layer instead."""
    for layer in model.layers:
        if hasattr(layer, "reset_states") and getattr(layer, "stateful", False):
            layer.reset_states()


def get_arrays(model: Any, architecture: Architecture) -> dict[str, np.ndarray]:
    """The model's weights under the artifact's array names."""
    arrays: dict[str, np.ndarray] = {}
    for layer in range(architecture.layers):
        kernel, recurrent, bias = model.get_layer(f"lstm_{layer}").get_weights()
        arrays[f"lstm_{layer}/kernel"] = kernel
        arrays[f"lstm_{layer}/recurrent_kernel"] = recurrent
        arrays[f"lstm_{layer}/bias"] = bias
    dense_kernel, dense_bias = model.get_layer("dense").get_weights()
    arrays["dense/kernel"] = dense_kernel
    arrays["dense/bias"] = dense_bias
    return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}


def set_arrays(model: Any, architecture: Architecture, arrays: dict[str, np.ndarray]) -> None:
    """Copy named arrays into a model of the same architecture (any batch size): the twin."""
    for layer in range(architecture.layers):
        model.get_layer(f"lstm_{layer}").set_weights(
            [
                arrays[f"lstm_{layer}/kernel"],
                arrays[f"lstm_{layer}/recurrent_kernel"],
                arrays[f"lstm_{layer}/bias"],
            ]
        )
    model.get_layer("dense").set_weights([arrays["dense/kernel"], arrays["dense/bias"]])


def build_twin(trained: Any, architecture: Architecture) -> Any:
    """A batch-1 stateful copy of a trained model: same weights, zero state."""
    twin = build_stateful_model(architecture, batch_size=1)
    set_arrays(twin, architecture, get_arrays(trained, architecture))
    return twin
