"""The twin rule for what a bounded, sampled trainer trains on.

The history is held by its bound across all series (so series lose their oldest points, and start
mid-stream) and filled from a sample of the partitions only (TWINCAST_TRAINER_PARTITIONS); the
refit reads its bounded sample from it as the service does. What a worker serves must still equal
the trained batch-N model on exactly those windows, each from zero state at its first kept point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_served_equals_trained import (
    _assert_served_as_trained,
    _named,
    _refit,
    _settings,
)
from trainer.history import Consumed, HistoryStore, Point
from trainer.partitions import chosen_partitions
from trainer.snapshot import SampleBounds, read_snapshot

PARTITIONS = 3
LENGTHS = [26, 13, 19, 31, 24, 17, 28, 22, 30]


def _topic() -> list[tuple[str, int, list[float]]]:
    """(series, partition, values): series interleaved in time, each on one partition."""
    rng = np.random.default_rng(3)
    series = {
        f"s{i}": (np.cumsum(rng.normal(size=n)) + 10.0 * i).tolist() for i, n in enumerate(LENGTHS)
    }
    return [(name, i % PARTITIONS, values) for i, (name, values) in enumerate(series.items())]


def test_a_bounded_sampled_history_trains_a_twin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = _topic()
    chosen = set(chosen_partitions("list:0,2", range(PARTITIONS), "events"))
    store = HistoryStore(tmp_path / "h.sqlite", max_points_per_series=100, max_points=90)
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    for t in range(max(LENGTHS)):
        batch = []
        for name, partition, values in topic:
            if t < len(values) and partition in chosen:  # what the consumer is assigned
                batch.append(
                    Consumed(partition, offsets[partition], Point(name, float(t), [values[t]]))
                )
                offsets[partition] += 1
        store.ingest("events", batch)
    assert store.size()[1] == 90
    kept = {name: v[:, 0] for name, v in store.series().items()}
    store.close()

    settings = _settings(refit_max_series=4, refit_max_points_per_series=15)
    bounds = SampleBounds(settings.min_points_per_series, 4, 15, settings.seed)
    snapshot = read_snapshot(tmp_path / "h.sqlite", "events", bounds, version=1)
    assert set(snapshot.offsets) == chosen
    full = {name: values for name, _, values in topic}
    partition_of = {name: partition for name, partition, _ in topic}
    assert {partition_of[name] for name in snapshot.series} <= chosen
    # The global bound cut into what is trained on: some series start mid-stream.
    cut = [name for name in kept if kept[name][0] != full[name][0]]
    assert cut and len(snapshot.series) == 4
    windows = list(snapshot.series.values())
    for name, window in snapshot.series.items():
        np.testing.assert_array_equal(window[:, 0], kept[name][-15:])

    model, serving, _ = _refit(windows, monkeypatch, settings)
    assert serving.manifest.training.n_series == 4
    _assert_served_as_trained(model, serving, _named(windows), settings)
