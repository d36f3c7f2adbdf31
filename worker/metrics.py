"""The worker's Prometheus metrics (prefix ``twincast_``), in a registry of their own."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from foundation.batch_histogram import BatchHistogram
from worker.batch import BatchResult, EventBatch

_FAST = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.events = Counter("twincast_events_consumed", "Events read.", registry=r)
        self.forecasts = Counter("twincast_forecasts_produced", "Forecasts sent.", registry=r)
        self.forecasts_by_source = Counter(
            "twincast_forecasts_by_source",
            "Forecasts made, by source: model, or persistence (no model yet, or the model's "
            "per-series gate chose the last value).",
            ["source"],
            registry=r,
        )
        self.gated_series = Gauge(
            "twincast_series_gated_to_persistence",
            "Series the model in use serves the last value, by its per-series gate.",
            registry=r,
        )
        self.dlq = Counter(
            "twincast_dlq_messages", "Dead letters sent, by reason.", ["reason"], registry=r
        )
        self.swaps = Counter("twincast_model_swaps", "Models swapped in.", registry=r)
        self.refused = Counter(
            "twincast_artifacts_refused", "Artifacts refused, by reason.", ["reason"], registry=r
        )
        self.watcher_restarts = Counter(
            "twincast_weights_watcher_restarts",
            "Times the weights watcher thread stopped and was started again.",
            registry=r,
        )
        self.model_version = Gauge(
            "twincast_model_version", "Model version in use (0 = persistence).", registry=r
        )
        self.model_created = Gauge(
            "twincast_model_created_timestamp_seconds",
            "When the model in use was created by the trainer (0 = none yet).",
            registry=r,
        )
        self.state_series = Gauge("twincast_state_series", "Series in the state store.", registry=r)
        self.resets = Counter(
            "twincast_series_resets", "Series reset by an operator's control record.", registry=r
        )
        self.state_evictions = Counter(
            "twincast_state_evictions", "Series evicted from the full state store.", registry=r
        )
        self.state_refused = Counter(
            "twincast_state_refused",
            "State topic records (states, position markers) refused on restore, by reason.",
            ["reason"],
            registry=r,
        )
        self.lag = Gauge(
            "twincast_consumer_lag",
            "Events not yet consumed, by partition.",
            ["partition"],
            registry=r,
        )
        self.wave_seconds = Histogram(
            "twincast_wave_step_seconds",
            "Time of one wave's vectorised step.",
            registry=r,
            buckets=_FAST,
        )
        self.wave_size = Histogram(
            "twincast_wave_series",
            "Series in one wave.",
            registry=r,
            buckets=(1, 10, 100, 1000, 10_000, 100_000),
        )
        self.latency = BatchHistogram(
            "twincast_end_to_end_latency_seconds",
            "From the event's produce time (Kafka timestamp) to its forecast being sent.",
            _LATENCY,
            r,
        )
        self.swap_seconds = Histogram(
            "twincast_swap_duration_seconds",
            "Pause of the hot path during a swap.",
            registry=r,
            buckets=_FAST,
        )
        self.swap_prepare_seconds = Histogram(
            "twincast_swap_prepare_seconds",
            "Off-loop preparation of a replay swap (new states), from the offer to the install.",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.restore_seconds = Histogram(
            "twincast_state_restore_seconds",
            "Time to restore the state of newly assigned partitions.",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.rewinds = Counter(
            "twincast_worker_rewinds",
            "Exactly-once transactions aborted; the worker went back to its last commit.",
            registry=r,
        )
        self.replayed = Counter(
            "twincast_events_replayed",
            "Events read again silently after a restore, between a marker's replay point and "
            "its emit-from offset (their outputs were sent before; none is sent again).",
            registry=r,
        )
        labels = ["model_version"]
        self.scored = Counter(
            "twincast_forecasts_scored", "Forecasts scored against the actual.", labels, registry=r
        )
        self.abs_error = Counter(
            "twincast_forecast_abs_error", "Sum of |actual - forecast|.", labels, registry=r
        )
        self.sq_error = Counter(
            "twincast_forecast_squared_error",
            "Sum of (actual - forecast)^2.",
            labels,
            registry=r,
        )
        self.persistence_abs_error = Counter(
            "twincast_persistence_abs_error",
            "Sum of |actual - last value| over the same scored events.",
            labels,
            registry=r,
        )
        self.persistence_sq_error = Counter(
            "twincast_persistence_squared_error",
            "Sum of (actual - last value)^2 over the same scored events.",
            labels,
            registry=r,
        )
        self.intervals_issued = Counter(
            "twincast_intervals_issued", "Forecasts sent with a prediction interval.", registry=r
        )
        self.interval_width = Counter(
            "twincast_interval_width",
            "Sum of the widths (upper - lower) of the intervals sent.",
            registry=r,
        )
        self.intervals_scored = Counter(
            "twincast_intervals_scored",
            "Intervals scored when the value they were issued for arrived.",
            registry=r,
        )
        self.intervals_covered = Counter(
            "twincast_intervals_covered",
            "Scored intervals that held the value (coverage = covered / scored).",
            registry=r,
        )
        self.interval_nominal = Gauge(
            "twincast_interval_nominal_coverage",
            "The coverage the intervals are calibrated for (TWINCAST_INTERVAL_COVERAGE).",
            registry=r,
        )
        self.watched = Gauge(
            "twincast_watched_series",
            "For each series of TWINCAST_INTERVAL_WATCH_SERIES: its last value, and the "
            "forecast of its next value with the interval's lower and upper bounds.",
            ["series_id", "line"],
            registry=r,
        )
        self.interval_level = Gauge(
            "twincast_interval_quantile_level",
            "The quantile level in use after the adaptive conformal correction.",
            registry=r,
        )

    def account_intervals(
        self, result: BatchResult, sent: npt.NDArray[np.bool_], level: float
    ) -> None:
        """Interval metrics of one batch (``sent``: the events forecast, not dead-lettered)."""
        widths = result.half_widths[sent]
        issued = ~np.isnan(widths)
        self.intervals_issued.inc(int(issued.sum()))
        self.interval_width.inc(float(2 * widths[issued].sum()))
        self.intervals_scored.inc(int(result.interval_scored.sum()))
        self.intervals_covered.inc(int(result.covered.sum()))
        self.interval_level.set(level)

    def watch(self, batch: EventBatch, result: BatchResult, watched: frozenset[str]) -> None:
        """The gauges of the watched series in this batch (their latest event wins)."""
        for i, series_id in enumerate(batch.series_ids):
            if series_id not in watched or result.non_finite[i]:
                continue
            forecast, half = float(result.forecasts[i]), float(result.half_widths[i])
            self.watched.labels(series_id, "value").set(batch.values[i][0])
            self.watched.labels(series_id, "forecast").set(forecast)
            if half == half:  # no interval yet: the bounds keep their last values
                self.watched.labels(series_id, "lower").set(forecast - half)
                self.watched.labels(series_id, "upper").set(forecast + half)
