"""Wire contracts: round trips and clear rejections, without any broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from foundation.errors import SchemaError, TwincastError
from foundation.settings.base import MAX_EVENT_BYTES
from schemas import (
    Architecture,
    ArrayInfo,
    DeadLetter,
    Event,
    Forecast,
    ModelManifest,
    Scaler,
    TrainingFacts,
    Validation,
    decode,
    decode_event,
    encode,
)

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def raw_event(**fields: object) -> bytes:
    body: dict[str, object] = {"series_id": "s-1", "ts": "2026-01-02T03:04:05Z", "value": 1.5}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def manifest(**overrides: object) -> ModelManifest:
    arch = Architecture(features=1, units=4, layers=1)
    fields: dict[str, object] = dict(
        model_name="twincast-lstm",
        version=3,
        created_at=TS,
        architecture=arch,
        training=TrainingFacts(
            batch_size=8, epochs=5, tbptt=16, n_series=8, n_points=800, offsets={0: 100, 1: 250}
        ),
        validation=Validation(model_mae=0.1, persistence_mae=0.2, points=80),
        scaler=Scaler(kind="standard", mean=[0.5], scale=[2.0]),
        arrays=[
            ArrayInfo(name=n, shape=list(s), dtype="float32")
            for n, s in arch.expected_arrays().items()
        ],
        sha256="ab" * 32,
    )
    fields.update(overrides)
    return ModelManifest.model_validate(fields)


class TestRoundTrips:
    def test_event_scalar(self) -> None:
        event = decode_event(raw_event(), n_features=1, max_bytes=MAX_EVENT_BYTES)
        assert event == Event(series_id="s-1", ts=TS, value=1.5)
        assert decode_event(encode(event), n_features=1, max_bytes=MAX_EVENT_BYTES) == event
        assert event.features() == [1.5]

    def test_event_multi_feature(self) -> None:
        event = decode_event(raw_event(value=[1, 2.5, -3]), n_features=3, max_bytes=MAX_EVENT_BYTES)
        assert event.features() == [1.0, 2.5, -3.0]
        assert decode_event(encode(event), n_features=3, max_bytes=MAX_EVENT_BYTES) == event

    @pytest.mark.parametrize(
        ("ts", "expected"),
        [
            (1767323045, TS),  # epoch seconds
            (1767323045000, TS),  # epoch milliseconds
            ("2026-01-02T05:04:05+02:00", TS),  # offset normalised to UTC
            ("2026-01-02T03:04:05", TS),  # no zone means UTC
        ],
    )
    def test_event_timestamps(self, ts: object, expected: datetime) -> None:
        assert (
            decode_event(raw_event(ts=ts), n_features=1, max_bytes=MAX_EVENT_BYTES).ts == expected
        )

    def test_unknown_event_fields_are_ignored(self) -> None:
        event = decode_event(
            raw_event(unit="kWh", source="meter-7"), n_features=1, max_bytes=MAX_EVENT_BYTES
        )
        assert "unit" not in event.model_dump()

    def test_forecast(self) -> None:
        forecast = Forecast(
            series_id="s",
            ts=TS,
            forecast=2.0,
            model_version=0,
            produced_at=TS,
            source_topic="e",
            source_partition=2,
            source_offset=41,
        )
        assert decode(Forecast, encode(forecast)) == forecast
        assert dict(forecast.headers())["twincast-source-offset"] == b"41"

    def test_dead_letter_keeps_raw_bytes(self) -> None:
        raw = b"\xff\x00 not json"
        letter = DeadLetter.of(
            reason="not_utf8", error="bad", topic="e", partition=1, offset=9, raw=raw, key=b"k"
        )
        back = decode(DeadLetter, encode(letter))
        assert back == letter
        assert back.raw() == raw
        assert back.raw_truncated is False

    def test_dead_letter_truncates_huge_input(self) -> None:
        letter = DeadLetter.of(
            reason="oversized", error="big", topic="e", partition=0, offset=0, raw=b"x" * 1_000_000
        )
        assert letter.raw_truncated and letter.raw_size == 1_000_000
        assert len(encode(letter)) < 100_000

    def test_dead_letter_truncates_a_huge_key(self) -> None:
        letter = DeadLetter.of(
            reason="key_mismatch",
            error="k",
            topic="e",
            partition=0,
            offset=0,
            raw=b"{}",
            key=b"k" * 900_000,
        )
        assert letter.key_size == 900_000 and letter.key_base64 is not None
        assert len(encode(letter)) < 4_000

    def test_manifest(self) -> None:
        m = manifest()
        assert decode(ModelManifest, encode(m)) == m
        assert m.training.offsets == {0: 100, 1: 250}


class TestRejections:
    @pytest.mark.parametrize(
        ("raw", "reason", "words"),
        [
            (b"{not json", "invalid_json", "Invalid JSON"),
            (b"[1, 2]", "invalid_json", "JSON object"),
            (b"\xff\xfe\x00", "not_utf8", "UTF-8"),
            (b'{"series_id": "a\xff", "ts": 1, "value": 1}', "not_utf8", "byte 16"),
            (raw_event(series_id=...), "schema_violation", "series_id: Field required"),
            (raw_event(series_id=""), "schema_violation", "series_id"),
            (raw_event(series_id="   "), "schema_violation", "whitespace"),
            (
                raw_event(value="abc"),
                "schema_violation",
                "must be a number or a list of numbers, got str",
            ),
            (raw_event(value="1.5"), "schema_violation", "got str"),
            (raw_event(value=[1.0, "2"]), "schema_violation", "item 1 must be a number, got str"),
            (raw_event(value={"a": 1}), "schema_violation", "got an object"),
            (raw_event(value=True), "schema_violation", "got bool"),
            (raw_event(value=None), "schema_violation", "got NoneType"),
            (raw_event(value=[]), "schema_violation", "empty list"),
            (raw_event(value=...), "schema_violation", "value: Field required"),
            (b'{"series_id": "a", "ts": 1, "value": NaN}', "non_finite_value", "finite"),
            (b'{"series_id": "a", "ts": 1, "value": Infinity}', "non_finite_value", "finite"),
            (b'{"series_id": "a", "ts": 1, "value": -1e999}', "non_finite_value", "finite"),
            (b'{"series_id": "a", "ts": 1, "value": [1, NaN]}', "non_finite_value", "item 1"),
            (raw_event(ts="yesterday"), "schema_violation", "ts:"),
            (raw_event(ts="2026-13-45T00:00:00Z"), "schema_violation", "ts:"),
            (raw_event(schema_version=99), "unsupported_schema_version", "99"),
            (None, "null_value", "no value"),
        ],
    )
    def test_bad_event(self, raw: bytes | None, reason: str, words: str) -> None:
        with pytest.raises(SchemaError) as caught:
            decode_event(raw, n_features=1, max_bytes=MAX_EVENT_BYTES)
        assert caught.value.reason == reason
        assert words in str(caught.value)
        assert isinstance(caught.value, TwincastError)

    @pytest.mark.parametrize(
        ("value", "n_features", "words"),
        [([1.0, 2.0], 1, "a list of 2"), ([1.0, 2.0], 3, "expects 3"), (1.0, 3, "a single number")],
    )
    def test_wrong_feature_count(self, value: object, n_features: int, words: str) -> None:
        with pytest.raises(SchemaError) as caught:
            decode_event(raw_event(value=value), n_features=n_features, max_bytes=MAX_EVENT_BYTES)
        assert caught.value.reason == "wrong_feature_count"
        assert words in str(caught.value)

    def test_oversized(self) -> None:
        raw = raw_event(pad="x" * MAX_EVENT_BYTES)
        with pytest.raises(SchemaError) as caught:
            decode_event(raw, n_features=1, max_bytes=MAX_EVENT_BYTES)
        assert caught.value.reason == "oversized"
        assert str(len(raw)) in str(caught.value)

    def test_deeply_nested_json(self) -> None:
        with pytest.raises(SchemaError) as caught:
            decode_event(
                b'{"series_id": "a", "ts": 1, "value": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                n_features=1,
                max_bytes=MAX_EVENT_BYTES,
            )
        assert caught.value.reason in {"invalid_json", "schema_violation"}

    def test_manifest_arrays_must_match_architecture(self) -> None:
        with pytest.raises(ValueError, match="do not match the architecture"):
            manifest(arrays=[ArrayInfo(name="lstm_0/kernel", shape=[1, 16], dtype="float32")])

    def test_manifest_scaler_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            Scaler(kind="standard", mean=[0.0], scale=[0.0])

    def test_manifest_refuses_unknown_fields(self) -> None:
        body = json.loads(encode(manifest()))
        body["pickle"] = "cos\nsystem\n"
        with pytest.raises(SchemaError, match="pickle"):
            decode(ModelManifest, json.dumps(body).encode())


@pytest.mark.parametrize("series_id", ["plain", 'quo"te\\back', "ünïcødé ✓", "tab\tnew\nline"])
@pytest.mark.parametrize("value", [0.0, -1.5, 1e-300, 123456789.123456789, 2.0**60])
def test_fast_forecast_json_is_the_same_contract(series_id: str, value: float) -> None:
    from schemas.forecast import forecast_headers, forecast_json

    fields: dict[str, Any] = dict(
        series_id=series_id,
        ts=TS,
        forecast=value,
        model_version=3,
        produced_at=TS,
        source_topic="ev.ents",
        source_partition=2,
        source_offset=99,
    )
    fast = decode(Forecast, forecast_json(**fields))
    assert fast == Forecast(**fields)
    assert fast.forecast == value
    assert forecast_headers(2, 99) == Forecast(**fields).headers()
    # With a prediction interval: forecast -+ the half-width, the same contract.
    banded = decode(Forecast, forecast_json(**fields, half_width=0.25))
    assert banded == Forecast(**fields, lower=value - 0.25, upper=value + 0.25)
    assert banded.lower is not None and banded.upper is not None
    assert banded.lower <= value <= banded.upper


def test_a_forecast_interval_is_absent_or_whole() -> None:
    from schemas.forecast import forecast_json

    fields: dict[str, Any] = dict(
        series_id="s",
        ts=TS,
        forecast=1.0,
        model_version=0,
        produced_at=TS,
        source_topic="t",
        source_partition=0,
        source_offset=0,
    )
    for half in (None, float("nan"), 1e308 * 10, 1.7e308):  # none, or beyond float range
        message = json.loads(forecast_json(**{**fields, "forecast": 1e308}, half_width=half))
        assert "lower" not in message and "upper" not in message
    message = json.loads(forecast_json(**fields, half_width=-1.0))  # never made; never sent
    assert "lower" not in message and "upper" not in message
    with pytest.raises(ValueError, match="together"):
        Forecast(**fields, lower=0.0)
    with pytest.raises(ValueError, match="above"):
        Forecast(**fields, lower=2.0, upper=1.0)
