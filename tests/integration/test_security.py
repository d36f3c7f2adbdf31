"""The whole pipeline over SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and over TLS against local
brokers with such listeners; a wrong password stops every service with a clear message."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from foundation.settings.base import KafkaSettings
from tests.integration.helpers import (
    consume,
    forecasts_of,
    produce_series,
    run_module,
    service_env,
)
from tests.kafka_fixtures import KafkaClientName
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.ports import free_port
from twincast.synthetic import seasonal_series

pytestmark = pytest.mark.kafka

USER, PASSWORD = "pipeline-user", "correct horse battery staple"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(
        LocalKafkaSettings(
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_sasl_port=free_port(),
            kafka_sasl_username=USER,
            kafka_sasl_password=SecretStr(PASSWORD),
            kafka_dir=tmp_path_factory.mktemp("sasl-kafka"),
        )
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


def _settings(
    broker: LocalKafka, mechanism: str, password: str, client: KafkaClientName
) -> KafkaSettings:
    suffix = uuid.uuid4().hex[:8]
    assert broker.settings.kafka_sasl_port is not None
    return KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{broker.settings.kafka_sasl_port}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username=USER,
        sasl_password=SecretStr(password),
        kafka_client=client,
        events_topic=f"s-events-{suffix}",
        weights_topic=f"s-weights-{suffix}",
        forecasts_topic=f"s-forecasts-{suffix}",
        dlq_topic=f"s-dlq-{suffix}",
        state_topic=f"s-state-{suffix}",
    )


def _env(settings: KafkaSettings, **values: object) -> dict[str, str]:
    """The service environment with every security setting of ``settings``."""
    security: dict[str, str] = {"security_protocol": settings.security_protocol}
    for name in ("sasl_mechanism", "sasl_username", "ssl_cafile"):
        if getattr(settings, name) is not None:
            security[name] = getattr(settings, name)
    if settings.sasl_password is not None:
        security["sasl_password"] = settings.sasl_password.get_secret_value()
    return service_env(settings, **security, **values)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_pipeline_over_sasl(
    sasl_broker: LocalKafka, tmp_path: Path, mechanism: str, kafka_client: KafkaClientName
) -> None:
    _run_pipeline(_settings(sasl_broker, mechanism, PASSWORD, kafka_client), tmp_path)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(
        LocalKafkaSettings(
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_ssl_port=free_port(),
            kafka_dir=tmp_path_factory.mktemp("tls-kafka"),
        )
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


def test_pipeline_over_tls(
    tls_broker: LocalKafka, tmp_path: Path, kafka_client: KafkaClientName
) -> None:
    """Clients check the broker's certificate against the CA file (and its host name)."""
    assert tls_broker.settings.kafka_ssl_port is not None
    suffix = uuid.uuid4().hex[:8]
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{tls_broker.settings.kafka_ssl_port}",
        security_protocol="SSL",
        ssl_cafile=str(tls_broker.home / "tls" / "ca.pem"),
        kafka_client=kafka_client,
        events_topic=f"tls-events-{suffix}",
        weights_topic=f"tls-weights-{suffix}",
        forecasts_topic=f"tls-forecasts-{suffix}",
        dlq_topic=f"tls-dlq-{suffix}",
        state_topic=f"tls-state-{suffix}",
    )
    _run_pipeline(settings, tmp_path)


def _run_pipeline(settings: KafkaSettings, tmp_path: Path) -> None:
    """topics -> events -> trainer --once -> worker: every event gets the trainer's model."""
    topics = run_module("twincast", ["topics"], _env(settings), tmp_path)
    assert topics.returncode == 0, topics.stderr[-3000:]
    sent = produce_series(settings, seasonal_series(4, 80, seed=51))
    trainer = run_module(
        "trainer",
        ["--once"],
        _env(
            settings,
            history_db=tmp_path / "h.sqlite",
            artifact_dir=tmp_path / "a",
            metrics_port=0,
            epochs=2,
            units=8,
            gate="false",
        ),
        tmp_path,
    )
    assert trainer.returncode == 0, trainer.stderr[-3000:]
    worker = run_module(
        "worker", ["--exit-when-idle", "3"], _env(settings, metrics_port=0), tmp_path
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    forecasts = forecasts_of(consume(settings, settings.forecasts_topic, sent))
    assert len(forecasts) == sent
    assert {f.model_version for f in forecasts} == {1}, "the trainer's model, over SASL"


# How each client words the broker's refusal, after "(the client said: ". librdkafka reports it
# with an error code; kafka-python logs it, and with PLAIN often sees only the broker closing the
# connection (foundation/kafka/refused_logins.py), so either wording may come.
_REFUSAL_SAID: dict[tuple[str, str], tuple[str, ...]] = {
    ("confluent-kafka", "PLAIN"): ("SASL authentication error: Authentication failed",),
    ("confluent-kafka", "SCRAM-SHA-256"): ("SASL authentication error: Authentication failed",),
    ("kafka-python", "PLAIN"): (
        "[Error 58] SaslAuthenticationFailedError: ",
        "the broker closed the connection on the PLAIN credentials",
    ),
    ("kafka-python", "SCRAM-SHA-256"): ("[Error 58] SaslAuthenticationFailedError: ",),
}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
@pytest.mark.parametrize(
    ("module", "args"),
    [("twincast", ["topics"]), ("worker", ["--exit-when-idle", "1"]), ("trainer", ["--once"])],
)
def test_wrong_password_fails_clearly(
    sasl_broker: LocalKafka,
    tmp_path: Path,
    module: str,
    args: list[str],
    mechanism: str,
    kafka_client: KafkaClientName,
) -> None:
    settings = _settings(sasl_broker, mechanism, "not the password", kafka_client)
    env = _env(settings, metrics_port=0, history_db=tmp_path / "h.sqlite")
    if module == "twincast":
        del env["TWINCAST_METRICS_PORT"], env["TWINCAST_HISTORY_DB"]
    elif module == "worker":
        del env["TWINCAST_HISTORY_DB"]
    result = run_module(module, args, env, tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Kafka refused the login" in last and "TWINCAST_SASL_PASSWORD" in last, last
    said = last.split("(the client said: ", 1)[-1]
    assert said.startswith(_REFUSAL_SAID[kafka_client, mechanism]), last
    assert "not the password" not in result.stderr, "the password is never printed"


def test_files_holding_secrets_are_private(sasl_broker: LocalKafka, tls_broker: LocalKafka) -> None:
    """The broker's properties carry the SASL and keystore passwords; only the owner reads them."""
    properties = sasl_broker.home / "server.properties"
    assert PASSWORD in properties.read_text(), "the file this test is about holds the password"
    tls = tls_broker.home / "tls"
    for path in (properties, tls_broker.home / "server.properties", tls / "keystore-password"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tls / "broker.p12").stat().st_mode) == 0o600
