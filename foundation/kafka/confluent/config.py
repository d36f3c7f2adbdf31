"""librdkafka's configuration for twincast's settings and client options.

The names differ from kafka-python's (``bootstrap.servers`` for ``bootstrap_servers``, ...);
the meaning is kept, including the defaults where the two libraries disagree: twincast never
auto-commits, and reads uncommitted records unless told otherwise (librdkafka reads only
committed ones by default).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from foundation.kafka.client import ConsumerOptions, ProducerOptions, TransactionalOptions
from foundation.kafka.confluent.errors import on_error
from foundation.settings.base import KafkaSettings

LIBRDKAFKA_LOG = logging.getLogger("kafka.librdkafka")


def common_config(settings: KafkaSettings, role: str) -> dict[str, Any]:
    """What every librdkafka client of a service shares: brokers, client id, security."""
    s = settings
    config: dict[str, Any] = {
        "bootstrap.servers": s.bootstrap_servers,
        "client.id": f"{s.client_id_prefix}-{role}",
        "security.protocol": s.security_protocol,
        "reconnect.backoff.max.ms": s.reconnect_backoff_max_ms,
        # Into Python's logging (not stderr), under "kafka" so the outage filter
        # (foundation.kafka.outage.KafkaRepeats) thins its reconnect lines as kafka-python's.
        "logger": LIBRDKAFKA_LOG,
        # Errors not tied to a call, a refused login among them.
        "error_cb": on_error,
    }
    if s.sasl_mechanism is not None:
        # librdkafka's name ("sasl.mechanism" is its alias); one mechanism, as kafka-python's.
        config["sasl.mechanisms"] = s.sasl_mechanism
        config["sasl.username"] = s.sasl_username
        if s.sasl_password is not None:
            config["sasl.password"] = s.sasl_password.get_secret_value()
    if s.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if s.ssl_check_hostname else "none"
        )
        for setting, name in (
            ("ssl_cafile", "ssl.ca.location"),
            ("ssl_certfile", "ssl.certificate.location"),
            ("ssl_keyfile", "ssl.key.location"),
        ):
            if getattr(s, setting) is not None:
                config[name] = getattr(s, setting)
        if s.ssl_password is not None:
            config["ssl.key.password"] = s.ssl_password.get_secret_value()
    return config


def consumer_config(settings: KafkaSettings, options: ConsumerOptions) -> dict[str, Any]:
    o = options
    return {
        **common_config(settings, o.role),
        # librdkafka wants a group even for a consumer that only reads assigned partitions; a
        # private one that never commits is as good as none.
        "group.id": o.group_id or f"{settings.client_id_prefix}-{o.role}-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if o.from_earliest else "latest",
        "isolation.level": "read_committed" if o.read_committed else "read_uncommitted",
        # Tell the consumer where a partition's end is: a transaction marker is never handed to
        # the application, so without this its position stays before one (see ``poll``).
        "enable.partition.eof": True,
        **_given(
            {
                "session.timeout.ms": o.session_timeout_ms,
                "heartbeat.interval.ms": o.heartbeat_interval_ms,
                "max.poll.interval.ms": o.max_poll_interval_ms,
                "max.partition.fetch.bytes": o.max_partition_fetch_bytes,
                "fetch.max.bytes": o.fetch_max_bytes,
                "queued.max.messages.kbytes": o.prefetch_kbytes,
            }
        ),
    }


# Keys go to the partitions Java's and kafka-python's partitioner picks (murmur2), not
# librdkafka's default (CRC32): a series' events, control records and state must share a
# partition whichever client produced them.
PARTITIONER = "murmur2_random"


def producer_config(settings: KafkaSettings, options: ProducerOptions) -> dict[str, Any]:
    o = options
    return {
        **common_config(settings, o.role),
        "partitioner": PARTITIONER,
        **_given(
            {
                "acks": None if o.acks is None else str(o.acks),
                "linger.ms": o.linger_ms,
                "batch.size": o.batch_size,
                "message.max.bytes": o.max_request_size,
            }
        ),
    }


def transactional_config(settings: KafkaSettings, options: TransactionalOptions) -> dict[str, Any]:
    o = options
    return {
        **common_config(settings, o.role),
        "partitioner": PARTITIONER,
        "transactional.id": o.transactional_id,
        "transaction.timeout.ms": o.transaction_timeout_ms,
        **_given({"linger.ms": o.linger_ms, "batch.size": o.batch_size}),
    }


def _given(config: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in config.items() if value is not None}
