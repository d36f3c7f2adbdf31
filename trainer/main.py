"""Entry point of ``twincast-trainer`` / ``python -m trainer``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twincast-trainer", description=__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    # The training loop lands with the trainer issue; until then say so instead of pretending.
    print("twincast-trainer: the training loop is not built yet (see issue 3)", file=sys.stderr)
    return 3
