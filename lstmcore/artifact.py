"""The model artifact on the wire: one uncompressed ``.npz`` holding plain arrays only.

Members: ``manifest`` (uint8 array of the UTF-8 JSON ``ModelManifest``) and one float array per
weight, named as ``Architecture.expected_arrays()`` says. It is read with ``allow_pickle=False``;
anything else in it, a compressed member, a shape or dtype that disagrees with the manifest, a
non-finite value or a wrong SHA-256 makes decoding fail with ``ArtifactError``.

SHA-256: over the arrays in manifest order, for each ``name`` UTF-8, a NUL byte, then the array's
little-endian C-order bytes in its declared dtype.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.artifact import ArrayInfo, ModelManifest
from schemas.codec import decode
from twincast.errors import ArtifactError, SchemaError

MANIFEST_MEMBER = "manifest"


@dataclass(frozen=True)
class Artifact:
    manifest: ModelManifest
    arrays: Mapping[str, npt.NDArray[Any]]


def arrays_sha256(arrays: Mapping[str, npt.NDArray[Any]], infos: list[ArrayInfo]) -> str:
    digest = hashlib.sha256()
    for info in infos:
        array = np.ascontiguousarray(
            arrays[info.name], dtype=np.dtype(info.dtype).newbyteorder("<")
        )
        digest.update(info.name.encode("utf-8") + b"\0")
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def array_infos(arrays: Mapping[str, npt.NDArray[Any]]) -> list[ArrayInfo]:
    return [ArrayInfo(name=n, shape=list(a.shape), dtype="float32") for n, a in arrays.items()]


def seal(manifest_fields: dict[str, Any], arrays: Mapping[str, npt.NDArray[Any]]) -> Artifact:
    """Complete a manifest with the array list and checksum, validating everything."""
    f32 = {name: np.asarray(a, np.float32) for name, a in arrays.items()}
    infos = array_infos(f32)
    fields = {**manifest_fields, "arrays": infos, "sha256": arrays_sha256(f32, infos)}
    return Artifact(ModelManifest.model_validate(fields), f32)


def encode_artifact(artifact: Artifact) -> bytes:
    buffer = io.BytesIO()
    manifest = np.frombuffer(artifact.manifest.model_dump_json().encode("utf-8"), np.uint8)
    # Typed as Any: numpy's stub would read a member named like a keyword as that keyword.
    members: dict[str, Any] = {MANIFEST_MEMBER: manifest, **artifact.arrays}
    np.savez(buffer, **members)
    return buffer.getvalue()


def decode_artifact(raw: bytes) -> Artifact:
    """Decode and fully check an artifact; never unpickles anything."""
    try:
        _check_zip(raw)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
    except ArtifactError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError("format", f"not a plain-array npz artifact: {exc}") from exc
    manifest_bytes = members.pop(MANIFEST_MEMBER, None)
    if manifest_bytes is None or manifest_bytes.dtype != np.uint8:
        raise ArtifactError("format", "the artifact has no manifest")
    try:
        manifest = decode(ModelManifest, manifest_bytes.tobytes())
    except SchemaError as exc:
        raise ArtifactError("manifest", exc.detail) from exc
    _check_arrays(manifest, members)
    for array in members.values():
        array.setflags(write=False)
    return Artifact(manifest, members)


def _check_zip(raw: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        declared = 0
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ArtifactError("format", f"member {info.filename} is compressed")
            declared += info.file_size
        # Stored members cannot expand: a larger declared size means a forged archive.
        if declared > len(raw):
            raise ArtifactError("format", "members declare more bytes than the artifact holds")


def _check_arrays(manifest: ModelManifest, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    declared = {info.name: info for info in manifest.arrays}
    if set(arrays) != set(declared):
        raise ArtifactError(
            "arrays", f"arrays {sorted(arrays)} differ from the manifest's {sorted(declared)}"
        )
    for name, info in declared.items():
        array = arrays[name]
        if list(array.shape) != info.shape or array.dtype != np.dtype(info.dtype):
            raise ArtifactError(
                "shape",
                f"{name} is {array.dtype}{list(array.shape)}, manifest says "
                f"{info.dtype}{info.shape}",
            )
        if not np.isfinite(array).all():
            raise ArtifactError("non_finite", f"{name} holds NaN or infinite values")
    if arrays_sha256(arrays, manifest.arrays) != manifest.sha256:
        raise ArtifactError("checksum", "SHA-256 of the arrays does not match the manifest")
