"""Client options become kafka-python keywords it knows; unset options keep its defaults."""

from __future__ import annotations

from kafka import KafkaConsumer

from foundation.kafka.client import ConsumerOptions
from foundation.kafka.kafka_python import consumer_config


def test_unset_options_leave_kafka_pythons_defaults() -> None:
    assert consumer_config(ConsumerOptions("reader")) == {
        "enable_auto_commit": False,
        "group_id": None,
    }


def test_every_option_maps_to_a_keyword_kafka_python_knows() -> None:
    options = ConsumerOptions(
        "worker",
        group_id="g",
        from_earliest=True,
        read_committed=True,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        max_poll_interval_ms=60_000,
        max_partition_fetch_bytes=1 << 20,
        fetch_max_bytes=1 << 21,
    )
    config = consumer_config(options)
    assert set(config) <= set(KafkaConsumer.DEFAULT_CONFIG)
    assert (config["auto_offset_reset"], config["isolation_level"]) == (
        "earliest",
        "read_committed",
    )
    assert len(config) == 9, "each option is passed on"
