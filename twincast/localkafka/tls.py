"""An optional TLS listener for the local broker, to run the whole pipeline over TLS.

With ``TWINCAST_KAFKA_SSL_PORT`` set the broker also listens with ``SSL`` on that port. Its key and
self-signed certificate (valid for 127.0.0.1 and localhost) are made once with the JDK's
``keytool`` in ``<kafka_dir>/tls/``; ``ca.pem`` there is what clients trust
(``TWINCAST_SSL_CAFILE``).
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from foundation.errors import LocalKafkaError
from foundation.private_files import PRIVATE_MODE, write_private_text

_LISTENER = "SSL"


def ensure_certificate(folder: Path) -> tuple[Path, str]:
    """(keystore, its password), creating them and ``ca.pem`` on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    keystore, secret_file = folder / "broker.p12", folder / "keystore-password"
    if keystore.exists() and secret_file.exists():
        return keystore, secret_file.read_text().strip()
    password = secrets.token_hex(16)
    _keytool(
        "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
        "-validity", "3650", "-dname", "CN=localhost",
        "-ext", "SAN=ip:127.0.0.1,dns:localhost",
        "-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password,
    )  # fmt: skip
    _keytool(
        "-exportcert", "-rfc", "-alias", "broker", "-keystore", str(keystore),
        "-storepass", password, "-file", str(folder / "ca.pem"),
    )  # fmt: skip
    keystore.chmod(PRIVATE_MODE)  # the broker's private key
    write_private_text(secret_file, password)
    return keystore, password


def ssl_properties(keystore: Path, password: str) -> dict[str, str]:
    prefix = f"listener.name.{_LISTENER.lower()}"
    return {
        f"{prefix}.ssl.keystore.location": str(keystore),
        f"{prefix}.ssl.keystore.password": password,
        f"{prefix}.ssl.key.password": password,
        f"{prefix}.ssl.keystore.type": "PKCS12",
    }


def listener(port: int) -> str:
    return f"{_LISTENER}://127.0.0.1:{port}"


def protocol_map_entry() -> str:
    return f"{_LISTENER}:{_LISTENER}"


def _keytool(*args: str) -> None:
    try:
        result = subprocess.run(["keytool", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise LocalKafkaError("keytool (from the JDK) is needed for the TLS listener") from exc
    if result.returncode != 0:
        raise LocalKafkaError(f"keytool failed: {result.stderr[-1000:] or result.stdout[-1000:]}")
