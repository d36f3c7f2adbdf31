"""A message twincast could not use, kept with the reason and where it came from."""

from __future__ import annotations

import base64

from pydantic import Field

from schemas.common import UtcDatetime, WireModel, now_utc

# Dead letters must fit the DLQ's default message size even when the input was huge.
MAX_RAW_BYTES_KEPT = 64 * 1024
MAX_KEY_BYTES_KEPT = 1024  # a Kafka key can be as large as a value; a series id is not


class DeadLetter(WireModel):
    """A record on ``twincast.dlq``."""

    reason: str = Field(description="Stable reason code, e.g. invalid_json, non_finite_value.")
    error: str = Field(description="Human-readable explanation of what is wrong.")
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    raw_base64: str | None = Field(description="The raw value, base64; None for a null value.")
    raw_size: int = Field(ge=0, description="Size of the raw value in bytes.")
    raw_truncated: bool = Field(description="True if only the first 64 KiB are kept.")
    key_base64: str | None = Field(None, description="The raw Kafka key (first 1 KiB), base64.")
    key_size: int | None = Field(None, ge=0, description="Size of the Kafka key in bytes.")
    received_at: UtcDatetime

    @classmethod
    def of(
        cls,
        *,
        reason: str,
        error: str,
        topic: str,
        partition: int,
        offset: int,
        raw: bytes | None,
        key: bytes | None = None,
    ) -> DeadLetter:
        kept = None if raw is None else raw[:MAX_RAW_BYTES_KEPT]
        return cls(
            reason=reason,
            error=error[:4000],
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            raw_base64=None if kept is None else base64.b64encode(kept).decode("ascii"),
            raw_size=0 if raw is None else len(raw),
            raw_truncated=raw is not None and len(raw) > MAX_RAW_BYTES_KEPT,
            key_base64=(
                None if key is None else base64.b64encode(key[:MAX_KEY_BYTES_KEPT]).decode("ascii")
            ),
            key_size=None if key is None else len(key),
            received_at=now_utc(),
        )

    def raw(self) -> bytes | None:
        return None if self.raw_base64 is None else base64.b64decode(self.raw_base64)
