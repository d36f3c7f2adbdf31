"""JSON Schemas of the messages other languages exchange with twincast, from the pydantic models.

A schema says what to send and what to expect; a few rules of the models are no JSON Schema
keyword, so each schema's description lists them (``BEYOND``) and the README repeats them. Where
the two differ, the schema is the stricter one (e.g. ``ts`` with a zone), never the looser one,
except for the rules listed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from foundation.settings.base import MAX_EVENT_BYTES
from schemas.deadletter import DeadLetter
from schemas.event import Event
from schemas.forecast import Forecast

DIALECT = "https://json-schema.org/draft/2020-12/schema"

CONTRACTS: dict[str, type[BaseModel]] = {
    "event": Event,
    "forecast": Forecast,
    "deadletter": DeadLetter,
}

_TS = (
    "ts: an RFC 3339 date-time or an epoch number (seconds; milliseconds when above 2e10); "
    "twincast also accepts other ISO-8601 forms (without a zone: UTC; a date alone) and numeric "
    "strings, and refuses a time outside years 1-9999 once in UTC"
)
BEYOND: dict[str, list[str]] = {
    "event": [
        _TS,
        "value: finite (a number beyond float range, NaN or Infinity is refused as "
        "non_finite_value)",
        "value: as many features as the deployment's TWINCAST_FEATURES (a plain number is one)",
        f"the whole message is UTF-8 JSON of at most TWINCAST_MAX_EVENT_BYTES "
        f"({MAX_EVENT_BYTES} by default)",
    ],
    "forecast": [
        "ts and produced_at: twincast writes RFC 3339 date-times with a zone",
        "forecast: always finite",
    ],
    "deadletter": [
        "raw_base64 and key_base64: standard base64 of at most 64 KiB and 1 KiB of raw bytes",
        "received_at: twincast writes an RFC 3339 date-time with a zone",
    ],
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one contract: ``event``, ``forecast``, ``deadletter``."""
    model = CONTRACTS[name]
    schema = model.model_json_schema()
    rules = "; ".join(BEYOND[name])
    schema["description"] = (
        f"{schema.get('description', '')}\n\nChecked by twincast beyond this schema: {rules}."
    ).strip()
    return {"$schema": DIALECT, **schema}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every contract's schema, by name."""
    return {name: json_schema(name) for name in CONTRACTS}
