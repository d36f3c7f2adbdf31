"""Files that hold secrets (passwords, keys) are created readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte on.

    ``Path.write_text`` followed by ``chmod`` would leave a window in which the file is
    world-readable under the usual umask; an existing file is narrowed before it is rewritten.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     secret = Path(folder) / "secret"
    ...     write_private_text(secret, "hunter2")
    ...     oct(secret.stat().st_mode & 0o777), secret.read_text()
    ('0o600', 'hunter2')
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
