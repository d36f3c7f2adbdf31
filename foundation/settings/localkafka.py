"""Settings of the local development broker (``TWINCAST_KAFKA_*``), run by ``twincast up``,
``make demo`` and the tests."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from foundation.settings.base import TwincastSettings


class LocalKafkaSettings(TwincastSettings):
    """Where and how the local development broker runs (``TWINCAST_KAFKA_*``)."""

    kafka_port: int = Field(9092, ge=1, le=65535, description="PLAINTEXT listener port.")
    kafka_controller_port: int = Field(
        9093, ge=1, le=65535, description="KRaft controller listener port."
    )
    kafka_dir: Path = Field(Path(".kafka"), description="Data, config, log and pid folder.")
    kafka_jars_dir: Path = Field(
        Path("~/.cache/twincast/kafka-jars"), description="Cache of the resolved broker jars."
    )
    kafka_version: str = Field("4.4.0", description="Apache Kafka version from Maven Central.")
    kafka_heap: str = Field("768m", description="Java heap of the broker (-Xmx).")
    kafka_start_timeout_s: float = Field(120.0, gt=0, description="Give up starting after.")
    kafka_ssl_port: int | None = Field(
        None, ge=1, le=65535, description="Also listen with TLS (SSL) on this port."
    )
    kafka_sasl_port: int | None = Field(
        None, ge=1, le=65535, description="Also listen with SASL_PLAINTEXT on this port."
    )
    kafka_sasl_username: str = Field(
        "twincast", pattern=r"^[A-Za-z0-9_.-]+$", description="The SASL listener's one user."
    )
    kafka_sasl_password: SecretStr = Field(
        SecretStr("twincast-secret"), description="That user's password (PLAIN and SCRAM)."
    )
