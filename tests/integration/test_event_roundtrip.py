"""Events through a real broker: produce, consume back, decode with schemas/; through the client
layer, so with the library of ``pytest --kafka-client``."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from foundation.kafka.client import ConsumerOptions, Partition, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.topics import ensure_topics
from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings, TopicSettings
from schemas import Event, decode_event, encode

pytestmark = pytest.mark.kafka


def test_events_round_trip_through_the_broker(kafka_settings: KafkaSettings) -> None:
    settings = TopicSettings(**kafka_settings.model_dump(), partitions=3)
    ensure_topics(settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sent = [
        Event(series_id=f"series-{i % 5}", ts=start + timedelta(minutes=i), value=float(i) / 7)
        for i in range(200)
    ]
    clients = kafka_clients(settings)
    producer = clients.producer(ProducerOptions("test-producer", acks="all"))
    for event in sent:
        producer.send(settings.events_topic, key=event.series_id.encode(), value=encode(event))
    producer.flush()
    producer.close()

    consumer = clients.consumer(ConsumerOptions("test-consumer", from_earliest=True))
    consumer.assign(Partition(settings.events_topic, p) for p in range(settings.partitions))
    consumer.seek_to_beginning(*consumer.assignment())
    received: list[Event] = []
    partitions_of: dict[str, set[int]] = defaultdict(set)
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_s=0.5).values():
            for record in records:
                assert record.value is not None
                event = decode_event(record.value, n_features=1, max_bytes=MAX_EVENT_BYTES)
                assert record.key == event.series_id.encode()
                received.append(event)
                partitions_of[event.series_id].add(record.partition)
    consumer.close()

    assert sorted(received, key=lambda e: e.ts) == sent
    # Keyed by series: each series lives on exactly one partition, in the order it was sent.
    assert all(len(p) == 1 for p in partitions_of.values())
    for series in {e.series_id for e in sent}:
        assert [e for e in received if e.series_id == series] == [
            e for e in sent if e.series_id == series
        ]
