"""The trainer's Prometheus metrics (prefix ``twincast_``), in a registry of their own."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from trainer.refit import NotEnoughData, RefitOutcome

log = logging.getLogger(__name__)


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
        self.refit_skipped = Counter(
            "twincast_trainer_refit_skipped",
            "Refits due that could not run (persistence keeps serving), by reason: no_history, "
            "series_too_short (no series has TWINCAST_MIN_POINTS_PER_SERIES points).",
            ["reason"],
            registry=r,
        )
        self.last_skip: str | None = None  # the reason last logged; None after a refit ran
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
        self.history_max_points = Gauge(
            "twincast_trainer_history_max_points",
            "Bound on the history's points across all series (oldest dropped first).",
            registry=r,
        )


def record_refit(m: TrainerMetrics, outcome: RefitOutcome, seconds: float) -> None:
    """A finished refit's figures, in the metrics and the log."""
    ev = outcome.evaluation
    m.last_skip = None  # a later skip is news again
    m.refits.labels(outcome.verdict).inc()
    m.refit_duration.observe(seconds)
    m.last_refit.set_to_current_time()
    m.train_loss.set(outcome.artifact.manifest.training.train_loss or float("nan"))
    # candidate: on every series, before the per-series gate (how far it was); served: what it
    # serves, the last value where the gate chose it (what the verdict judged).
    m.validation_mae.labels("candidate").set(
        ev.model_mae if ev.candidate_mae is None else ev.candidate_mae
    )
    m.validation_mae.labels("served").set(ev.model_mae)
    m.validation_mae.labels("persistence").set(ev.persistence_mae)
    if ev.previous_model_mae is not None:
        m.validation_mae.labels("current").set(ev.previous_model_mae)
    log.info(
        "refit of version %d: %s in %.1fs; tail MAE served %.5f (candidate %s) vs persistence "
        "%.5f, current %s",
        outcome.artifact.manifest.version,
        outcome.verdict,
        seconds,
        ev.model_mae,
        ev.candidate_mae,
        ev.persistence_mae,
        ev.previous_model_mae,
    )


def record_skip(m: TrainerMetrics, exc: NotEnoughData) -> None:
    """A refit that could not run: counted every time, logged when the reason changes (a
    trainer waiting for data would otherwise say the same thing at every poll)."""
    m.refits.labels("not_enough_data").inc()
    m.refit_skipped.labels(exc.reason).inc()
    if exc.reason != m.last_skip:
        m.last_skip = exc.reason
        log.warning(
            "no refit can run (%s): %s; persistence keeps serving. Said again only when the "
            "reason changes; twincast_trainer_refit_skipped_total counts each time",
            exc.reason,
            exc,
        )
