"""Benchmark: a twincast refit against the seed tutorial's training loop, same data and model.

twincast: N-stream layout [N, T, 1], truncated BPTT chunks of k steps, manual epoch loop.
seed:     one sample per time step ([samples, 1, 1]), ``model.fit(X, y, batch_size=N, epochs=1,
          shuffle=False)`` then a state reset, once per epoch.

Each variant runs in its own process so that its peak memory (max RSS) is its own.
Run: ``make bench-trainer`` (or ``python -m bench.trainer_refit --series 100 --points 10000``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The seed loop's rate, as it has always run here: Keras' own Adam default.
SEED_LEARNING_RATE = 1e-3


def _data(series: int, points: int) -> list[np.ndarray]:
    from lstmcore.scaling import fit_scaler, scale
    from twincast.synthetic import seasonal_series

    raw = list(seasonal_series(series, points, seed=5).values())
    scaler = fit_scaler(raw, "standard")  # the seed scales the values themselves
    return [scale(scaler, s) for s in raw]


def run_twincast(args: argparse.Namespace) -> dict[str, float]:
    """A whole refit: scaler, layout, training, validation walk over every series, gate."""
    from foundation.settings.trainer import TrainerSettings
    from lstmcore.training import TrainConfig
    from schemas.artifact import Architecture
    from trainer.refit import RefitPlan, refit
    from twincast.synthetic import seasonal_series

    history = seasonal_series(args.series, args.points, seed=5)
    service = TrainerSettings.model_fields
    train = TrainConfig(
        batch_size=args.batch,
        epochs=args.epochs,
        tbptt=args.tbptt,
        learning_rate=service["learning_rate"].default,
        seed=service["seed"].default,
    )
    plan = RefitPlan(
        architecture=Architecture(features=1, units=args.units, layers=1),
        train=train,
        model_name="bench",
        min_points_per_series=2,
        holdout_fraction=0.01,
        gate=True,
        gate_min_points=service["gate_min_points"].default,
        transform="standard",  # the seed variant's data: standardised values, same as here
        max_series=args.series,  # every series, every point: the same data as the seed loop
        max_points_per_series=args.points,
        warm_start=False,
    )
    started = time.perf_counter()
    outcome = refit(history, plan, version=1, offsets={})
    return {
        "refit_seconds": time.perf_counter() - started,
        "seconds": outcome.train_seconds,
        "loss": outcome.artifact.manifest.training.train_loss or float("nan"),
    }


def run_seed(args: argparse.Namespace) -> dict[str, float]:
    from lstmcore.keras_model import build_stateful_model, compile_for_training, reset_lstm_states
    from schemas.artifact import Architecture

    data = _data(args.series, args.points)
    x = np.concatenate([s[:-1] for s in data])[:, None, :]  # [samples, 1 step, 1 feature]
    y = np.concatenate([s[1:] for s in data])[:, None, :]
    usable = len(x) // args.batch * args.batch  # a stateful model needs whole batches
    arch = Architecture(features=1, units=args.units, layers=1)
    model = build_stateful_model(arch, args.batch)
    compile_for_training(model, SEED_LEARNING_RATE)
    started = time.perf_counter()
    loss = float("nan")
    for _ in range(args.epochs):
        history = model.fit(
            x[:usable], y[:usable], batch_size=args.batch, epochs=1, shuffle=False, verbose=0
        )
        loss = float(history.history["loss"][-1])
        reset_lstm_states(model)
    return {"seconds": time.perf_counter() - started, "loss": loss}


def _child(variant: str, args: argparse.Namespace) -> dict[str, float]:
    result = (run_twincast if variant == "twincast" else run_seed)(args)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="N, the same for both")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--tbptt", type=int, default=64)
    parser.add_argument("--variant", choices=["twincast", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_child(args.variant, args)))
        return 0
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    results = {}
    for variant in ("twincast", "seed"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.trainer_refit", *passthrough, "--variant", variant],
            capture_output=True,
            text=True,
            check=True,
        )
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    tw, seed = results["twincast"], results["seed"]
    print(
        f"data: {args.series} series x {args.points} points, N={args.batch}, "
        f"{args.units} units, {args.epochs} epochs (twincast k={args.tbptt})"
    )
    print(
        f"{'variant':<10} {'train s':>9} {'s/epoch':>9} {'whole refit s':>14} "
        f"{'final loss':>11} {'peak RSS MiB':>13}"
    )
    for name, r in results.items():
        whole = f"{r['refit_seconds']:.1f}" if "refit_seconds" in r else "-"
        print(
            f"{name:<10} {r['seconds']:>9.1f} {r['seconds'] / args.epochs:>9.1f} {whole:>14} "
            f"{r['loss']:>11.5f} {r['peak_rss_mib']:>13.0f}"
        )
    print(
        f"training speed-up of twincast over the seed loop: {seed['seconds'] / tw['seconds']:.1f}x"
        f" (whole refit vs seed training: {seed['seconds'] / tw['refit_seconds']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
