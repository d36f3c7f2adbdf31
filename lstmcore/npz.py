"""Reading an uncompressed ``.npz`` (a zip of ``.npy`` members) with every size checked first.

``np.load`` trusts each member's ``.npy`` header and allocates the shape it declares before reading
the data: a 3.6 KB member can declare a 4 TB array (``MemoryError``, or worse, an OOM kill). Here
each header is parsed on its own (numpy's header readers, ``allow_pickle`` never involved), and a
member is read only if the bytes it declares are exactly the bytes it holds, so nothing larger than
the message itself is ever allocated. Object dtypes are refused: nothing is unpickled.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from foundation.errors import ArtifactError

MAX_MEMBERS = 64  # the manifest and 3 arrays per layer (at most 16) + 2 for the dense head
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 1024  # a central directory entry is ~100 bytes here
END_RECORD, ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
SUFFIX = ".npy"


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class BoundedNpz:
    """The members of one stored zip, listed and size-checked on opening; read one by one."""

    def __init__(self, raw: bytes) -> None:
        _check_directory(raw)
        self._zip = zipfile.ZipFile(io.BytesIO(raw))
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ArtifactError("too_large", f"{len(infos)} members, at most {MAX_MEMBERS}")
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            _check_member(info, len(raw))
            name = info.filename.removesuffix(SUFFIX)
            if name in self._infos or not info.filename.endswith(SUFFIX):
                raise ArtifactError("format", f"member {info.filename!r} is repeated or not .npy")
            self._infos[name] = info
        # Stored members cannot expand: more declared bytes than the message means a forgery.
        if sum(i.file_size for i in infos) > len(raw):
            raise ArtifactError("too_large", "members declare more bytes than the artifact holds")

    @property
    def names(self) -> set[str]:
        return set(self._infos)

    def header(self, name: str) -> NpyHeader:
        """The member's header, refused unless the data it declares is exactly what it holds."""
        info = self._infos[name]
        with self._zip.open(info) as member:
            header, offset = _read_header(member, name)
        held = info.file_size - offset
        if header.data_bytes != held:
            raise ArtifactError(
                "too_large" if header.data_bytes > held else "format",
                f"{name} declares {list(header.shape)} {header.dtype} "
                f"({header.data_bytes:,} bytes) and holds {held:,} bytes",
            )
        return header

    def read(self, name: str, header: NpyHeader) -> npt.NDArray[Any]:
        """The member's array; ``header`` is what ``header(name)`` returned and was checked."""
        info = self._infos[name]
        with self._zip.open(info) as member:
            found, offset = _read_header(member, name)
            if found != header or header.data_bytes != info.file_size - offset:
                raise ArtifactError("format", f"{name} changed between two reads")
            data = member.read(header.data_bytes)
        flat = np.frombuffer(data, dtype=header.dtype)
        shaped = flat.reshape(header.shape, order="F" if header.fortran_order else "C")
        array: npt.NDArray[Any] = np.ascontiguousarray(shaped)  # a copy that owns its memory
        return array

    def close(self) -> None:
        self._zip.close()


def _check_directory(raw: bytes) -> None:
    """Bound the central directory before zipfile parses it: it builds an object per entry, and
    a 64 MB message of tiny entries would take several times that in memory."""
    end = raw.rfind(END_RECORD, max(0, len(raw) - 22 - 65_535))
    if end < 0 or end + 22 > len(raw):
        raise ArtifactError("format", "not a zip archive (no end record)")
    if raw[max(0, end - 20) : end].startswith(ZIP64_LOCATOR):
        raise ArtifactError("format", "a zip64 archive: artifacts are far smaller")
    entries, size = struct.unpack_from("<HI", raw, end + 10)
    if entries > MAX_MEMBERS or size > MAX_DIRECTORY_BYTES:
        raise ArtifactError(
            "too_large", f"{entries} members in a {size:,}-byte directory, at most {MAX_MEMBERS}"
        )


def _check_member(info: zipfile.ZipInfo, raw_size: int) -> None:
    if info.compress_type != zipfile.ZIP_STORED:
        raise ArtifactError("format", f"member {info.filename} is compressed")
    if info.file_size != info.compress_size or info.file_size > raw_size:
        raise ArtifactError("too_large", f"member {info.filename} declares a forged size")


def _read_header(member: IO[bytes], name: str) -> tuple[NpyHeader, int]:
    """The member's header and the offset where its data starts."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(member)
        else:
            raise ArtifactError("format", f"{name}: .npy format {version} is not supported")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError("format", f"{name}: unreadable .npy header: {exc}") from exc
    if dtype.hasobject or dtype.kind not in "uif":
        raise ArtifactError("format", f"{name} has dtype {dtype}: only plain numbers are read")
    if any(d < 0 for d in shape):
        raise ArtifactError("format", f"{name} declares a negative dimension {shape}")
    offset = member.tell()
    return NpyHeader(tuple(shape), dtype, bool(fortran)), offset
