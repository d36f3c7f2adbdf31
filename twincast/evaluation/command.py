"""The ``twincast evaluate`` subcommand."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from twincast.produce import ColumnMap

MODES = "--offline: trainer and worker logic in this process; --pipeline: the real services"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="online one-step-ahead MAE/RMSE of twincast next to persistence, River and ETS",
        description=(
            "Replay a data set in event-time order; for every event the forecast made before it "
            "arrived is scored, then the event is learned. DATA is a built-in name (airline, "
            "co2, sunspots, synthetic) or a CSV / JSON Lines file of events. Trainer and worker "
            "settings come from TWINCAST_* variables as for the services. " + MODES + "."
        ),
    )
    parser.add_argument("data", metavar="DATA")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="(default) no broker, one process")
    mode.add_argument("--pipeline", action="store_true", help="local broker, trainer, worker")
    parser.add_argument(
        "--refit-every",
        type=int,
        metavar="N",
        help="events per round, i.e. refit after every N events (default: a sixth of the data)",
    )
    parser.add_argument(
        "--season", type=int, default=0, help="season length for River and ETS (files)"
    )
    parser.add_argument("--series-column", default="series_id")
    parser.add_argument("--ts-column", default="ts")
    parser.add_argument("--value-column", default="value")
    parser.add_argument(
        "--no-river", action="store_true", help="skip the baselines (River and ETS)"
    )
    parser.add_argument("--plot", metavar="DIR", help="write one PNG per series into DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from foundation.settings.trainer import TrainerSettings
    from foundation.settings.worker import WorkerSettings
    from twincast.evaluation.datasets import load
    from twincast.evaluation.evaluate import evaluate, plot, refit_every

    columns = ColumnMap(args.series_column, args.ts_column, args.value_column)
    dataset = load(args.data, columns, args.season)
    every = args.refit_every or refit_every(dataset)
    trainer = TrainerSettings(refit_every_events=every)
    result = evaluate(
        dataset, trainer, WorkerSettings(), pipeline=args.pipeline, baselines=not args.no_river
    )
    print(result.table())
    print(f"  refits after every {every} events (held-out tail: the trainer's last points):")
    print(result.refits())
    if not args.no_river:
        print(result.ets_summary())
    if args.plot:
        for path in plot(result, Path(args.plot)):
            print(f"  wrote {path}")
    return 0
