"""Thresholds of the ``/healthz`` and ``/readyz`` probes of the worker and the trainer."""

from __future__ import annotations

from pydantic import Field

from foundation.settings.base import TwincastSettings


class HealthSettings(TwincastSettings):
    """Mixed into every long-running service's settings (served on its metrics port)."""

    health_loop_max_seconds: float = Field(
        120.0,
        gt=0,
        description="/healthz fails when the service's loop has not come round for this long "
        "(a stuck process); raise it if restoring a worker's partitions or a start-up swap "
        "takes longer.",
    )
    health_kafka_outage_seconds: float = Field(
        30.0,
        ge=0,
        description="/readyz fails once Kafka has been unreachable for longer than this "
        "(shorter outages are ridden out without leaving the ready set).",
    )
