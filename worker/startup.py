"""What the worker needs from Kafka before its loop: the newest valid model, the events
consumer and the output producer with the topic layout checked. One attempt leaves nothing open
when it fails, so ``foundation.kafka.outage.when_reachable`` can repeat it while the broker is
away."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.kafka.client import Consumer
from foundation.kafka.outage import Outage
from foundation.kafka.weights_topic import read_newest_first
from foundation.settings.worker import WorkerSettings
from lstmcore.acceptance import LatestModel, latest_model
from worker.clients import check_layout, events_consumer
from worker.delivery import Delivery, make_delivery


@dataclass(frozen=True)
class Connected:
    latest: LatestModel
    consumer: Consumer
    delivery: Delivery
    co_partitioned: bool  # forecasts go to the events partition's number


def connect(settings: WorkerSettings, outage: Outage) -> Connected:
    latest = read_newest_first(
        settings, latest_model(settings.features, settings.artifact_limits())
    )
    consumer = events_consumer(settings)
    delivery: Delivery | None = None
    try:
        delivery = make_delivery(settings, outage)
        co_partitioned = check_layout(settings, delivery.producer)
    except BaseException:
        consumer.close()
        if delivery is not None:
            delivery.close()
        raise
    return Connected(latest, consumer, delivery, co_partitioned)
