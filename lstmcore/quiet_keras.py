"""Keras (hence TensorFlow) imported without TensorFlow's start-up noise on stderr.

TensorFlow's C++ writes lines such as ``WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR`` and ``Could not find cuda drivers on your machine`` to file
descriptor 2 while it is imported, before ``TF_CPP_MIN_LOG_LEVEL`` is consulted (TensorFlow
2.21 prints them with the variable at 3). So fd 2 is pointed at a temporary file for the import
only; afterwards, every captured line that is not known start-up noise is written to the real
stderr, so a genuine error (a broken install, a missing library) stays visible. fd 2 is the
process's: a line another thread writes during those few seconds (the trainer's poll loop logs
while its refit thread imports) is captured too and written afterwards, late but not lost. Only
a crash of the interpreter inside the import would lose what was captured.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from typing import Any

# Start-up lines TensorFlow prints on a machine without a GPU; nothing is wrong when they appear.
NOISE = (
    "absl::InitializeLog",
    "Could not find cuda drivers",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
    "Unable to register cu",  # cuDNN / cuFFT / cuBLAS factories on a CPU-only install
    "computation_placer.cc",
    "TF-TRT Warning",
)

_lock = threading.Lock()


def is_noise(line: str) -> bool:
    return any(mark in line for mark in NOISE)


def real_lines(captured: str) -> list[str]:
    """The captured lines that are not start-up noise, in order."""
    return [line for line in captured.splitlines() if line.strip() and not is_noise(line)]


def keras() -> Any:
    """The ``keras`` module; its first import (and TensorFlow's) with the noise filtered out."""
    # Only under the lock: keras is in sys.modules from the start of its import, so a thread
    # looking before taking it could get a half-initialised module while another imports.
    with _lock:
        if "keras" in sys.modules:
            return sys.modules["keras"]
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what the C++ does honour later
        return _import_quietly()


def _import_quietly() -> Any:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras as module
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured = sink.read().decode("utf-8", "replace")
            for line in real_lines(captured):
                print(line, file=sys.stderr)
    return module
