"""Fixtures shared by the harness tests: the tiny dataset and one finished coarse run.

Both are built once per session and only read by the tests (a test that changes a run
copies it first), so the executor and Slurm modules compare against the same in-process
run instead of each training their own.
"""

from __future__ import annotations

import pytest
import tiny_ich_data

from ichbench.harness.runner import run_method


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    return tiny_ich_data.build(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def inprocess_run(tiny_root, tmp_path_factory):
    """``coarse`` with ``tiny_ich_data.TINY_COARSE``, run in this process: the reference."""
    return run_method("coarse", data=tiny_root, out=tmp_path_factory.mktemp("inprocess"),
                      overrides=tiny_ich_data.TINY_COARSE, echo=lambda s: None, score_jobs=1,
                      report=False)
