"""Events into a worker's topics and what the broker says came out (for ``bench.worker_scale``)."""

from __future__ import annotations

from bench.latency import _send
from bench.worker_process import reader
from foundation.kafka.client import ConsumerOptions, Partition, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.settings.base import KafkaSettings

OFFSETS_WAIT_S = 30.0


class Traffic:
    """Events for a fixed set of series, in rounds (every series once per time step)."""

    def __init__(self, topics: KafkaSettings, names: list[str]) -> None:
        self.topics, self.names = topics, names
        options = ProducerOptions("bench-load", acks=1, linger_ms=20, batch_size=512 * 1024)
        self.producer = kafka_clients(topics).producer(options)
        self.t = 0  # the next time step

    def send_rounds(self, rounds: int) -> int:
        for _ in range(rounds):
            _send(self.producer, self.topics.events_topic, self.names, self.t)
            self.t += 1
        self.producer.flush()
        return rounds * len(self.names)

    def close(self) -> None:
        self.producer.close(30)


def last_append_ms(topics: KafkaSettings) -> int:
    """The broker's append time of the newest forecast (the topic uses ``LogAppendTime``)."""
    consumer = reader(topics, topics.forecasts_topic)
    try:
        ends = consumer.end_offsets(sorted(consumer.assignment()), OFFSETS_WAIT_S)
        last = {tp: end - 1 for tp, end in ends.items() if end > 0}
        for tp, offset in last.items():
            consumer.seek(tp, offset)
        newest: dict[Partition, int] = {}
        while len(newest) < len(last):
            for tp, batch in consumer.poll(0.5).items():
                newest.update((tp, r.timestamp) for r in batch if r.offset == last.get(tp))
        return max(newest.values())
    finally:
        consumer.close()


def checkpointed(topics: KafkaSettings, group: str) -> bool:
    """True once ``group`` has committed every event of the events topic (the worker commits at
    a checkpoint, after the states it wrote). Looks without joining the group."""
    clients = kafka_clients(topics)
    consumer = clients.consumer(ConsumerOptions("bench-look", group_id=group))
    try:
        partitions = sorted(
            Partition(topics.events_topic, p)
            for p in consumer.partitions_for_topic(topics.events_topic)
        )
        ends = consumer.end_offsets(partitions, OFFSETS_WAIT_S)
        return all(consumer.committed(tp, OFFSETS_WAIT_S) == ends[tp] for tp in partitions)
    finally:
        consumer.close()
