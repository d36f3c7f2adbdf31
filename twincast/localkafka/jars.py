"""Resolve the Kafka broker jars from Maven Central once and cache them on disk."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from foundation.errors import LocalKafkaError

log = logging.getLogger(__name__)

_STAMP = ".resolved"


def _pom_text() -> str:
    return resources.files("twincast.localkafka").joinpath("pom.xml").read_text("utf-8")


def cache_key(kafka_version: str) -> str:
    """Changes whenever the pom or the requested version changes, so the cache is refreshed."""
    digest = hashlib.sha256((_pom_text() + kafka_version).encode()).hexdigest()[:12]
    return f"kafka-{kafka_version}-{digest}"


def ensure_jars(cache_root: Path, kafka_version: str) -> Path:
    """Return a folder holding the broker's runtime classpath, resolving it if needed.

    The folder is filled under a temporary name and renamed into place, so an interrupted
    resolution never leaves a half-filled cache behind.
    """
    target = cache_root.expanduser() / cache_key(kafka_version)
    if (target / _STAMP).exists():
        return target
    if shutil.which("mvn") is None:
        raise LocalKafkaError("Maven ('mvn') is needed to fetch the Kafka broker jars")
    cache_root.expanduser().mkdir(parents=True, exist_ok=True)
    log.info("resolving Apache Kafka %s jars from Maven Central into %s", kafka_version, target)
    with tempfile.TemporaryDirectory(dir=cache_root.expanduser()) as tmp:
        staging = Path(tmp) / "lib"
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_pom_text(), "utf-8")
        command = [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-Dkafka.version={kafka_version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            tail = (result.stdout + result.stderr)[-2000:]
            raise LocalKafkaError(f"mvn could not resolve Kafka {kafka_version}:\n{tail}")
        (staging / _STAMP).write_text(kafka_version, "utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def log4j_config() -> Path:
    """Path of the packaged log4j2 configuration file."""
    return Path(str(resources.files("twincast.localkafka").joinpath("log4j2.properties")))
