"""The per-series gate is chosen on one part of each held-out tail and the verdict scored on a
later, disjoint part; series too short to be gated alone are decided together."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trainer.refit import Verdict, holdout_start, verdict
from trainer.validation import TailSplit, errors, gated, judge, pooled_mae

F64 = npt.NDArray[np.float64]


def _walks(count: int, length: int, seed: int) -> list[F64]:
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.normal(0, 1, length))[:, None] for _ in range(count)]


def _noisy_last_value(series: list[F64], seed: int) -> list[F64]:
    """A candidate that knows nothing: the last value plus noise of its own. On any series its
    expected MAE is above the last value's; on a few points it is below by chance."""
    rng = np.random.default_rng(seed)
    return [s[:, 0] + rng.normal(0, 0.3, len(s)) for s in series]


def _old_rule(forecasts: list[F64], series: list[F64], starts: list[int]) -> tuple[float, float]:
    """What the gate did before: chosen and scored on the same whole tail."""
    persistence = [s[:, 0] for s in series]
    ours = errors(forecasts, series, starts)
    theirs = errors(persistence, series, starts)
    helps = [bool(o.mean() < t.mean()) for o, t in zip(ours, theirs, strict=True)]
    served = gated(forecasts, series, helps)
    return pooled_mae(errors(served, series, starts)), pooled_mae(theirs)


def test_a_candidate_that_knows_nothing_was_accepted_and_now_is_refused() -> None:
    series = _walks(40, 100, seed=1)
    forecasts = _noisy_last_value(series, seed=2)
    starts = [holdout_start(len(s), 0.2) for s in series]  # 20 held out: 10 gate, 10 verdict
    old_model, old_persistence = _old_rule(forecasts, series, starts)
    # Before: the gate kept the lucky series and was scored on the luck that chose them.
    assert old_model < old_persistence

    names = [f"s{i}" for i in range(len(series))]
    split = TailSplit.of(series, starts)
    judged = judge(names, forecasts, series, split, 8, [1.0] * len(series))
    assert 0 < sum(judged.helps.values()) < len(series)  # some looked better on their gate part
    assert judged.points == 10 * len(series)  # scored on the verdict parts only
    # On points they did not choose on, the lucky ones are as bad as any: refused.
    assert judged.model_mae > judged.persistence_mae
    assert verdict(judged, gate=True) is Verdict.WORSE_THAN_PERSISTENCE


def test_the_verdict_never_reads_a_gate_point() -> None:
    """Change the candidate's forecasts on the gate parts only: the gate may change, but the
    served MAE on the verdict parts is scored without those points."""
    series = _walks(6, 50, seed=3)
    starts = [holdout_start(len(s), 0.2) for s in series]
    split = TailSplit.of(series, starts)
    assert split.verdict_starts == [45] * 6 and starts == [40] * 6
    perfect = [np.append(s[1:, 0], s[-1, 0]) for s in series]  # x[t+1] itself
    judged = judge([str(i) for i in range(6)], perfect, series, split, 5, [1.0] * 6)
    assert judged.model_mae == 0.0 and all(judged.helps.values())
    spoiled = [f.copy() for f in perfect]
    for f, begin, end in zip(spoiled, split.starts, split.verdict_starts, strict=True):
        f[begin - 1 : end - 1] += 100.0  # forecasts of the gate part's points only
    again = judge([str(i) for i in range(6)], spoiled, series, split, 5, [1.0] * 6)
    assert not any(again.helps.values())  # the gate sees them and refuses the model
    assert again.persistence_mae == judged.persistence_mae
    assert again.candidate_mae == 0.0  # the verdict parts never saw the spoiled points


def test_short_tails_are_decided_together_each_in_its_own_scale() -> None:
    """Tails of two points (one gate point each) are too short alone: one decision for all of
    them, pooled over their gate points in each series' scale, so a large series whose model
    error is small in its own units but large in original ones does not decide for them."""
    rng = np.random.default_rng(4)
    scales = [1000.0, 1.0, 1.0, 1.0]
    series = [np.cumsum(rng.normal(0, s, 10))[:, None] for s in scales]
    starts = [8] * 4  # tails of 2: gate point 8, verdict point 9
    split = TailSplit.of(series, starts)
    truth = [np.append(s[1:, 0], s[-1, 0]) for s in series]
    last_error = [abs(s[8, 0] - s[7, 0]) for s in series]
    forecasts = [t.copy() for t in truth]
    # On the gate point the model misses by half the last value's miss on the large series
    # (helps), by twice it on each small one (hurts): in original units it helps pooled.
    for i, f in enumerate(forecasts):
        f[7] += (0.5 if i == 0 else 2.0) * last_error[i]
    judged = judge(list("abcd"), forecasts, series, split, 8, scales)
    assert judged.pooled == 4
    assert not any(judged.helps.values()), "in each series' own scale the model hurts 3 of 4"
    units = judge(list("abcd"), forecasts, series, split, 8, [1.0] * 4)
    assert all(units.helps.values()), "in original units the large series would decide"
    # A series with gate points enough of its own is decided alone, the rest still together.
    alone = judge(list("abcd"), forecasts, series, split, 1, scales)
    assert alone.pooled == 0 and list(alone.helps.values()) == [True, False, False, False]


def test_tails_of_one_point_serve_the_model_and_the_verdict_alone_judges() -> None:
    series = _walks(5, 6, seed=5)
    starts = [holdout_start(len(s), 0.2) for s in series]
    assert starts == [5] * 5  # one point held out: nothing to choose on
    split = TailSplit.of(series, starts)
    forecasts = _noisy_last_value(series, seed=6)
    judged = judge(list("abcde"), forecasts, series, split, 8, [1.0] * 5)
    assert all(judged.helps.values()) and judged.pooled == 5 and judged.points == 5
    assert judged.model_mae == judged.candidate_mae  # the ungated candidate is what is judged
