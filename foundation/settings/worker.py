"""Settings of ``twincast-worker`` (``TWINCAST_*`` environment variables)."""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import Field, model_validator

from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings
from foundation.settings.health import HealthSettings


class SwapPolicy(StrEnum):
    REPLAY = "replay"  # recompute h, c from each series' last W inputs with the new weights
    KEEP = "keep"  # carry h, c over unchanged (zero if the state's shape changes)
    RESET = "reset"  # every series starts again from zero state


class WorkerSettings(KafkaSettings, HealthSettings):
    worker_group_id: str = Field("twincast-worker", description="Consumer group of the workers.")
    features: int = Field(1, ge=1, description="Features per event (value list length).")
    state_max_series: int = Field(
        100_000, ge=1, description="Series kept in the state store; least recently seen go first."
    )
    replay_window: int = Field(64, ge=1, description="W: last inputs kept per series for replay.")
    swap_policy: SwapPolicy = Field(
        SwapPolicy.REPLAY, description="State on a model swap: replay, keep or reset."
    )
    swap_on_loop_series: int = Field(
        64,
        ge=0,
        description="Replay swap: at most this many series changed while the new states were "
        "prepared off the loop are replayed on the loop at the swap (the pause); more go "
        "through another off-loop round.",
    )
    swap_max_rounds: int = Field(
        8,
        ge=1,
        description="Replay swap: off-loop rounds at most; then (or once a round is no smaller "
        "than the one before) the series still changed are replayed on the loop whatever "
        "their number (events changing series faster than they are replayed).",
    )
    swap_replay_chunk: int = Field(
        4096,
        ge=1,
        description="Replay swap: series replayed together off the loop (bounds its temporary "
        "arrays and how soon a preparation overtaken by a newer model stops).",
    )
    max_event_bytes: int = Field(
        MAX_EVENT_BYTES, ge=64, description="Events larger than this (bytes) are invalid."
    )
    max_poll_records: int = Field(5000, ge=1, description="Events taken per poll.")
    prefetch_kbytes: int = Field(
        65_536,
        ge=1,
        description="confluent-kafka: events fetched ahead of the polls at most, in KiB "
        "(librdkafka's queued.max.messages.kbytes, same default): lower lowers a backlog's "
        "peak memory, not what stays, and costs throughput (4096: -30 %); kafka-python keeps "
        "no such queue.",
    )
    forecast_headers: bool = Field(
        False,
        description="Also put source partition and offset in Kafka headers of each forecast "
        "(the value always has them; headers cost the producer a few us per record).",
    )
    linger_ms: int = Field(5, ge=0, description="Producer linger for forecast batches.")
    max_in_flight_sends: int = Field(
        10_000,
        ge=1,
        description="After a poll's forecasts are sent, wait for the oldest while more than "
        "this many sends are unacknowledged (each holds client objects; neither client bounds "
        "them as twincast uses it).",
    )
    session_timeout_ms: int = Field(
        10_000, ge=6000, description="A worker silent this long loses its partitions to the others."
    )
    commit_interval_ms: int = Field(
        5000,
        ge=0,
        description="Checkpoint state and commit offsets this often (0 = every poll).",
    )
    state_write_age_ms: int = Field(
        60_000,
        ge=0,
        description="A changed series' state is written at the first checkpoint after its first "
        "unwritten change is this old (0 = every changed series at every checkpoint); a new "
        "owner replays silently from the oldest unwritten change, so recovery stays exact.",
    )
    heap_trim_interval_ms: int = Field(
        60_000,
        ge=0,
        description="Give freed heap back to the OS (glibc malloc_trim) at a poll without "
        "events after some, or under steady load after a checkpoint; either way at most this "
        "often (0 = never).",
    )
    malloc_arena_max: int = Field(
        2,
        ge=0,
        description="glibc malloc arenas at most (mallopt M_ARENA_MAX; 0 = glibc's default, "
        "up to 8 per core): each Kafka client thread otherwise fills and keeps one of its own.",
    )
    malloc_mmap_threshold_bytes: int = Field(
        128 * 1024,
        ge=0,
        description="Blocks at least this large get a mapping of their own, given back when "
        "freed (mallopt M_MMAP_THRESHOLD; 0 = glibc's default, which it raises up to 32 MiB "
        "as mapped blocks are freed, after which they stay in the heap).",
    )
    exactly_once: bool = Field(
        False,
        description="Forecasts, dead letters, states and offsets in one Kafka transaction per "
        "commit; read_committed subscribers then see each forecast once, at each commit.",
    )
    transactional_id: str = Field(
        "",
        description="With exactly_once: this worker's transactional id, stable across restarts "
        "and distinct per worker (default: worker_group_id-hostname).",
    )
    transaction_timeout_ms: int = Field(
        10_000,
        ge=1000,
        description="With exactly_once: the broker aborts a dead worker's open transaction "
        "after this long (read_committed readers wait for it until then).",
    )
    interval_coverage: float = Field(
        0.9,
        gt=0.0,
        lt=1.0,
        description="Nominal coverage of each forecast's prediction interval (lower, upper).",
    )
    interval_scale_window: int = Field(
        50,
        ge=1,
        description="Intervals: a series' error scale is the mean |error| of its first this "
        "many scored forecasts, then an exponential average of this span.",
    )
    interval_min_errors: int = Field(
        10,
        ge=1,
        description="Intervals: series whose scale was made of fewer errors are calibrated "
        "against other series at the same count (one score pool per count below this).",
    )
    interval_pool_size: int = Field(
        2000,
        ge=10,
        description="Intervals: recent normalised errors kept per score pool (pooled over the "
        "worker's series) for the conformal quantile.",
    )
    interval_adapt_rate: float = Field(
        0.02,
        ge=0.0,
        lt=1.0,
        description="Intervals: adaptive conformal step; each scored interval moves the "
        "quantile level by this times (miss - (1 - coverage)), a wave's steps together at "
        "most its whole coverage gap; 0 = fixed level.",
    )
    interval_watch_series: str = Field(
        "",
        description="Comma-separated series ids whose last value, forecast and interval bounds "
        "the worker exports as gauges, for the dashboard's band (a handful: four Prometheus "
        "series each; empty = none).",
    )
    metrics_port: int = Field(9102, ge=0, le=65535, description="Prometheus port; 0 = off.")
    metrics_addr: str = Field("0.0.0.0", description="Address the metrics endpoint binds to.")

    def watched_series(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.interval_watch_series.split(",") if s.strip())

    @model_validator(mode="after")
    def _transactions_outlive_commits(self) -> WorkerSettings:
        if self.exactly_once and self.commit_interval_ms >= self.transaction_timeout_ms:
            raise ValueError(
                f"commit_interval_ms ({self.commit_interval_ms}) must be below "
                f"transaction_timeout_ms ({self.transaction_timeout_ms}) with exactly_once: "
                "each commit ends a transaction"
            )
        return self

    @model_validator(mode="after")
    def _pools_can_give_the_quantile(self) -> WorkerSettings:
        # The conformal quantile of m scores needs ceil((m + 1) coverage) <= m: a pool smaller
        # than that would silently never give an interval.
        needed = math.ceil(self.interval_coverage / (1.0 - self.interval_coverage))
        if self.interval_pool_size < needed:
            raise ValueError(
                f"interval_pool_size ({self.interval_pool_size}) must be at least {needed} for "
                f"interval_coverage {self.interval_coverage}: a smaller pool never gives the "
                "conformal quantile, so no forecast would carry an interval"
            )
        return self
