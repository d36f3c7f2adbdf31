"""Property-based: whatever bytes arrive as an event, the only outcomes are a valid Event or a
refusal with a known reason (issue 11). Never another exception: one record must not stop a worker
or a trainer. Derandomized and with moderate example counts, so CI is reproducible and quick."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.errors import SchemaError
from foundation.kafka.client import Producer
from foundation.settings.base import MAX_EVENT_BYTES
from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings
from schemas import DeadLetter, Event, decode, decode_event
from schemas.codec import REASONS, UNDECODABLE
from schemas.control import CONTROL_HEADER, control_action
from trainer.consume import to_consumed
from trainer.history import Consumed, Point
from trainer.metrics import TrainerMetrics
from trainer.service import TrainerService
from worker.records import KEY_MISMATCH, MISSING_KEY, Control, EventValidator, split_at_controls

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- strategies ------------------------------------------------------------------------------------

EDGE_NUMBERS: list[float | int] = [
    sys.float_info.max,
    -sys.float_info.max,
    sys.float_info.min,
    5e-324,  # smallest subnormal
    -5e-324,
    0.0,
    -0.0,
    1e308,
    -1e308,
    2**53 + 1,
    2**63,
    2**64 + 1,
    -(2**64) - 1,
    10**308,
    10**309,  # an int beyond float range
    -(10**400),
]
numbers = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(min_value=-(2**1100), max_value=2**1100),
)

UTC_SECONDS_MAX = 253402300799  # 9999-12-31T23:59:59Z
UTC_SECONDS_MIN = -62135596800  # 0001-01-01T00:00:00Z
EPOCH_EDGES = [
    base * scale + nudge
    for base in (UTC_SECONDS_MAX, UTC_SECONDS_MIN, 2 * 10**10, 0)
    for scale in (1, 1000, -1, -1000)
    for nudge in (-1, 0, 1)
] + [2**63, 2**63 - 1, -(2**63), 2**64 + 1, 10**30, 1e308, -1e308, 5e-324, -0.0]

offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
zones = st.one_of(
    st.none(),
    st.just(UTC),
    st.builds(timezone, offsets),
    st.sampled_from([timezone(timedelta(hours=h)) for h in (-23, -12, -1, 1, 12, 23)]),
)
edge_datetimes = st.sampled_from(
    [
        datetime.min,
        datetime.min + timedelta(hours=1),
        datetime.max,
        datetime.max - timedelta(hours=1),
        datetime(1970, 1, 1),
    ]
)
datetimes = st.one_of(edge_datetimes, st.datetimes(min_value=datetime.min, max_value=datetime.max))
aware = st.builds(lambda dt, tz: dt.replace(tzinfo=tz), datetimes, zones)
iso_separators = st.sampled_from(["T", " ", "t"])
odd_iso = st.from_regex(
    r"\A[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt ][0-9]{1,2}(:[0-9]{1,2}(:[0-9]{1,2}([.,][0-9]{0,12})?)?)?)?"
    r"(Z|z|[+-][0-9]{1,2}(:?[0-9]{1,2}(:?[0-9]{1,2})?)?)?\Z",
    fullmatch=True,
)
timestamps = st.one_of(
    aware.map(datetime.isoformat),
    st.builds(lambda dt, sep: dt.isoformat(sep), aware, iso_separators),
    odd_iso,
    st.sampled_from(EPOCH_EDGES),
    st.sampled_from(EPOCH_EDGES).map(str),
    numbers,
    st.text(max_size=40),
)

# Lone surrogates too: json.dumps escapes them, and a JSON parser must refuse or keep them.
characters = st.one_of(st.characters(), st.characters(categories=["Cs"]))
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(characters, max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(characters, max_size=10), children, max_size=4),
    ),
    max_leaves=20,
)
series_ids = st.one_of(
    st.sampled_from(["a", "meter-7", " ", "", "x" * 257]), st.text(characters, max_size=12)
)
values = st.one_of(numbers, st.lists(numbers, max_size=3), json_values)
event_bodies = st.fixed_dictionaries(
    {"series_id": st.one_of(series_ids, json_values), "ts": timestamps, "value": values},
    optional={"schema_version": st.one_of(st.just(1), numbers), "extra": json_values},
)


def _dump(body: object) -> bytes:
    # json.dumps writes NaN, Infinity and escaped lone surrogates: hostile, but producers do it.
    return json.dumps(body).encode()


raw_events = st.one_of(
    st.binary(max_size=200),
    json_values.map(_dump),
    event_bodies.map(_dump),
    event_bodies.map(lambda body: _dump(body)[: len(_dump(body)) // 2]),  # cut short
)

# -- properties ------------------------------------------------------------------------------------


def _valid_or_refused(raw: bytes, n_features: int = 1) -> Event | None:
    """Decode; assert the outcome is a sound Event or a known refusal (then None)."""
    try:
        event = decode_event(raw, n_features=n_features, max_bytes=MAX_EVENT_BYTES)
    except SchemaError as exc:
        assert exc.reason in REASONS, exc
        assert exc.detail
        return None
    assert event.series_id.strip()
    assert event.ts.tzinfo is not None and event.ts.utcoffset() == timedelta(0)
    assert len(event.features()) == n_features
    assert all(math.isfinite(v) for v in event.features())
    return event


@FUZZ
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _valid_or_refused(raw)


@FUZZ
@given(raw=raw_events, n_features=st.integers(min_value=1, max_value=3))
def test_arbitrary_json_and_event_shapes(raw: bytes, n_features: int) -> None:
    _valid_or_refused(raw, n_features)


@FUZZ
@given(ts=timestamps)
def test_timestamps_at_and_past_every_range_edge(ts: object) -> None:
    _valid_or_refused(_dump({"series_id": "a", "ts": ts, "value": 1.0}))


@FUZZ
@given(dt=datetimes, minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
def test_iso_timestamps_are_accepted_exactly_when_utc_can_hold_them(
    dt: datetime, minutes: int
) -> None:
    local = dt.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    try:
        expected: datetime | None = local.astimezone(UTC)
    except OverflowError:
        expected = None
    raw = _dump({"series_id": "a", "ts": local.isoformat(), "value": 1.0})
    if expected is None:
        with pytest.raises(SchemaError, match="ts: out of range") as caught:
            decode_event(raw, n_features=1, max_bytes=MAX_EVENT_BYTES)
        assert caught.value.reason == "schema_violation"
    else:
        assert decode_event(raw, n_features=1, max_bytes=MAX_EVENT_BYTES).ts == expected


@FUZZ
@given(value=numbers)
def test_numbers_at_float_edges(value: float | int) -> None:
    event = _valid_or_refused(_dump({"series_id": "a", "ts": 0, "value": value}))
    as_float = float(value) if abs(value) < 2**1024 else math.inf
    assert (event is not None) == math.isfinite(as_float)
    if event is not None:
        assert event.features() == [as_float]


@pytest.mark.parametrize(
    "ts",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999-00:01",
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_the_known_poison_timestamps_are_refused_with_a_reason(ts: str) -> None:
    with pytest.raises(SchemaError) as caught:
        decode_event(
            _dump({"series_id": "a", "ts": ts, "value": 1}), n_features=1, max_bytes=MAX_EVENT_BYTES
        )
    assert caught.value.reason == "schema_violation"
    assert caught.value.detail.startswith("ts: out of range")


@pytest.mark.parametrize("ts", [1e20, -1e20, 10**30, 2**64 + 1, "1e20", 1e308])
def test_epochs_that_overflow_are_refused(ts: object) -> None:
    with pytest.raises(SchemaError) as caught:
        decode_event(
            _dump({"series_id": "a", "ts": ts, "value": 1}), n_features=1, max_bytes=MAX_EVENT_BYTES
        )
    assert caught.value.reason == "schema_violation"


# -- the unforeseen: any exception is a refusal --------------------------------------------------


def _explode(*_: object, **__: object) -> Any:
    raise ZeroDivisionError("a failure nobody foresaw")


def test_an_unforeseen_exception_while_decoding_is_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Exploding:  # the model's validator, as decode calls it
        validate_json = staticmethod(_explode)

    monkeypatch.setattr(Event, "__pydantic_validator__", Exploding())
    with pytest.raises(SchemaError) as caught:
        decode(Event, b'{"series_id": "a", "ts": 1, "value": 1}')
    assert caught.value.reason == UNDECODABLE
    assert caught.value.detail == "ZeroDivisionError: a failure nobody foresaw"
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


# -- the worker's and the trainer's paths --------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What the services read of a kafka-python ConsumerRecord."""

    value: bytes | None
    key: bytes | None
    offset: int
    topic: str = "twincast.events"
    partition: int = 0
    timestamp: int = 0
    headers: list[tuple[str, bytes | None]] | None = None


