"""Measurement: which ``min_points_per_series`` lets many short series train one model together.

Runs ``twincast evaluate`` (offline, default settings otherwise) on the built-in ``short`` data
set (50 quarterly series of 8-12 points) and on the long built-in sets at several minimums, and
prints twincast's MAE next to persistence's and the best baseline's from the same run.
Run: ``make bench-min-points`` (or ``python -m bench.min_points --minimums 3 5 20 --data short``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from twincast.evaluation.datasets import load
from twincast.evaluation.evaluate import evaluate, refit_every


def measure(data: str, minimum: int) -> str:
    dataset = load(data)
    settings = TrainerSettings(
        refit_every_events=refit_every(dataset), min_points_per_series=minimum
    )
    result = evaluate(dataset, settings, WorkerSettings())
    scores = result.scores["all"]
    last = scores["persistence"].mae
    best = min(
        (m for m in scores if m not in ("twincast", "persistence")), key=lambda m: scores[m].mae
    )
    served = sum(v in ("accepted", "gate_off") for v in result.run.refits)
    return (
        f"{data:<10} {minimum:>4} {len(result.run.refits):>5} {served:>6} "
        f"{len(result.run.skipped):>7} {scores['twincast'].mae:>10.4g} {last:>10.4g} "
        f"{scores['twincast'].mae / last:>8.3f} {best:>18} {scores[best].mae / last:>8.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minimums", type=int, nargs="+", default=[3, 4, 5, 6, 8, 10, 12, 20])
    parser.add_argument("--data", nargs="+", default=["short"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(
        f"{'data':<10} {'min':>4} {'refit':>5} {'served':>6} {'skipped':>7} {'twincast':>10} "
        f"{'persist.':>10} {'ratio':>8} {'best baseline':>18} {'ratio':>8}",
        flush=True,
    )
    for data in args.data:
        for minimum in args.minimums:
            print(measure(data, minimum), flush=True)


if __name__ == "__main__":
    main()
