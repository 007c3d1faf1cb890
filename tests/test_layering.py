"""The root package's layering: each wing imports only the wings below it, and no module
imports one that imports it back.

Every ``import`` and ``from ... import`` in every module counts, also those inside
functions and under ``TYPE_CHECKING``: a reader follows them all, and a function-level
import is still a dependency. The order, lowest first, is the data flow of DESIGN.md.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lowest first. A module may import its own wing and the wings before it.
WINGS = ("ichbench", "metrics", "io", "submissions", "data", "phantom", "reports", "harness",
         "baselines", "perf", "commands", "cli")


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every module installed under ``ichbench``."""
    package_dir = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    found: dict[str, Path] = {}
    for package, folder in package_dir.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            name = ".".join([package, *(p for p in parts if p != "__init__")])
            found.setdefault(name, path)
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The ichbench modules that module ``name`` (file ``path``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            out.add(base)
            # `from ichbench.io import nifti` imports the module ichbench.io.nifti
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m in MODULES}


GRAPH = {name: _imports(name, path) - {name} for name, path in MODULES.items()}


def wing(module: str) -> str:
    """The wing of a dotted module name (``ichbench`` itself is the lowest)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ichbench"


def test_every_module_belongs_to_a_wing():
    loose = sorted(m for m in MODULES if wing(m) not in WINGS)
    assert not loose, (f"modules outside the wings {WINGS}: {loose}; put each in a wing "
                       "(or add the wing to WINGS in its place in the data flow)")


def test_the_root_package_has_no_loose_modules():
    loose = sorted(m for m in MODULES if m.count(".") == 1 and m != "ichbench.cli"
                   and MODULES[m].name != "__init__.py")
    assert not loose, f"loose modules at the root of ichbench (put each in a wing): {loose}"


def test_the_graph_sees_every_kind_of_import(tmp_path, monkeypatch):
    """Function-level, TYPE_CHECKING, relative and `from package import module` imports."""
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from ichbench.io.geometry import Geometry\n"
                      "def f():\n    from ichbench.io import nifti\n"
                      "from . import atomic\nimport ichbench.metrics\n")
    assert _imports("ichbench.io.volumes", source) == {
        "ichbench.io.geometry", "ichbench.io", "ichbench.io.nifti", "ichbench.io.atomic",
        "ichbench.metrics"}


def test_each_wing_imports_only_the_wings_below_it():
    bad = []
    for module, deps in sorted(GRAPH.items()):
        level = WINGS.index(wing(module))
        bad += [f"{module} -> {d}" for d in sorted(deps) if WINGS.index(wing(d)) > level]
    assert not bad, "imports that point up the layering:\n" + "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(GRAPH):
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_one_that_imports_it_back():
    cycles = _cycles()
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("fake, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(monkeypatch, fake, expected):
    monkeypatch.setattr(f"{__name__}.GRAPH", fake)
    assert _cycles() == expected
