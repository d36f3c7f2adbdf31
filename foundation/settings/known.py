"""Every settings class of twincast, and so every ``TWINCAST_*`` variable any command reads.

Each service refuses to start on a ``TWINCAST_*`` variable that is none of these (a typo would
otherwise leave a default in force without a word); a variable of another service is fine, since
deployments often share one environment.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings

from foundation.settings.base import ENV_PREFIX, KafkaSettings, TopicSettings
from foundation.settings.localkafka import LocalKafkaSettings
from foundation.settings.trainer import TrainerSettings
from foundation.settings.worker import WorkerSettings

SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("all", KafkaSettings),
    ("topics", TopicSettings),
    ("trainer", TrainerSettings),
    ("worker", WorkerSettings),
    ("local broker", LocalKafkaSettings),
]

# TWINCAST_* variables read by something other than a settings class.
READ_ELSEWHERE = {"TWINCAST_TEST_BOOTSTRAP_SERVERS": "the test suite: use a running broker"}


def known_variables() -> set[str]:
    """Every TWINCAST_* variable that some twincast command reads."""
    names = {f"{ENV_PREFIX}{n.upper()}" for _, cls in SERVICES for n in cls.model_fields}
    return names | set(READ_ELSEWHERE)
