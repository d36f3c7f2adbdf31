"""The README's stand-alone artifact decoder really reproduces twincast's forecasts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from lstmcore.artifact import encode_artifact
from lstmcore.serving import ServingModel
from tests.unit.test_artifact import make_artifact
from tests.unit.test_series_scales import with_scales

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("kind", ["standard", "difference"])
def test_readme_snippet_matches_the_serving_model(kind: Literal["standard", "difference"]) -> None:
    text = README.read_text("utf-8")
    section = text[text.index("To recompute twincast's forecasts") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    artifact = make_artifact(units=6, mean=3.0, scale=0.5, kind=kind)
    namespace: dict[str, Any] = {"value": encode_artifact(artifact)}
    exec(snippet.group(1), namespace)
    _assert_snippet_serves(ServingModel.from_artifact(artifact), namespace, None)


@pytest.mark.parametrize("series_id", ["große", "small", "never seen"])
def test_readme_snippet_uses_each_series_own_scale(series_id: str) -> None:
    text = README.read_text("utf-8")
    section = text[text.index("To recompute twincast's forecasts") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    artifact = with_scales()
    namespace: dict[str, Any] = {"value": encode_artifact(artifact)}
    exec(snippet.group(1), namespace)
    namespace["s"] = namespace["own_scale"](series_id)
    _assert_snippet_serves(ServingModel.from_artifact(artifact), namespace, series_id)


def _assert_snippet_serves(
    model: ServingModel, namespace: dict[str, Any], series_id: str | None
) -> None:
    rows = None if series_id is None else model.rows_for([series_id])
    h, c = model.weights.zero_state(1)
    before = None
    for x in 3.0 + np.sin(np.arange(12) / 3.0):
        values = np.array([[x]])
        h, c, expected = model.forecast(h, c, values, before, rows)
        before = values
        assert abs(namespace["step"]([x]) - expected[0]) < 1e-4
