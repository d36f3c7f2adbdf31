"""A private broker for a benchmark run (the same one ``twincast evaluate --pipeline`` uses), and
the benchmarks' choice of Kafka client."""

import argparse

from twincast.localkafka.temporary import temporary_broker

__all__ = ["CLIENTS", "add_client_option", "chosen_clients", "temporary_broker"]

CLIENTS = ("kafka-python", "confluent-kafka")


def add_client_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--client", action="append", choices=CLIENTS, help="measure only this client (repeat)"
    )


def chosen_clients(args: argparse.Namespace) -> list[str]:
    """The clients ``--client`` named, every one if none."""
    return list(args.client or CLIENTS)
