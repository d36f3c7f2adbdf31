"""Health for orchestrators: is a service alive (``/healthz``), is it ready (``/readyz``)?

The service's own thread writes down a few facts as it goes (``Health``); the probes are pure
functions of a snapshot of them (``liveness``, ``readiness``), so they are judged the same way in
unit tests as behind the metrics port. Alive means the service's loop comes round, not merely
that the HTTP thread answers: a process stuck in a call never returning is restarted. Ready means
it does its work: connected with a model read (or none published yet: a cold start), its
partitions assigned and restored, and Kafka answering, or away for less than a threshold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from foundation.kafka.outage import Outage
from foundation.settings.health import HealthSettings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def body(self) -> str:
        """Short JSON: overall status, the failing checks by name, each check's detail."""
        return json.dumps(
            {
                "status": "ok" if self.ok else "fail",
                "failing": self.failing(),
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
            }
        )


@dataclass(frozen=True)
class Facts:
    """What the service's thread wrote down, and when (monotonic seconds)."""

    last_beat: float  # the loop's last round (or the last try to connect)
    model_version: int | None  # None: not connected yet; 0: no model yet (cold start)
    partitions: tuple[int, int] | None  # (held, not restored yet); None: none assigned yet
    outage_since: float | None  # the first failure of the current Kafka outage


@dataclass(frozen=True)
class HealthLimits:
    loop_max_s: float
    kafka_outage_max_s: float

    @classmethod
    def of(cls, settings: HealthSettings) -> HealthLimits:
        return cls(settings.health_loop_max_seconds, settings.health_kafka_outage_seconds)


def loop_check(facts: Facts, now: float, limits: HealthLimits) -> Check:
    age = now - facts.last_beat
    detail = f"last round {age:.1f}s ago (limit {limits.loop_max_s:g}s)"
    return Check("loop", age <= limits.loop_max_s, detail)


def model_check(facts: Facts) -> Check:
    version = facts.model_version
    if version is None:
        return Check("model", False, "not connected yet: the weights topic is not read")
    if version == 0:
        return Check("model", True, "none published yet: persistence forecasts (cold start)")
    return Check("model", True, f"version {version}")


def partitions_check(facts: Facts) -> Check:
    if facts.partitions is None:
        return Check("partitions", False, "no assignment yet")
    held, unrestored = facts.partitions
    if unrestored:
        return Check("partitions", False, f"{unrestored} assigned but not restored yet")
    return Check("partitions", True, f"{held} assigned and restored")


def kafka_check(facts: Facts, now: float, limits: HealthLimits) -> Check:
    if facts.outage_since is None:
        return Check("kafka", True, "reachable")
    away = now - facts.outage_since
    detail = f"unreachable for {away:.1f}s (limit {limits.kafka_outage_max_s:g}s)"
    return Check("kafka", away <= limits.kafka_outage_max_s, detail)


def liveness(facts: Facts, now: float, limits: HealthLimits) -> Verdict:
    return Verdict((loop_check(facts, now, limits),))


def readiness(facts: Facts, now: float, limits: HealthLimits) -> Verdict:
    return Verdict(
        (
            loop_check(facts, now, limits),
            model_check(facts),
            partitions_check(facts),
            kafka_check(facts, now, limits),
        )
    )


class Health:
    """The facts, written by the service's thread and read by the HTTP thread: each one is a
    single attribute assignment, so a reader sees each fact whole (if perhaps one round old)."""

    def __init__(
        self, outage: Outage, limits: HealthLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self._outage = outage
        self._limits = limits
        self._last_beat = clock()
        self._model_version: int | None = None
        self._partitions: tuple[int, int] | None = None

    def beat(self) -> None:
        """The loop came round (called once per round: one clock read)."""
        self._last_beat = self.clock()

    def connected(self, model_version: int, assigned: int | None = None) -> None:
        """Connected, the weights topic read (``model_version`` 0: none yet); ``assigned``: the
        partitions taken at once (the trainer assigns itself every one)."""
        self._model_version = model_version
        if assigned is not None:
            self._partitions = (assigned, 0)

    def hold(self, held: int, unrestored: int, assigned: bool = False) -> None:
        """The partitions held and those waiting for a restore; ``assigned``: this news is an
        assignment (possibly empty: more workers than partitions). Before the first one, a
        revocation (clients report an empty one on joining) does not count as assigned."""
        if assigned or self._partitions is not None:
            self._partitions = (held, unrestored)

    def facts(self) -> Facts:
        return Facts(self._last_beat, self._model_version, self._partitions, self._outage.since)

    def alive(self) -> Verdict:
        return liveness(self.facts(), self.clock(), self._limits)

    def ready(self) -> Verdict:
        return readiness(self.facts(), self.clock(), self._limits)
