"""Only the client layer's kafka-python implementation imports kafka-python: every other module
goes through ``foundation.kafka.client``. The worker's modules are listed until it is wired."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_import_graph import FLOORS, ROOT, imported_modules

IMPLEMENTATION = ROOT / "foundation" / "kafka" / "kafka_python"
NOT_YET_WIRED = {
    "worker/clients.py",
    "worker/delivery.py",
    "worker/main.py",
    "worker/restore.py",
    "worker/service.py",
    "worker/weights_watcher.py",
}


def _imports_kafka(path: Path) -> bool:
    return any(name == "kafka" or name.startswith("kafka.") for name in imported_modules(path))


def test_only_the_kafka_python_implementation_imports_kafka() -> None:
    found = {
        str(path.relative_to(ROOT))
        for package in FLOORS
        if package != "tests"
        for path in (ROOT / package).rglob("*.py")
        if IMPLEMENTATION not in path.parents and _imports_kafka(path)
    }
    assert found <= NOT_YET_WIRED, sorted(found - NOT_YET_WIRED)
