"""The pure parts of ``bench.worker_scale``: what it reads (a process's ``/proc/<pid>/status``) and
what the worker logs (its heap trims) and what it prints (each size next to the smallest, as
ratios)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Memory:
    """Resident memory of a process now and at its peak (VmRSS, VmHWM), in bytes."""

    rss: int
    peak: int


# worker.heap logs this after each trim; the worker's log lines start with their local time.
TRIM_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .*heap trimmed", re.MULTILINE)


def trimmed_since(log: str, since_ms: float) -> bool:
    """The worker logged a heap trim at or after ``since_ms`` (epoch ms)."""
    return any(
        datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S").timestamp() * 1000 + int(m[2]) >= since_ms
        for m in TRIM_LINE.finditer(log)
    )


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
class SizeFigures:
    """One worker's figures at one number of series; memory is above that client's idle worker."""

    series: int
    events_per_s: float
    memory: Memory  # after the run, minus the idle worker's

    def per_series(self) -> tuple[float, float]:
        return self.memory.rss / self.series, self.memory.peak / self.series


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base and math.isfinite(value) and math.isfinite(base) else "-"


HEADER = (
    f"  {'series':>9} {'events/s':>9} {'ratio':>6} {'B/series':>9} {'ratio':>6} "
    f"{'peak B/s':>9} {'ratio':>6}"
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
            f"{rss:>9,.0f} {_ratio(rss, base_rss):>6} {peak:>9,.0f} {_ratio(peak, base_peak):>6}"
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
