"""The bound on a worker's unacknowledged sends (``TWINCAST_MAX_IN_FLIGHT_SENDS``) holds with each
real client: past it the delivery waits on the client's own handles until the broker has
acknowledged enough, and every send still arrives."""

from __future__ import annotations

import logging

import pytest

from foundation.kafka.client import KafkaClients, ProducerOptions, SendHandle
from foundation.kafka.outage import Outage
from foundation.settings.base import KafkaSettings
from tests.integration.test_kafka_client import MAKERS, _topic
from worker.delivery import Delivery

pytestmark = pytest.mark.kafka

BOUND, POLLS, PER_POLL = 300, 12, 1000


@pytest.fixture(params=sorted(MAKERS))
def clients(request: pytest.FixtureRequest, kafka_settings: KafkaSettings) -> KafkaClients:
    return MAKERS[request.param](kafka_settings)


def test_at_most_the_bound_is_unacknowledged_after_each_poll(clients: KafkaClients) -> None:
    topic = _topic(clients, partitions=2)
    # The worker's linger: a wait on the oldest send lasts at most about that plus a round trip.
    producer = clients.producer(ProducerOptions("test-in-flight", acks="all", linger_ms=5))
    delivery = Delivery(producer, BOUND, Outage(logging.getLogger("t")))
    sent: list[SendHandle] = []
    try:
        for poll in range(POLLS):
            handles: list[SendHandle] = [
                producer.send(topic.name, f"k{i}".encode(), b"v", partition=i % 2)
                for i in range(poll * PER_POLL, (poll + 1) * PER_POLL)
            ]
            sent += handles
            delivery.track(handles)
            unacknowledged = sum(not h.acknowledged() for h in sent)
            assert len(delivery.in_flight) <= BOUND and unacknowledged <= BOUND, poll
        producer.flush(30)
        assert all(h.acknowledged() for h in sent)
        offsets = {(i % 2, h.offset(5)) for i, h in enumerate(sent)}
        assert len(offsets) == POLLS * PER_POLL, "every send arrived, once"
    finally:
        delivery.close()
