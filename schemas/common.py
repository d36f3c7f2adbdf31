"""Pieces shared by the wire contracts: the base model, timestamps and finite numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1

TS_OUT_OF_RANGE = "out of range"


def _utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC, so all arithmetic on ts is unambiguous.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        # Valid ISO-8601 near year 1 or 9999 with an offset leaves datetime's range once in UTC
        # (e.g. 9999-12-31T23:59:59-01:00): a refusal of this one record, not a crash.
        raise PydanticCustomError(
            "ts_out_of_range",
            "{problem}: {ts} is outside years 1-9999 once converted to UTC",
            {"problem": TS_OUT_OF_RANGE, "ts": value.isoformat()},
        ) from exc


NOT_FINITE_MESSAGE = "must be a finite number (NaN and infinity are not allowed)"


def _finite(value: object, where: str = "") -> float:
    # bool is an int in Python but never a measurement; strings are not numbers on the wire.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{where}{NOT_FINITE_MESSAGE}")
    return float(value)


# What other languages should send: an RFC 3339 string or an epoch number. twincast also takes
# ISO-8601 without a zone (UTC) and numeric strings, and refuses what leaves years 1-9999: no
# JSON Schema says that (``schemas.json_schema`` adds it to each schema's description).
TS_JSON_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}

UtcDatetime = Annotated[datetime, AfterValidator(_utc), WithJsonSchema(TS_JSON_SCHEMA)]
"""ISO-8601 string or epoch number (seconds; milliseconds when above 2e10), normalised to UTC."""

# A plain validator hides the type from pydantic's schema (it would accept anything there).
FiniteFloat = Annotated[float, PlainValidator(_finite), WithJsonSchema({"type": "number"})]
"""A JSON number that is finite; strings and booleans are not numbers here."""

_StrictFinite = Annotated[float, Field(strict=True, allow_inf_nan=False)]

FiniteValue = _StrictFinite | Annotated[list[_StrictFinite], Field(min_length=1)]
"""A finite number, or a non-empty list of finite numbers (one per feature).

Validated entirely inside pydantic-core (it is on the worker's hot path); strict mode refuses
strings and booleans. ``schemas.codec`` turns the union's raw errors into one clear message."""

SeriesId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")]
"""Non-empty, at most 256 characters, not only whitespace (the pattern needs one non-space)."""


class WireModel(BaseModel):
    """Base of every contract: immutable; ``schema_version`` lets contracts evolve."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = Field(
        SCHEMA_VERSION,
        description="Version of this contract.",
        # The model takes any int; the codec refuses every other version (``schemas.codec``).
        json_schema_extra={"const": SCHEMA_VERSION},
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
