"""Services run as child processes (by the demo and ``twincast evaluate --pipeline``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def start_module(
    module: str, env: dict[str, str], log_path: Path, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """``python -m module`` with its output in ``log_path``."""
    handle = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )


def stop_child(child: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """SIGTERM (after SIGCONT, in case it was paused), then SIGKILL after ``timeout_s``."""
    if child.poll() is None:
        child.send_signal(signal.SIGCONT)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
