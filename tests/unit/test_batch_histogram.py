"""BatchHistogram exposes exactly what prometheus_client's Histogram would for the same values."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from foundation.batch_histogram import BatchHistogram

BUCKETS = (0.01, 0.1, 1.0, 10.0)


def test_same_exposition_as_the_classic_histogram() -> None:
    values = [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0, 250.0]
    classic_registry, batch_registry = CollectorRegistry(), CollectorRegistry()
    classic = Histogram("lat_seconds", "doc", buckets=BUCKETS, registry=classic_registry)
    for v in values:
        classic.observe(v)
    batch = BatchHistogram("lat_seconds", "doc", BUCKETS, batch_registry)
    batch.observe_many(np.array(values[:4]))
    batch.observe_many(values[4:])
    batch.observe_many([])

    def samples(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return sorted(
            line
            for line in text.splitlines()
            if line.startswith("lat_seconds_") and "_created" not in line
        )

    assert samples(batch_registry) == samples(classic_registry)
