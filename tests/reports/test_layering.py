"""Imports inside reports/ point one way: no module imports one that imports it back.

Every ``import`` and ``from`` statement counts, wherever it stands (module level, inside a
function, under ``TYPE_CHECKING``): a function-level import hides a cycle from Python, not
from the reader who has to know which module comes first (issue 24).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import ichbench.reports

PACKAGE = "ichbench.reports"
FOLDER = Path(ichbench.reports.__file__).parent


def _target(name: str, modules: set[str]) -> str | None:
    """The reports module a dotted import name refers to (None outside reports/)."""
    if name == PACKAGE:
        return "__init__"
    if name.startswith(PACKAGE + "."):
        head = name[len(PACKAGE) + 1:].split(".")[0]
        return head if head in modules else None
    return None


def import_graph(folder: Path) -> dict[str, set[str]]:
    """{module: reports modules it imports}, from every import statement of every file."""
    modules = {p.stem for p in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from .x import y
                    base = PACKAGE + (f".{node.module}" if node.module else "")
                # `from ichbench.reports import stats` names the module stats
                names = [f"{base}.{a.name}" if base == PACKAGE and a.name in modules else base
                         for a in node.names]
            else:
                continue
            found |= {t for n in names if (t := _target(n, modules)) is not None}
        found.discard(path.stem)
        graph[path.stem] = found
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_names_a_cycle_through_three_modules_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_counts_function_level_and_type_checking_imports(tmp_path):
    (tmp_path / "low.py").write_text("import numpy\n", encoding="utf-8")
    (tmp_path / "high.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ichbench.reports.low import X\n"
        "def f():\n    from ichbench.reports import mid\n", encoding="utf-8")
    (tmp_path / "mid.py").write_text("import ichbench.reports.high as h\n", encoding="utf-8")
    graph = import_graph(tmp_path)
    assert graph == {"low": set(), "high": {"low", "mid"}, "mid": {"high"}}
    assert find_cycle(graph) == ["high", "mid", "high"]


def test_reports_modules_import_each_other_without_a_cycle():
    graph = import_graph(FOLDER)
    assert len(graph) > 10 and "leaderboard" in graph
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in reports/: {' -> '.join(cycle)}"
