"""One record consumed through confluent-kafka, as ``ConsumedRecord`` reads it.

A header name that is not UTF-8 cannot be given to Python as the ``str`` confluent-kafka
promises, and ``Message.headers()`` (confluent-kafka 2.x, ``c_headers_to_py``; seen on 2.16.1)
mishandles it: ``PyUnicode_FromString`` fails, its NULL is stored as the name in the (name,
value) tuple, and the list is returned anyway with the ``UnicodeDecodeError`` still set. What
Python makes of that depends on the call site:

- a generic call checks the result and raises ``SystemError`` ("returned a result with an
  exception set", caused by the ``UnicodeDecodeError``);
- a call site CPython 3.11+ has specialized (any call run a few times, as in a consumer loop)
  skips that check in release builds: the broken list is returned as if all were well, the
  error surfaces later at some unrelated call, and unpacking the NULL name crashes the process
  (SIGSEGV, the worker's exit -11);
- the message keeps the broken list: any later ``headers()`` returns it without an error.

So ``Message.headers()`` is called here once per record, through ``operator.methodcaller``: a C
caller that always checks the result, so the failure is always the ``SystemError``. Such a
record's headers are then reported unreadable (``headers`` raises a CORRUPT_RECORD
``KafkaClientError`` each time it is read), and its message's headers are never asked for again.
Everything else of the record (key, value, offset) reads as usual, unlike with kafka-python,
which cannot parse the record or the rest of its record batch at all.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence

from confluent_kafka import Message

from foundation.errors import KafkaClientError, KafkaErrorKind

Headers = list[tuple[str, bytes | None]]
# Never ``message.headers()``: see the module's docstring.
_read_message_headers = operator.methodcaller("headers")


class Record:
    """One consumed record: each field is read from librdkafka's message when it is asked for
    (most readers use a few), not copied up front; the headers only once (see the module)."""

    __slots__ = ("_headers", "_headers_read", "_message", "_unreadable")

    def __init__(self, message: Message) -> None:
        self._message = message
        self._headers_read = False
        self._headers: Headers | None = None
        self._unreadable: KafkaClientError | None = None

    @property
    def topic(self) -> str:
        return self._message.topic() or ""

    @property
    def partition(self) -> int:
        return self._message.partition() or 0

    @property
    def offset(self) -> int:
        return self._message.offset() or 0

    @property
    def timestamp(self) -> int:
        return self._message.timestamp()[1]

    @property
    def key(self) -> bytes | None:
        return _bytes(self._message.key())

    @property
    def value(self) -> bytes | None:
        return _bytes(self._message.value())

    @property
    def headers(self) -> Headers | None:
        """Raises a CORRUPT_RECORD ``KafkaClientError`` (every time) if a header name is not
        UTF-8."""
        if not self._headers_read:
            self._read_headers()
        if self._unreadable is not None:
            raise self._unreadable.with_traceback(None)  # one traceback, not one per read
        return self._headers

    def _read_headers(self) -> None:
        self._headers_read = True  # first: whatever happens, Message.headers() runs only once
        try:
            raw = _read_message_headers(self._message)
        except (SystemError, UnicodeDecodeError) as exc:
            # SystemError is how confluent-kafka 2.x fails; UnicodeDecodeError is how a release
            # that fixes c_headers_to_py would. The cause names the bytes that are not UTF-8.
            cause = exc if isinstance(exc, UnicodeDecodeError) else exc.__cause__ or exc
            what = "a header name is not UTF-8" if isinstance(cause, UnicodeDecodeError) else ""
            self._unreadable = KafkaClientError(
                KafkaErrorKind.CORRUPT_RECORD,
                f"{what or 'its headers cannot be read'} ({cause}); key and value are intact",
                retriable=False,
            )
            self._unreadable.__cause__ = exc
            return
        self._headers = _headers(raw)


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def _headers(
    raw: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> Headers | None:
    if not raw:
        return None  # librdkafka gives None for no headers; kafka-python an empty list
    items = raw.items() if isinstance(raw, Mapping) else raw
    return [(name, _bytes(value)) for name, value in items]
