"""One refit, as a pure pipeline: history in, a validated artifact (or a refusal) out.

bounded sample of the history (``trainer.sample``) -> fit the pooled scaler on the training heads,
and each series' own scale (on its head if sampled, else on its bounded history) -> N-stream
layout of every sampled series in its own scale -> stateful batch-N training (warm-started from
the current model when its architecture matches) -> walk every sampled series with the
candidate's pure step -> MAE on each series' held-out tail, next to the persistence forecast and
the current model on the very same points -> the per-series gate (the model where it beats the
last value on that series' tail, persistence elsewhere; carried in the artifact) -> the verdict on
what each would serve.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from lstmcore.artifact import Artifact, seal
from lstmcore.keras_model import get_arrays
from lstmcore.scaling import Scaling, fit_scaler, series_inputs
from lstmcore.series_scales import fitted_table, with_gate
from lstmcore.serving import ServingModel
from lstmcore.step import StepWeights
from lstmcore.training import ProgressCallback, TrainConfig, step_arrays, train
from schemas.artifact import Architecture, TrainingFacts, Validation
from trainer.sample import bound_history
from trainer.validation import Evaluation as Evaluation
from trainer.validation import evaluate
from trainer.validation import walk as walk

log = logging.getLogger(__name__)

Series = npt.NDArray[np.float64]


NO_HISTORY = "no_history"  # no event has arrived yet
SERIES_TOO_SHORT = "series_too_short"  # no series has min_points_per_series points yet


class NotEnoughData(ValueError):
    """The history cannot support a refit yet; ``reason`` is a metric label."""

    def __init__(self, message: str, reason: str = SERIES_TOO_SHORT) -> None:
        super().__init__(message)
        self.reason = reason


def too_short(min_points: int, series: int, longest: int | None = None) -> NotEnoughData:
    """Why no refit can run: said with the setting that decides it."""
    longest_text = "" if longest is None else f", the longest has {longest}"
    return NotEnoughData(
        f"no series has {min_points} points (TWINCAST_MIN_POINTS_PER_SERIES) yet: "
        f"{series} series in the history{longest_text}",
        SERIES_TOO_SHORT if series else NO_HISTORY,
    )


@dataclass(frozen=True, kw_only=True)
class RefitPlan:
    """Everything a refit is told; no defaults (``trainer.plan.refit_plan`` takes them from the
    settings)."""

    architecture: Architecture
    train: TrainConfig
    model_name: str
    min_points_per_series: int
    holdout_fraction: float
    gate: bool
    gate_min_points: int  # fewer gate-part points: the series is decided with the other short ones
    transform: Literal["standard", "difference"]
    max_series: int  # a sample of at most this many series, seeded by version
    max_points_per_series: int  # the newest points of each
    warm_start: bool  # start from the current model's weights when its architecture matches


class Verdict(StrEnum):
    """What the gate decided; each value is also an ``outcome`` label of twincast_refits_total."""

    ACCEPTED = "accepted"  # beats persistence and the current model: published
    GATE_OFF = "gate_off"  # TWINCAST_GATE=false: published without comparison
    WORSE_THAN_PERSISTENCE = "worse_than_persistence"  # not published
    WORSE_THAN_CURRENT = "worse_than_current"  # not published

    @property
    def publishes(self) -> bool:
        return self in (Verdict.ACCEPTED, Verdict.GATE_OFF)


@dataclass(frozen=True)
class RefitOutcome:
    artifact: Artifact
    evaluation: Evaluation
    accepted: bool
    verdict: Verdict
    train_seconds: float


def holdout_start(length: int, fraction: float) -> int:
    """Index of the first held-out point; at least one point is held out, two are trained on."""
    return max(2, length - max(1, round(length * fraction)))


def verdict(evaluation: Evaluation, gate: bool) -> Verdict:
    if not gate:
        return Verdict.GATE_OFF
    if not evaluation.model_mae < evaluation.persistence_mae:
        return Verdict.WORSE_THAN_PERSISTENCE
    previous = evaluation.previous_model_mae
    if previous is not None and not evaluation.model_mae < previous:
        return Verdict.WORSE_THAN_CURRENT
    return Verdict.ACCEPTED


def own_scale_points(
    history: Mapping[str, Series],
    plan: RefitPlan,
    sample: Mapping[str, Series],
    heads: list[Series],
) -> dict[str, Series]:
    """What each series' own scale is fitted on: a sampled series' training head (its held-out
    tail stays unseen), any other series with enough points its newest bounded points."""
    points = {
        name: values[-plan.max_points_per_series :]
        for name, values in history.items()
        if len(values) >= plan.min_points_per_series
    }
    points.update(zip(sample, heads, strict=True))
    return points


def warm_start_arrays(
    plan: RefitPlan, previous: ServingModel | None
) -> dict[str, np.ndarray] | None:
    """The current model's weights, if a refit may start from them (same architecture)."""
    if not plan.warm_start or previous is None:
        return None
    if previous.manifest.architecture != plan.architecture:
        return None  # another shape: nothing to start from
    return step_arrays(previous.weights)


