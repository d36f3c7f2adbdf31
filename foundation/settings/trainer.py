"""Settings of ``twincast-trainer`` (``TWINCAST_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings
from foundation.settings.budget import step_flops
from foundation.settings.health import HealthSettings


class TrainerSettings(KafkaSettings, HealthSettings):
    """Everything the trainer needs; defaults run the local demo."""

    trainer_group_id: str = Field("twincast-trainer", description="Consumer group of the trainer.")
    history_db: Path = Field(Path("twincast-history.sqlite"), description="SQLite history file.")
    artifact_dir: Path = Field(
        Path("twincast-artifacts"), description="Local copy of every published artifact."
    )
    history_max_points: int = Field(
        10_000, ge=10, description="Newest points kept per series in the history."
    )
    history_max_points_total: int = Field(
        5_000_000,
        ge=10,
        description="Points kept in the history across all series; over it the oldest points "
        "go first, whatever their series (a cold series vanishes with its last point).",
    )
    history_batch_events: int = Field(
        50_000,
        ge=1,
        description="Events the trainer gathers over polls before writing them to the history in "
        "one transaction (fewer, larger commits; a crash re-reads them from Kafka) ...",
    )
    history_batch_seconds: float = Field(
        1.0, gt=0, description="... or written after this long, whatever their number."
    )
    trainer_partitions: str = Field(
        "all",
        pattern=r"^(all|[1-9][0-9]*|[0-9]+(,[0-9]+)+|list:[0-9]+(,[0-9]+)*)$",
        description="Events partitions the trainer reads: 'all'; a count N (partitions 0..N-1, "
        "a sample of the series, since keys are hashed to partitions); or 'list:0,3,7'.",
    )
    refit_every_events: int = Field(5_000, ge=1, description="Refit after K new events ...")
    refit_every_seconds: float = Field(300.0, gt=0, description="... or T seconds with new events.")
    # 5, measured (bench/min_points.py, README "Many short series"): 50 series of 8-12 points
    # got 0.65x persistence at 5 (0.66x at 3, 1.00x at 20: no refit ever ran).
    min_points_per_series: int = Field(
        5, ge=3, description="Series with fewer points are left out of a refit."
    )
    refit_max_series: int = Field(
        1_000,
        ge=1,
        description="Series a refit trains and validates on: a sample of this many, drawn anew "
        "for each version (seeded), when more have enough points.",
    )
    refit_max_points_per_series: int = Field(
        1_000, ge=3, description="Newest points of each sampled series a refit uses."
    )
    warm_start: bool = Field(
        True,
        description="Start a refit from the current model's weights when its architecture "
        "matches (false: from a fresh initialisation, every refit alike).",
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Tail of each series held out for validation."
    )
    gate: bool = Field(
        True,
        description="Publish only a model that beats persistence and the current model; serve "
        "it only on the series where it beat persistence (per-series gate).",
    )
    # 8: below it one series' choice between two forecasts is mostly noise (the gate is scored
    # half of a held-out tail against the other, so with a holdout of 0.2 series of at least ~80
    # points are gated on their own). Chosen by reasoning, not measured.
    gate_min_points: int = Field(
        8,
        ge=1,
        description="Fewest points in each half of a series' held-out tail for the gate to "
        "decide that series on its own; shorter ones are decided together, in their own scales.",
    )
    model_name: str = Field("twincast-lstm", description="Name recorded in every manifest.")
    features: int = Field(1, ge=1, description="Features per event (value list length).")
    units: int = Field(32, ge=1, description="LSTM units per layer.")
    layers: int = Field(1, ge=1, le=8, description="Stacked LSTM layers.")
    batch_size: int | Literal["all"] = Field(
        32, description="N parallel streams per batch: 1 (online), N, or 'all'."
    )
    epochs: int = Field(30, ge=1, description="Epochs per refit.")
    tbptt: int = Field(32, ge=1, description="Truncated BPTT chunk length k.")
    transform: Literal["standard", "difference"] = Field(
        "difference",
        description="What the model sees: standardised levels, or standardised changes "
        "(difference: the forecast is the last value plus a forecast change).",
    )
    learning_rate: float = Field(1e-2, gt=0, description="Adam learning rate.")
    seed: int = Field(0, description="Random seed of weight initialisation.")
    max_event_bytes: int = Field(
        MAX_EVENT_BYTES, ge=64, description="Events larger than this (bytes) are invalid."
    )
    weights_max_message_bytes: int = Field(
        64 * 1024 * 1024, description="Producer limit for artifacts; match the weights topic."
    )
    max_refit_seconds: int = Field(
        1800,
        ge=60,
        description="Longest pause between two polls the consumer group tolerates "
        "(max.poll.interval): a --once refit runs in line; a scheduled one runs beside the polls.",
    )
    metrics_port: int = Field(9101, ge=0, le=65535, description="Prometheus port; 0 = off.")
    metrics_addr: str = Field("0.0.0.0", description="Address the metrics endpoint binds to.")

    @model_validator(mode="after")
    def _refit_bounds_fit(self) -> TrainerSettings:
        if self.refit_max_points_per_series < self.min_points_per_series:
            raise ValueError(
                f"refit_max_points_per_series ({self.refit_max_points_per_series}) is under "
                f"min_points_per_series ({self.min_points_per_series}): no series could take part"
            )
        return self

    @model_validator(mode="after")
    def _within_the_step_budget(self) -> TrainerSettings:
        # Fail at start, not after a refit whose model every worker would refuse.
        cost = step_flops(self.features, self.units, self.layers, outputs=1)
        if cost > self.max_step_flops:
            raise ValueError(
                f"{self.layers} layers x {self.units} units cost {cost:,} multiply-adds per step, "
                f"over max_step_flops ({self.max_step_flops:,}): workers would refuse the model"
            )
        return self
