"""Publishing a candidate that passed the gate: acceptance, then file, topic, history.

Order: validate -> write the artifact file under a temporary name and rename it -> send it to the
weights topic and wait for the broker's ack -> record the version in the history. A stop request
(signal) or a crash before the ack publishes nothing; after it, the version is on the topic and a
restart reads it back from there.
"""

from __future__ import annotations

import logging

from foundation.errors import ArtifactError, KafkaUnavailableError
from foundation.kafka.client import Producer
from foundation.kafka.weights_topic import publish
from foundation.settings.trainer import TrainerSettings
from lstmcore.acceptance import check_publishable, weights_message
from lstmcore.artifact import Artifact
from lstmcore.serving import ServingModel
from trainer.artifact_file import write_artifact_file
from trainer.history import HistoryStore
from trainer.metrics import TrainerMetrics

log = logging.getLogger(__name__)

PUBLISHED_VERSION = "published_version"


def publish_artifact(
    settings: TrainerSettings,
    metrics: TrainerMetrics,
    history: HistoryStore,
    producer: Producer,
    artifact: Artifact,
    current: int,
) -> ServingModel | None:
    """The model now current if ``artifact`` was published; None if it was not."""
    manifest = artifact.manifest
    model = publishable(settings, metrics, artifact, current)
    if model is None:
        return None
    path = write_artifact_file(settings.artifact_dir, artifact)
    try:
        offset = publish(producer, settings.weights_topic, weights_message(artifact))
    except KafkaUnavailableError:
        log.exception("version %d not published; it will be retrained", manifest.version)
        return None
    history.set_fact(PUBLISHED_VERSION, str(manifest.version))
    metrics.published_version.set(manifest.version)
    log.info(
        "published version %d (sha256 %s) at offset %d; file %s",
        manifest.version,
        manifest.sha256[:12],
        offset,
        path,
    )
    return model


def publishable(
    settings: TrainerSettings, metrics: TrainerMetrics, artifact: Artifact, current: int
) -> ServingModel | None:
    """The worker's own acceptance, with the same limits: never publish what it refuses. The
    model it accepted (None: refused)."""
    try:
        return check_publishable(artifact, settings.features, current, settings.artifact_limits())
    except ArtifactError as exc:
        metrics.refits.labels("unpublishable").inc()
        log.error(
            "version %d not published: workers would refuse it (%s)",
            artifact.manifest.version,
            exc,
        )
        return None
