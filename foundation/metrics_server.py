"""Serve a Prometheus registry over HTTP on a configurable address, and stop it cleanly."""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, addr: str, port: int) -> None:
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        if port:
            self._server, self._thread = start_http_server(port, addr, registry)
            log.info("metrics on http://%s:%d/metrics", addr, self.port)

    @property
    def port(self) -> int:
        return 0 if self._server is None else int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
