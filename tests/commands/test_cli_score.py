import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry((32, 32, 12), (0.45, 0.45, 5.0), (0.0, 0.0, 0.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def lesion(z0=3, z1=7):
    mask = np.zeros(GEOMETRY.shape, np.uint8)
    mask[z0:z1, 8:20, 10:22] = 1
    return mask


@pytest.fixture
def folders(tmp_path):
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir()
    pred.mkdir()
    for cid in ("001", "002"):
        write_volume(lesion(), GEOMETRY, truth / f"{cid}.nii.gz")
    write_volume(lesion(4, 8), GEOMETRY, pred / "001.nii.gz")
    (pred / "002.nii.gz").write_bytes(b"")  # unreadable
    (pred / "notes.txt").write_text("stray")
    return truth, pred, tmp_path / "out"


def invoke(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def test_score_exits_0_and_prints_summary_whatever_the_statuses(folders):
    truth, pred, out = folders
    result = invoke(pred, "--truth", truth, "--out", out, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "2 cases" in result.output and "DC" in result.output and "HD inf" in result.output
    assert "ok 1, unreadable 1" in result.output
    assert "ignored: 1 file(s)" in result.output and str(out / "cases.csv") in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status_counts"]["unreadable"] == 1
    assert summary["ignored_files"] == ["notes.txt"]


def test_options_reach_the_library(folders):
    truth, pred, out = folders
    result = invoke(pred, "--truth", truth, "--out", out, "-j", "1", "--tolerance-mm", "2.5",
                    "--lenient-geometry", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert json.loads((out / "summary.json").read_text())["tolerance_mm"] == 2.5


@pytest.mark.parametrize(("change", "code", "words"), [
    ("missing_pred", 2, "does not exist"),
    ("missing_truth", 2, "does not exist"),
    ("no_truth_option", 2, "Missing option '--truth'"),
    ("empty_truth", 1, "no .nii or .nii.gz files"),
    ("out_inside_pred", 1, "inside the submission folder"),
    ("jobs_0", 2, "--jobs"),
    ("negative_tolerance", 2, "--tolerance-mm"),
])
def test_unusable_arguments_exit_nonzero_with_one_line_and_no_traceback(folders, tmp_path,
                                                                       change, code, words):
    truth, pred, out = folders
    args = [pred, "--truth", truth, "--out", out]
    if change == "missing_pred":
        args[0] = tmp_path / "nope"
    elif change == "missing_truth":
        args[2] = tmp_path / "nope"
    elif change == "no_truth_option":
        args = [pred, "--out", out]
    elif change == "empty_truth":
        (tmp_path / "empty").mkdir()
        args[2] = tmp_path / "empty"
    elif change == "out_inside_pred":
        args[4] = pred / "scores"
    elif change == "jobs_0":
        args += ["--jobs", "0"]
    elif change == "negative_tolerance":
        args += ["--tolerance-mm", "-1"]
    result = invoke(*args)
    assert result.exit_code == code
    assert words in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_score_help_in_a_subprocess_lists_options_and_statuses():
    script = Path(sys.executable).with_name("ichbench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ichbench.cli"]
    done = subprocess.run([*command, "score", "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for text in ("PRED_DIR", "--truth", "--out", "--tolerance-mm", "0.42", "--jobs",
                 "--lenient-geometry", "--quiet", "geometry_mismatch", "outside_folder",
                 "truth_unreadable"):
        assert text in done.stdout, text


@pytest.mark.parametrize("where", ["truth", "csv_dir", "under_file"])
def test_unusable_out_folder_exits_1_with_one_line(folders, where):
    truth, pred, out = folders
    if where == "truth":
        out = truth
    elif where == "csv_dir":
        (out / "cases.csv").mkdir(parents=True)
    else:
        (out.parent / "a_file").write_text("x")
        out = out.parent / "a_file" / "scores"
    result = invoke(pred, "--truth", truth, "--out", out)
    assert result.exit_code == 1
    assert result.output.startswith("Error: output folder") and result.output.count("\n") == 1
    assert not (truth / "cases.csv").exists()
