"""Restore the states and positions of assigned partitions from the state topic, refusing what
does not fit.

The state topic is a trust boundary like the events topic: whoever can write it can write
anything. A state record is used only if it decodes in full (``schemas.state``) and fits this
worker: its key is its series id, it sits in its own partition, its offset is within the events
partition, its feature count and window fit the settings and, when computed by the running model's
version, its h and c have that model's shape. A refused record is logged and counted by reason;
its series keeps its previous good state on the topic (compaction keeps only the newest record of
a key, so that may be none: zero state). Only the newest position marker of a partition counts;
it holds an emit-from offset M and a replay point R <= M (``schemas.state_header.Marker``), and a
marker with R > M or a negative offset is refused like any other bad marker.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from foundation.errors import SchemaError
from foundation.kafka.client import ConsumerOptions, Partition
from foundation.kafka.factory import kafka_clients
from foundation.kafka.record import ConsumedRecord
from foundation.settings.base import KafkaSettings
from lstmcore.serving import ServingModel
from schemas.state import StateRecord, decode_state
from schemas.state_header import Marker, decode_marker
from worker.state_writer import MARKER_PREFIX, marker_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expectation:
    """What a restored state must fit: the worker's settings and the running model, if any."""

    features: int
    max_window: int
    model: tuple[int, int, int] | None = None  # (version, layers, units) of the running model

    @classmethod
    def of(cls, features: int, max_window: int, model: ServingModel | None) -> Expectation:
        """Without a model (cold start) h and c shapes cannot be checked: the first model's swap
        resizes and realigns every state instead."""
        if model is None:
            return cls(features, max_window)
        arch = model.manifest.architecture
        return cls(features, max_window, (model.version, arch.layers, arch.units))


@dataclass
class Restored:
    states: dict[str, StateRecord] = field(default_factory=dict)
    positions: dict[int, Marker] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)  # reason -> records refused
    # Raw markers (offset, value) per partition, parsed only at the end: only the newest counts.
    markers: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)


def check_state(state: StateRecord, key: bytes, partition: int, end: int, fit: Expectation) -> None:
    """Raise ``SchemaError`` unless a decoded state fits where it was found and this worker."""
    if key != state.series_id.encode():
        raise SchemaError("key", f"key {key[:60]!r} is not series_id {state.series_id[:60]!r}")
    if state.partition != partition:
        raise SchemaError("partition", f"says partition {state.partition}, found in {partition}")
    if state.next_offset > end:
        raise SchemaError("offset_past_end", f"next_offset {state.next_offset} > end {end}")
    if state.window.shape[1] != fit.features:
        raise SchemaError("features", f"{state.window.shape[1]} features, not {fit.features}")
    if len(state.window) > fit.max_window:
        raise SchemaError("window", f"{len(state.window)} inputs > replay_window {fit.max_window}")
    # A state of another version is realigned to the running model (swap policy), whatever its
    # shape; a state claiming the running version must have exactly its shape.
    model = fit.model
    if model is not None and state.model_version == model[0] and state.h.shape != model[1:]:
        raise SchemaError("shape", f"h of shape {state.h.shape}, model has {model[1:]}")


def read_states(
    settings: KafkaSettings, partitions: list[int], fit: Expectation, timeout_s: float = 60.0
) -> Restored:
    """The newest good state of every series in these state partitions (tombstones remove),
    and the marker (emit-from M, replay-from R) of each partition that has a usable one."""
    out = Restored()
    wanted = [Partition(settings.state_topic, p) for p in partitions]
    if not wanted:
        return out
    # read_committed: with exactly-once, states of aborted transactions never come back.
    options = ConsumerOptions("worker-restore", read_committed=True)
    consumer = kafka_clients(settings).consumer(options)
    try:
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        end = consumer.end_offsets(wanted, timeout_s)
        # Events ends after state ends: every state read was written after its events were.
        events = [Partition(settings.events_topic, p) for p in partitions]
        ends = {tp.partition: o for tp, o in consumer.end_offsets(events, timeout_s).items()}
        starts = {
            tp.partition: o for tp, o in consumer.beginning_offsets(events, timeout_s).items()
        }
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in wanted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"state restore of {wanted} did not finish in {timeout_s}s")
            for records in consumer.poll(0.5).values():
                for record in records:
                    take_record(out, record, ends[record.partition], fit)
    finally:
        consumer.close()
    for partition, markers in out.markers.items():
        position = marker_position(out, partition, markers, ends[partition])
        if position is not None:
            out.positions[partition] = after_start(position, starts[partition])
    return out


def take_record(out: Restored, record: ConsumedRecord, end: int, fit: Expectation) -> None:
    key = record.key
    if not key:
        return _refuse(out, record.partition, record.offset, "key", "a record without a key")
    if key.startswith(MARKER_PREFIX):
        if key != marker_key(record.partition):  # another partition's marker, or no marker
            return _refuse(out, record.partition, record.offset, "marker_invalid", "wrong key")
        if record.value is None:  # what compaction does with a tombstoned marker: no marker
            out.markers.pop(record.partition, None)
        else:
            out.markers.setdefault(record.partition, []).append((record.offset, record.value))
        return None
    try:
        series_id = key.decode("utf-8")
        if record.value is None:
            out.states.pop(series_id, None)
            return None
        state = decode_state(record.value)
        check_state(state, key, record.partition, end, fit)
    except SchemaError as exc:
        return _refuse(out, record.partition, record.offset, exc.reason, exc.detail)
    except Exception as exc:  # a trust boundary: any failure is a refusal, never a crash
        return _refuse(out, record.partition, record.offset, "invalid", repr(exc)[:200])
    out.states[series_id] = state  # the previous good state stays when this one is refused
    return None


def marker_position(
    out: Restored, partition: int, markers: list[tuple[int, bytes]], end: int
) -> Marker | None:
    """The newest valid marker, clamped to the events partition's end (R <= M is checked by
    ``decode_marker``; a marker with R > M or a negative offset is refused).

    If the newest marker is invalid, the newest valid one before it counts: twincast only writes
    valid markers, so an invalid newest one was written by someone else after twincast's last
    checkpoint, whose marker is the one before it. Having none would resume at the group's
    committed offset, which is never newer than that marker."""
    for offset, raw in reversed(markers):
        try:
            position = decode_marker(raw)
        except SchemaError as exc:
            _refuse(out, partition, offset, exc.reason, exc.detail)
            continue
        if position.next_offset > end:
            # Past the end it would wait for events that may never come: nothing after it is
            # forecast. The end is the furthest any real checkpoint could have reached.
            _refuse(out, partition, offset, "marker_past_end", f"{position} clamped to {end}")
            return Marker(end, min(position.replay_from, end))
        return position
    return None


def after_start(marker: Marker, start: int) -> Marker:
    """A marker whose replay point is no longer on the events partition (retention deleted
    those events) reads from the partition's first offset: nothing older can be read again,
    and seeking below it would never get the records the restore waits for."""
    if marker.replay_from >= start:
        return marker
    log.warning("replay point %d is before the partition's start %d", marker.replay_from, start)
    return Marker(max(marker.next_offset, start), start)


def _refuse(out: Restored, partition: int, offset: int, reason: str, detail: str) -> None:
    out.refused[reason] += 1
    log.warning(
        "state record refused at partition %d offset %d (%s): %s", partition, offset, reason, detail
    )