WORKER_REASONS = REASONS | {MISSING_KEY, KEY_MISMATCH}


def _records(pairs: list[tuple[bytes | None, bytes | None]]) -> list[Record]:
    """Records of (value, key) pairs at offsets 0, 1, ..."""
    return [Record(raw, key, offset) for offset, (raw, key) in enumerate(pairs)]


records_lists = st.lists(
    st.tuples(
        st.one_of(st.none(), raw_events),
        st.one_of(st.none(), st.sampled_from([b"a", b"meter-7", b""]), st.binary(max_size=8)),
    ),
    max_size=8,
)


@FUZZ
@given(pairs=records_lists)
def test_the_worker_sorts_every_record_into_a_forecast_or_a_dead_letter(
    pairs: list[tuple[bytes | None, bytes | None]],
) -> None:
    records = _records(pairs)
    valid, dead = EventValidator(WorkerSettings()).validate(records)
    letters = [decode(DeadLetter, value) for _, value in dead.messages]
    assert len(valid.offsets) + len(letters) == len(records)
    assert sorted([*valid.offsets, *(d.source_offset for d in letters)]) == list(range(len(pairs)))
    assert all(d.reason in WORKER_REASONS and d.error for d in letters)
    assert sum(dead.reasons.values()) == len(letters)


