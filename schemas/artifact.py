"""The model artifact's manifest: everything needed to rebuild and trust a set of weights.

The weights themselves travel as plain numeric arrays beside the manifest (never pickle, never a
Keras file). Array names and shapes follow from the architecture, see ``expected_arrays``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from schemas.common import FiniteFloat, UtcDatetime, WireModel

ArrayDtype = Literal["float32", "float64", "int64", "uint8"]

MAX_SERIES = 10_000_000
"""Most per-series rows one artifact may carry (the message size bounds its arrays too)."""

MANIFEST_SCHEMA_VERSION = 2
"""2: the SHA-256 covers the manifest's meaning as well as the arrays (1: the arrays only)."""


class Architecture(WireModel):
    """Stacked LSTM layers of equal width, then Dense(outputs). Gate order is Keras' i, f, c, o."""

    features: int = Field(ge=1, le=4096)
    units: int = Field(ge=1, le=4096)
    layers: int = Field(ge=1, le=16)
    outputs: int = Field(1, ge=1, le=4096)

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every array an artifact of this architecture must carry."""
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.layers):
            inputs = self.features if layer == 0 else self.units
            shapes[f"lstm_{layer}/kernel"] = (inputs, 4 * self.units)
            shapes[f"lstm_{layer}/recurrent_kernel"] = (self.units, 4 * self.units)
            shapes[f"lstm_{layer}/bias"] = (4 * self.units,)
        shapes["dense/kernel"] = (self.units, self.outputs)
        shapes["dense/bias"] = (self.outputs,)
        return shapes


class Scaler(WireModel):
    """Per-feature standardisation: ``scaled = (x - mean) / scale``; outputs use feature 0.

    ``difference``: the model sees and forecasts changes instead of levels. Its input at t is
    ``(x[t] - x[t-1] - mean) / scale`` (0 change for a series' first value) and its output,
    unscaled, is added to ``x[t]``: a model that outputs no change is the persistence forecast.
    ``kind`` is required: every schema_version 2 manifest carries it (older ones are refused).
    """

    kind: Literal["standard", "difference"]
    mean: list[FiniteFloat]
    scale: list[FiniteFloat]

    @model_validator(mode="after")
    def _positive_scale(self) -> Scaler:
        if len(self.mean) != len(self.scale):
            raise ValueError("mean and scale must have one entry per feature")
        if any(s <= 0 for s in self.scale):
            raise ValueError("every scale must be positive")
        return self


class SeriesScales(WireModel):
    """Per-series standardisation (a global model, each series in its own scale, DeepAR-style).

    The rows travel as arrays beside the weights, never as JSON lists: ``series/id_utf8`` (uint8,
    every series id's UTF-8 bytes one after the other), ``series/id_ends`` (int64 [count], where
    each id's bytes end), ``series/mean`` and ``series/scale`` (float64 [count, features]). Row i
    scales series i exactly as ``Scaler`` does, with its own mean and scale; a series without a
    row (never seen by the trainer, or too short) is scaled by the pooled ``Scaler``.
    """

    count: int = Field(ge=0, le=MAX_SERIES)
    id_bytes: int = Field(ge=0, le=64 * 1024 * 1024, description="Length of series/id_utf8.")
    gated: bool = Field(
        False,
        description="The per-series gate's decision travels as series/use_model (uint8 [count]: "
        "1 serve the model, 0 serve persistence); False: every series is served the model.",
    )
    unseen: Literal["model", "persistence"] = Field(
        "model", description="What a series the gate did not evaluate is served."
    )
    evaluated: int = Field(0, ge=0, description="Series the gate scored on a held-out tail.")
    helped: int = Field(0, ge=0, description="Of those, series where the model beat persistence.")

    def expected_arrays(self, features: int) -> dict[str, tuple[tuple[int, ...], ArrayDtype]]:
        arrays: dict[str, tuple[tuple[int, ...], ArrayDtype]] = {
            "series/id_utf8": ((self.id_bytes,), "uint8"),
            "series/id_ends": ((self.count,), "int64"),
            "series/mean": ((self.count, features), "float64"),
            "series/scale": ((self.count, features), "float64"),
        }
        if self.gated:
            arrays["series/use_model"] = ((self.count,), "uint8")
        return arrays


class TrainingFacts(WireModel):
    batch_size: int = Field(ge=1, description="N, the number of parallel streams per batch.")
    epochs: int = Field(ge=1)
    tbptt: int = Field(ge=1, description="Truncated BPTT chunk length k.")
    n_series: int = Field(ge=0)
    n_points: int = Field(ge=0)
    offsets: dict[int, int] = Field(
        default_factory=dict, description="Events partition -> next offset covered by training."
    )
    train_loss: FiniteFloat | None = None


class Validation(WireModel):
    """Held-out tail MAE (original units) of the candidate and its baselines. ``model_mae`` and
    ``previous_model_mae`` are what each serves: the model where its per-series gate kept it, the
    last value elsewhere (every series the model when the gate is off)."""

    model_mae: FiniteFloat
    persistence_mae: FiniteFloat
    previous_model_mae: FiniteFloat | None = None
    points: int = Field(ge=0)


class ArrayInfo(WireModel):
    name: str
    shape: list[int]
    dtype: ArrayDtype


class ModelManifest(WireModel):
    """The JSON manifest of one published model version on ``twincast.weights``."""

    schema_version: int = Field(
        MANIFEST_SCHEMA_VERSION, description="Version of this contract (see lstmcore.artifact)."
    )
    model_name: str = Field(min_length=1)
    version: int = Field(ge=1, description="Strictly increasing across trainer restarts.")
    created_at: UtcDatetime
    architecture: Architecture
    training: TrainingFacts
    validation: Validation
    scaler: Scaler
    series_scales: SeriesScales | None = Field(
        None, description="Per-series scales (absent: every series uses the pooled scaler)."
    )
    arrays: list[ArrayInfo]
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the other fields and the arrays."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        expected: dict[str, tuple[tuple[int, ...], str]] = {
            name: (shape, "float32") for name, shape in self.architecture.expected_arrays().items()
        }
        if self.series_scales is not None:
            expected.update(self.series_scales.expected_arrays(self.architecture.features))
        declared = {a.name: (tuple(a.shape), a.dtype) for a in self.arrays}
        if declared != expected:
            raise ValueError(f"arrays {declared} do not match the architecture {expected}")
        if len(self.scaler.mean) != self.architecture.features:
            raise ValueError("the scaler must have one entry per feature")
        return self
