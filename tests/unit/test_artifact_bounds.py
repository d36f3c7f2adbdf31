"""Hostile artifacts are refused by reason before they can allocate, crash or cost too much."""

from __future__ import annotations

import io
import json
import resource
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foundation.errors import ArtifactError
from foundation.settings.budget import ArtifactLimits, step_flops
from lstmcore.acceptance import LatestModel, accept, choose_latest, prepare
from lstmcore.artifact import Artifact, decode_artifact, encode_artifact, seal
from lstmcore.limits import INT64_MAX, check_version
from lstmcore.serving import ServingModel
from schemas.artifact import Architecture
from tests.unit.test_artifact import LIMITS, make_artifact

TERABYTES_4 = (1 << 20, 1 << 20)  # float32: 4 TiB


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _unzip(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def declared_huge(
    raw: bytes, member: str = "lstm_0/kernel", shape: tuple[int, ...] = TERABYTES_4
) -> bytes:
    """The artifact with one member's .npy header declaring ``shape``; its data stays small."""
    members = _unzip(raw)
    header = io.BytesIO()
    descr = "|u1" if member == "manifest" else "<f4"
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    members[f"{member}.npy"] = header.getvalue() + b"\0" * 64
    return _zip(members)


def resealed(artifact: Artifact, **changes: Any) -> bytes:
    """The artifact with manifest fields changed and a checksum that matches them."""
    fields = artifact.manifest.model_dump(exclude={"arrays", "sha256"})
    fields.update(changes)
    return encode_artifact(seal(fields, dict(artifact.arrays)))


def with_manifest(raw: bytes, edit: dict[str, Any]) -> bytes:
    """The artifact with manifest fields edited in place: the old checksum stays."""
    members = _unzip(raw)
    manifest = np.load(io.BytesIO(members["manifest.npy"]), allow_pickle=False)
    fields = json.loads(manifest.tobytes())
    fields.update(edit)
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(fields).encode(), np.uint8))
    members["manifest.npy"] = buffer.getvalue()
    return _zip(members)


def encrypted_flag(raw: bytes) -> bytes:
    """Marks the first member as encrypted: zipfile then raises RuntimeError (unforeseen)."""
    data = bytearray(raw)
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x01
    return bytes(data)


def _reason(raw: bytes, limits: ArtifactLimits = LIMITS) -> str:
    with pytest.raises(ArtifactError) as caught:
        prepare(raw, 1, limits)
    return caught.value.reason


def test_declared_huge_arrays_are_refused_without_allocating() -> None:
    raw = encode_artifact(make_artifact())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _reason(declared_huge(raw)) == "too_large"
    same_shape = declared_huge(raw, "dense/bias", (1,))
    assert _reason(same_shape) == "format"  # declares less than it holds
    assert _reason(declared_huge(raw, "manifest", (1 << 42,))) == "too_large"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_header_that_declares_more_than_the_member_holds() -> None:
    artifact = make_artifact()
    members = _unzip(encode_artifact(artifact))
    name = "lstm_0/bias.npy"
    members[name] = members[name][:-8]  # the header's shape now claims 8 bytes too many
    assert _reason(_zip(members)) == "too_large"


def test_version_outside_int64_and_too_far_ahead() -> None:
    artifact = make_artifact()
    assert _reason(resealed(artifact, version=2**63)) == "version"
    big = ArtifactLimits(max_step_flops=10**6, max_version_jump=10)
    with pytest.raises(ArtifactError, match="MAX_VERSION_JUMP"):
        check_version(12, 1, big)
    check_version(11, 1, big)
    with pytest.raises(ArtifactError, match="not newer"):
        check_version(1, 1, big)
    with pytest.raises(ArtifactError, match="outside"):
        check_version(INT64_MAX + 1, INT64_MAX - 1, big)


def test_a_model_over_the_step_budget_is_refused_with_its_cost() -> None:
    arch = Architecture(features=1, units=40, layers=2)
    assert (
        step_flops(arch.features, arch.units, arch.layers, arch.outputs)
        == 4 * 40 * 41 + 4 * 40 * 80 + 40
    )
    tight = ArtifactLimits(max_step_flops=5000, max_version_jump=10**6)
    raw = encode_artifact(make_artifact(units=40))
    with pytest.raises(ArtifactError, match="TWINCAST_MAX_STEP_FLOPS=5,000") as caught:
        decode_artifact(raw, tight)
    assert caught.value.reason == "budget"
    assert prepare(encode_artifact(make_artifact(units=6)), 1, tight).version == 1


