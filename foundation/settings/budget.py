"""What ``TWINCAST_MAX_STEP_FLOPS`` and ``TWINCAST_MAX_VERSION_JUMP`` bound.

The step budget bounds every dimension of a model at once: a step costs at least ``4·units²``
multiply-adds, the weights hold about as many floats as a step costs, and a ``replay`` swap costs
``replay_window x series x step`` (the work of ``replay_window`` events of every series). The
trainer refuses to start with a model over it; workers refuse artifacts over it
(``lstmcore.limits``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtifactLimits:
    max_step_flops: int  # multiply-adds per series per step
    max_version_jump: int  # how far past the reference version a new one may be


def step_flops(features: int, units: int, layers: int, outputs: int) -> int:
    """Multiply-adds of one step of one series: the LSTM layers' gates, then the dense head.

    >>> step_flops(features=1, units=32, layers=1, outputs=1)
    4256
    """
    cost = 0
    for layer in range(layers):
        inputs = features if layer == 0 else units
        cost += 4 * units * (inputs + units)
    return cost + units * outputs
