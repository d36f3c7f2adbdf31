"""Wire contracts of twincast (pydantic v2, JSON). Every message carries ``schema_version``."""

from schemas.artifact import (
    Architecture,
    ArrayInfo,
    ModelManifest,
    Scaler,
    TrainingFacts,
    Validation,
)
from schemas.codec import decode, decode_event, encode
from schemas.common import SCHEMA_VERSION
from schemas.deadletter import DeadLetter
from schemas.event import Event
from schemas.forecast import Forecast

__all__ = [
    "SCHEMA_VERSION",
    "Architecture",
    "ArrayInfo",
    "DeadLetter",
    "Event",
    "Forecast",
    "ModelManifest",
    "Scaler",
    "TrainingFacts",
    "Validation",
    "decode",
    "decode_event",
    "encode",
]