def test_checksum_covers_the_manifest() -> None:
    raw = encode_artifact(make_artifact(mean=0.5))
    shifted = with_manifest(raw, {"scaler": {"kind": "standard", "mean": [9.5], "scale": [1.0]}})
    assert _reason(shifted) == "checksum"
    assert _reason(with_manifest(raw, {"version": 2})) == "checksum"
    # Same meaning, different bytes (key order, spacing): still valid.
    same = with_manifest(raw, {})
    assert prepare(same, 1, LIMITS).version == 1


def test_format_1_artifacts_are_refused_clearly() -> None:
    old = with_manifest(encode_artifact(make_artifact()), {"schema_version": 1})
    with pytest.raises(ArtifactError, match="republish") as caught:
        prepare(old, 1, LIMITS)
    assert caught.value.reason == "manifest"


def test_any_exception_while_preparing_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = encode_artifact(make_artifact())
    assert _reason(encrypted_flag(raw)) == "unexpected"  # zipfile's RuntimeError
    assert _reason(b"") == "format"

    def explode(*_: Any, **__: Any) -> ServingModel:
        raise MemoryError("smoke step")

    monkeypatch.setattr(ServingModel, "from_artifact", explode)
    with pytest.raises(ArtifactError, match="MemoryError") as caught:
        accept(raw, 1, 0, LIMITS)
    assert caught.value.reason == "unexpected"


@dataclass
class _Record:
    offset: int
    value: bytes


def _newest_first(raws: list[bytes]) -> list[_Record]:
    return [_Record(o, r) for o, r in reversed(list(enumerate(raws)))]


def _choose(raws: list[bytes]) -> LatestModel:
    latest = LatestModel()
    choose_latest(latest, iter(_newest_first(raws)), 1, LIMITS)
    return latest


def test_start_up_takes_the_newest_version_a_running_worker_would_serve() -> None:
    valid = [encode_artifact(make_artifact(version=v)) for v in (1, 2, 3)]
    huge = resealed(make_artifact(version=4), version=2**62)
    assert _choose(valid).model.version == 3  # type: ignore[union-attr]
    latest = _choose([*valid, huge, declared_huge(valid[0]), b"junk"])
    assert latest.model is not None and latest.model.version == 3
    assert sorted(reason for _, reason in latest.refused) == ["format", "too_large", "version"]
    older_again = _choose([*valid, valid[1]])
    assert older_again.model is not None and older_again.model.version == 3
    alone = _choose([huge])
    assert alone.model is None and alone.refused == [(0, "version")]
    assert _choose([]).model is None


def test_the_trainer_refuses_to_start_with_a_model_over_the_budget() -> None:
    from pydantic import ValidationError

    from foundation.settings.trainer import TrainerSettings

    with pytest.raises(ValidationError, match="workers would refuse"):
        TrainerSettings(units=1000)
    assert TrainerSettings(units=1000, max_step_flops=10**7).units == 1000


def test_member_count_and_directory_are_bounded_before_zipfile_reads_them() -> None:
    members = _unzip(encode_artifact(make_artifact()))
    members.update({f"pad{i}.npy": b"" for i in range(100)})
    assert _reason(_zip(members)) == "too_large"
    raw = bytearray(encode_artifact(make_artifact()))
    end = raw.rfind(b"PK\x05\x06")
    raw[end + 12 : end + 16] = (10**7).to_bytes(4, "little")  # a forged directory size
    assert _reason(bytes(raw)) == "too_large"


def test_the_trainer_publishes_nothing_a_worker_would_refuse(tmp_path: Path) -> None:
    from foundation.settings.trainer import TrainerSettings
    from trainer.metrics import TrainerMetrics
    from trainer.publish import publishable

    settings = TrainerSettings(history_db=tmp_path / "h.sqlite", metrics_port=0)
    metrics = TrainerMetrics()
    assert publishable(settings, metrics, make_artifact(version=1), current=0)
    assert not publishable(settings, metrics, make_artifact(version=2_000_000), current=0)
    assert not publishable(settings, metrics, make_artifact(version=1, units=800), current=0)
    assert metrics.refits.labels("unpublishable")._value.get() == 2
