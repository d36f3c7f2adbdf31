"""The N-stream layout that makes the batch-1 twin exact.

A stateful Keras LSTM carries the state of batch row i into row i of the next batch. So training
data is laid out as N parallel *streams*: row i of every chunk continues row i of the previous
chunk, in time order; the state is reset only when a group of streams starts (at each epoch's start
and between groups). A twin fed stream i from zero state, one step at a time, then computes exactly
what row i of the batch-N model computed.

Each stream is one whole series, never a piece of one: the worker and the validation walk carry a
series' state from its first event to its last, so a stream must start where that state starts
(from zero, at the series' first point). Streams of unequal length are right-padded with
zero-weight steps: padding comes after a stream's real steps, so it can never influence them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Stream:
    """One row of the layout: inputs [T, F] and next-step targets [T, outputs]."""

    inputs: Array
    targets: Array


@dataclass(frozen=True)
class StreamGroup:
    """N streams trained together: inputs [N, T, F], targets [N, T, O], weights [N, T]."""

    inputs: Array
    targets: Array
    weights: Array

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[1])

    def chunks(self, k: int) -> Iterator[tuple[Array, Array, Array]]:
        """Consecutive time chunks of k steps, in time order (truncated BPTT)."""
        for start in range(0, self.steps, k):
            end = start + k
            yield self.inputs[:, start:end], self.targets[:, start:end], self.weights[:, start:end]


def make_streams(series: Sequence[Array], target_feature: int = 0) -> list[Stream]:
    """Turn scaled series [T_i, F] into streams of (x_t, x_{t+1}[target]) pairs, one per series.

    Series shorter than 2 points give no stream (there is nothing to forecast).
    """
    streams: list[Stream] = []
    for values in series:
        if values.ndim != 2:
            raise ValueError(f"each series must be [T, F], got shape {values.shape}")
        inputs, targets = values[:-1], values[1:, target_feature : target_feature + 1]
        streams.append(Stream(inputs, targets))
    return [s for s in streams if len(s.inputs) > 0]


def make_groups(streams: Sequence[Stream], n: int, k: int) -> list[StreamGroup]:
    """Pack streams into groups of exactly n rows, each padded to a multiple of k steps.

    Streams are sorted by length first so that rows of one group waste little padding. A last
    group with fewer than n streams is filled with all-padding rows (weight 0), because the
    stateful model's batch size is fixed.
    """
    if n < 1 or k < 1:
        raise ValueError("n and k must be positive")
    ordered = sorted(streams, key=lambda s: len(s.inputs), reverse=True)
    return [_pack(ordered[i : i + n], n, k) for i in range(0, len(ordered), n)]


def _pack(streams: Sequence[Stream], n: int, k: int) -> StreamGroup:
    longest = max(len(s.inputs) for s in streams)
    steps = -(-longest // k) * k
    features = streams[0].inputs.shape[1]
    outputs = streams[0].targets.shape[1]
    inputs = np.zeros((n, steps, features), np.float32)
    targets = np.zeros((n, steps, outputs), np.float32)
    weights = np.zeros((n, steps), np.float32)
    for row, stream in enumerate(streams):
        length = len(stream.inputs)
        inputs[row, :length] = stream.inputs
        targets[row, :length] = stream.targets
        weights[row, :length] = 1.0
    return StreamGroup(inputs, targets, weights)
