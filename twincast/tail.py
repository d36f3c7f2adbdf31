"""``twincast tail``: follow the forecasts topic as a readable table or as JSON Lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TextIO

from foundation.errors import SchemaError
from foundation.kafka.client import Consumer, ConsumerOptions
from foundation.kafka.factory import kafka_clients
from foundation.kafka.record import ConsumedRecord
from foundation.settings.base import KafkaSettings
from schemas import Forecast, decode

HEADER = (
    f"{'produced_at':<27} {'series_id':<20} {'ts':<26} {'forecast':>14} {'ver':>4} {'source':>12}"
    f" {'lower':>14} {'upper':>14}"
)


def format_row(f: Forecast) -> str:
    produced = f.produced_at.isoformat(timespec="milliseconds")
    # The prediction interval, "-" before it is calibrated (or from an older worker).
    lower = "-" if f.lower is None else f"{f.lower:.6g}"
    upper = "-" if f.upper is None else f"{f.upper:.6g}"
    return (
        f"{produced:<27} {f.series_id[:20]:<20} {f.ts.isoformat():<26} {f.forecast:>14.6g} "
        f"{f.model_version:>4} {f'{f.source_partition}:{f.source_offset}':>12} {lower:>14} "
        f"{upper:>14}"
    )


def tail(
    settings: KafkaSettings,
    series: str | None,
    as_json: bool,
    from_beginning: bool,
    max_messages: int | None,
    idle_timeout_s: float | None,
    out: TextIO = sys.stdout,
) -> int:
    """Print forecasts until Ctrl-C, ``max_messages`` printed or ``idle_timeout_s`` of quiet."""
    options = ConsumerOptions("tail", from_earliest=from_beginning)  # no group: every partition
    consumer = kafka_clients(settings).consumer(options)
    consumer.subscribe([settings.forecasts_topic])
    printed = 0
    if not as_json:
        print(HEADER, file=out, flush=True)
    try:
        for record in _records(consumer, idle_timeout_s):
            try:
                forecast = decode(Forecast, record.value)
            except SchemaError as exc:
                print(f"# offset {record.offset}: not a forecast ({exc})", file=sys.stderr)
                continue
            if series is not None and forecast.series_id != series:
                continue
            line = forecast.model_dump_json() if as_json else format_row(forecast)
            print(line, file=out, flush=True)
            printed += 1
            if max_messages is not None and printed >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return printed


def _records(consumer: Consumer, idle_timeout_s: float | None) -> Iterator[ConsumedRecord]:
    """Records as they come, in order per partition; ends after ``idle_timeout_s`` without one
    (never, if None or 0)."""
    last = time.monotonic()
    while not idle_timeout_s or time.monotonic() - last < idle_timeout_s:
        for records in consumer.poll(0.2).values():
            yield from records
            last = time.monotonic()
