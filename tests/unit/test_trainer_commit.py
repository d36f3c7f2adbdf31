"""The trainer's group commit says what its history holds, by construction: the offsets each
history write read back in its own transaction, never the consumer's position, which runs ahead by
whatever is gathered and not written yet. A commit made with events still gathered is right."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bench.own_work import PlainRecord
from foundation.kafka.client import Consumer, Partition, RebalanceListener
from foundation.kafka.record import ConsumedRecord
from foundation.settings.trainer import TrainerSettings
from trainer.consume import assign_from_history
from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService

TOPIC = "events"
P0, P1 = Partition(TOPIC, 0), Partition(TOPIC, 1)


def _event(series: str, step: int) -> bytes:
    return json.dumps({"series_id": series, "ts": step, "value": float(step)}).encode()


class LogConsumer:
    """A ``Consumer`` over in-memory partition logs: each poll hands out up to ``per_poll``
    records of every assigned partition from its position. ``commit(None)`` commits the
    positions, as the Protocol says a real client does."""

    def __init__(self, lengths: Mapping[int, int], per_poll: int) -> None:
        self.logs = {p: [_event(f"s{p}", i) for i in range(n)] for p, n in lengths.items()}
        self.per_poll = per_poll
        self.positions: dict[Partition, int] = {}
        self.group: dict[Partition, int] = {}  # the group's committed offsets
        self._assigned: list[Partition] = []

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener | None = None) -> None:
        raise NotImplementedError("the trainer assigns its partitions")

    def assign(self, partitions: Iterable[Partition]) -> None:
        self._assigned = list(partitions)

    def assignment(self) -> set[Partition]:
        return set(self._assigned)

    def poll(
        self, timeout_s: float, max_records: int | None = None
    ) -> Mapping[Partition, Sequence[ConsumedRecord]]:
        out: dict[Partition, Sequence[ConsumedRecord]] = {}
        for tp in self._assigned:
            first = self.positions[tp]
            values = self.logs[tp.partition][first : first + self.per_poll]
            if values:
                out[tp] = [
                    PlainRecord(TOPIC, tp.partition, first + i, 0, None, v)
                    for i, v in enumerate(values)
                ]
                self.positions[tp] = first + len(values)
        return out

    def seek(self, partition: Partition, offset: int) -> None:
        self.positions[partition] = offset

    def seek_to_beginning(self, *partitions: Partition) -> None:
        for tp in partitions:
            self.positions[tp] = 0

    def position(self, partition: Partition, timeout_s: float | None = None) -> int:
        return self.positions[partition]

    def committed(self, partition: Partition, timeout_s: float | None = None) -> int | None:
        return self.group.get(partition)

    def commit(
        self, offsets: Mapping[Partition, int] | None = None, timeout_s: float | None = None
    ) -> None:
        self.group.update(self.positions if offsets is None else offsets)

    def beginning_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        return {tp: 0 for tp in partitions}

    def end_offsets(
        self, partitions: Sequence[Partition], timeout_s: float
    ) -> dict[Partition, int]:
        return {tp: len(self.logs[tp.partition]) for tp in partitions}

    def highwater(self, partition: Partition) -> int | None:
        return len(self.logs[partition.partition])

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.logs) if topic == TOPIC else set()

    def pause(self, *partitions: Partition) -> None:
        raise NotImplementedError

    def resume(self, *partitions: Partition) -> None:
        raise NotImplementedError

    def paused(self) -> set[Partition]:
        return set()

    def group_metadata(self) -> object:
        return None

    @property
    def fetch_wait_ms(self) -> int:
        return 500

    def forget_failed_fetch(self) -> None:
        pass

    def close(self) -> None:
        pass


def _service(tmp_path: Path, partitions: str = "all") -> TrainerService:
    settings = TrainerSettings(
        history_db=tmp_path / "h.sqlite",
        history_batch_events=1000,  # nothing is written by a batch filling up here
        history_batch_seconds=3600,
        events_topic=TOPIC,
        trainer_partitions=partitions,
        metrics_port=0,
    )
    return TrainerService(settings, TrainerMetrics())


def _connect(service: TrainerService, consumer: Consumer) -> None:
    spec = service.settings.trainer_partitions
    service.ingest.resume(assign_from_history(consumer, TOPIC, service.history, spec))


def test_a_commit_with_events_gathered_says_what_the_history_holds(tmp_path: Path) -> None:
    fake = LogConsumer({0: 10, 1: 4}, per_poll=3)
    consumer: Consumer = fake  # the fake is a whole Consumer (mypy checks it here)
    service = _service(tmp_path)
    try:
        _connect(service, consumer)
        service.ingest.poll(consumer, 0)  # 6 gathered, none written
        service.ingest.commit(consumer)
        assert fake.positions == {P0: 3, P1: 3}
        assert fake.group == {P0: 0, P1: 0}, "nothing stored yet: the beginnings"

        service.ingest.flush(consumer)
        assert service.history.offsets(TOPIC) == {0: 3, 1: 3}
        assert fake.group == {P0: 3, P1: 3}

        service.ingest.poll(consumer, 0)  # 3 + 1 more gathered
        service.ingest.commit(consumer)
        assert fake.positions == {P0: 6, P1: 4}
        assert fake.group == {P0: 3, P1: 3}, "the gathered events are not in the history yet"
    finally:
        service.history.close()

    # A crash now loses the gathered events; the restart resumes where the group said.
    restarted = _service(tmp_path)
    again = LogConsumer({0: 10, 1: 4}, per_poll=3)
    try:
        _connect(restarted, again)
        assert again.positions == fake.group
    finally:
        restarted.history.close()


def test_a_partition_not_read_now_is_not_committed(tmp_path: Path) -> None:
    fake = LogConsumer({0: 5, 1: 5}, per_poll=5)
    service = _service(tmp_path)
    try:
        _connect(service, fake)
        service.ingest.poll(fake, 0)
        service.ingest.flush(fake)
    finally:
        service.history.close()
    assert fake.group == {P0: 5, P1: 5}

    sampling = _service(tmp_path, partitions="1")  # partition 0 only; 1 keeps its history
    reader = LogConsumer({0: 8, 1: 5}, per_poll=10)
    try:
        _connect(sampling, reader)
        sampling.ingest.poll(reader, 0)
        sampling.ingest.flush(reader)
        assert sampling.history.offsets(TOPIC) == {0: 8, 1: 5}
        assert reader.group == {P0: 8}
    finally:
        sampling.history.close()
