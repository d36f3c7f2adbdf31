"""Free TCP ports on loopback for private brokers and metrics endpoints."""

from __future__ import annotations

import socket
import threading

_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    """A port free right now and not handed out before by this process: the OS may offer a
    just-closed port again, and two services given the same port would collide."""
    with _lock:
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
