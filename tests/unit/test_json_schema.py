"""`twincast schema`: the JSON Schemas of the wire contracts, honest about what they cannot say;
the README's examples validate against them and decode with the models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from schemas import DeadLetter, Event, Forecast, decode
from schemas.json_schema import BEYOND, CONTRACTS, json_schema, json_schemas
from twincast.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
HEADINGS = {"**Event**": "event", "**Forecast**": "forecast", "**DeadLetter**": "deadletter"}


def readme_examples() -> list[tuple[str, str]]:
    """(contract, JSON text) of every ```json block of the README's Wire contracts section, by
    the contract heading last seen above it."""
    text = README.read_text("utf-8")
    section = text[text.index("## Wire contracts") :]
    section = section[: section.index("\n## ", 1)]
    examples, contract = [], None
    for part in re.split(r"(```json\n.*?```)", section, flags=re.S):
        if part.startswith("```json"):
            assert contract is not None, f"a JSON example under no contract heading: {part}"
            examples.append((contract, part.removeprefix("```json\n").removesuffix("```")))
            continue
        found = [(part.rfind(heading), name) for heading, name in HEADINGS.items()]
        if max(found)[0] >= 0:
            contract = max(found)[1]  # the last heading in this stretch of prose
    return examples


def validator(name: str) -> Draft202012Validator:
    schema = json_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_the_readme_has_an_example_of_every_contract() -> None:
    assert sorted({name for name, _ in readme_examples()}) == sorted(CONTRACTS)


@pytest.mark.parametrize(("name", "example"), readme_examples())
def test_readme_examples_validate_and_decode(name: str, example: str) -> None:
    message = json.loads(example)
    errors = [e.message for e in validator(name).iter_errors(message)]
    assert errors == [], f"{name} example: {errors}"
    decode(CONTRACTS[name], example.encode())  # and twincast takes it too


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("event", {"series_id": "a", "ts": "2026-01-01T00:00:00Z", "value": "1.5"}),
        ("event", {"series_id": "a", "ts": "2026-01-01T00:00:00Z", "value": True}),
        ("event", {"series_id": "a", "ts": "2026-01-01T00:00:00Z", "value": []}),
        ("event", {"series_id": "", "ts": "2026-01-01T00:00:00Z", "value": 1}),
        ("event", {"series_id": " ", "ts": "2026-01-01T00:00:00Z", "value": 1}),
        ("event", {"series_id": "a", "ts": True, "value": 1}),
        ("event", {"series_id": "a", "ts": 0, "value": 1, "schema_version": 2}),
        ("event", {"series_id": "a", "value": 1}),
        ("forecast", {"series_id": "a", "ts": 0, "forecast": "1"}),
    ],
)
def test_the_schema_refuses_what_twincast_refuses(name: str, message: dict[str, Any]) -> None:
    assert not validator(name).is_valid(message)
    with pytest.raises(Exception):  # noqa: B017 (SchemaError or ValidationError)
        decode(CONTRACTS[name], json.dumps(message).encode())


@pytest.mark.parametrize("ts", ["2026-01-01T00:00:00", "2026-01-01", "1767225600", "yesterday"])
def test_the_schema_is_stricter_than_twincast_about_ts(ts: str) -> None:
    """The schema asks for RFC 3339 with a zone (or a number); twincast is lenient with other
    ISO-8601 forms and numeric strings, so what passes the schema, twincast takes."""
    message = {"series_id": "a", "ts": ts, "value": 1}
    assert not validator("event").is_valid(message), "the date-time format is checked"
    if ts != "yesterday":
        decode(Event, json.dumps(message).encode())


def test_a_produced_forecast_and_dead_letter_validate() -> None:
    forecast = Forecast(
        series_id="m",
        ts="2026-01-01T00:00:00Z",
        forecast=1.5,
        model_version=0,
        produced_at="2026-01-01T00:00:01Z",
        source_topic="e",
        source_partition=0,
        source_offset=3,
    )
    dead = DeadLetter.of(reason="r", error="e", topic="t", partition=0, offset=1, raw=None)
    event = Event(series_id="m", ts=1_700_000_000, value=[1.0, 2.0])
    for name, model in (("forecast", forecast), ("deadletter", dead), ("event", event)):
        message = json.loads(model.model_dump_json())
        assert validator(name).is_valid(message), list(validator(name).iter_errors(message))


def test_each_schema_says_what_it_cannot_express() -> None:
    for name, rules in BEYOND.items():
        description = json_schema(name)["description"]
        assert all(rule in description for rule in rules), name
    assert "years 1-9999" in json_schema("event")["description"]
    unknown = {"series_id": "a", "ts": 0, "value": 1, "source": "meter"}
    assert validator("event").is_valid(unknown), "unknown event fields are ignored, not refused"


def test_twincast_schema_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schemas()
    assert main(["schema", "deadletter"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema("deadletter") and printed["title"] == "DeadLetter"
