"""The package's shape, checked: layers that only point down (import-linter, configured in pyproject.toml),
no private name imported across modules, one exception root, modules of one idea each."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import evalsite
from evalsite.core.errors import EvalsiteError

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "generator"
MAX_LINES = 500  # "no module over ~500 lines that mixes topics"


def _modules() -> list[str]:
    names = ["evalsite"]
    for info in pkgutil.walk_packages(evalsite.__path__, "evalsite."):
        names.append(info.name)
    return names


def test_layers_only_point_down() -> None:
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "generator", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_circle() -> None:
    # The layers contract forbids upward imports between layers; this also forbids circles inside one layer
    # (function-level imports included), e.g. two readers that import each other.
    import grimp

    graph = grimp.build_graph("evalsite")
    circles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                circles.add(" -> ".join((importer, *back)))
    assert not circles, sorted(circles)


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evalsite"):
                found += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
                if any(part.startswith("_") and part != "__main__" for part in (node.module or "").split(".")):
                    found.append(f"{path.relative_to(ROOT)}: {node.module}")
    assert not found, found


def _own_classes() -> list[type]:
    """Every class the package defines (not the ones its modules import)."""
    found = []
    for name in _modules():
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == name]
    return found


def test_every_error_class_is_under_the_one_root() -> None:
    strays = [f"{cls.__module__}.{cls.__name__}" for cls in _own_classes()
              if issubclass(cls, Exception) and not issubclass(cls, EvalsiteError)]
    assert not strays, f"exceptions outside EvalsiteError: {strays}"


def test_classes_named_error_are_exceptions() -> None:
    # A dataclass called ...Error (a row of the errors table) reads like an exception and is caught like none.
    misnamed = [f"{cls.__module__}.{cls.__name__}" for cls in _own_classes()
                if cls.__name__.endswith("Error") and not issubclass(cls, Exception)]
    assert not misnamed, misnamed


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")), ids=lambda p: str(p.relative_to(SOURCE)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by idea"


def test_no_file_refers_to_a_file_outside_the_repository() -> None:
    """Design notes, the shared folder and this machine's paths stay out; the docs site holds the definitions."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    offenders = []
    for rel in tracked.split():
        if rel == "tests/test_architecture.py":  # names what it looks for
            continue
        if rel.startswith("benchmarks/"):  # the benchmark takes the shared data generator by --shared, and says so
            continue
        path = ROOT / rel
        checked = {".py", ".md", ".j2", ".yaml", ".yml", ".toml", ".js", ".css", ".html", ""}
        if path.suffix in checked and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if any(outside in text for outside in ("DESIGN.md", "../shared", "/work/")):
                offenders.append(rel)
    assert not offenders, offenders
