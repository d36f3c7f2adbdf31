"""Events through a real broker: produce, consume back, decode with schemas/."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer

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
    producer = KafkaProducer(**settings.client_config("test-producer"), acks="all")
    for event in sent:
        producer.send(settings.events_topic, key=event.series_id.encode(), value=encode(event))
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        settings.events_topic,
        **settings.client_config("test-consumer"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    received: list[Event] = []
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for record in consumer:
        event = decode_event(record.value, n_features=1, max_bytes=MAX_EVENT_BYTES)
        assert record.key == event.series_id.encode()
        received.append(event)
        partitions_of[event.series_id].add(record.partition)
        if len(received) == len(sent):
            break
    consumer.close()

    assert sorted(received, key=lambda e: e.ts) == sent
    # Keyed by series: each series lives on exactly one partition, in the order it was sent.
    assert all(len(p) == 1 for p in partitions_of.values())
    for series in {e.series_id for e in sent}:
        assert [e for e in received if e.series_id == series] == [
            e for e in sent if e.series_id == series
        ]
