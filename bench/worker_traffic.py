"""Events into a worker's topics and what the broker says came out (for ``bench.worker_scale``)."""

from __future__ import annotations

from bench.latency import _event, _send
from bench.scale_report import Gaps, swap_gaps
from bench.worker_process import reader
from foundation.kafka.client import ConsumerOptions, Partition, ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.settings.base import KafkaSettings
from schemas import Forecast, decode

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

    def send_count(self, count: int) -> int:
        """``count`` events, going on through the series where the last round ended."""
        n = len(self.names)
        for i in range(count):
            name, t = self.names[i % n], self.t + i // n
            self.producer.send(self.topics.events_topic, name.encode(), _event(name, t))
        self.t += -(-count // n)
        self.producer.flush()
        return count

    def forecast_ends(self) -> dict[Partition, int]:
        consumer = reader(self.topics, self.topics.forecasts_topic)
        try:
            return consumer.end_offsets(sorted(consumer.assignment()), OFFSETS_WAIT_S)
        finally:
            consumer.close()

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


def appended_since(topics: KafkaSettings, since: dict[Partition, int]) -> Gaps:
    """``swap_gaps`` of every forecast appended after ``since`` (offsets per partition)."""
    consumer = reader(topics, topics.forecasts_topic)
    try:
        ends = consumer.end_offsets(sorted(consumer.assignment()), OFFSETS_WAIT_S)
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        appends: list[tuple[int, int]] = []
        left = sum(ends[tp] - since.get(tp, 0) for tp in ends)
        while left > 0:
            for batch in consumer.poll(0.5).values():
                mine = [r for r in batch if r.offset < ends[Partition(r.topic, r.partition)]]
                appends += [(r.timestamp, _version(r.value)) for r in mine]
                left -= len(mine)
        return swap_gaps(appends, max(version for _, version in appends))
    finally:
        consumer.close()


def _version(value: bytes | None) -> int:
    return decode(Forecast, value or b"").model_version


def created_between(topics: KafkaSettings, topic: str, start_ms: int, end_ms: int) -> int:
    """Records of ``topic`` whose create time (set by the producer at send) is in the span."""
    consumer = reader(topics, topic)
    try:
        ends = consumer.end_offsets(sorted(consumer.assignment()), OFFSETS_WAIT_S)
        left, found = sum(ends.values()), 0
        while left > 0:
            for batch in consumer.poll(0.5).values():
                left -= len(batch)
                found += sum(start_ms <= r.timestamp <= end_ms for r in batch)
        return found
    finally:
        consumer.close()
