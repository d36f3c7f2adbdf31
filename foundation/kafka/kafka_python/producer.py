"""kafka-python's producer as a ``foundation.kafka.client.Producer`` and
``TransactionalProducer``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kafka.errors import KafkaError

from foundation.errors import KafkaClientError, KafkaErrorKind
from foundation.kafka.client import Headers, Partition
from foundation.kafka.kafka_python.consumer import offsets_and_metadata
from foundation.kafka.kafka_python.errors import translate, translated


class _Sent:
    """A ``SendHandle`` around kafka-python's ``FutureRecordMetadata``."""

    __slots__ = ("_future",)

    def __init__(self, future: Any) -> None:
        self._future = future

    def failed(self) -> bool:
        return bool(self._future.failed())

    def acknowledged(self) -> bool:
        return bool(self._future.succeeded())

    def error(self) -> BaseException | None:
        exc = self._future.exception
        return translate(exc) if isinstance(exc, KafkaError) else exc

    def offset(self, timeout_s: float) -> int:
        with translated():
            return int(self._future.get(timeout=timeout_s).offset)


class KafkaPythonProducer:
    """A ``Producer`` around a ``kafka.KafkaProducer``."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> _Sent:
        try:
            future = self._raw.send(
                topic, key=key, value=value, partition=partition, headers=headers
            )
        except KafkaError as exc:
            raise translate(exc) from exc
        return _Sent(future)

    def flush(self, timeout_s: float | None = None) -> None:
        with translated():
            self._raw.flush(timeout=timeout_s)

    def partitions_for(self, topic: str) -> set[int]:
        with translated():
            return set(self._raw.partitions_for(topic) or ())

    def close(self, timeout_s: float | None = None) -> None:
        with translated():
            self._raw.close(timeout=timeout_s)


class KafkaPythonTransactionalProducer(KafkaPythonProducer):
    """A ``TransactionalProducer``. kafka-python waits for the coordinator's answer to
    ``send_offsets_to_transaction``, ``commit_transaction`` and ``abort_transaction`` without a
    limit, and after a broker restart an answer can be lost for good; so those three start the
    same request through its transaction manager and wait for the answer with a limit."""

    @property
    def transactional_id(self) -> str:
        return str(self._raw.config["transactional_id"])

    def init(self) -> None:
        with translated():  # bounded by max_block_ms
            self._raw.init_transactions()

    def begin(self) -> None:
        with translated():
            self._raw.begin_transaction()

    def send_offsets(
        self, offsets: Mapping[Partition, int], group: object, timeout_s: float
    ) -> None:
        commit = offsets_and_metadata(offsets)
        manager = self._raw._transaction_manager  # PRIVATE: the public call waits unbounded
        start = lambda: manager.send_offsets_to_transaction(commit, group)  # noqa: E731
        self._await(start, "offsets", timeout_s)

    def commit(self, timeout_s: float) -> None:
        manager = self._raw._transaction_manager  # PRIVATE: the public call waits unbounded
        self._await(manager.begin_commit, "commit", timeout_s)

    def abort(self, timeout_s: float) -> None:
        manager = self._raw._transaction_manager  # PRIVATE: the public call waits unbounded
        self._await(manager.begin_abort, "abort", timeout_s)

    def _await(self, start: Callable[[], Any], what: str, timeout_s: float) -> None:
        timeout_ms = int(timeout_s * 1000)
        with translated():
            result = start()
            # PRIVATE: as kafka-python's own transactional calls do, wake the sender thread so
            # the request goes out now rather than at its next poll.
            self._raw._sender.wakeup()
            done = result.wait(timeout_ms=timeout_ms)
        if not done:
            raise KafkaClientError(
                KafkaErrorKind.TIMEOUT,
                f"no answer to the transaction's {what} in {timeout_ms} ms",
                retriable=True,
            )
