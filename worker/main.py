"""Entry point of ``twincast-worker`` / ``python -m worker``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twincast-worker", description=__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    # The serving loop lands with the worker issue; until then say so instead of pretending.
    print("twincast-worker: the serving loop is not built yet (see issue 4)", file=sys.stderr)
    return 3
