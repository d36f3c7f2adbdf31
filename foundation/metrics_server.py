"""Serve a Prometheus registry over HTTP on a configurable address, and stop it cleanly; the same
port answers the orchestrator's probes, ``/healthz`` and ``/readyz`` (``foundation.health``)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from foundation.health import Check, Verdict

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Probes(Protocol):
    """What a service answers the probes with (``foundation.health.Health``)."""

    def alive(self) -> Verdict: ...

    def ready(self) -> Verdict: ...


# Before the service exists (its settings and metrics are made first), neither probe passes.
NOT_STARTED = Verdict((Check("service", False, "starting"),))


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds up the service's exit


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Every probe and scrape would be a log line."""


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, addr: str, port: int) -> None:
        self._server: WSGIServer | None = None
        self._probes: Probes | None = None
        self._metrics: App = make_wsgi_app(registry)
        if port:
            self._server = _start(addr, port, self._app)
            log.info("metrics on http://%s:%d/metrics (probes /healthz, /readyz)", addr, self.port)

    @property
    def port(self) -> int:
        return 0 if self._server is None else int(self._server.server_port)

    def serve_probes(self, probes: Probes) -> None:
        """From now on ``/healthz`` and ``/readyz`` ask ``probes``."""
        self._probes = probes

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return self._metrics(environ, start_response)
        probes = self._probes
        if probes is None:
            verdict = NOT_STARTED
        else:
            verdict = probes.alive() if path == "/healthz" else probes.ready()
        body = verdict.body().encode()
        reason = "OK" if verdict.ok else "Service Unavailable"
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(f"{verdict.status} {reason}", headers)
        return [body]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _start(addr: str, port: int, app: App) -> WSGIServer:
    """A threading WSGI server on a daemon thread, IPv6 too (as prometheus_client's own)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(_Server):
        address_family = family

    server = make_server(str(sockaddr[0]), port, app, Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server
