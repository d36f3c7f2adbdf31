"""What one refit does, taken from the trainer's settings (the only place its defaults live)."""

from __future__ import annotations

from foundation.settings.trainer import TrainerSettings
from lstmcore.training import TrainConfig
from schemas.artifact import Architecture
from trainer.refit import RefitPlan


def architecture(settings: TrainerSettings) -> Architecture:
    return Architecture(features=settings.features, units=settings.units, layers=settings.layers)


def train_config(settings: TrainerSettings) -> TrainConfig:
    return TrainConfig(
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        tbptt=settings.tbptt,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
    )


def refit_plan(settings: TrainerSettings) -> RefitPlan:
    return RefitPlan(
        architecture=architecture(settings),
        train=train_config(settings),
        model_name=settings.model_name,
        min_points_per_series=settings.min_points_per_series,
        holdout_fraction=settings.holdout_fraction,
        gate=settings.gate,
        gate_min_points=settings.gate_min_points,
        transform=settings.transform,
        max_series=settings.refit_max_series,
        max_points_per_series=settings.refit_max_points_per_series,
        warm_start=settings.warm_start,
    )
