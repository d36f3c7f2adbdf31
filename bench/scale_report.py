"""The pure parts of ``bench.worker_scale``: what it reads (the worker's swap log line, a process's
``/proc/<pid>/status``) and what it prints (each size next to the smallest, as ratios)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

# worker.service logs this after every swap; the pause is the time the loop stood still for it
# (since replay swaps are prepared off the loop, the line goes on with "on the loop; prepared...").
SWAP_LINE = re.compile(
    r"now serving model version (?P<version>\d+) \((?P<policy>\w+) swap of "
    r"(?P<series>\d+) series in (?P<seconds>[\d.]+)s\b"
)


@dataclass(frozen=True)
class Swap:
    version: int
    policy: str
    series: int
    seconds: float


def parse_swaps(log: str) -> list[Swap]:
    """Every swap the worker logged, in order."""
    return [
        Swap(int(m["version"]), m["policy"], int(m["series"]), float(m["seconds"]))
        for m in SWAP_LINE.finditer(log)
    ]


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process now and at its peak (VmRSS, VmHWM), in bytes."""

    rss: int
    peak: int


def parse_status(status: str) -> Memory:
    """``/proc/<pid>/status`` text -> its VmRSS and VmHWM (the kernel writes them in kB)."""
    fields = dict(
        (name, int(kb) * 1024)
        for name, kb in re.findall(r"^(VmRSS|VmHWM):\s+(\d+)\s+kB$", status, re.MULTILINE)
    )
    if set(fields) != {"VmRSS", "VmHWM"}:
        raise ValueError("no VmRSS and VmHWM in this status text")
    return Memory(rss=fields["VmRSS"], peak=fields["VmHWM"])


def memory_of(pid: int) -> Memory:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return parse_status(status.read())


@dataclass(frozen=True)
class Gaps:
    """Gaps between consecutive forecast append times in the phase of a swap."""

    at_swap_s: float  # last append of an older version -> first of the new one (nan: no such)
    other_s: float  # the longest gap anywhere else in the phase
    other_from_ms: int  # the append time that gap starts at
    new_from_ms: int | None  # the first append of the new version


@dataclass(frozen=True)
class SizeFigures:
    """One worker's figures at one number of series; memory is above that client's idle worker."""

    series: int
    events_per_s: float
    memory: Memory  # after the run, minus the idle worker's
    swap_s: float  # the swap's own pause, as the worker logged it (nan: none seen)
    gaps: Gaps
    states_in_other_gap: int  # state records the worker wrote during the longest other gap

    def per_series(self) -> tuple[float, float]:
        return self.memory.rss / self.series, self.memory.peak / self.series


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base and math.isfinite(value) and math.isfinite(base) else "-"


HEADER = (
    f"  {'series':>9} {'events/s':>9} {'ratio':>6} {'B/series':>9} {'ratio':>6} "
    f"{'peak B/s':>9} {'ratio':>6} {'swap s':>7} {'ratio':>6} {'gap s':>6} {'other':>6}"
)


def table(rows: list[SizeFigures]) -> list[str]:
    """One line per size, each figure next to its ratio to the first row (the baseline)."""
    base = rows[0]
    base_rss, base_peak = base.per_series()
    lines = [HEADER]
    for row in rows:
        rss, peak = row.per_series()
        lines.append(
            f"  {row.series:>9,} {row.events_per_s:>9,.0f} "
            f"{_ratio(row.events_per_s, base.events_per_s):>6} "
            f"{rss:>9,.0f} {_ratio(rss, base_rss):>6} {peak:>9,.0f} {_ratio(peak, base_peak):>6} "
            f"{row.swap_s:>7.3f} {_ratio(row.swap_s, base.swap_s):>6} "
            f"{row.gaps.at_swap_s:>6.3f} {row.gaps.other_s:>6.3f}"
        )
    return lines


def other_gaps(rows: list[SizeFigures]) -> list[str]:
    """Where each longest other gap was, and whether a checkpoint was being written in it."""
    lines = []
    for row in rows:
        if row.gaps.new_from_ms is None:
            continue
        after = (row.gaps.other_from_ms - row.gaps.new_from_ms) / 1000
        lines.append(
            f"  {row.series:,} series: longest other gap {row.gaps.other_s:.3f} s, starting "
            f"{after:+.1f} s from the first forecast of the new version; "
            f"{row.states_in_other_gap:,} state records written in it"
        )
    return lines


def marginal(rows: list[SizeFigures]) -> list[str]:
    """Bytes per extra series between consecutive sizes: the fixed costs of having run (client
    buffers, the first polls' temporaries) cancel out, which they do not in B/series at 1k."""
    lines = []
    for small, large in itertools.pairwise(rows):
        extra = large.series - small.series
        rss = (large.memory.rss - small.memory.rss) / extra
        peak = (large.memory.peak - small.memory.peak) / extra
        lines.append(
            f"  {small.series:,} -> {large.series:,} series: {rss:,.0f} B per extra series "
            f"(peak {peak:,.0f})"
        )
    return lines


def swap_gaps(appends: list[tuple[int, int]], new_version: int) -> Gaps:
    """``Gaps`` of (append time ms, model version) of the forecasts around a swap."""
    old = [ts for ts, version in appends if version != new_version]
    new = [ts for ts, version in appends if version == new_version]
    last_old, first_new = max(old, default=None), min(new, default=None)
    times = sorted({ts for ts, _ in appends})
    gaps = [
        (b - a, a)
        for a, b in itertools.pairwise(times)
        if last_old is None or first_new is None or not (a >= last_old and b <= first_new)
    ]
    other, other_from = max(gaps, default=(0, times[0] if times else 0))
    at_swap = math.nan
    if last_old is not None and first_new is not None:
        at_swap = max(0, first_new - last_old) / 1000
    return Gaps(at_swap, other / 1000, other_from, first_new)
