"""The trainer's Kafka input: its events partitions, from the offsets its history ends at."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import NamedTuple

from foundation.errors import KafkaClientError, KafkaUnavailableError, SchemaError, TopicError
from foundation.kafka.client import Consumer, ConsumerOptions, Partition, Producer
from foundation.kafka.factory import kafka_clients
from foundation.kafka.record import ConsumedRecord
from foundation.kafka.unreadable import UNREADABLE, Skipped, unreadable_headers
from foundation.kafka.weights_topic import read_newest_first, weights_producer
from foundation.settings.base import KafkaSettings
from foundation.settings.trainer import TrainerSettings
from lstmcore.acceptance import latest_model
from lstmcore.serving import ServingModel
from schemas.codec import decode_event, undecodable
from schemas.control import control_action
from trainer.gathered import Gathered, packer, unpack
from trainer.history import Consumed, HistoryStore, Point
from trainer.partitions import ALL, chosen_partitions

log = logging.getLogger(__name__)


class Connected(NamedTuple):
    current: ServingModel | None  # the newest valid model on the weights topic
    consumer: Consumer  # events, assigned to resume where the history ends
    producer: Producer  # weights
    starts: dict[Partition, int]  # each assigned partition -> the offset the history resumes at


def connect(settings: TrainerSettings, history: HistoryStore) -> Connected:
    """Everything the trainer needs from Kafka; nothing is left open if a step fails."""
    s = settings
    current = read_newest_first(s, latest_model(s.features, s.artifact_limits())).model
    consumer = open_consumer(s, s.trainer_group_id, s.max_refit_seconds * 1000)
    try:
        producer = weights_producer(s, s.weights_max_message_bytes)
    except KafkaClientError as exc:
        consumer.close()
        raise KafkaUnavailableError(f"cannot reach {s.bootstrap_servers}: {exc}") from exc
    try:
        return Connected(
            current,
            consumer,
            producer,
            assign_from_history(consumer, s.events_topic, history, s.trainer_partitions),
        )
    except BaseException:
        consumer.close()
        producer.close()
        raise


def open_consumer(settings: KafkaSettings, group_id: str, max_poll_interval_ms: int) -> Consumer:
    options = ConsumerOptions(
        "trainer",
        group_id=group_id,  # used for committing (lag visibility), not for assignment
        from_earliest=True,
        max_poll_interval_ms=max_poll_interval_ms,
    )
    try:
        return kafka_clients(settings).consumer(options)
    except KafkaClientError as exc:
        raise KafkaUnavailableError(f"cannot reach {settings.bootstrap_servers}: {exc}") from exc


def assign_from_history(
    consumer: Consumer,
    topic: str,
    history: HistoryStore,
    spec: str = ALL,
    timeout_s: float = 30.0,
) -> dict[Partition, int]:
    """Own the chosen partitions (one trainer, one history) and resume where the history ends;
    returns where each one resumes.

    Assigned by hand, not by the group: the history, not the group, holds the offsets; the
    group only shows the lag. A partition read before and not chosen now keeps its offset in
    the history, so choosing it again resumes there. One the history holds nothing of resumes
    at its beginning, asked for by number: that number is what the group's commit says until
    the history stores something of it (``trainer.ingest``)."""
    deadline = time.monotonic() + timeout_s
    partitions = consumer.partitions_for_topic(topic)
    while not partitions and time.monotonic() < deadline:
        time.sleep(0.2)
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise TopicError(f"topic {topic} does not exist; run `twincast topics`")
    assigned = [Partition(topic, p) for p in chosen_partitions(spec, partitions, topic)]
    consumer.assign(assigned)
    stored = history.offsets(topic)
    starts = {tp: stored[tp.partition] for tp in assigned if tp.partition in stored}
    fresh = [tp for tp in assigned if tp.partition not in stored]
    if fresh:
        starts.update(consumer.beginning_offsets(fresh, timeout_s))
    for tp in assigned:  # a beginning gone meanwhile (retention) resets to the earliest
        consumer.seek(tp, starts[tp])
    return {tp: starts[tp] for tp in assigned}


def gather(
    records: Iterable[ConsumedRecord], n_features: int, max_bytes: int, into: Gathered
) -> None:
    """Decode records into ``into``; an invalid one keeps its position (so it is not re-read)
    but no point. The same decode and refusals as the worker's (``schemas.codec``)."""
    pack = packer(n_features)
    add_point, add_skipped = into.add_point, into.add_skipped
    for record in records:
        if unreadable_headers(record) is not None:  # confluent-kafka: a header name not UTF-8
            add_skipped(record.partition, record.offset, UNREADABLE)
            continue
        if record.headers and control_action(record.headers) is not None:
            add_skipped(record.partition, record.offset)  # for the worker only
            continue
        try:
            event = decode_event(record.value, n_features=n_features, max_bytes=max_bytes)
            value = event.value
            packed = pack(*value) if isinstance(value, list) else pack(value)
            point = (event.series_id, event.ts.timestamp(), packed)
        except Exception as exc:
            # Whatever a record does, it is skipped and counted: ingestion never stops on one.
            refused = exc if isinstance(exc, SchemaError) else undecodable(exc)
            log.warning(
                "skipping bad event at partition %d offset %d: %s",
                record.partition,
                record.offset,
                refused,
            )
            add_skipped(record.partition, record.offset, refused.reason)
            continue
        add_point(record.partition, record.offset, *point)


def to_consumed(
    records: Iterable[ConsumedRecord], n_features: int, max_bytes: int
) -> list[Consumed]:
    """``gather``'s decisions record by record (tests, tools)."""
    into = Gathered()
    gather(records, n_features, max_bytes, into)
    return [
        Consumed(
            partition,
            offset,
            None if i is None else Point(into.series_ids[i], into.ts[i], _unpack_one(into, i)),
            reason,
        )
        for partition, offset, i, reason in into.records()
    ]


def _unpack_one(into: Gathered, i: int) -> list[float]:
    return [float(v) for v in unpack([into.values[i]])[0]]


def add_unreadable(skipped: Skipped, into: Gathered) -> None:
    """Offsets the client could not read: positions without points, so the history passes."""
    for offset in skipped.offsets():
        into.add_skipped(skipped.partition.partition, offset, UNREADABLE)