def refit(
    history: Mapping[str, Series],
    plan: RefitPlan,
    version: int,
    offsets: Mapping[int, int],
    previous: ServingModel | None = None,
    on_epoch: ProgressCallback | None = None,
) -> RefitOutcome:
    """Train and validate a candidate of the given version on a bounded sample of the history.

    Training, the validation walk and the gate all see only the sample: its cost is bounded by
    ``max_series`` x ``max_points_per_series``, whatever the history holds.
    """
    sample = bound_history(
        history,
        plan.min_points_per_series,
        plan.max_series,
        plan.max_points_per_series,
        plan.train.seed,
        version,
    )
    if not sample:
        longest = max((len(v) for v in history.values()), default=0)
        raise too_short(plan.min_points_per_series, len(history), longest)
    names = list(sample)
    series = [np.asarray(values, np.float64) for values in sample.values()]
    starts = [holdout_start(len(s), plan.holdout_fraction) for s in series]
    heads = [s[:start] for s, start in zip(series, starts, strict=True)]
    scaler = fit_scaler(heads, plan.transform)
    scales, scale_arrays, table = fitted_table(
        own_scale_points(history, plan, sample, heads), scaler
    )
    scaling = table.scaling(table.rows_for(names))
    inputs = [
        series_inputs(Scaling(scaling.kind, scaling.mean[i], scaling.scale[i]), h)
        for i, h in enumerate(heads)
    ]
    initial = warm_start_arrays(plan, previous)
    start = f"warm start from version {previous.version}" if initial and previous else "cold"
    log.info("refit of version %d trains on %d series, %s", version, len(series), start)
    result = train(plan.architecture, inputs, plan.train, on_epoch, initial=initial)
    arrays = get_arrays(result.model, plan.architecture)
    weights = StepWeights.from_arrays(plan.architecture, arrays)
    evaluation = evaluate(
        (weights, scaling), previous, names, series, starts, plan.gate_min_points, plan.gate
    )
    decision = verdict(evaluation, plan.gate)
    if plan.gate:  # the decision per series travels with the artifact
        scales, scale_arrays, table = with_gate(scales, scale_arrays, table, evaluation.helps)
        log.info(
            "per-series gate of version %d: the model serves %d of %d evaluated series "
            "(%d too short to be gated alone, decided together), persistence the others; "
            "unseen series: %s",
            version,
            scales.helped,
            scales.evaluated,
            evaluation.pooled,
            scales.unseen,
        )
    artifact = seal(
        {
            "model_name": plan.model_name,
            "version": version,
            "created_at": datetime.now(UTC),
            "architecture": plan.architecture,
            "training": TrainingFacts(
                batch_size=result.batch_size,
                epochs=plan.train.epochs,
                tbptt=plan.train.tbptt,
                n_series=len(series),
                n_points=sum(len(h) for h in heads),
                offsets=dict(offsets),
                train_loss=result.epoch_losses[-1],
            ),
            "validation": Validation(
                model_mae=evaluation.model_mae,
                persistence_mae=evaluation.persistence_mae,
                previous_model_mae=evaluation.previous_model_mae,
                points=evaluation.points,
            ),
            "scaler": scaler,
            "series_scales": scales,
        },
        {**arrays, **scale_arrays},
    )
    artifact = replace(artifact, table=table)  # built once, handed to whoever serves it
    return RefitOutcome(artifact, evaluation, decision.publishes, decision, result.seconds)
