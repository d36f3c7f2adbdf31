"""The gate's verdicts: an enum whose values are the metric labels and log words they were."""

from __future__ import annotations

import pytest

from trainer.refit import Evaluation, Verdict, verdict


@pytest.mark.parametrize(
    ("model", "previous", "gate", "expected"),
    [
        (0.5, None, True, "accepted"),
        (0.5, 0.6, True, "accepted"),
        (1.5, None, True, "worse_than_persistence"),
        (0.5, 0.4, True, "worse_than_current"),
        (1.5, 0.4, False, "gate_off"),
    ],
)
def test_verdicts(model: float, previous: float | None, gate: bool, expected: str) -> None:
    evaluation = Evaluation(
        model_mae=model, persistence_mae=1.0, previous_model_mae=previous, points=10
    )
    decided = verdict(evaluation, gate)
    assert decided == expected and f"{decided}" == expected
    assert decided.publishes == (expected in ("accepted", "gate_off"))


def test_values_are_unchanged() -> None:
    assert sorted(v.value for v in Verdict) == [
        "accepted",
        "gate_off",
        "worse_than_current",
        "worse_than_persistence",
    ]
