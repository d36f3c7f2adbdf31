"""A private broker for a benchmark run (the same one ``twincast evaluate --pipeline`` uses)."""

from twincast.localkafka.temporary import temporary_broker

__all__ = ["temporary_broker"]
