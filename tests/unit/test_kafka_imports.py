"""Only the client layer's implementations import a Kafka client library (kafka-python in
``foundation/kafka/kafka_python/``, confluent-kafka in ``foundation/kafka/confluent/``): every other
module goes through ``foundation.kafka.client``. The worker's modules are listed until it is
wired."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_import_graph import FLOORS, ROOT, imported_modules

IMPLEMENTATION = ROOT / "foundation" / "kafka" / "kafka_python"
CONFLUENT = ROOT / "foundation" / "kafka" / "confluent"


def _imports(path: Path, library: str) -> bool:
    return any(name == library or name.startswith(f"{library}.") for name in imported_modules(path))


def _imports_kafka(path: Path) -> bool:
    return _imports(path, "kafka")


def test_only_the_kafka_python_implementation_imports_kafka() -> None:
    found = {
        str(path.relative_to(ROOT))
        for package in FLOORS
        if package != "tests"
        for path in (ROOT / package).rglob("*.py")
        if IMPLEMENTATION not in path.parents and _imports_kafka(path)
    }
    assert not found, sorted(found)


def test_only_the_confluent_implementation_imports_confluent_kafka() -> None:
    found = {
        str(path.relative_to(ROOT))
        for package in FLOORS
        if package != "tests"
        for path in (ROOT / package).rglob("*.py")
        if CONFLUENT not in path.parents and _imports(path, "confluent_kafka")
    }
    assert found == set()
