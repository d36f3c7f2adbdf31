"""The state topic is a trust boundary: every state and marker record is checked before use, and
no forecast is ever non-finite. No broker needed: records are built and fed in directly."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from foundation.errors import SchemaError
from foundation.settings.worker import SwapPolicy
from lstmcore.serving import ServingModel
from schemas.forecast import ForecastWriter
from schemas.state import decode_state, encode_states
from schemas.state_header import Marker, decode_marker, encode_marker
from tests.unit.test_artifact import make_artifact
from worker.hotpath import EventBatch, apply_swap, process
from worker.records import NON_FINITE_FORECAST, DeadLetters, drop_non_finite
from worker.restore import Expectation, Restored, check_state, marker_position, take_record
from worker.state_store import StateStore
from worker.state_writer import marker_key

TS = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = ServingModel.from_artifact(make_artifact(version=1, units=5, mean=1.0, scale=2.0))
LAYERS = MODEL.manifest.architecture.layers
FIT = Expectation(features=1, max_window=8, model=(1, LAYERS, 5))


def _model() -> ServingModel:
    return MODEL


def _store() -> StateStore:
    return StateStore(capacity=10, window=8, features=1, layers=LAYERS, units=5)


def _events(pairs: list[tuple[str, float]], first_offset: int = 0) -> EventBatch:
    batch = EventBatch()
    for i, (series_id, value) in enumerate(pairs):
        batch.append(series_id, TS, [float(value)], 0, first_offset + i, 0)
    return batch


def _good(series_id: str = "a") -> bytes:
    """A real checkpoint record: a few steps of the model, partition 0, next offset 3."""
    model = _model()
    store = _store()
    process(model, store, _events([(series_id, 1.0), (series_id, 2.0), (series_id, 1.5)]))
    return encode_states(store.columns([series_id]))[0]


def edit_header(raw: bytes, **fields: object) -> bytes:
    line, body = raw.split(b"\n", 1)
    header = json.loads(line)
    header.update(fields)
    return json.dumps(header).encode() + b"\n" + body


def with_arrays(raw: bytes, h: np.ndarray | None = None, window: np.ndarray | None = None) -> bytes:
    record = decode_state(raw)
    line = raw.split(b"\n", 1)[0]
    h = record.h if h is None else h
    window = record.window if window is None else window
    header = json.loads(line)
    header.update(layers=h.shape[0], units=h.shape[1], window=len(window))
    header.update(features=window.shape[1])
    last = window[-1] if len(window) else np.zeros(0)
    body = b"".join(
        (h.astype("<f4").tobytes(), h.astype("<f4").tobytes(), window.astype("<f8").tobytes())
    )
    return json.dumps(header).encode() + b"\n" + body + last.astype("<f8").tobytes()


def test_a_good_record_decodes() -> None:
    record = decode_state(_good())
    assert record.series_id == "a" and record.next_offset == 3 and record.h.shape == (LAYERS, 5)
    check_state(record, b"a", 0, 3, FIT)
    assert Expectation.of(1, 8, MODEL) == FIT and Expectation.of(1, 8, None).model is None


HOSTILE = {
    "not_json": (b"{nope\n", "invalid"),
    "no_newline": (b"x" * 5000, "invalid"),
    "random_bytes": (bytes(random.Random(1).randrange(256) for _ in range(300)), "invalid"),
    "json_list": (b"[1, 2]\n", "invalid"),
    "string_pending": (edit_header(_good(), pending_forecast="1.5"), "type"),
    "int_pending": (edit_header(_good(), pending_forecast=2), "type"),
    "nan_pending": (edit_header(_good(), pending_forecast=float("nan")), "non_finite"),
    "bool_offset": (edit_header(_good(), next_offset=True), "type"),
    "string_offset": (edit_header(_good(), next_offset="3"), "type"),
    "offset_2_63": (edit_header(_good(), next_offset=2**63), "range"),
    "negative_offset": (edit_header(_good(), next_offset=-1), "range"),
    "schema_2": (edit_header(_good(), schema_version=2), "schema_version"),
    "huge_layers": (edit_header(_good(), layers=10**12), "range"),
    "size_mismatch": (edit_header(_good(), units=6), "size"),
    "has_last_lies": (edit_header(_good(), has_last=False), "invalid"),
    "empty_series_id": (edit_header(_good(), series_id=" "), "type"),
    "nan_h": (with_arrays(_good(), h=np.full((LAYERS, 5), np.nan)), "non_finite"),
    "inf_window": (with_arrays(_good(), window=np.array([[1.0], [np.inf]])), "non_finite"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_state_record_is_a_schema_error_with_its_reason(kind: str) -> None:
    raw, reason = HOSTILE[kind]
    with pytest.raises(SchemaError) as caught:
        decode_state(raw)
    assert caught.value.reason == reason


def test_arbitrary_bytes_decode_or_are_refused() -> None:
    rng = random.Random(7)
    good = _good()
    for _ in range(500):
        raw = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            record = decode_state(bytes(raw))
        except SchemaError:
            continue
        assert np.isfinite(record.h).all() and np.isfinite(record.window).all()


@pytest.mark.parametrize(
    ("raw", "key", "partition", "end", "reason"),
    [
        (_good("a"), b"b", 0, 3, "key"),
        (_good(), b"a", 1, 3, "partition"),
        (_good(), b"a", 0, 2, "offset_past_end"),
        (with_arrays(_good(), window=np.ones((2, 2))), b"a", 0, 3, "features"),
        (with_arrays(_good(), window=np.ones((9, 1))), b"a", 0, 3, "window"),
        (with_arrays(_good(), h=np.ones((LAYERS, 4))), b"a", 0, 3, "shape"),
        (with_arrays(_good(), h=np.ones((LAYERS + 1, 5))), b"a", 0, 3, "shape"),
    ],
)
def test_a_state_that_does_not_fit_is_refused(
    raw: bytes, key: bytes, partition: int, end: int, reason: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        check_state(decode_state(raw), key, partition, end, FIT)
    assert caught.value.reason == reason


def test_another_versions_state_of_another_shape_is_left_to_realign() -> None:
    record = decode_state(with_arrays(edit_header(_good(), model_version=7), h=np.ones((2, 3))))
    check_state(record, b"a", 0, 3, FIT)  # the swap policy replays or resets it
    check_state(record, b"a", 0, 3, Expectation(1, 8))  # cold start: no model to compare


@dataclass
class _Record:
    key: bytes | None
    value: bytes | None
    partition: int = 0
    offset: int = 0
    topic: str = "events"
    timestamp: int = 0
    headers: list[tuple[str, bytes | None]] | None = None


def test_a_refused_state_leaves_the_previous_good_one() -> None:
    out = Restored()
    good = _good("a")
    for offset, value in enumerate([good, edit_header(good, pending_forecast="x"), b"\x00junk"]):
        take_record(out, _Record(b"a", value, offset=offset), 3, FIT)
    take_record(out, _Record(b"z", b"\x00junk", offset=3), 3, FIT)  # no good one: zero state
    take_record(out, _Record(b"\xff\xff", good, offset=4), 3, FIT)  # not UTF-8: not a series
    assert list(out.states) == ["a"]
    assert out.states["a"].pending_forecast == decode_state(good).pending_forecast
    assert out.refused == {"type": 1, "invalid": 3}


def test_only_the_newest_valid_marker_counts_and_one_past_the_end_is_clamped() -> None:
    out = Restored()
    good, bad = encode_marker(40), b"not json"
    assert marker_position(out, 0, [(0, bad), (1, good)], 100) == Marker(40, 40)
    assert not out.refused, "an older bad marker is never even parsed"
    assert marker_position(out, 0, [(0, encode_marker(30)), (1, good), (2, bad)], 100) == Marker(
        40, 40
    )
    assert out.refused == {"marker_invalid": 1}
    assert marker_position(out, 0, [(0, encode_marker(2**40, 70))], 100) == Marker(100, 70)
    assert out.refused["marker_past_end"] == 1
    assert marker_position(out, 0, [(0, bad), (1, b'{"next_offset": true}')], 100) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b'{"next_offset": -1}',
        b'{"next_offset": 9223372036854775808}',
        None,
        b'{"next_offset": 5, "replay_from": 6}',  # R > M
        b'{"next_offset": 5, "replay_from": -1}',
        b'{"next_offset": 5, "replay_from": 2.0}',
    ],
)
def test_a_hostile_marker_is_refused(raw: bytes | None) -> None:
    with pytest.raises(SchemaError):
        decode_marker(raw)


def test_a_marker_without_replay_from_replays_from_its_next_offset() -> None:
    assert decode_marker(b'{"next_offset": 12}') == Marker(12, 12)
    assert decode_marker(encode_marker(12, 3)) == Marker(12, 3)
    assert decode_marker(encode_marker(12)) == Marker(12, 12)


def test_marker_records_are_kept_raw_and_a_tombstone_removes_them() -> None:
    out = Restored()
    take_record(out, _Record(marker_key(0), b"junk", offset=0), 9, FIT)
    assert out.markers == {0: [(0, b"junk")]} and not out.refused
    take_record(out, _Record(marker_key(0), None, offset=1), 9, FIT)
    assert out.markers == {}
    take_record(out, _Record(marker_key(1), encode_marker(5), offset=2), 9, FIT)  # in partition 0
    assert out.markers == {} and out.refused == {"marker_invalid": 1}


def test_a_non_finite_step_resets_the_series_and_dead_letters_its_event() -> None:
    model = _model()
    store = _store()
    process(model, store, _events([("a", 1.0), ("b", 1.0)]))
    (slot,) = store.slots_for(["a"])
    store.h[:, slot] = np.nan  # as a poisoned state would, had it got in
    batch = _events([("a", 2.0), ("b", 2.0)], first_offset=2)
    result = process(model, store, batch)
    assert result.non_finite.tolist() == [True, False]
    assert np.isfinite(result.forecasts).all()
    state = store.get("a")
    assert state is not None and not state.h.any() and len(state.window) == 0
    records = [_Record(b"a", b"{}", 0, 2), _Record(b"b", b"{}", 0, 3)]
    dead = DeadLetters()
    kept, kept_result = drop_non_finite(records, batch, result, dead)
    assert kept.series_ids == ["b"] and kept_result.forecasts.tolist() == [result.forecasts[1]]
    assert dead.reasons == {NON_FINITE_FORECAST: 1}
    again = process(model, store, _events([("a", 3.0)], first_offset=4))
    assert np.isfinite(again.forecasts).all() and not again.non_finite.any()


def test_the_forecast_writer_never_writes_a_non_finite_forecast() -> None:
    writer = ForecastWriter("events")
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(SchemaError):
            writer.write("a", TS, bad, 1, 0, 0)


def test_a_cold_start_state_of_any_shape_fits_once_the_first_model_arrives() -> None:
    # The worker's store before any model exists.
    store = StateStore(capacity=10, window=8, features=1, layers=1, units=1)
    record = decode_state(with_arrays(_good(), h=np.ones((3, 7))))
    check_state(record, b"a", 0, 3, Expectation(1, 8))  # nothing to compare h with yet
    store.put("a", record)
    apply_swap(store, None, MODEL, SwapPolicy.REPLAY)  # resized, recomputed from the window
    assert store.h.shape == (LAYERS, 10, 5)
    result = process(MODEL, store, _events([("a", 2.0)], first_offset=3))
    assert np.isfinite(result.forecasts).all() and not result.non_finite.any()
