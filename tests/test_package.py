"""Packaging and import hygiene: one namespace, cheap imports, a working console script."""

import subprocess
import sys

import ichbench


def test_subpackages_live_in_the_ichbench_namespace():
    import ichbench.baselines
    import ichbench.metrics
    import ichbench.reports
    import ichbench.submissions

    for module in (ichbench.baselines, ichbench.metrics, ichbench.reports, ichbench.submissions):
        assert module.__name__.startswith("ichbench.")


def test_generic_folder_names_are_not_installed_as_top_level_modules():
    names = ("metrics", "reports", "baselines", "submissions", "benchmark")
    code = f"import importlib.util as u; print([u.find_spec(n) is None for n in {names!r}])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/").stdout
    assert out.strip() == "[True, True, True, True, True]"


def test_import_ichbench_and_cli_load_no_heavy_libraries():
    code = ("import sys, ichbench, ichbench.cli, ichbench.metrics, ichbench.submissions; "
            "print(sorted(m for m in ('torch', 'nnunetv2', 'matplotlib', 'SimpleITK') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_console_script_reports_version():
    out = subprocess.run([sys.executable, "-m", "ichbench.cli", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert ichbench.__version__ in out


def test_built_wheel_holds_every_source_module_under_ichbench(tmp_path):
    """A wheel (not only the editable install) must carry each folder under ``ichbench/``."""
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(root)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ichbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    folders = {"benchmark": "ichbench", "baselines": "ichbench/baselines",
               "metrics": "ichbench/metrics", "submissions": "ichbench/submissions",
               "reports": "ichbench/reports"}
    for folder, package in folders.items():
        for source in (root / folder).rglob("*.py"):
            relative = source.relative_to(root / folder).as_posix()
            assert f"{package}/{relative}" in names, f"{folder}/{relative} missing from wheel"
    assert not any(n.split("/")[0] in folders for n in names), "top-level generic package"


def test_version_equals_the_installed_metadata():
    from importlib.metadata import version

    assert ichbench.__version__ == version("ichbench")


def test_cli_lists_every_command_and_imports_only_the_one_that_runs():
    from ichbench.cli import COMMANDS

    code = ("import sys; from ichbench.cli import cli\n"
            "try:\n    cli(['score', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('ichbench.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "['ichbench.commands.score']"
    listed = subprocess.run([sys.executable, "-m", "ichbench.cli", "--help"],
                            capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert f"  {name} " in listed