@FUZZ
@given(pairs=records_lists)
def test_the_trainer_skips_and_counts_every_bad_record(
    pairs: list[tuple[bytes | None, bytes | None]],
) -> None:
    records = _records(pairs)
    consumed = to_consumed(records, 1, 64 * 1024)
    assert [c.offset for c in consumed] == list(range(len(pairs)))
    assert all((c.point is None) == (c.bad_reason in REASONS) for c in consumed)


def test_an_unforeseen_exception_is_a_dead_letter_and_a_skip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = b'{"series_id": "a", "ts": 1, "value": 1}'
    records = _records([(good, b"a"), (good, b"a")])
    calls = iter([_explode, decode_event])

    def flaky(*args: Any, **kwargs: Any) -> Event:
        return next(calls)(*args, **kwargs)

    monkeypatch.setattr("worker.records.decode_event", flaky)
    valid, dead = EventValidator(WorkerSettings()).validate(records)
    assert valid.offsets == [1]
    letter = decode(DeadLetter, dead.messages[0][1])
    assert (letter.reason, letter.source_offset) == (UNDECODABLE, 0)
    assert "ZeroDivisionError" in letter.error and dead.reasons == {UNDECODABLE: 1}

    monkeypatch.setattr("trainer.consume.decode_event", _explode)
    consumed = to_consumed(records, 1, 64 * 1024)
    assert [c.bad_reason for c in consumed] == [UNDECODABLE, UNDECODABLE]


def test_the_readme_names_every_reason() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    refused = text[text.index("A refused event gets a `SchemaError`") :]
    dlq = text[text.index("**DLQ reasons:**") :]
    for reason in REASONS:
        assert f"`{reason}`" in refused[:400], reason
    for reason in WORKER_REASONS:
        assert f"`{reason}`" in dlq[:600], reason


def test_a_control_header_with_a_null_value_is_an_unknown_control_not_a_crash() -> None:
    # Kafka allows a null header value (kafka-python's producer cannot send one; others can).
    good = b'{"series_id": "a", "ts": 1, "value": 1}'
    odd = Record(good, b"a", 1, headers=[(CONTROL_HEADER, None)])
    records = [Record(good, b"a", 0), odd, Record(good, b"a", 2)]
    assert control_action(odd.headers) == ""  # not an action: the worker dead-letters it
    assert [control for _, control in split_at_controls(records)] == [Control(odd, ""), None]
    consumed = to_consumed(records, 1, 64 * 1024)
    assert [c.point is not None for c in consumed] == [True, False, True]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_valid_event_at_the_float_edge_fails_a_refit_never_the_trainer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TrainerSettings(history_db=tmp_path / "history.sqlite", min_points_per_series=20)
    service = TrainerService(settings, TrainerMetrics())
    edge = [sys.float_info.max, -sys.float_info.max]  # finite, so valid; their spread is not
    points = [
        Consumed(0, i, Point(f"s{i % 2}", 1.7e9 + i // 2, [edge[(i // 2) % 2]])) for i in range(60)
    ]
    service.history.ingest(settings.events_topic, points)
    assert service._refit_and_publish(producer=cast(Producer, None)) is None  # never reached
    assert service.metrics.registry.get_sample_value("twincast_refits_total", {"outcome": "failed"})
    assert "refit of version 1 failed" in caplog.text
    service.history.close()
