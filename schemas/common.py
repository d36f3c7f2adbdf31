"""Pieces shared by the wire contracts: the base model, timestamps and finite numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator

SCHEMA_VERSION = 1


def _utc(value: datetime) -> datetime:
    # A timestamp without a zone is taken as UTC, so all arithmetic on ts is unambiguous.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NOT_FINITE_MESSAGE = "must be a finite number (NaN and infinity are not allowed)"


def _finite(value: object, where: str = "") -> float:
    # bool is an int in Python but never a measurement; strings are not numbers on the wire.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{where}{NOT_FINITE_MESSAGE}")
    return float(value)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""ISO-8601 string or epoch number (seconds; milliseconds when above 2e10), normalised to UTC."""

FiniteFloat = Annotated[float, PlainValidator(_finite)]
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

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this contract.")


def now_utc() -> datetime:
    return datetime.now(UTC)
