"""The trainer's Prometheus metrics (prefix ``twincast_``), in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class TrainerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "twincast_trainer_events_consumed", "Events read into the history.", registry=r
        )
        self.bad_events = Counter(
            "twincast_trainer_bad_events",
            "Events skipped as invalid, by reason.",
            ["reason"],
            registry=r,
        )
        self.refits = Counter(
            "twincast_refits", "Refits finished, by outcome.", ["outcome"], registry=r
        )
        self.refit_duration = Histogram(
            "twincast_refit_duration_seconds",
            "Wall time of one refit.",
            registry=r,
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.train_loss = Gauge(
            "twincast_trainer_train_loss", "Last epoch's training loss (scaled MSE).", registry=r
        )
        self.validation_mae = Gauge(
            "twincast_trainer_validation_mae",
            "Held-out tail MAE of the last refit, by model.",
            ["model"],
            registry=r,
        )
        self.published_version = Gauge(
            "twincast_trainer_published_version", "Newest published model version.", registry=r
        )
        self.last_refit = Gauge(
            "twincast_last_refit_timestamp_seconds", "When the last refit finished.", registry=r
        )
        self.history_series = Gauge(
            "twincast_trainer_history_series", "Series in the history.", registry=r
        )
        self.history_points = Gauge(
            "twincast_trainer_history_points", "Points in the history.", registry=r
        )
