"""Rebalance news, from the client's listener to the worker's loop."""

from __future__ import annotations

import queue
from enum import Enum

from foundation.kafka.client import Partition


class RebalanceKind(Enum):
    REVOKED = "revoked"  # the partitions go to another worker
    ASSIGNED = "assigned"  # the partitions are this worker's now


Rebalance = tuple[RebalanceKind, list[Partition]]


class RebalanceListener:
    """A ``foundation.kafka.client.RebalanceListener`` that only queues the news: it may run on
    the client's IO thread, and the loop applies it between polls, so the store is only ever
    touched by one thread."""

    def __init__(self, news: queue.SimpleQueue[Rebalance]) -> None:
        self.news = news

    def on_revoked(self, partitions: set[Partition]) -> None:
        self.news.put((RebalanceKind.REVOKED, list(partitions)))

    def on_assigned(self, partitions: set[Partition]) -> None:
        self.news.put((RebalanceKind.ASSIGNED, list(partitions)))
