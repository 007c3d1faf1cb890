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
