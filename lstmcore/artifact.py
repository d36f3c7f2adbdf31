"""The model artifact on the wire: one uncompressed ``.npz`` holding plain arrays only.

Members: ``manifest`` (uint8 array of the UTF-8 JSON ``ModelManifest``) and one float array per
weight, named as ``Architecture.expected_arrays()`` says. It is read by ``lstmcore.npz`` (every
``.npy`` header checked before anything is allocated, never unpickled); anything else in it, a
compressed member, a shape or dtype that disagrees with the manifest, an architecture over the
step budget, a non-finite value or a wrong SHA-256 makes decoding fail with ``ArtifactError``.

SHA-256 (format 2, manifest ``schema_version`` 2): first the manifest's meaning, i.e. every field
but ``sha256`` as canonical JSON (``json.dumps(..., sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` of the parsed manifest) and a NUL byte; then the arrays in manifest order,
for each ``name`` UTF-8, a NUL byte, then the array's little-endian C-order bytes in its declared
dtype. So a changed scaler, architecture or version fails the check like a changed weight, and so
does a changed per-series row: the optional ``series/...`` members (``SeriesScales``: ids as
UTF-8 bytes and end offsets, mean and scale per series) are listed in the manifest like weights.
Format 1 (``schema_version`` 1) covered the arrays only; such artifacts are refused (reason
``manifest``): republish them with this version of twincast (``twincast rollback`` does).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from foundation.errors import ArtifactError
from foundation.settings.budget import ArtifactLimits
from lstmcore.limits import INT64_MAX, check_architecture
from lstmcore.npz import BoundedNpz
from lstmcore.series_scales import SeriesTable
from schemas.artifact import MANIFEST_SCHEMA_VERSION, ArrayInfo, ModelManifest

MANIFEST_MEMBER = "manifest"
SERIES_PREFIX = "series/"
MAX_MANIFEST_BYTES = (
    1024 * 1024
)  # a manifest is a few KB; offsets of many partitions stay far below


@dataclass(frozen=True)
class Artifact:
    manifest: ModelManifest
    arrays: Mapping[str, npt.NDArray[Any]]
    # The id -> row table of its per-series arrays, when whoever made the artifact already built
    # it (decoding checks the arrays by building it; the trainer builds it from its fit): built
    # once per artifact (~0.5 s at 1M series) and handed on, never rebuilt.
    table: SeriesTable | None = field(default=None, compare=False, repr=False)

    def series_table(self) -> SeriesTable:
        if self.table is not None:
            return self.table
        return SeriesTable.from_artifact(self.manifest, self.arrays)


def manifest_meaning(manifest: ModelManifest) -> bytes:
    """Canonical JSON of every manifest field except the checksum itself."""
    fields = manifest.model_dump(mode="json", exclude={"sha256", *_absent(manifest)})
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _absent(manifest: ModelManifest) -> set[str]:
    """Optional fields added after format 2 was defined, left out when unset: an artifact without
    per-series scales reads, and checks, exactly as one written before they existed."""
    return {"series_scales"} if manifest.series_scales is None else set()


def artifact_sha256(manifest: ModelManifest, arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    digest = hashlib.sha256(manifest_meaning(manifest) + b"\0")
    for info in manifest.arrays:
        array = np.ascontiguousarray(
            arrays[info.name], dtype=np.dtype(info.dtype).newbyteorder("<")
        )
        digest.update(info.name.encode("utf-8") + b"\0")
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def array_infos(arrays: Mapping[str, npt.NDArray[Any]]) -> list[ArrayInfo]:
    return [ArrayInfo(name=n, shape=list(a.shape), dtype=a.dtype.name) for n, a in arrays.items()]


def seal(manifest_fields: dict[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> Artifact:
    """Complete a manifest with the array list and checksum, validating everything.

    Weights are stored as float32; per-series arrays (``series/...``) keep their own dtype.
    """
    f32 = {
        name: np.asarray(a) if name.startswith(SERIES_PREFIX) else np.asarray(a, np.float32)
        for name, a in arrays.items()
    }
    fields = {**manifest_fields, "arrays": array_infos(f32), "sha256": "0" * 64}
    unsealed = ModelManifest.model_validate(fields)
    sealed = unsealed.model_copy(update={"sha256": artifact_sha256(unsealed, f32)})
    return Artifact(sealed, f32)


def encode_artifact(artifact: Artifact) -> bytes:
    buffer = io.BytesIO()
    text = artifact.manifest.model_dump_json(exclude=_absent(artifact.manifest))
    manifest = np.frombuffer(text.encode("utf-8"), np.uint8)
    # Typed as Any: numpy's stub would read a member named like a keyword as that keyword.
    members: dict[str, Any] = {MANIFEST_MEMBER: manifest, **artifact.arrays}
    np.savez(buffer, **members)
    return buffer.getvalue()


def decode_artifact(raw: bytes, limits: ArtifactLimits) -> Artifact:
    """Decode and fully check an artifact, sizes before allocation; never unpickles anything."""
    try:
        npz = BoundedNpz(raw)
        try:
            manifest = _manifest(npz)
            check_architecture(manifest.architecture, limits)
            arrays = _arrays(npz, manifest)
        finally:
            npz.close()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError("format", f"not a plain-array npz artifact: {exc}") from exc
    _check_values(manifest, arrays)
    table = SeriesTable.from_artifact(manifest, arrays)  # ids, ends, scales consistent, or refused
    return Artifact(manifest, arrays, table)


def _manifest(npz: BoundedNpz) -> ModelManifest:
    if MANIFEST_MEMBER not in npz.names:
        raise ArtifactError("format", "the artifact has no manifest")
    header = npz.header(MANIFEST_MEMBER)
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise ArtifactError("format", f"the manifest is {header.dtype}{list(header.shape)}")
    if header.data_bytes > MAX_MANIFEST_BYTES:
        raise ArtifactError("too_large", f"a manifest of {header.data_bytes:,} bytes")
    text = npz.read(MANIFEST_MEMBER, header).tobytes()
    try:
        manifest = ModelManifest.model_validate_json(text)
    except ValidationError as exc:
        raise ArtifactError("manifest", f"invalid manifest: {exc}") from exc
    if manifest.schema_version != MANIFEST_SCHEMA_VERSION:
        raise ArtifactError(
            "manifest",
            f"manifest schema_version {manifest.schema_version} is not supported (this is "
            f"{MANIFEST_SCHEMA_VERSION}; format 1 checksums left the manifest out: republish)",
        )
    if manifest.version > INT64_MAX:
        raise ArtifactError("version", f"version {manifest.version} is outside 1..2^63-1")
    return manifest


def _arrays(npz: BoundedNpz, manifest: ModelManifest) -> dict[str, npt.NDArray[Any]]:
    """Every weight array, each header checked against the manifest before it is read."""
    declared = {info.name: info for info in manifest.arrays}
    present = npz.names - {MANIFEST_MEMBER}
    if present != set(declared):
        raise ArtifactError(
            "arrays", f"arrays {sorted(present)} differ from the manifest's {sorted(declared)}"
        )
    arrays = {}
    for name, info in declared.items():
        header = npz.header(name)
        if list(header.shape) != info.shape or header.dtype != np.dtype(info.dtype):
            raise ArtifactError(
                "shape",
                f"{name} is {header.dtype}{list(header.shape)}, manifest says "
                f"{info.dtype}{info.shape}",
            )
        arrays[name] = npz.read(name, header)
        arrays[name].setflags(write=False)
    return arrays


def _check_values(manifest: ModelManifest, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    for name, array in arrays.items():
        if not np.isfinite(array).all():
            raise ArtifactError("non_finite", f"{name} holds NaN or infinite values")
    if artifact_sha256(manifest, arrays) != manifest.sha256:
        raise ArtifactError(
            "checksum", "SHA-256 of the manifest and arrays does not match the manifest's"
        )
