"""Give the heap the process freed back to the operating system (glibc's ``malloc_trim``).

A worker's live memory is mostly its state store (~0.95 KB a series); the rest is what a poll, a
checkpoint and the Kafka client allocate and free again: record objects, send handles, gathered
state columns, encoded state records. glibc keeps freed heap pages mapped (only the top of the
heap is given back, and small freed chunks pin whole pages), so after a backlog or a large
checkpoint the resident size stays tens of MiB above what is live, whatever the number of series.
``malloc_trim(0)`` releases every whole free page (``madvise(MADV_DONTNEED)``) in all arenas.
Elsewhere (musl, macOS) there is no such call and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # no libc found, or not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()

# glibc's mallopt parameters (malloc.h).
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8


def _mallopt() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def tune_malloc(
    arena_max: int, mmap_threshold: int, mallopt: Callable[[int, int], int] | None = None
) -> list[str]:
    """Make glibc keep less freed memory: at most ``arena_max`` arenas (by default up to 8 per
    core, one per thread that allocates while another holds an arena: the Kafka client's
    threads each fill and keep one), and a fixed ``mmap_threshold`` (by default glibc raises it
    up to 32 MiB once a mapped block is freed, after which a client's 256 KiB batch buffers and
    a poll's arrays come from the heaps and stay there, trimmed only in whole free pages). 0
    leaves glibc's default. Call before the clients start their threads. Returns what was set
    (nothing where there is no ``mallopt``)."""
    mallopt = mallopt or _mallopt()
    if mallopt is None:
        return []
    done = []
    for parameter, value, what in (
        (M_ARENA_MAX, arena_max, "arena_max"),
        (M_MMAP_THRESHOLD, mmap_threshold, "mmap_threshold"),
    ):
        if value > 0 and mallopt(parameter, value) == 1:  # 1: done, 0: refused
            done.append(f"{what}={value}")
    return done


def resident_bytes() -> int:
    """This process' resident set size (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def trim_heap() -> bool:
    """Release the free heap pages; False where there is no ``malloc_trim``."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class HeapTrimmer:
    """When to trim: at a poll without events after some work (a backlog or burst is done, or
    a model swapped in: what was freed is not about to be reused), and under steady load after
    a checkpoint; either way at most once every ``interval_s`` (0: never trim), so a trickle of
    events between empty polls does not run a full collection at every poll. A trim runs on
    the loop and takes ~1 ms per 5 MiB it releases; a page given back costs a fault when it is
    used again."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._clock = interval_s, clock
        self._last = clock()
        self._worked = False  # events handled since the last trim

    def worked(self) -> None:
        """Something was allocated and freed again: events handled, or a model swapped in."""
        self._worked = True

    def polled(self, events: int) -> None:
        """After each poll: trims at the first one without events after some work."""
        if events:
            self._worked = True
        elif self._due():
            # Idle: also free the garbage in reference cycles (client futures and callbacks)
            # that would otherwise wait for a full collection, then give its pages back too.
            gc.collect()
            self._trim("idle")

    def checkpointed(self) -> None:
        """After each checkpoint: trims if events came and the interval has passed."""
        if self._due():
            self._trim("busy")

    def _due(self) -> bool:
        if self.interval_s <= 0 or not self._worked:
            return False
        return self._clock() - self._last >= self.interval_s

    def _trim(self, why: str) -> None:
        self._last, self._worked = self._clock(), False
        before, started = resident_bytes(), time.perf_counter()
        if trim_heap():
            log.info(
                "heap trimmed (%s): %.1f MiB given back in %.1f ms",
                why,
                (before - resident_bytes()) / 2**20,
                (time.perf_counter() - started) * 1000,
            )
