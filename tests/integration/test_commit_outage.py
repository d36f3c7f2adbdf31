"""An offset commit while the broker is away, on each client (a broker of this test only, killed
with SIGKILL): it returns within the bound it was given with a retriable error, whatever the
client library would do by itself (librdkafka's synchronous commit has no timeout); once the
broker is back a commit succeeds, and the group's next member starts exactly there with no
record lost. The services' own outage handling: test_broker_restart.py."""

from __future__ import annotations

import time
import uuid

import pytest

from foundation.errors import KafkaClientError
from foundation.kafka.client import Consumer, ConsumerOptions, Partition
from foundation.settings.base import KafkaSettings
from tests.integration.test_kafka_client import MAKERS, _produce, _read_all, _topic
from twincast.localkafka import LocalKafka

pytestmark = pytest.mark.kafka

BOUND_S = 5.0  # the commit's timeout_s here
# What a bounded commit may take past its bound on a busy machine (a blocked one took ~45 s).
SLACK_S = 10.0


@pytest.mark.parametrize("client", sorted(MAKERS))
def test_a_commit_in_an_outage_fails_within_its_bound_and_one_after_it_holds(
    own_broker: LocalKafka, client: str
) -> None:
    clients = MAKERS[client](KafkaSettings(bootstrap_servers=own_broker.bootstrap))
    topic = _topic(clients)
    _produce(clients, topic, 20)  # 10 per partition
    p0, p1 = topic.partitions
    group = f"t-group-{uuid.uuid4().hex[:6]}"
    options = ConsumerOptions("test-member", group_id=group, from_earliest=True)
    consumer = clients.consumer(options)
    try:
        consumer.assign(topic.partitions)
        # A new broker: wait for its group coordinator (librdkafka's poll raises until then).
        assert consumer.committed(p0, 60) is None
        assert len(_read_all(consumer, 20)) == 20
        consumer.commit({p0: 3, p1: 2}, timeout_s=30)
        assert own_broker.kill(), "the broker was running"
        started = time.monotonic()
        with pytest.raises(KafkaClientError) as caught:
            consumer.commit({p0: 5, p1: 5}, timeout_s=BOUND_S)
        took = time.monotonic() - started
        print(f"\n[{client}] commit in the outage: {took:.1f}s, {caught.value!r}")
        assert caught.value.retriable, caught.value  # the services wait it out and retry
        assert took < BOUND_S + SLACK_S, f"the commit took {took:.0f}s"
        own_broker.up()
        attempts = _commit_once_back(consumer, {p0: 6, p1: 7})
        print(f"[{client}] broker back: committed after {attempts} attempt(s)")
        assert consumer.committed(p0, 30) == 6 and consumer.committed(p1, 30) == 7
    finally:
        consumer.close()
    member = clients.consumer(options)  # the group's next member starts at the commit
    try:
        member.assign(topic.partitions)
        read = sorted((r.partition, r.offset) for r in _read_all(member, 7))
        assert read == [(0, 6), (0, 7), (0, 8), (0, 9), (1, 7), (1, 8), (1, 9)]
    finally:
        member.close()


def _commit_once_back(consumer: Consumer, offsets: dict[Partition, int]) -> int:
    """Commit, again after each retriable failure (as a service's next checkpoint does) until it
    succeeds; the number of attempts."""
    deadline = time.monotonic() + 180
    attempts = 0
    while True:
        attempts += 1
        try:
            consumer.commit(offsets, timeout_s=BOUND_S)
            return attempts
        except KafkaClientError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # a retry's pause, as the services' outage backoff
