"""An optional SASL listener for the local broker, to run the whole pipeline authenticated.

With ``TWINCAST_KAFKA_SASL_PORT`` set the broker gets a second client listener,
``SASL_PLAINTEXT`` on that port, that accepts PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for one user
(``TWINCAST_KAFKA_SASL_USERNAME`` / ``TWINCAST_KAFKA_SASL_PASSWORD``). The PLAINTEXT listener stays
for the broker's own traffic. SCRAM credentials live in the KRaft metadata and are added when the
storage is formatted, so a broker folder formatted without SASL has to be recreated for SCRAM.
"""

from __future__ import annotations

from pydantic import SecretStr

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_LISTENER = "SASL_PLAINTEXT"


def _jaas_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sasl_properties(username: str, password: SecretStr) -> dict[str, str]:
    """Broker properties to add (the caller adds ``listener`` to the listeners)."""
    user, secret = _jaas_quote(username), _jaas_quote(password.get_secret_value())
    prefix = f"listener.name.{_LISTENER.lower()}"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        f"{prefix}.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f"username={user} password={secret} user_{username}={secret};"
        ),
        f"{prefix}.scram-sha-256.sasl.jaas.config": scram,
        f"{prefix}.scram-sha-512.sasl.jaas.config": scram,
    }


def listener(port: int) -> str:
    return f"{_LISTENER}://127.0.0.1:{port}"


def protocol_map_entry() -> str:
    return f"{_LISTENER}:{_LISTENER}"


def scram_format_args(username: str, password: SecretStr) -> list[str]:
    """``kafka-storage format`` arguments that store the user's SCRAM credentials."""
    args = []
    for mechanism in MECHANISMS[1:]:
        args += [
            "--add-scram",
            f"{mechanism}=[name={username},password={password.get_secret_value()}]",
        ]
    return args
