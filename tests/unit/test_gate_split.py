"""The per-series gate is never scored on the points that chose it: each half of a held-out tail
is scored with the gate chosen on the other half (cross-fitting); series too short to be gated
alone are decided together."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

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
    starts = [holdout_start(len(s), 0.2) for s in series]  # 20 held out: two halves of 10
    old_model, old_persistence = _old_rule(forecasts, series, starts)
    # Before: the gate kept the lucky series and was scored on the luck that chose them.
    assert old_model < old_persistence

    names = [f"s{i}" for i in range(len(series))]
    split = TailSplit.of(series, starts)
    judged = judge(names, forecasts, series, split, 8, [1.0] * len(series))
    assert 0 < sum(judged.helps.values()) < len(series)  # some look better on their tail
    assert judged.points == 20 * len(series)
    # Scored on points they were not chosen on, the lucky ones are as bad as any: refused.
    assert judged.model_mae > judged.persistence_mae
    assert verdict(judged, gate=True) is Verdict.WORSE_THAN_PERSISTENCE


def test_each_half_is_scored_with_the_gate_chosen_on_the_other() -> None:
    """A candidate far off on the first half of every tail and perfect on the second: the gate
    chosen on the first half (persistence) scores the second, the one chosen on the second half
    (the model) scores the first. Scored with its own decision, each half would have been
    served its best, and the candidate accepted."""
    series = _walks(6, 50, seed=3)
    starts = [holdout_start(len(s), 0.2) for s in series]
    split = TailSplit.of(series, starts)
    assert split.middles == [45] * 6 and starts == [40] * 6
    forecasts = [np.append(s[1:, 0], s[-1, 0]) for s in series]  # x[t+1] itself
    for f, begin, middle in zip(forecasts, split.starts, split.middles, strict=True):
        f[begin - 1 : middle - 1] += 100.0  # forecasts of the first half's points
    judged = judge([str(i) for i in range(6)], forecasts, series, split, 5, [1.0] * 6)
    first = [np.full(5, 100.0) for _ in series]  # the model's errors there
    second = errors([s[:, 0] for s in series], series, split.middles)  # the last value's
    assert judged.model_mae == pytest.approx(pooled_mae(first + second))
    assert judged.model_mae > judged.persistence_mae
    own_halves = pooled_mae([np.abs(s[40:45, 0] - s[39:44, 0]) for s in series] + [np.zeros(5)])
    assert own_halves < judged.persistence_mae, "scored by its own choice it would pass"
    assert not any(judged.helps.values())  # on the whole tail the model loses: persistence


def test_short_tails_are_decided_together_each_in_its_own_scale() -> None:
    """Tails of two points (halves of one point) are too short alone: one decision for all of
    them, pooled in each series' scale, so a large series whose model error is small in its own
    units but large in original ones does not decide for the small ones."""
    rng = np.random.default_rng(4)
    scales = [1000.0, 1.0, 1.0, 1.0]
    series = [np.cumsum(rng.normal(0, s, 10))[:, None] for s in scales]
    starts = [8] * 4  # tails of 2: points 8 and 9
    split = TailSplit.of(series, starts)
    forecasts = [np.append(s[1:, 0], s[-1, 0]) for s in series]  # x[t+1] itself
    # On the tail the model misses by half the last value's miss on the large series (helps),
    # by twice it on each small one (hurts): in original units it helps pooled.
    for i, (f, s) in enumerate(zip(forecasts, series, strict=True)):
        for t in (8, 9):
            f[t - 1] += (0.5 if i == 0 else 2.0) * abs(s[t, 0] - s[t - 1, 0])
    judged = judge(list("abcd"), forecasts, series, split, 8, scales)
    assert judged.pooled == 4
    assert not any(judged.helps.values()), "in each series' own scale the model hurts 3 of 4"
    units = judge(list("abcd"), forecasts, series, split, 8, [1.0] * 4)
    assert all(units.helps.values()), "in original units the large series would decide"
    # Series with halves long enough of their own are decided alone.
    alone = judge(list("abcd"), forecasts, series, split, 1, scales)
    assert alone.pooled == 0 and list(alone.helps.values()) == [True, False, False, False]


def test_tails_of_one_point_are_judged_on_the_model_alone() -> None:
    """A tail of one point has no first half: nothing chose the gate that scores it, so that
    point is scored with the model; the gate served is still decided on it, together."""
    series = _walks(5, 6, seed=5)
    starts = [holdout_start(len(s), 0.2) for s in series]
    assert starts == [5] * 5  # one point held out
    split = TailSplit.of(series, starts)
    forecasts = _noisy_last_value(series, seed=6)
    judged = judge(list("abcde"), forecasts, series, split, 8, [1.0] * 5)
    assert judged.pooled == 5 and judged.points == 5
    assert judged.model_mae == judged.candidate_mae  # the ungated candidate is what is judged
    together = judged.candidate_mae < judged.persistence_mae
    assert list(judged.helps.values()) == [together] * 5
