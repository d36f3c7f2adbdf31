"""The one acceptance rule for artifacts on the weights topic.

The worker's watcher, its start-up, ``twincast rollback`` and the trainer (on what it is about to
publish) all judge a record with these functions and the same limits. They hold no I/O: the ground
(``foundation.kafka.weights_topic``) reads the records and hands them here newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from foundation.errors import ArtifactError
from foundation.kafka.weights_topic import WeightsMessage
from foundation.settings.budget import ArtifactLimits
from lstmcore.artifact import Artifact, decode_artifact, encode_artifact
from lstmcore.limits import check_version
from lstmcore.serving import ServingModel

log = logging.getLogger(__name__)


class WeightsRecord(Protocol):
    """What the rule reads of a consumed record (``foundation.kafka.record.WeightsRecord``)."""

    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass
class LatestModel:
    """The newest valid model found on the topic, and what was refused on the way."""

    model: ServingModel | None = None
    refused: list[tuple[int, str]] = field(default_factory=list)  # (offset, reason)
    next_offset: int = 0


@contextmanager
def _any_failure_refuses() -> Iterator[None]:
    """The one boundary: nothing unforeseen in a record (MemoryError included) stops a service."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError("unexpected", f"{type(exc).__name__}: {exc}") from exc


def decode_record(raw: bytes | None, limits: ArtifactLimits) -> Artifact:
    if not isinstance(raw, bytes):
        raise ArtifactError("format", "the record has no value")
    with _any_failure_refuses():
        return decode_artifact(raw, limits)


def prepare(raw: bytes | None, features: int | None, limits: ArtifactLimits) -> ServingModel:
    """Decode, check and smoke-test one artifact; whatever goes wrong is an ArtifactError."""
    artifact = decode_record(raw, limits)
    with _any_failure_refuses():
        return ServingModel.from_artifact(artifact, features)


def accept(
    raw: bytes | None, features: int | None, current_version: int, limits: ArtifactLimits
) -> ServingModel:
    """What a worker swaps to: a prepared artifact newer than, and not too far ahead of, its own."""
    model = prepare(raw, features, limits)
    check_version(model.version, current_version, limits)
    return model


def check_publishable(
    artifact: Artifact, features: int | None, current_version: int, limits: ArtifactLimits
) -> ServingModel:
    """Run exactly the worker's acceptance on what is about to be published; the model it
    built is what the trainer then holds as current (its table is not built again)."""
    return accept(encode_artifact(artifact), features, current_version, limits)


def weights_message(artifact: Artifact) -> WeightsMessage:
    manifest = artifact.manifest
    return WeightsMessage(
        key=manifest.model_name.encode(),
        value=encode_artifact(artifact),
        version=manifest.version,
        sha256=manifest.sha256,
    )


def latest_model(
    features: int | None, limits: ArtifactLimits
) -> Callable[[Iterator[WeightsRecord], int], LatestModel]:
    """The chooser of the model a starting worker serves (see ``choose_latest``)."""

    def choose(records: Iterator[WeightsRecord], end: int) -> LatestModel:
        latest = LatestModel(next_offset=end)
        choose_latest(latest, records, features, limits)
        return latest

    return choose


def choose_latest(
    latest: LatestModel,
    records: Iterator[WeightsRecord],
    features: int | None,
    limits: ArtifactLimits,
) -> None:
    """The newest valid artifact whose version follows the valid one before it as a running
    worker would have accepted it (newer, within the jump); the oldest one follows version 0.

    In the usual case that is two decodes. A record with a huge version is refused here as it
    was live, so workers and the trainer's version lookup never build on it.
    """
    candidate: tuple[int, ServingModel] | None = None
    for record in records:
        try:
            model = prepare(record.value, features, limits)
        except ArtifactError as exc:
            _refuse(latest, record.offset, exc)
            continue
        if candidate is not None and _follows(latest, candidate, model.version, limits):
            latest.model = candidate[1]
            return
        candidate = (record.offset, model)
    if candidate is not None and _follows(latest, candidate, 0, limits):
        latest.model = candidate[1]


def _follows(
    latest: LatestModel, candidate: tuple[int, ServingModel], before: int, limits: ArtifactLimits
) -> bool:
    try:
        check_version(candidate[1].version, before, limits)
    except ArtifactError as exc:
        _refuse(latest, candidate[0], exc)
        return False
    return True


def _refuse(latest: LatestModel, offset: int, exc: ArtifactError) -> None:
    latest.refused.append((offset, exc.reason))
    log.warning("weights offset %d refused: %s", offset, exc)


def artifact_of_version(
    version: int, limits: ArtifactLimits
) -> Callable[[Iterator[WeightsRecord], int], Artifact | None]:
    """The chooser of the newest valid artifact of one version (``twincast rollback``)."""

    def choose(records: Iterator[WeightsRecord], end: int) -> Artifact | None:
        for record in records:
            try:
                artifact = decode_record(record.value, limits)
            except ArtifactError:
                continue
            if artifact.manifest.version == version:
                return artifact
        return None

    return choose
