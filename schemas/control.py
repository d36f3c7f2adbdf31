"""Control records on the events topic: operator commands that travel in order with the events.

A control record has the Kafka header ``twincast-control`` (the action) and the series id as its
key, so it lands on the series' partition and takes effect exactly between the events before and
after it. Its value is informative JSON (``{"series_id": ..., "action": ...}``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

CONTROL_HEADER = "twincast-control"
RESET = "reset"  # forget the series' state: its next event starts from zero state
ACTIONS = frozenset({RESET})


def control_action(headers: Sequence[tuple[str, bytes | None]] | None) -> str | None:
    """The control action of a record, or None for an ordinary event."""
    for name, value in headers or ():
        if name == CONTROL_HEADER:
            # Kafka lets a header value be null: an empty (hence unknown) action, not a crash.
            return (value or b"").decode("utf-8", "replace")
    return None


def control_record(series_id: str, action: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a control record."""
    value = json.dumps({"series_id": series_id, "action": action}).encode()
    return series_id.encode(), value, [(CONTROL_HEADER, action.encode())]
