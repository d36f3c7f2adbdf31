"""The same passthrough as ``bench.worker_throughput.passthrough``, on confluent-kafka (librdkafka).

Consume, produce the same bytes, flush, commit; no decoding and no model. It is the ceiling a
librdkafka-based worker could reach on this broker and machine, measured in the same run as the
kafka-python passthrough and the worker (issue 13).
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer  # optional extra: twincast[confluent]

from foundation.settings.base import KafkaSettings


def confluent_passthrough(settings: KafkaSettings, total: int, out_topic: str) -> float:
    """Seconds from the first consumed record to the last commit, for ``total`` events."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"bench-pass-ck-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 256 * 1024,
        }
    )
    consumer.subscribe([settings.events_topic])
    done, first = 0, None
    try:
        while done < total:
            messages = [m for m in consumer.consume(5000, timeout=0.2) if m.error() is None]
            if messages and first is None:
                first = time.perf_counter()
            for message in messages:
                _produce(producer, out_topic, message.key(), message.value())
            producer.flush()
            if messages:
                consumer.commit(asynchronous=False)
            done += len(messages)
        return time.perf_counter() - (first or 0.0)
    finally:
        consumer.close()


def _produce(producer: Producer, topic: str, key: bytes | None, value: bytes | None) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value)
            return
        except BufferError:  # librdkafka's local queue is full: let it send, then go on
            producer.poll(0.05)
