"""The trainer's local copy of each published artifact."""

from __future__ import annotations

import os

from lstmcore.artifact import Artifact, encode_artifact


def write_artifact_file(folder: os.PathLike[str], artifact: Artifact) -> str:
    """Write atomically: a reader sees the whole file or none (temp name, then rename)."""
    os.makedirs(folder, exist_ok=True)
    manifest = artifact.manifest
    final = os.path.join(folder, f"{manifest.model_name}-v{manifest.version:06d}.npz")
    temporary = f"{final}.tmp-{os.getpid()}"
    with open(temporary, "wb") as handle:
        handle.write(encode_artifact(artifact))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final
