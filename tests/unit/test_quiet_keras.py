"""TensorFlow's start-up lines are kept off stderr; anything else written during the import is
not, and stderr works as before afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lstmcore.quiet_keras import real_lines

ROOT = Path(__file__).resolve().parents[2]

NOISE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796439853.486106    8404 cudart_stub.cc:31] Could not find cuda drivers on your \
machine, GPU will not be used.
I0000 00:00:1796439853.485673    8404 port.cc:153] oneDNN custom operations are on. You may see
"""

# A stand-in keras package that writes TensorFlow's noise and a real error to fd 2 on import,
# the way TensorFlow's C++ does (below Python's sys.stderr).
FAKE_KERAS = f"""
import os
os.write(2, {NOISE.encode()!r})
os.write(2, b"E0000 real_error.cc:1] libsomething.so: cannot open shared object file\\n")
"""


def test_real_lines_drop_only_the_noise() -> None:
    kept = real_lines(NOISE + "Traceback (most recent call last):\n")
    assert kept == ["Traceback (most recent call last):"]


def test_import_keeps_real_errors_and_restores_stderr(tmp_path: Path) -> None:
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text(FAKE_KERAS)
    code = (
        "import sys; from lstmcore.quiet_keras import keras; module = keras(); "
        "assert module is keras() is sys.modules['keras']; print('after', file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "E0000 real_error.cc:1] libsomething.so: cannot open shared object file",
        "after",
    ]
