"""What a consumed Kafka record is to twincast: the fields it reads, whichever client made it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ConsumedRecord(Protocol):
    """A record as a consumer returns it (kafka-python's ``ConsumerRecord`` has these fields)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]] | None:
        """None or empty: no headers (librdkafka says None, kafka-python an empty list).

        Raises a CORRUPT_RECORD ``KafkaClientError`` when the client read the record but not its
        headers (confluent-kafka: a header name that is not UTF-8; kafka-python cannot parse
        such a record at all and raises from ``poll`` instead): see
        ``foundation.kafka.unreadable.unreadable_headers``."""
