"""Rebalance news, from kafka-python's listener to the worker's loop."""

from __future__ import annotations

import queue
from enum import Enum

from kafka import ConsumerRebalanceListener, TopicPartition


class RebalanceKind(Enum):
    REVOKED = "revoked"  # the partitions go to another worker
    ASSIGNED = "assigned"  # the partitions are this worker's now


Rebalance = tuple[RebalanceKind, list[TopicPartition]]


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Only queues the news: the listener may run on kafka-python's IO thread, and the loop
    applies it between polls, so the store is only ever touched by one thread."""

    def __init__(self, news: queue.SimpleQueue[Rebalance]) -> None:
        self.news = news

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.news.put((RebalanceKind.REVOKED, list(revoked)))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.news.put((RebalanceKind.ASSIGNED, list(assigned)))
