"""One compose project of the container test: docker-compose.yml with the test override, its
own project name and free host ports, so it meets no other stack or broker on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from twincast.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = ROOT / "deploy/containers/compose.test.yml"
IMAGES = ("twincast-ct/kafka:test", "twincast-ct/prometheus:test", "twincast-ct/twincast:test")
T = TypeVar("T")


def compose_command() -> list[str]:
    """Debian gives docker-compose 1.29; elsewhere the compose plugin of the docker CLI."""
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return result.stdout


def wait_for(condition: Callable[[], T | None], seconds: float, what: str) -> T:
    """Poll until the condition gives a value, failing at the deadline with what was awaited."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds:.0f} s")
        time.sleep(1)


@dataclass
class Stack:
    project: str = field(default_factory=lambda: f"twincast-ct-{uuid.uuid4().hex[:8]}")
    ports: dict[str, int] = field(
        default_factory=lambda: {
            name: free_port()
            for name in ("KAFKA_HOST_PORT", "TRAINER_HOST_PORT", "PROMETHEUS_HOST_PORT")
        }
    )

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        command = [
            *compose_command(),
            *("-p", self.project, "-f", str(ROOT / "docker-compose.yml"), "-f", str(OVERRIDE)),
            *("--profile", "demo", *args),
        ]
        env = {**os.environ, **{name: str(port) for name, port in self.ports.items()}}
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def containers(self, service: str) -> list[str]:
        """Running or exited (compose v2's `ps -q` would leave out the exited `topics`)."""
        project = f"label=com.docker.compose.project={self.project}"
        name = f"label=com.docker.compose.service={service}"
        return docker("ps", "-aq", "--filter", project, "--filter", name).split()

    def health(self, container: str) -> str:
        return docker("inspect", "-f", "{{.State.Health.Status}}", container).strip()

    def leftovers(self) -> list[str]:
        """Every container, network and volume of this project still on the engine."""
        label = f"label=com.docker.compose.project={self.project}"
        name = f"name={self.project}_"
        found = [
            *docker("ps", "-aq", "--filter", label).split(),
            *docker("ps", "-aq", "--filter", name).split(),
        ]
        for kind in ("network", "volume"):
            for selector in (label, name):
                found += docker(kind, "ls", "-q", "--filter", selector).split()
        return sorted(set(found))
