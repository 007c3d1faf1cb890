"""metrics/ is pure computation: no I/O, no ichbench layers above it, no heavy libraries."""

import ast
from pathlib import Path

import pytest

METRICS_DIR = Path(__file__).resolve().parents[2] / "metrics"
FORBIDDEN = {"os", "pathlib", "io", "shutil", "SimpleITK", "nibabel", "torch", "click",
             "matplotlib", "surface_distance"}
ALLOWED_ICHBENCH = "ichbench.metrics"


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("path", sorted(METRICS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_metrics_module_imports_no_io_no_heavy_library_and_no_other_ichbench(path):
    for name in _imported_modules(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path.name} imports {name}"
        if top == "ichbench":
            assert name.startswith(ALLOWED_ICHBENCH), f"{path.name} imports {name}"
        assert not name.startswith(".."), f"{path.name} imports {name} outside metrics"


def test_metrics_folder_has_modules_to_check():
    assert (METRICS_DIR / "case.py").is_file()
