"""`ichbench run --status` on damaged run folders: one line per problem, no traceback, no hang.

Issue 23: non-UTF-8 or deeply nested stage files and config.json, ``{"state": {...}}``,
``stages`` as a file, config.json as a folder or without ``data`` gave tracebacks; a FIFO
as a stage file hung; a 100,000-character error was printed in full. The run folder is a
threshold run made by ``create_run`` (config.json and protocol.json, nothing trained).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import tiny_ich_data
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.harness.rundir import create_run, open_data

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tiny_ich_data.build(tmp_path_factory.mktemp("tiny"))
    run = create_run("threshold", dataset=open_data(root), preset=None, overrides=(),
                     seed=None, folds=None, device="cpu", out=tmp_path_factory.mktemp("runs"))
    return run.run_dir


@pytest.fixture
def run_dir(pristine, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(pristine, copy)
    (copy / "stages").mkdir(exist_ok=True)
    return copy


def status(run_dir):
    return CliRunner().invoke(cli, ["run", "--status", str(run_dir)])


def test_pristine_run_lists_its_stages(run_dir):
    result = status(run_dir)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "3 stages: 3 queued"


@pytest.mark.parametrize(("content", "words"), [
    (b"\xff\xfe{}", "not UTF-8 text"),
    (DEEP.encode(), "nested too deeply"),
    (b'{"state": {"nested": "object"}}', "is not one of queued, running"),
    (b'{"state": ["done"]}', "is not one of"),
    (b'"done"', "not a JSON object"),
    (b"{broken", "not valid JSON"),
])
def test_damaged_stage_file_is_a_failed_stage_with_one_line(run_dir, content, words):
    (run_dir / "stages" / "threshold.json").write_bytes(content)
    result = status(run_dir)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert lines[0].split()[0] == "failed"
    assert lines[1].startswith("         error: unreadable state file") and words in lines[1]
    assert len(lines[1]) < 400
    assert "blocked" in result.output  # score and report need it


def test_a_stages_file_instead_of_the_folder_fails_every_stage_readably(run_dir):
    shutil.rmtree(run_dir / "stages")
    (run_dir / "stages").write_text("not a folder")
    result = status(run_dir)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert result.output.splitlines()[-1] == "3 stages: 1 failed, 2 blocked"
    assert "Not a directory" in result.output


def test_hundred_thousand_character_error_is_cut(run_dir):
    (run_dir / "stages" / "threshold.json").write_text(json.dumps(
        {"state": "failed", "error": "E" * 100_000 + "\nsecond line", "log": "L" * 50_000,
         "job_id": {"x": "J" * 10_000}}))
    result = status(run_dir)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) < 400
    assert len(result.output) < 2_000


@pytest.mark.parametrize(("damage", "words"), [
    ("latin1", "not UTF-8 text"),
    ("deep", "nested too deeply"),
    ("folder", "not a regular file"),
    ("no data", "'data' should be a dataset folder, found missing"),
    ("data list", "'data' should be a dataset folder, found [1, 2]"),
    ("folds", "'folds' should be a list of fold numbers"),
    ("method", "'method' should be a method name"),
    ("list", "holds a JSON list, not an object"),
    ("config", "'config' should be an object of settings"),
])
def test_damaged_config_json_is_one_line_exit_1(run_dir, damage, words):
    path = run_dir / "config.json"
    record = json.loads(path.read_text())
    if damage == "latin1":
        path.write_bytes(path.read_text().replace("threshold", "thrésh", 1).encode("latin-1"))
    elif damage == "deep":
        path.write_text(DEEP)
    elif damage == "folder":
        path.unlink()
        path.mkdir()
    elif damage == "list":
        path.write_text("[1, 2]")
    else:
        key, value = {"no data": ("data", None), "data list": ("data", [1, 2]),
                      "folds": ("folds", "0,1"), "method": ("method", ["threshold"]),
                      "config": ("config", "x")}[damage]
        if value is None:
            del record[key]
        else:
            record[key] = value
        path.write_text(json.dumps(record))
    result = status(run_dir)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 and words in result.output, result.output


def test_damaged_all_json_is_one_line_exit_1(run_dir, tmp_path):
    parent = tmp_path / "all"
    parent.mkdir()
    (parent / "all.json").write_text(json.dumps({"methods": ["threshold"], "preset": "cpu",
                                                 "seed": 0, "runs": {"threshold": 7}}))
    result = status(parent)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "'runs' should be an object of run folders" in result.output


def test_fifo_stage_file_does_not_hang_status(run_dir):
    os.mkfifo(run_dir / "stages" / "threshold.json")
    os.mkfifo(run_dir / "stages" / "score.job")
    done = subprocess.run([sys.executable, "-m", "ichbench.cli", "run", "--status",
                           str(run_dir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "not a regular file" in done.stdout and done.stdout.startswith("failed")
