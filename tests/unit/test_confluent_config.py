"""The librdkafka configuration made from twincast's security settings, and its error callback."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from pydantic import SecretStr

from foundation.kafka.client import ConsumerOptions
from foundation.kafka.confluent.config import common_config, consumer_config
from foundation.kafka.confluent.errors import on_error
from foundation.kafka.refused_logins import REFUSED_LOGINS
from foundation.settings.base import KafkaSettings
from foundation.settings.worker import WorkerSettings


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_settings_become_librdkafkas_names(mechanism: str) -> None:
    settings = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username="user",
        sasl_password=SecretStr("secret"),
    )
    config = common_config(settings, "test")
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert (config["sasl.mechanisms"], config["sasl.username"]) == (mechanism, "user")
    assert config["sasl.password"] == "secret"
    assert not [name for name in config if name.startswith("ssl.")], "no TLS without SSL"
    # librdkafka itself accepts every name and value (it refuses unknown ones on creation).
    Producer(config).flush(0)


def test_tls_settings_become_librdkafkas_names() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="user",
        sasl_password=SecretStr("secret"),
        ssl_cafile="/etc/ca.pem",
        ssl_certfile="/etc/client.pem",
        ssl_keyfile="/etc/client.key",
        ssl_password=SecretStr("key secret"),
    )
    config = common_config(settings, "test")
    assert {name: config[name] for name in config if name.startswith("ssl.")} == {
        "ssl.endpoint.identification.algorithm": "https",  # kafka-python's ssl_check_hostname
        "ssl.ca.location": "/etc/ca.pem",
        "ssl.certificate.location": "/etc/client.pem",
        "ssl.key.location": "/etc/client.key",
        "ssl.key.password": "key secret",
    }
    unchecked = common_config(settings.model_copy(update={"ssl_check_hostname": False}), "test")
    assert unchecked["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
    ],
)
def test_a_refused_login_is_remembered(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """librdkafka reports a refused login only to the error callback; services read
    REFUSED_LOGINS to stop with a clear message, as on kafka-python."""
    monkeypatch.setattr(REFUSED_LOGINS, "last", None)
    on_error(KafkaError(KafkaError._TRANSPORT, "broker down"))
    assert REFUSED_LOGINS.last is None
    on_error(KafkaError(code, "SASL authentication error: Authentication failed"))
    assert REFUSED_LOGINS.last == "SASL authentication error: Authentication failed"


def test_the_workers_prefetch_bound_reaches_librdkafka() -> None:
    settings = WorkerSettings(bootstrap_servers="127.0.0.1:1")
    options = ConsumerOptions("worker", prefetch_kbytes=settings.prefetch_kbytes)
    config = consumer_config(settings, options)
    assert config["queued.max.messages.kbytes"] == settings.prefetch_kbytes
    assert "queued.max.messages.kbytes" not in consumer_config(settings, ConsumerOptions("r"))
    Consumer(config).close()  # librdkafka accepts the name and value
