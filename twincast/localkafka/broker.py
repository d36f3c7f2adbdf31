"""Start, probe and stop a single combined broker+controller on loopback.

State lives in one folder (``kafka_dir``): ``server.properties``, the KRaft log dirs under
``data/``, ``server.log`` and ``broker.pid``. ``up`` and ``down`` are idempotent: ``up`` on a
running broker only reports it, ``down`` on a stopped one does nothing.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import KafkaClientError, LocalKafkaError
from foundation.kafka.factory import kafka_clients
from foundation.private_files import write_private_text
from foundation.settings.base import KafkaSettings
from foundation.settings.localkafka import LocalKafkaSettings
from twincast.localkafka import sasl, tls
from twincast.localkafka.jars import ensure_jars, log4j_config

log = logging.getLogger(__name__)

_READY_LINE = "Kafka Server started"


@dataclass(frozen=True)
class BrokerInfo:
    bootstrap: str
    pid: int
    already_running: bool
    start_seconds: float


class LocalKafka:
    """One local broker, described by its settings."""

    def __init__(self, settings: LocalKafkaSettings) -> None:
        self.settings = settings
        self.home = settings.kafka_dir.expanduser().resolve()
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    def running_pid(self) -> int | None:
        """The broker's pid if the pid file names a live process that is this broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        # A recycled pid would not carry our properties file on its command line.
        return pid if str(self.home / "server.properties").encode() in cmdline else None

    def up(self) -> BrokerInfo:
        """Start the broker unless it already runs; return once it answers an admin call."""
        started = time.monotonic()
        pid = self.running_pid()
        if pid is not None:
            _wait_for_admin(self.bootstrap, deadline=started + self.settings.kafka_start_timeout_s)
            return BrokerInfo(self.bootstrap, pid, True, time.monotonic() - started)
        _ensure_port_free(self.settings.kafka_port)
        _ensure_port_free(self.settings.kafka_controller_port)
        for extra in (self.settings.kafka_sasl_port, self.settings.kafka_ssl_port):
            if extra is not None:
                _ensure_port_free(extra)
        jars = ensure_jars(self.settings.kafka_jars_dir, self.settings.kafka_version)
        self.home.mkdir(parents=True, exist_ok=True)
        properties = self._write_properties()
        if not (self.home / "data" / "meta.properties").exists():
            self._format(jars, properties)
        launched = time.monotonic()
        # A restart appends to the same log: only a ready line written after this start counts.
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        process = self._launch(jars, properties)
        self._process = process
        self.pid_file.write_text(str(process.pid))
        try:
            self._wait_ready(process, launched + self.settings.kafka_start_timeout_s, log_start)
        except BaseException:
            self.down()
            raise
        return BrokerInfo(self.bootstrap, process.pid, False, time.monotonic() - launched)

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker if it runs (SIGTERM, then SIGKILL). True if one was stopped."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            log.warning("broker %d ignored SIGTERM for %.0fs; killing it", pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        if self._process is not None:
            self._process.wait()  # reap our own child so it does not linger as a zombie
            self._process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL the broker, as a crash would: no clean shutdown, logs not flushed. ``up``
        starts it again on the same data and ports. True if one was killed."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
        if self._process is not None:
            self._process.wait()  # reap our own child
            self._process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def _write_properties(self) -> Path:
        s = self.settings
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{s.kafka_controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.enable": "true",  # twincast.state is compacted
            "auto.create.topics.enable": "false",  # topics come from `twincast topics`
            "message.max.bytes": str(64 * 1024 * 1024 + 1024),
        }
        if s.kafka_ssl_port is not None:
            for key in ("listeners", "advertised.listeners"):
                lines[key] += "," + tls.listener(s.kafka_ssl_port)
            lines["listener.security.protocol.map"] += "," + tls.protocol_map_entry()
            lines.update(tls.ssl_properties(*tls.ensure_certificate(self.home / "tls")))
        if s.kafka_sasl_port is not None:
            for key in ("listeners", "advertised.listeners"):
                lines[key] += "," + sasl.listener(s.kafka_sasl_port)
            lines["listener.security.protocol.map"] += "," + sasl.protocol_map_entry()
            lines.update(sasl.sasl_properties(s.kafka_sasl_username, s.kafka_sasl_password))
        path = self.home / "server.properties"
        # It may hold the SASL password and the keystore's password.
        write_private_text(path, "".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _java(self, jars: Path, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.kafka_heap}",
            "-cp",
            f"{jars}/*",
            f"-Dlog4j2.configurationFile={log4j_config()}",
            f"-Dtwincast.kafka.log={self.log_file}",
            *args,
        ]

    def _format(self, jars: Path, properties: Path) -> None:
        cluster_id = _cluster_id()
        command = self._java(
            jars,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(properties),
            *self._scram_args(),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting KRaft storage failed:\n{result.stderr[-2000:]}")

    def _scram_args(self) -> list[str]:
        s = self.settings
        if s.kafka_sasl_port is None:
            return []
        return sasl.scram_format_args(s.kafka_sasl_username, s.kafka_sasl_password)

    def _launch(self, jars: Path, properties: Path) -> subprocess.Popen[bytes]:
        stdout = (self.home / "stdout.log").open("wb")
        # A new session: Ctrl-C in the terminal that ran `make kafka-up` must not reach it.
        return subprocess.Popen(
            self._java(jars, "kafka.Kafka", str(properties)),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_ready(
        self, process: subprocess.Popen[bytes], deadline: float, log_start: int
    ) -> None:
        while True:
            if process.poll() is not None:
                raise LocalKafkaError(
                    f"broker exited with code {process.returncode}; see {self.log_file} "
                    f"and {self.home / 'stdout.log'}"
                )
            if _READY_LINE.encode() in _read_from(self.log_file, log_start):
                break
            if time.monotonic() > deadline:
                raise LocalKafkaError(f"broker not started in time; see {self.log_file}")
            time.sleep(0.2)
        _wait_for_admin(self.bootstrap, deadline)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size >= offset:  # else rotated: a new file
                handle.seek(offset)
            return handle.read()
    except OSError:
        return b""


def _cluster_id() -> str:
    """A random KRaft cluster id that does not start with "-": the storage tool would take it
    for an option (Kafka's own Uuid.randomUuid() avoids those for the same reason)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still answers kill(0); it is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise LocalKafkaError(
                f"port {port} is taken by another process; set TWINCAST_KAFKA_PORT / "
                "TWINCAST_KAFKA_CONTROLLER_PORT to free ports"
            )


def _wait_for_admin(bootstrap: str, deadline: float) -> None:
    """Readiness means a real admin round trip, not just an open port."""
    # Built without reading TWINCAST_* variables: this is the broker's own plaintext listener,
    # whatever security the services are configured for.
    clients = kafka_clients(KafkaSettings.model_construct(bootstrap_servers=bootstrap))
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = clients.admin("localkafka", request_timeout_ms=5000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaClientError, OSError) as exc:
            last = exc
            time.sleep(0.5)
    raise LocalKafkaError(f"broker at {bootstrap} did not answer an admin call: {last}")
