"""What an artifact may declare before twincast spends memory or time on it.

The limits come from the services' settings (``TWINCAST_MAX_STEP_FLOPS``,
``TWINCAST_MAX_VERSION_JUMP``); this module holds no defaults, only the checks, so the worker and
the trainer (which checks what it is about to publish) refuse exactly the same artifacts.

What the step budget counts is ``foundation.settings.budget.step_flops``.
"""

from __future__ import annotations

from foundation.errors import ArtifactError
from foundation.settings.budget import ArtifactLimits, step_flops
from schemas.artifact import Architecture

INT64_MAX = 2**63 - 1


def check_architecture(arch: Architecture, limits: ArtifactLimits) -> None:
    cost = step_flops(arch.features, arch.units, arch.layers, arch.outputs)
    if cost > limits.max_step_flops:
        raise ArtifactError(
            "budget",
            f"a step of this model ({arch.layers} layers x {arch.units} units, "
            f"{arch.features} features, {arch.outputs} outputs) costs {cost:,} multiply-adds per "
            f"series, over the budget TWINCAST_MAX_STEP_FLOPS={limits.max_step_flops:,}",
        )


def check_version(version: int, reference: int, limits: ArtifactLimits) -> None:
    """A version must fit int64 (states and metrics store it so), be newer than the reference
    and not absurdly far ahead of it (one record must not freeze every later version out)."""
    if not 1 <= version <= INT64_MAX:
        raise ArtifactError("version", f"version {version} is outside 1..2^63-1")
    if version <= reference:
        raise ArtifactError(
            "version", f"version {version} is not newer than the current {reference}"
        )
    if version - reference > limits.max_version_jump:
        raise ArtifactError(
            "version",
            f"version {version} is more than TWINCAST_MAX_VERSION_JUMP="
            f"{limits.max_version_jump:,} ahead of {reference}",
        )
