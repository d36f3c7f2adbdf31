"""One direction through the house: no package imports a package on a floor above it.

The floors, bottom up, are the README's Layout picture. Imports are read from the source (every
``import`` and ``from ... import``, function-level ones too), so a lazy import cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS: dict[str, int] = {
    "foundation": 0,  # ground
    "schemas": 1,  # contracts
    "lstmcore": 2,  # core
    "worker": 3,  # services
    "trainer": 3,
    "twincast": 4,  # roof: tools
    "bench": 4,
    "tests": 4,
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def imported_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)} & set(FLOORS)


def upward_imports(package: str) -> list[str]:
    floor = FLOORS[package]
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for other in sorted(imported_packages(path)):
            if FLOORS[other] > floor or (FLOORS[other] == floor and other != package):
                found.append(f"{path.relative_to(ROOT)} imports {other}")
    return found


@pytest.mark.parametrize("package", [p for p, f in FLOORS.items() if f < 4])
def test_nothing_imports_a_floor_above_or_beside_it(package: str) -> None:
    assert upward_imports(package) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from worker.service import WorkerService\n")
    assert imported_packages(module) == {"worker"}


def test_the_readme_picture_names_every_package() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    picture = readme.split("## Layout", 1)[1].split("```", 2)[1]
    for package in FLOORS:
        assert f"{package}/" in picture, package
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk <= set(FLOORS), f"packages missing from FLOORS: {on_disk - set(FLOORS)}"
