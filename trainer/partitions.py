"""Which events partitions the trainer reads (``TWINCAST_TRAINER_PARTITIONS``).

One global model serves every series, so it may be trained on a sample of them: the events are
keyed by series, so the series of a set of partitions are a sample of all series (hashing
spreads keys evenly), and reading fewer partitions bounds the trainer's ingest whatever the
deployment's event rate. A count N reads partitions 0..N-1 rather than N spread ones: adding
partitions to the topic later then leaves the chosen set as it was (new partitions are not read
by a count), so the history never changes its sample under it; `all` reads what the topic has at
start (a restart picks up partitions added since).
"""

from __future__ import annotations

from collections.abc import Collection

from foundation.errors import TopicError

ALL = "all"
LIST_PREFIX = "list:"


def chosen_partitions(spec: str, available: Collection[int], topic: str) -> list[int]:
    """The partitions ``spec`` names, sorted; TopicError if it names one the topic lacks."""
    if spec == ALL:
        return sorted(available)
    if "," in spec or spec.startswith(LIST_PREFIX):
        wanted = {int(p) for p in spec.removeprefix(LIST_PREFIX).split(",")}
    else:
        wanted = set(range(int(spec)))
    missing = sorted(wanted - set(available))
    if missing:
        raise TopicError(
            f"TWINCAST_TRAINER_PARTITIONS={spec} names partitions {missing} of {topic}, which "
            f"has {len(available)}: lower it, or add partitions (`twincast topics`)"
        )
    return sorted(wanted)
