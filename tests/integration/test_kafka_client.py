"""The Kafka client layer's contract, against the real broker: what every implementation of
``foundation.kafka.client`` must do. Each test takes a ``clients`` maker; a second implementation
is added by adding it to ``MAKERS``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from kafka import KafkaProducer

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import (
    Admin,
    Consumer,
    ConsumerOptions,
    KafkaClients,
    NewTopic,
    Partition,
    ProducerOptions,
    TransactionalOptions,
)
from foundation.kafka.confluent import ConfluentClients
from foundation.kafka.kafka_python import KafkaPythonClients
from foundation.kafka.record import ConsumedRecord
from foundation.settings.base import KafkaSettings
from tests.integration.test_unreadable import NotUtf8

pytestmark = pytest.mark.kafka

MAKERS: dict[str, Callable[[KafkaSettings], KafkaClients]] = {
    "kafka-python": KafkaPythonClients,
    "confluent-kafka": ConfluentClients,
}


@pytest.fixture(params=sorted(MAKERS))
def clients(request: pytest.FixtureRequest, kafka_settings: KafkaSettings) -> KafkaClients:
    return MAKERS[request.param](kafka_settings)


@dataclass
class _Topic:
    name: str
    partitions: list[Partition]


def _topic(clients: KafkaClients, partitions: int = 2, **configs: str) -> _Topic:
    name = f"t-client-{uuid.uuid4().hex[:10]}"
    admin = clients.admin("test-admin")
    try:
        assert admin.create_topic(NewTopic(name, partitions, 1, configs), timeout_s=30)
    finally:
        admin.close()
    return _Topic(name, [Partition(name, p) for p in range(partitions)])


def _produce(clients: KafkaClients, topic: _Topic, count: int) -> list[int]:
    producer = clients.producer(ProducerOptions("test-producer", acks="all"))
    try:
        handles = [
            producer.send(topic.name, f"k{i}".encode(), f"v{i}".encode(), partition=i % 2)
            for i in range(count)
        ]
        producer.flush(30)
        assert not any(h.failed() for h in handles) and handles[0].error() is None
        return [h.offset(5) for h in handles]
    finally:
        producer.close(5)


def _read_all(consumer: Consumer, count: int, timeout_s: float = 30) -> list[ConsumedRecord]:
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for partition, batch in consumer.poll(0.5).items():
            assert all(r.partition == partition.partition for r in batch)
            records.extend(batch)
    return records


def test_admin_creates_describes_and_alters_a_topic(clients: KafkaClients) -> None:
    topic = _topic(clients, partitions=2, **{"retention.ms": "3600000"})
    admin: Admin = clients.admin("test-admin")
    try:
        assert not admin.create_topic(NewTopic(topic.name, 2, 1), timeout_s=30), "exists"
        assert topic.name in admin.list_topics()
        assert admin.partition_count(topic.name) == 2
        admin.create_partitions(topic.name, 3)
        assert admin.partition_count(topic.name) == 3
        assert admin.topic_configs(topic.name)["retention.ms"] == "3600000"
        admin.alter_topic_configs(topic.name, {"retention.ms": "7200000"})
        assert admin.topic_configs(topic.name)["retention.ms"] == "7200000"
        assert admin.topic_configs(topic.name)["cleanup.policy"] == "delete", "defaults too"
    finally:
        admin.close()


def test_produced_records_are_read_back_with_their_fields(clients: KafkaClients) -> None:
    topic = _topic(clients)
    producer = clients.producer(ProducerOptions("test-producer", acks="all", linger_ms=5))
    try:
        handle = producer.send(topic.name, b"k", b"v", partition=1, headers=[("h", b"1")])
        assert handle.offset(30) == 0
        assert producer.partitions_for(topic.name) == {0, 1}
    finally:
        producer.close(5)
    consumer = clients.consumer(ConsumerOptions("test-reader"))
    try:
        consumer.assign(topic.partitions)
        consumer.seek_to_beginning(*topic.partitions)
        (record,) = _read_all(consumer, 1)
        assert (record.topic, record.partition, record.offset) == (topic.name, 1, 0)
        assert (record.key, record.value, list(record.headers or ())) == (b"k", b"v", [("h", b"1")])
        assert record.timestamp > 0
        assert consumer.assignment() == set(topic.partitions)
        assert consumer.partitions_for_topic(topic.name) == {0, 1}
    finally:
        consumer.close()


def test_offsets_seek_position_and_ends(clients: KafkaClients) -> None:
    topic = _topic(clients)
    _produce(clients, topic, 10)
    consumer = clients.consumer(ConsumerOptions("test-reader"))
    try:
        consumer.assign(topic.partitions)
        assert consumer.beginning_offsets(topic.partitions, 10) == dict.fromkeys(
            topic.partitions, 0
        )
        assert consumer.end_offsets(topic.partitions, 10) == dict.fromkeys(topic.partitions, 5)
        first = topic.partitions[0]
        consumer.seek(first, 3)
        consumer.seek(topic.partitions[1], 5)
        assert consumer.position(first, 10) == 3
        records = _read_all(consumer, 2)
        assert [(r.partition, r.offset) for r in records] == [(0, 3), (0, 4)]
        assert consumer.position(first, 10) == 5
        assert consumer.highwater(first) == 5
    finally:
        consumer.close()


def test_a_groups_commit_is_where_its_next_member_starts(clients: KafkaClients) -> None:
    topic = _topic(clients)
    _produce(clients, topic, 10)
    group = f"t-group-{uuid.uuid4().hex[:6]}"
    options = ConsumerOptions("test-member", group_id=group, from_earliest=True)
    first = clients.consumer(options)
    try:
        first.assign(topic.partitions)
        assert first.committed(topic.partitions[0], 10) is None
        first.commit({topic.partitions[0]: 4, topic.partitions[1]: 1}, timeout_s=10)
        assert first.committed(topic.partitions[0], 10) == 4
    finally:
        first.close()
    second = clients.consumer(options)
    try:
        second.assign(topic.partitions)
        records = _read_all(second, 5)
        read = sorted((r.partition, r.offset) for r in records)
        assert read == [(0, 4), (1, 1), (1, 2), (1, 3), (1, 4)]
        second.commit(timeout_s=10)  # the current positions
        assert second.committed(topic.partitions[1], 10) == 5
    finally:
        second.close()


class _Listener:
    def __init__(self) -> None:
        self.assigned: set[Partition] = set()

    def on_revoked(self, partitions: set[Partition]) -> None:
        self.assigned -= partitions

    def on_assigned(self, partitions: set[Partition]) -> None:
        self.assigned |= partitions


def test_a_subscribed_consumer_is_told_its_partitions(clients: KafkaClients) -> None:
    topic = _topic(clients)
    _produce(clients, topic, 4)
    listener = _Listener()
    group = f"t-{uuid.uuid4().hex[:6]}"
    consumer = clients.consumer(ConsumerOptions("test-member", group_id=group, from_earliest=True))
    try:
        consumer.subscribe([topic.name], listener)
        assert len(_read_all(consumer, 4)) == 4
        assert listener.assigned == set(topic.partitions) == consumer.assignment()
    finally:
        consumer.close()


def _transactional(clients: KafkaClients, topic: _Topic, commit: bool) -> None:
    producer = clients.transactional_producer(
        TransactionalOptions("test-tx", f"t-tx-{uuid.uuid4().hex[:6]}", 60_000)
    )
    group = f"t-tx-group-{uuid.uuid4().hex[:6]}"
    source = clients.consumer(ConsumerOptions("test-tx-source", group_id=group))
    try:
        source.assign(topic.partitions)
        producer.init()
        producer.begin()
        for i in range(3):
            producer.send(topic.name, b"k", f"tx{i}".encode(), partition=0)
        producer.send_offsets({topic.partitions[1]: 7}, source.group_metadata(), timeout_s=30)
        producer.flush(30)  # on the log before the outcome (an abort may drop unsent records)
        if commit:
            producer.commit(30)
        else:
            producer.abort(30)
    finally:
        source.close()
        producer.close(5)
    assert _committed(clients, group, topic.partitions[1], commit) == (7 if commit else None)


def _committed(clients: KafkaClients, group: str, partition: Partition, wait: bool) -> int | None:
    """The group's offset, waiting for the transaction's markers if ``wait`` (they are written
    a moment after the commit returns)."""
    consumer = clients.consumer(ConsumerOptions("test-tx-check", group_id=group))
    try:
        deadline = time.monotonic() + (10 if wait else 0)
        while (offset := consumer.committed(partition, 10)) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return offset
    finally:
        consumer.close()


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "abort"])
def test_a_read_committed_consumer_sees_committed_transactions_only(
    clients: KafkaClients, commit: bool
) -> None:
    topic = _topic(clients)
    _transactional(clients, topic, commit)
    _produce(clients, topic, 2)  # after the transaction: one record on partition 0
    reader = clients.consumer(ConsumerOptions("test-committed", read_committed=True))
    try:
        reader.assign(topic.partitions)
        reader.seek_to_beginning(*topic.partitions)
        values = [r.value for r in _read_all(reader, 5 if commit else 2, timeout_s=15)]
    finally:
        reader.close()
    expected = [b"tx0", b"tx1", b"tx2", b"v0", b"v1"] if commit else [b"v0", b"v1"]
    assert sorted(v or b"" for v in values) == expected


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "abort"])
def test_a_read_committed_position_reaches_the_end_past_a_transaction_marker(
    clients: KafkaClients, commit: bool
) -> None:
    """A partition whose last offset is a transaction marker (never handed to the application):
    a read_committed reader's position still reaches ``end_offsets``, as a state restore that
    reads "until the end" needs (worker.restore, foundation.kafka.topic_reader)."""
    topic = _topic(clients)
    _transactional(clients, topic, commit)  # 3 records, then the marker, on partition 0 only
    reader = clients.consumer(ConsumerOptions("test-committed-end", read_committed=True))
    try:
        reader.assign(topic.partitions)
        reader.seek_to_beginning(*topic.partitions)
        deadline = time.monotonic() + 15
        # The marker is written a moment after the outcome returns; till then the end (the last
        # stable offset) is where the transaction began.
        while (end := reader.end_offsets(topic.partitions, 10))[topic.partitions[0]] < 4:
            assert time.monotonic() < deadline, end
            time.sleep(0.1)
        assert end == {topic.partitions[0]: 4, topic.partitions[1]: 0}, "3 records, 1 marker"
        records: list[ConsumedRecord] = []
        while any(reader.position(p, 10) < end[p] for p in topic.partitions):
            assert time.monotonic() < deadline, {p: reader.position(p, 10) for p in end}
            records.extend(r for batch in reader.poll(0.5).values() for r in batch)
        assert {p: reader.position(p, 10) for p in topic.partitions} == end
    finally:
        reader.close()
    assert [r.value for r in records] == ([b"tx0", b"tx1", b"tx2"] if commit else [])


def test_a_fenced_transactional_producer_is_told_so(
    clients: KafkaClients, request: pytest.FixtureRequest
) -> None:
    """A second producer with the same transactional id (a worker's next life, or a duplicate)
    fences the first: the first's commit fails with kind FENCED, which ends a worker instead of
    starting yet another producer that would fence the second in turn."""
    if isinstance(clients, KafkaPythonClients):
        # kafka-python 3.0 answers the fenced send by bumping its epoch (KIP-360) and its commit
        # then fails with "Invalid transition ... BUMPING_PRODUCER_EPOCH" (kind OTHER).
        reason = "kafka-python does not report this fencing as FENCED"
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    topic = _topic(clients)
    options = TransactionalOptions("test-fenced", f"t-fenced-{uuid.uuid4().hex[:6]}", 60_000)
    old = clients.transactional_producer(options)
    new = clients.transactional_producer(options)
    try:
        old.init()
        old.begin()
        old.send(topic.name, b"k", b"old", partition=0)
        old.flush(30)
        new.init()  # aborts the old one's transaction and fences it
        with pytest.raises(KafkaClientError) as raised:
            old.send(topic.name, b"k", b"old again", partition=0)
            old.flush(30)
            old.commit(30)
        assert raised.value.kind is KafkaErrorKind.FENCED, raised.value
        assert not raised.value.retriable
        new.begin()
        new.send(topic.name, b"k", b"new", partition=0)
        new.commit(30)
    finally:
        old.close(0)
        new.close(5)


def test_errors_are_translated(clients: KafkaClients) -> None:
    topic = _topic(clients)
    producer = clients.producer(ProducerOptions("test-small", max_request_size=1024))
    try:
        with pytest.raises(KafkaClientError) as raised:
            producer.send(topic.name, b"k", b"x" * 4096).offset(10)
        assert raised.value.kind is KafkaErrorKind.TOO_LARGE
        assert not raised.value.retriable
    finally:
        producer.close(5)


def test_a_header_name_that_is_not_utf8(
    clients: KafkaClients, kafka_settings: KafkaSettings
) -> None:
    """kafka-python cannot parse such a record (nor the rest of its batch): ``poll`` returns the
    records before it, then raises CORRUPT_RECORD. confluent-kafka reads it and every record
    around it; only its headers raise CORRUPT_RECORD, each time they are read. The records
    before it are many: CPython's specialized call sites hide confluent-kafka's error (see
    ``foundation/kafka/confluent/record.py``) only once they are warm."""
    topic = _topic(clients, partitions=1)
    good = [[("h", str(i).encode())] for i in range(100)]
    raw = KafkaProducer(**kafka_settings.client_config("test-not-utf8"), linger_ms=1000)
    for i, headers in enumerate([*good, [("h", b"bad"), (NotUtf8("x"), b"1")], []]):
        raw.send(topic.name, key=f"k{i}".encode(), value=f"v{i}".encode(), headers=headers)
    raw.flush()  # one batch: the records before and after the bad one share it
    raw.close()
    consumer = clients.consumer(ConsumerOptions("test-not-utf8-reader"))
    records: list[ConsumedRecord] = []
    try:
        consumer.assign(topic.partitions)
        consumer.seek_to_beginning(*topic.partitions)
        deadline = time.monotonic() + 30
        while len(records) < len(good) + 2 and time.monotonic() < deadline:
            for batch in consumer.poll(0.5).values():
                records.extend(batch)
    except KafkaClientError as exc:
        assert isinstance(clients, KafkaPythonClients), exc
        assert exc.kind is KafkaErrorKind.CORRUPT_RECORD
        assert [r.offset for r in records] == list(range(len(good))), "before it, not after"
        return
    finally:
        consumer.close()
    assert isinstance(clients, ConfluentClients), "kafka-python cannot read it"
    assert [(r.offset, r.key, r.value) for r in records] == [
        (i, f"k{i}".encode(), f"v{i}".encode()) for i in range(len(good) + 2)
    ]
    bad, after = records[-2:]
    assert [r.headers for r in records[:-2]] == good and after.headers is None
    for _ in range(2):
        with pytest.raises(KafkaClientError) as raised:
            _ = bad.headers
        assert raised.value.kind is KafkaErrorKind.CORRUPT_RECORD
        assert "a header name is not UTF-8" in str(raised.value)
    assert (bad.key, bad.value) == (b"k100", b"v100"), "and nothing is pending afterwards"


def test_a_key_goes_to_the_partition_every_client_picks(kafka_settings: KafkaSettings) -> None:
    """Events, control records and states of one series must share a partition whichever client
    produced them: every implementation partitions keys as Java's client does (murmur2)."""
    first = _topic(KafkaPythonClients(kafka_settings), partitions=6)
    placed: dict[str, list[int]] = {}
    for name, maker in sorted(MAKERS.items()):
        producer = maker(kafka_settings).producer(ProducerOptions("test-keys", acks="all"))
        try:
            handles = [producer.send(first.name, f"series-{i}".encode(), b"v") for i in range(40)]
            producer.flush(30)
        finally:
            producer.close(5)
        placed[name] = [h.offset(5) for h in handles]
    consumer = KafkaPythonClients(kafka_settings).consumer(ConsumerOptions("test-keys-reader"))
    try:
        consumer.assign(first.partitions)
        consumer.seek_to_beginning(*first.partitions)
        records = _read_all(consumer, 40 * len(MAKERS))
    finally:
        consumer.close()
    by_key: dict[bytes | None, set[int]] = {}
    for record in records:
        by_key.setdefault(record.key, set()).add(record.partition)
    assert len(by_key) == 40 and all(len(p) == 1 for p in by_key.values()), by_key
    assert len({p for ps in by_key.values() for p in ps}) > 1, "keys spread over partitions"
