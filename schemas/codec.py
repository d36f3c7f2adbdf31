"""JSON encode/decode of the wire contracts; every failure is a ``SchemaError`` with a reason."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.common import NOT_FINITE_MESSAGE, SCHEMA_VERSION
from schemas.event import Event
from twincast.errors import SchemaError

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_EVENT_BYTES = 64 * 1024

# Reason codes: stable strings, used as dead-letter reasons and metric labels.
NULL_VALUE = "null_value"
OVERSIZED = "oversized"
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
UNSUPPORTED_VERSION = "unsupported_schema_version"
NON_FINITE = "non_finite_value"
WRONG_FEATURE_COUNT = "wrong_feature_count"
SCHEMA_VIOLATION = "schema_violation"


def encode(message: BaseModel) -> bytes:
    """UTF-8 JSON of a contract."""
    return message.model_dump_json().encode("utf-8")


def decode(model: type[M], raw: bytes | None, max_bytes: int | None = None) -> M:
    """Decode and validate one message of the given contract."""
    text = _text(raw, max_bytes)
    try:
        message = model.model_validate_json(text)
    except ValidationError as exc:
        raise _schema_error(model, exc) from exc
    version = getattr(message, "schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SchemaError(
            UNSUPPORTED_VERSION,
            f"{model.__name__} schema_version {version} is not supported"
            f" (this is {SCHEMA_VERSION})",
        )
    return message


def decode_event(
    raw: bytes | None, n_features: int = 1, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Event:
    """Decode an event and check it has the feature count the model expects."""
    event = decode(Event, raw, max_bytes)
    count = len(event.value) if isinstance(event.value, list) else 1
    if count != n_features or (n_features > 1 and not isinstance(event.value, list)):
        shape = f"a list of {count}" if isinstance(event.value, list) else "a single number"
        raise SchemaError(
            WRONG_FEATURE_COUNT,
            f"value has {shape} feature(s); this deployment expects {n_features}",
        )
    return event


def _text(raw: bytes | None, max_bytes: int | None) -> str:
    if raw is None:
        raise SchemaError(NULL_VALUE, "the message has no value (null / tombstone)")
    if max_bytes is not None and len(raw) > max_bytes:
        raise SchemaError(OVERSIZED, f"{len(raw)} bytes is more than the limit of {max_bytes}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(NOT_UTF8, f"not valid UTF-8 at byte {exc.start}") from exc


def _schema_error(model: type[BaseModel], exc: ValidationError) -> SchemaError:
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        detail = next(e["msg"] for e in errors if e["type"] == "json_invalid")
        return SchemaError(INVALID_JSON, detail)
    if any(e["type"] == "model_type" for e in errors):
        return SchemaError(INVALID_JSON, f"{model.__name__} must be a JSON object")
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors]
    finite = any(NOT_FINITE_MESSAGE in e["msg"] for e in errors)
    return SchemaError(NON_FINITE if finite else SCHEMA_VIOLATION, "; ".join(parts))
