"""Replay swaps prepared off the poll loop: the loop pauses only to catch up and install.

Why: a ``replay`` swap recomputes h, c of every series by running its window of the last W inputs
through the new model from zero state: W steps per series, 17 s for 100,000 series with W = 64
and 32 units. Done on the loop, consumption stopped that long.

How:

- ``offer`` (on the loop) starts a preparation: zeroed h, c arrays of the new model's shape and a
  first round over every slot. A round's snapshot is only the store's per-slot ``generation``
  (8 bytes a slot, ~0.1 ms for 100,000), not the windows: copying 100,000 windows of 64 inputs
  (26 MB of float32 steps, 51 MB as float64 inputs) would itself cost the loop tens of ms.
- A thread replays the round's slots from the store's live windows into the new arrays, chunk by
  chunk (``swap_replay_chunk``). It only reads the store; the loop keeps serving with the old
  model. numpy releases the GIL in its loops, so the replay runs on another core.
- Reading arrays the loop writes is safe because of the generations: every store method that
  changes a window, a count or a slot's owner bumps that slot's generation (a property of
  ``StateStore``, not something callers remember). A slot whose generation is still the
  snapshot's was not written during the round, so what the thread read of it is whole. A slot
  whose generation moved (stepped, reset, evicted, allocated to a new series, restored on a
  rebalance or a rewind) is computed again; series created meanwhile are among them.
- When a round is done, ``advance`` (on the loop, between polls) finds the slots whose generation
  moved. More than ``swap_on_loop_series``: another off-loop round on just those. Fewer (or
  after ``swap_max_rounds``): the loop replays them itself, installs the new arrays in one go and
  the caller changes its one model reference: that is the only pause.
- The rounds shrink while the thread replays series faster than events reach series it has not
  seen change yet; a round lasts in proportion to its slots, and the next holds the series
  stepped meanwhile. Under a load that changes series faster than that (a round no smaller than
  the one before, or ``swap_max_rounds`` reached), what is left is replayed on the loop: at worst
  the old pause, after the wasted rounds. Bounding that would need series switched to the new
  model one by one as their states are ready (two models in a wave), not one reference change.
- A newer model arriving during a preparation overtakes it: the thread stops at its next chunk
  (states for a model that will never serve are wasted work) and the newest is prepared.
- ``keep`` and ``reset`` cost no per-series replay: they stay on the loop (``apply_swap``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from foundation.settings.worker import SwapPolicy, WorkerSettings
from lstmcore.serving import ServingModel
from worker.hotpath import apply_swap, replay_states
from worker.state_store import StateStore

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SwapDone:
    """A swap whose states are installed: the caller now serves ``model``."""

    model: ServingModel
    series: int
    on_loop_seconds: float  # the pause of consumption
    prepared_seconds: float  # off the loop, from the offer to the install (0: all on the loop)
    rounds: int  # off-loop rounds
    caught_up: int  # slots replayed on the loop at the install


def one_blas_thread() -> None:
    """BLAS (OpenBLAS in numpy's wheels) on one thread in this process. Its own threads would
    spread the replay thread's large products over every core, the loop's included: at 10,000
    series on 2 cores the preparation took 4.4 s instead of 0.5 s and the loop's longest pause
    185 ms instead of 26 ms (bench.swap_pause). The loop and the replay thread are the worker's
    parallelism."""
    threadpool_limits(limits=1, user_api="blas")


def replay_into(model: ServingModel, store: StateStore, slots: I64, h: F32, c: F32) -> None:
    """h, c of ``slots`` replayed from the store's current windows."""
    rows = model.rows_for(store.ids_of(slots))  # each series in its own scale
    h[:, slots], c[:, slots] = replay_states(
        model, store.window_values(slots), store.counts[slots], rows
    )


class _Round(threading.Thread):
    """One off-loop replay of some slots into a preparation's arrays."""

    def __init__(self, preparation: _Preparation, store: StateStore, slots: I64, chunk: int):
        super().__init__(name="swap-replay", daemon=True)
        self.preparation, self.store, self.slots, self.chunk = preparation, store, slots, chunk
        self.generations = store.generation[slots]  # the snapshot (a copy: fancy index)
        self.failed = False

    def run(self) -> None:
        p = self.preparation
        try:
            # Equal counts side by side: a chunk of full windows takes the unmasked path.
            ordered = self.slots[np.argsort(-self.store.counts[self.slots], kind="stable")]
            for start in range(0, len(ordered), self.chunk):
                if p.cancelled.is_set():
                    return
                replay_into(p.model, self.store, ordered[start : start + self.chunk], p.h, p.c)
        except Exception:  # a bug: the loop then replays everything itself (correct, slow)
            log.exception("off-loop replay for model version %d failed", p.model.version)
            self.failed = True


class _Preparation:
    """The new model's h, c for every slot, and the generation of the store each reflects."""

    def __init__(self, store: StateStore, model: ServingModel) -> None:
        arch = model.manifest.architecture
        shape = (arch.layers, store.capacity, arch.units)
        self.model = model
        self.h, self.c = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        self.valid = np.full(store.capacity, -1, np.int64)  # -1: not computed yet
        self.started = time.perf_counter()
        self.rounds = 0
        self.cancelled = threading.Event()
        self.round: _Round | None = None

    def start_round(self, store: StateStore, slots: I64, chunk: int) -> None:
        self.rounds += 1
        self.round = _Round(self, store, slots, chunk)
        self.round.start()

    def end_round(self) -> bool:
        """Once the round's thread is done: its slots are valid as of its snapshot. False if
        it failed (then none of them is)."""
        assert self.round is not None
        self.round.join()
        if self.round.failed:
            return False
        self.valid[self.round.slots] = self.round.generations
        return True

    def stale(self, store: StateStore) -> I64:
        """Slots changed since their h, c here were computed (or never computed)."""
        return np.flatnonzero(store.generation != self.valid)


class Swapper:
    """Owned by the loop's thread: every method runs there, between two polls."""

    def __init__(self, store: StateStore, settings: WorkerSettings) -> None:
        self.store, self.policy = store, settings.swap_policy
        self._bound, self._max_rounds = settings.swap_on_loop_series, settings.swap_max_rounds
        self._chunk = settings.swap_replay_chunk
        self._preparing: _Preparation | None = None

    @property
    def preparing(self) -> ServingModel | None:
        return None if self._preparing is None else self._preparing.model

    def swap_now(self, old: ServingModel | None, new: ServingModel) -> SwapDone:
        """The whole swap on the loop (keep, reset; or replay when nothing is consuming yet)."""
        self.cancel()
        started = time.perf_counter()
        apply_swap(self.store, old, new, self.policy)
        return SwapDone(new, len(self.store), time.perf_counter() - started, 0.0, 0, 0)

    def offer(self, old: ServingModel | None, new: ServingModel) -> SwapDone | None:
        """Swap ``new`` in now if cheap, else start preparing its states (replay)."""
        if self.policy is not SwapPolicy.REPLAY:
            return self.swap_now(old, new)
        if self._preparing is not None:
            log.info(
                "model version %d overtakes version %d still being prepared",
                new.version,
                self._preparing.model.version,
            )
        self.cancel()
        self._preparing = _Preparation(self.store, new)
        self._preparing.start_round(self.store, np.arange(self.store.capacity), self._chunk)
        return None

    def advance(self) -> SwapDone | None:
        """Start the next round, or install, once a round is done; else nothing (no wait)."""
        p = self._preparing
        if p is None or p.round is None or p.round.is_alive():
            return None
        whole = p.end_round()
        stale = p.stale(self.store)
        assert p.round is not None
        # Another round only while they shrink: one as large as the last would end no better.
        shrinking = len(stale) < len(p.round.slots)
        if whole and len(stale) > self._bound and shrinking and p.rounds < self._max_rounds:
            p.start_round(self.store, stale, self._chunk)
            return None
        self._preparing = None
        return self._install(p, stale)

    def _install(self, p: _Preparation, stale: I64) -> SwapDone:
        started = time.perf_counter()
        if len(stale) > self._bound:
            log.warning(
                "replay swap: %d series changed during round %d (events change series faster "
                "than they are replayed off the loop); replayed on the loop",
                len(stale),
                p.rounds,
            )
        store = self.store
        replay_into(p.model, store, stale, p.h, p.c)
        store.h, store.c = p.h, p.c  # the new shape with them: no resize_state
        # Free slots are blanked on reuse. Nothing is marked for the checkpoint: a restore
        # realigns states of another version the same way (``worker.hotpath.realign``).
        store.scalars["model_version"][:] = p.model.version
        return SwapDone(
            p.model,
            len(store),
            time.perf_counter() - started,
            started - p.started,
            p.rounds,
            len(stale),
        )

    def cancel(self) -> None:
        """Drop a preparation in flight (its thread stops at its next chunk)."""
        if self._preparing is not None:
            self._preparing.cancelled.set()
            self._preparing = None
