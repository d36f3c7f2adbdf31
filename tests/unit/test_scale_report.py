"""The scale benchmark's pure parts: what it reads from the worker and /proc, what it prints."""

from __future__ import annotations

import logging
import math

import pytest

from bench.scale_report import (
    Gaps,
    Memory,
    SizeFigures,
    marginal,
    other_gaps,
    parse_status,
    parse_swaps,
    swap_gaps,
    table,
)

STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t 2263480 kB
VmSize:\t 2197944 kB
VmHWM:\t  412345 kB
VmRSS:\t  398765 kB
RssAnon:\t  300000 kB
Threads:\t12
"""


def test_the_swap_line_is_read_as_the_worker_writes_it(caplog: pytest.LogCaptureFixture) -> None:
    # The worker's own swap (no Kafka involved), so a change of its log line breaks this test.
    from bench.worker_throughput import artifact
    from foundation.settings.worker import WorkerSettings
    from lstmcore.serving import ServingModel
    from worker.metrics import WorkerMetrics
    from worker.service import WorkerService

    service = WorkerService(WorkerSettings(state_max_series=10), WorkerMetrics())
    service.store.slots_for(["a", "b", "c"])
    with caplog.at_level(logging.INFO, logger="worker.service"):
        for version in (1, 2):
            service._swap(ServingModel.from_artifact(artifact(version, 4)))
    swaps = parse_swaps(caplog.text)
    assert [(s.version, s.policy, s.series) for s in swaps] == [(1, "replay", 3), (2, "replay", 3)]
    assert swaps[1].seconds == pytest.approx(service.swap_durations[1], abs=0.0005)
    assert parse_swaps("partitions [0, 1] assigned: 0 series restored in 0.01s") == []


def test_rss_and_its_peak_come_from_proc_status_in_bytes() -> None:
    assert parse_status(STATUS) == Memory(rss=398765 * 1024, peak=412345 * 1024)
    with pytest.raises(ValueError):
        parse_status("Name:\tpython\nVmRSS:\t 1 kB\n")  # no VmHWM: not a process's status


def test_this_process_has_a_status() -> None:
    import os

    from bench.scale_report import memory_of

    memory = memory_of(os.getpid())
    assert 0 < memory.rss <= memory.peak


def row(series: int, rate: float, rss_mib: float, swap_s: float) -> SizeFigures:
    mib = 1024 * 1024
    memory = Memory(int(rss_mib * mib), int(rss_mib * 2 * mib))
    return SizeFigures(series, rate, memory, swap_s, Gaps(0.5, 0.25, 10_000, 9_000), 7)


def test_each_size_is_printed_next_to_its_ratio_to_the_first() -> None:
    lines = table([row(1_000, 10_000, 10, 0.01), row(100_000, 5_000, 250, 0.2)])
    assert lines[0].split() == [
        "series", "events/s", "ratio", "B/series", "ratio", "peak", "B/s", "ratio",
        "swap", "s", "ratio", "gap", "s", "other",
    ]  # fmt: skip
    base, large = (line.split() for line in lines[1:])
    assert base == [
        "1,000", "10,000", "1.00", "10,486", "1.00", "20,972", "1.00", "0.010", "1.00",
        "0.500", "0.250",
    ]  # fmt: skip
    assert large[:3] == ["100,000", "5,000", "0.50"]
    assert large[3:5] == ["2,621", "0.25"]  # 250 MiB over 100,000 series against 10 MiB / 1,000
    assert large[7:9] == ["0.200", "20.00"]


def test_a_missing_figure_has_no_ratio() -> None:
    lines = table([row(1_000, 10_000, 10, math.nan), row(10_000, 9_000, 30, 0.1)])
    assert lines[2].split()[7:9] == ["0.100", "-"]


def test_the_marginal_cost_is_per_extra_series() -> None:
    lines = marginal([row(1_000, 1, 10, 0), row(11_000, 1, 20, 0)])
    assert lines == ["  1,000 -> 11,000 series: 1,049 B per extra series (peak 2,097)"]


def test_the_gap_at_the_swap_spans_the_last_old_and_the_first_new_forecast() -> None:
    appends = [(1000, 1), (1000, 1), (1100, 1), (1350, 1), (1900, 2), (2000, 2), (2400, 2)]
    assert swap_gaps(appends, 2) == Gaps(0.55, 0.4, 2000, 1900)
    # No forecast of the new version yet (the swap came after the backlog): no gap at the swap.
    gaps = swap_gaps([(0, 1), (300, 1), (400, 1)], 2)
    assert math.isnan(gaps.at_swap_s) and (gaps.other_s, gaps.other_from_ms) == (0.3, 0)
    assert gaps.new_from_ms is None


def test_the_longest_other_gap_is_placed_relative_to_the_swap() -> None:
    assert other_gaps([row(1_000, 1, 1, 0.1)]) == [
        "  1,000 series: longest other gap 0.250 s, starting +1.0 s from the first forecast of "
        "the new version; 7 state records written in it"
    ]
