"""Read a Prometheus endpoint into plain numbers (for the demo's status line and tests)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, timeout_s: float = 2.0) -> dict[str, float]:
    """Sample name with sorted labels -> value, e.g. ``twincast_dlq_messages_total{reason=x}``."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def total(samples: dict[str, float], name: str) -> float:
    """Sum of a sample over all its label sets."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))
