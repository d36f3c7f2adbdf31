"""The artifact codec: plain arrays only, every inconsistency refused with a reason."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pytest

from foundation.errors import ArtifactError
from foundation.settings.base import KafkaSettings
from lstmcore.artifact import Artifact, decode_artifact, encode_artifact, seal
from lstmcore.serving import ServingModel
from schemas.artifact import Architecture, Scaler, TrainingFacts, Validation

LIMITS = KafkaSettings().artifact_limits()  # the defaults
BIG = KafkaSettings(max_step_flops=10**8).artifact_limits()


def make_artifact(
    version: int = 1,
    units: int = 4,
    features: int = 1,
    mean: float = 0.0,
    scale: float = 1.0,
    kind: Literal["standard", "difference"] = "standard",
) -> Artifact:
    arch = Architecture(features=features, units=units, layers=2)
    rng = np.random.default_rng(version)
    arrays = {
        n: rng.normal(0, 0.3, s).astype(np.float32) for n, s in arch.expected_arrays().items()
    }
    fields: dict[str, Any] = {
        "model_name": "test",
        "version": version,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "architecture": arch,
        "training": TrainingFacts(batch_size=4, epochs=1, tbptt=8, n_series=4, n_points=100),
        "validation": Validation(model_mae=0.1, persistence_mae=0.2, points=10),
        "scaler": Scaler(kind=kind, mean=[mean] * features, scale=[scale] * features),
    }
    return seal(fields, arrays)


def _npz(members: dict[str, Any], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **members)
    return buffer.getvalue()


def _members(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def test_round_trip() -> None:
    artifact = make_artifact()
    back = decode_artifact(encode_artifact(artifact), LIMITS)
    assert back.manifest == artifact.manifest
    for name, array in artifact.arrays.items():
        np.testing.assert_array_equal(back.arrays[name], array)
        assert not back.arrays[name].flags.writeable


def test_decodable_with_numpy_alone() -> None:
    """What the README promises a third party: np.load + json, nothing of twincast."""
    raw = encode_artifact(make_artifact())
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        manifest = json.loads(npz["manifest"].tobytes())
        assert set(npz.files) == {"manifest", *(a["name"] for a in manifest["arrays"])}


def test_large_model_round_trip() -> None:
    artifact = make_artifact(units=512)
    raw = encode_artifact(artifact)
    assert len(raw) > 1024 * 1024  # bigger than Kafka's default message limit
    assert decode_artifact(raw, BIG).manifest.sha256 == artifact.manifest.sha256


def _refused(raw: bytes) -> str:
    with pytest.raises(ArtifactError) as caught:
        decode_artifact(raw, LIMITS)
    return caught.value.reason


def test_bad_checksum() -> None:
    members = _members(encode_artifact(make_artifact()))
    members["dense/bias"] = members["dense/bias"] + 1.0
    assert _refused(_npz(members)) == "checksum"


def test_wrong_shape() -> None:
    members = _members(encode_artifact(make_artifact()))
    members["dense/kernel"] = np.zeros((3, 1), np.float32)
    assert _refused(_npz(members)) == "shape"


def test_nan_weights() -> None:
    members = _members(encode_artifact(make_artifact()))
    members["lstm_0/bias"] = np.full_like(members["lstm_0/bias"], np.nan)
    assert _refused(_npz(members)) == "non_finite"


def test_missing_and_extra_arrays() -> None:
    members = _members(encode_artifact(make_artifact()))
    del members["dense/bias"]
    assert _refused(_npz(members)) == "arrays"
    members = _members(encode_artifact(make_artifact()))
    members["extra"] = np.zeros(1, np.float32)
    assert _refused(_npz(members)) == "arrays"


def test_unknown_schema_version() -> None:
    members = _members(encode_artifact(make_artifact()))
    manifest = json.loads(members["manifest"].tobytes())
    manifest["schema_version"] = 7
    members["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    assert _refused(_npz(members)) == "manifest"


def test_pickle_is_never_loaded() -> None:
    members = _members(encode_artifact(make_artifact()))
    evil: dict[str, Any] = {**members, "dense/bias": np.array([pickle.dumps(print)], dtype=object)}
    buffer = io.BytesIO()
    np.savez(buffer, **evil)  # writes an object array, i.e. a pickle
    assert _refused(buffer.getvalue()) == "format"
    assert _refused(pickle.dumps({"weights": 1})) == "format"


def test_truncated_and_compressed() -> None:
    raw = encode_artifact(make_artifact())
    assert _refused(raw[: len(raw) // 2]) == "format"
    assert _refused(_npz(_members(raw), compress=True)) == "format"


def test_forged_member_size() -> None:
    raw = bytearray(encode_artifact(make_artifact()))
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        info = archive.infolist()[0]
    # Patch the central directory's uncompressed size of the first member to 2 GiB.
    central = raw.rfind(b"PK\x01\x02", 0, len(raw))
    while raw.rfind(b"PK\x01\x02", 0, central) != -1:
        central = raw.rfind(b"PK\x01\x02", 0, central)
    raw[central + 24 : central + 28] = (2**31).to_bytes(4, "little")
    assert info.file_size < 2**31
    assert _refused(bytes(raw)) == "too_large"


def test_serving_model_checks_features_and_smoke_steps() -> None:
    artifact = make_artifact(features=1)
    model = ServingModel.from_artifact(artifact, features=1)
    h, c = model.weights.zero_state(3)
    h2, _, y = model.forecast(h, c, np.array([[1.0], [2.0], [3.0]]))
    assert y.shape == (3,) and np.isfinite(y).all()
    assert h2.shape == h.shape and not np.shares_memory(h2, h)
    with pytest.raises(ArtifactError) as caught:
        ServingModel.from_artifact(artifact, features=2)
    assert caught.value.reason == "incompatible"
