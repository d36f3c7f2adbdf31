"""``twincast produce``: send events from a CSV or JSON Lines file (or stdin) to the events topic.

Every line is validated with the Event contract before it is sent; a bad line is reported with
its number and the reason, skipped, and makes the command exit 1 at the end (the good lines are
still sent).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from foundation.errors import SchemaError
from foundation.kafka.client import ProducerOptions
from foundation.kafka.factory import kafka_clients
from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings
from schemas import Event, encode
from schemas.codec import decode_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnMap:
    series: str = "series_id"
    ts: str = "ts"
    value: str = "value"  # comma-separated names for multi-feature series


@dataclass(frozen=True)
class ProduceReport:
    sent: int
    bad: int


def rows(stream: TextIO, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row that cannot even be parsed comes back as an error text."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        for row in reader:
            yield reader.line_num, row
        return
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc.msg} at column {exc.colno}"
            continue
        yield number, parsed if isinstance(parsed, dict) else "a line must be a JSON object"


def to_event(row: dict[str, Any], columns: ColumnMap, n_features: int) -> Event:
    """Map a row's columns to an Event and validate it with the wire contract."""
    names = [c.strip() for c in columns.value.split(",")]
    missing = [c for c in (columns.series, columns.ts, *names) if c not in row]
    if missing:
        raise SchemaError("schema_violation", f"missing column(s) {', '.join(missing)}")
    values = [_number(row[name], name) for name in names]
    ts = row[columns.ts]
    if isinstance(ts, str) and _is_number(ts):
        ts = float(ts)  # CSV cells are text; an epoch stays an epoch
    body = {
        "series_id": row[columns.series],
        "ts": ts,
        "value": values[0] if len(values) == 1 else values,
    }
    return decode_event(json.dumps(body).encode(), n_features=n_features, max_bytes=MAX_EVENT_BYTES)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(cell: Any, column: str) -> Any:
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError as exc:
            raise SchemaError(
                "schema_violation", f"column {column}: {cell!r} is not a number"
            ) from exc
    return cell


def produce(
    settings: KafkaSettings,
    stream: TextIO,
    fmt: str,
    columns: ColumnMap,
    rate: float | None = None,
    n_features: int = 1,
    err: TextIO = sys.stderr,
) -> ProduceReport:
    options = ProducerOptions("produce", acks="all", linger_ms=10)
    producer = kafka_clients(settings).producer(options)
    sent = bad = 0
    started = last_report = time.monotonic()
    try:
        for number, row in rows(stream, fmt):
            try:
                if isinstance(row, str):
                    raise SchemaError("invalid_line", row)
                event = to_event(row, columns, n_features)
            except SchemaError as exc:
                bad += 1
                print(f"line {number}: {exc.detail}", file=err)
                continue
            producer.send(settings.events_topic, key=event.series_id.encode(), value=encode(event))
            sent += 1
            if rate:
                _pace(started, sent, rate)
            if time.monotonic() - last_report >= 5:
                last_report = time.monotonic()
                print(f"... {sent} events sent, {bad} bad lines (line {number})", file=err)
        producer.flush()
    finally:
        producer.close()
    return ProduceReport(sent, bad)


def _pace(started: float, sent: int, rate: float) -> None:
    ahead = sent / rate - (time.monotonic() - started)
    if ahead > 0:
        time.sleep(ahead)


def open_input(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def guess_format(path: str) -> str:
    return "csv" if path.lower().endswith(".csv") else "jsonl"
