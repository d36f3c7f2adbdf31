"""The umbrella ``twincast`` command: local broker, topics, and (growing) user tools."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from foundation.entrypoint import configure_logging, environment_is_clean, failure_message
from foundation.errors import TwincastError
from foundation.kafka.topics import ensure_topics, topic_specs
from foundation.settings.base import KafkaSettings, TopicSettings
from twincast.evaluation.command import add_parser as add_evaluate_parser
from twincast.localkafka import LocalKafka, LocalKafkaSettings
from twincast.localkafka.jars import ensure_jars

log = logging.getLogger(__name__)


def _kafka_up(args: argparse.Namespace) -> int:
    broker = LocalKafka(LocalKafkaSettings())
    info = broker.up()
    state = "already running" if info.already_running else f"started in {info.start_seconds:.1f}s"
    print(f"Kafka {state} (pid {info.pid}); bootstrap servers: {info.bootstrap}")
    return 0


def _kafka_fetch(args: argparse.Namespace) -> int:
    settings = LocalKafkaSettings()
    jars = ensure_jars(settings.kafka_jars_dir, settings.kafka_version)
    print(f"Kafka {settings.kafka_version} jars ready in {jars}")
    return 0


def _kafka_down(args: argparse.Namespace) -> int:
    stopped = LocalKafka(LocalKafkaSettings()).down()
    print("Kafka stopped" if stopped else "Kafka was not running")
    return 0


def _kafka_status(args: argparse.Namespace) -> int:
    broker = LocalKafka(LocalKafkaSettings())
    pid = broker.running_pid()
    print(f"Kafka running (pid {pid}) at {broker.bootstrap}" if pid else "Kafka not running")
    return 0 if pid else 1


def _topics(args: argparse.Namespace) -> int:
    settings = TopicSettings()
    if args.dry_run:
        for spec in topic_specs(settings):
            print(
                f"{spec.name}  partitions={spec.partitions}  rf={spec.replication_factor}  "
                f"{spec.configs}"
            )
        return 0
    for report in ensure_topics(settings):
        action = (
            "created"
            if report.created
            else (
                f"updated {', '.join(report.configs_updated)}" if report.configs_updated else "ok"
            )
        )
        print(f"{report.name:<24} partitions={report.partitions:<3} {action}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from twincast.demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            duration_s=args.duration,
            rate=args.rate,
            series=args.series,
            trainer_metrics_port=args.trainer_metrics_port,
            worker_metrics_port=args.worker_metrics_port,
        )
    )


def _produce(args: argparse.Namespace) -> int:
    from twincast.produce import ColumnMap, guess_format, open_input, produce

    columns = ColumnMap(series=args.series_col, ts=args.ts_col, value=args.value_col)
    fmt = args.format or guess_format(args.file)
    with open_input(args.file) as stream:
        report = produce(KafkaSettings(), stream, fmt, columns, args.rate, args.features)
    print(f"{report.sent} events sent, {report.bad} bad lines skipped", file=sys.stderr)
    return 1 if report.bad else 0


def _tail(args: argparse.Namespace) -> int:
    from twincast.tail import tail

    tail(KafkaSettings(), args.series, args.json, args.from_beginning, args.max, args.idle_timeout)
    return 0


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from twincast.plot import collect, draw

    view = collect(KafkaSettings(), args.series)
    draw(view, args.series, Path(args.out))
    print(
        f"{args.out}: {len(view.actuals)} actual values, {len(view.forecasts)} forecasts, "
        f"model versions {sorted(set(view.versions))}"
    )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from twincast.operations import rollback

    settings = TopicSettings()
    version = rollback(settings, args.to, settings.weights_max_message_bytes)
    print(f"version {args.to} republished as version {version}; workers swap to it")
    return 0


def _reset_series(args: argparse.Namespace) -> int:
    from twincast.operations import reset_series

    reset_series(KafkaSettings(), args.series)
    print(f"reset of {args.series!r} sent; it applies in order with the series' events")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from twincast.operations import print_dead_letters

    count = print_dead_letters(KafkaSettings(), args.json)
    print(f"{count} dead letters", file=sys.stderr)
    return 0


def _settings(args: argparse.Namespace) -> int:
    from twincast.settings_doc import settings_table, update_readme

    if args.update:
        changed = update_readme(args.update)
        print(f"{args.update}: {'updated' if changed else 'already up to date'}")
        return 0
    print(settings_table())
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from schemas.json_schema import json_schema, json_schemas

    print(json.dumps(json_schema(args.contract) if args.contract else json_schemas(), indent=2))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from twincast.demo import DemoOptions, SyntheticStream

    stream = SyntheticStream(TopicSettings(), DemoOptions(None, args.rate, args.series))
    stream.start()
    with contextlib.suppress(KeyboardInterrupt):
        stream.join(timeout=args.duration)
    stream.stop_requested.set()
    stream.join()
    print(f"{stream.sent} events sent", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twincast", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    kafka = sub.add_parser("kafka", help="the local development broker").add_subparsers(
        dest="action", required=True
    )
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "fetch": _kafka_fetch,
        "up": _kafka_up,
        "down": _kafka_down,
        "status": _kafka_status,
    }
    for name, func in commands.items():
        kafka.add_parser(name).set_defaults(func=func)
    topics = sub.add_parser("topics", help="create the five topics idempotently")
    topics.add_argument("--dry-run", action="store_true", help="print the specs, change nothing")
    topics.set_defaults(func=_topics)
    prod = sub.add_parser("produce", help="send events from CSV or JSON Lines (FILE or -)")
    prod.add_argument("file", help="path, or - for standard input")
    prod.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
    prod.add_argument("--series-col", default="series_id", help="column of the series id")
    prod.add_argument("--ts-col", default="ts", help="column of the timestamp")
    prod.add_argument("--value-col", default="value", help="value column(s), comma-separated")
    prod.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")
    prod.add_argument("--features", type=int, default=1, help="features per event (default 1)")
    prod.set_defaults(func=_produce)
    tail = sub.add_parser("tail", help="follow the forecasts topic")
    tail.add_argument("--series", help="only this series")
    tail.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest forecast")
    tail.add_argument("--max", type=int, help="stop after this many forecasts")
    tail.add_argument("--idle-timeout", type=float, help="stop after this many quiet seconds")
    tail.set_defaults(func=_tail)
    plot = sub.add_parser("plot", help="draw actuals and forecasts of one series to a PNG")
    plot.add_argument("series", help="the series id")
    plot.add_argument("--out", required=True, help="PNG file to write")
    plot.set_defaults(func=_plot)
    roll = sub.add_parser("rollback", help="serve an earlier model version again")
    roll.add_argument("--to", type=int, required=True, help="the version to go back to")
    roll.set_defaults(func=_rollback)
    reset = sub.add_parser("reset-series", help="forget a series' state (in order with events)")
    reset.add_argument("series", help="the series id")
    reset.set_defaults(func=_reset_series)
    dlq = sub.add_parser("dlq", help="print the dead letters")
    dlq.add_argument("--json", action="store_true", help="JSON Lines instead of a summary")
    dlq.set_defaults(func=_dlq)
    table = sub.add_parser("settings", help="print every setting as a Markdown table")
    table.add_argument("--update", metavar="README", help="rewrite the table in this file")
    table.set_defaults(func=_settings)
    schema = sub.add_parser("schema", help="print the JSON Schemas of the wire contracts")
    schema.add_argument(
        "contract",
        nargs="?",
        choices=["event", "forecast", "deadletter"],
        help="only this one (default: all three, by name)",
    )
    schema.set_defaults(func=_schema)
    gen = sub.add_parser("generate", help="stream synthetic multi-series events in real time")
    gen.add_argument("--rate", type=float, default=200.0, help="events per second")
    gen.add_argument("--series", type=int, default=20, help="number of series")
    gen.add_argument("--duration", type=float, help="stop after this many seconds")
    gen.set_defaults(func=_generate)
    add_evaluate_parser(sub)
    demo = sub.add_parser("demo", help="broker, topics, trainer, worker and a live data stream")
    demo.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: Ctrl-C)"
    )
    demo.add_argument("--rate", type=float, default=200.0, help="events per second (default 200)")
    demo.add_argument("--series", type=int, default=20, help="synthetic series (default 20)")
    demo.add_argument("--trainer-metrics-port", type=int, default=9101)
    demo.add_argument("--worker-metrics-port", type=int, default=9102)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("DEBUG" if args.verbose else "INFO")
    if not environment_is_clean("twincast"):
        return 2
    try:
        code: int = args.func(args)
    except ValidationError as exc:
        print(f"twincast: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    except TwincastError as exc:  # Kafka's errors too: the client layer translates them
        print(f"twincast: {failure_message(exc)}", file=sys.stderr)
        return 1
    return code
