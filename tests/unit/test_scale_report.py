"""The scale benchmark's pure parts: what it reads from the worker and /proc, what it prints."""

from __future__ import annotations

import io

import pytest

from bench.scale_report import Memory, SizeFigures, marginal, parse_status, table, trimmed_since

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


def test_rss_and_its_peak_come_from_proc_status_in_bytes() -> None:
    assert parse_status(STATUS) == Memory(rss=398765 * 1024, peak=412345 * 1024)
    with pytest.raises(ValueError):
        parse_status("Name:\tpython\nVmRSS:\t 1 kB\n")  # no VmHWM: not a process's status


def test_this_process_has_a_status() -> None:
    import os

    from bench.scale_report import memory_of

    memory = memory_of(os.getpid())
    assert 0 < memory.rss <= memory.peak


def row(series: int, rate: float, rss_mib: float) -> SizeFigures:
    mib = 1024 * 1024
    return SizeFigures(series, rate, Memory(int(rss_mib * mib), int(rss_mib * 2 * mib)))


def test_each_size_is_printed_next_to_its_ratio_to_the_first() -> None:
    lines = table([row(1_000, 10_000, 10), row(100_000, 5_000, 250)])
    assert lines[0].split() == [
        "series", "events/s", "ratio", "B/series", "ratio", "peak", "B/s", "ratio",
    ]  # fmt: skip
    base, large = (line.split() for line in lines[1:])
    assert base == ["1,000", "10,000", "1.00", "10,486", "1.00", "20,972", "1.00"]
    assert large[:3] == ["100,000", "5,000", "0.50"]
    assert large[3:5] == ["2,621", "0.25"]  # 250 MiB over 100,000 series against 10 MiB / 1,000


def test_a_missing_figure_has_no_ratio() -> None:
    lines = table([row(1_000, 0, 10), row(10_000, 9_000, 30)])
    assert lines[2].split()[1:3] == ["9,000", "-"]


def test_the_marginal_cost_is_per_extra_series() -> None:
    lines = marginal([row(1_000, 1, 10), row(11_000, 1, 20)])
    assert lines == ["  1,000 -> 11,000 series: 1,049 B per extra series (peak 2,097)"]


def test_a_trim_counts_from_its_log_time(caplog: pytest.LogCaptureFixture) -> None:
    # As the worker writes it (foundation.entrypoint's format), so a change of it breaks this.
    import itertools
    import logging
    from datetime import datetime

    from worker import heap

    handler = logging.StreamHandler(stream := io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    heap.log.addHandler(handler)
    caplog.set_level(logging.INFO, logger="worker.heap")
    try:
        before_ms = datetime.now().timestamp() * 1000 - 1  # the log's ms are truncated
        minutes = itertools.count(0.0, 60.0)  # each look at the clock a minute later
        trimmer = heap.HeapTrimmer(60.0, lambda: next(minutes))
        trimmer.polled(1)
        trimmer.polled(0)
    finally:
        heap.log.removeHandler(handler)
    assert trimmed_since(stream.getvalue(), before_ms)
    assert not trimmed_since(stream.getvalue(), before_ms + 60_000)
    assert not trimmed_since("2026-01-01 00:00:00,000 INFO worker.service: now serving", 0)
