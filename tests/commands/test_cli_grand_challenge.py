"""`ichbench grand-challenge evaluate|dry-run`, and the torch-free scoring import path."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry((16, 16, 8), (0.45, 0.45, 5.0), (0.0, 0.0, 0.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def lesion(z0=2, z1=5):
    mask = np.zeros(GEOMETRY.shape, np.uint8)
    mask[z0:z1, 4:10, 5:11] = 1
    return mask


@pytest.fixture
def folders(tmp_path):
    truth, sub = tmp_path / "truth", tmp_path / "sub"
    truth.mkdir()
    sub.mkdir()
    for cid in ("131", "177", "200"):
        write_volume(lesion(), GEOMETRY, truth / f"{cid}.nii.gz")
    write_volume(lesion(3, 5), GEOMETRY, sub / "200.nii.gz")
    return truth, sub, tmp_path / "gc"


def test_dry_run_then_evaluate_with_flags_writes_the_same_metrics(folders):
    truth, sub, out = folders
    result = CliRunner().invoke(cli, ["grand-challenge", "dry-run", str(sub), "--truth",
                                      str(truth), "--out", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "3 cases" in result.output and "missing 2" in result.output
    metrics = json.loads((out / "output" / "metrics.json").read_text())
    assert [c["status"] for c in metrics["cases"]] == ["missing", "missing", "ok"]

    again = CliRunner().invoke(cli, ["grand-challenge", "evaluate", "--input",
                                     str(out / "input"), "--ground-truth", str(truth),
                                     "--output", str(out / "again"), "-j", "1"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "again" / "metrics.json").read_text()) == metrics


def test_dry_run_refuses_an_existing_tree(folders):
    truth, sub, out = folders
    args = ["grand-challenge", "dry-run", str(sub), "--truth", str(truth), "--out", str(out),
            "-j", "1"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 1 and "already exists" in second.output


def _run_cli(*args, env=None):
    code = textwrap.dedent("""
        import sys
        from ichbench.cli import main
        sys.argv = ["ichbench", *sys.argv[1:]]
        try:
            main()
        finally:
            heavy = sorted(m for m in ("torch", "nnunetv2", "torchvision")
                           if m in sys.modules)
            print("HEAVY", heavy, file=sys.stdout)
        """)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env)


def test_evaluate_failure_ends_stderr_with_one_sentence_and_imports_no_torch(folders):
    truth, sub, out = folders
    tree = CliRunner().invoke(cli, ["grand-challenge", "dry-run", str(sub), "--truth",
                                    str(truth), "--out", str(out), "-j", "1"])
    assert tree.exit_code == 0, tree.output
    done = _run_cli("grand-challenge", "evaluate", "--input", out / "input", "--ground-truth",
                    truth, "--output", out / "strict", "--require-all-cases", "-j", "1")
    assert done.returncode == 1
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert last == "Expected 3 predictions, found 1: no output for 131, 177."
    assert "HEAVY []" in done.stdout


def test_score_and_evaluate_import_no_torch(folders):
    truth, sub, out = folders
    scored = _run_cli("score", sub, "--truth", truth, "--out", out / "scores", "-j", "1")
    assert scored.returncode == 0, scored.stderr
    assert "HEAVY []" in scored.stdout
    (out / "input").mkdir(parents=True)
    (out / "input" / "predictions.json").write_text("[]")
    evaluated = _run_cli("grand-challenge", "evaluate", "--input", out / "input",
                         "--ground-truth", truth, "--output", out / "o", "-j", "1")
    assert evaluated.returncode == 1 and "HEAVY []" in evaluated.stdout
    assert evaluated.stderr.strip().splitlines()[-1].startswith("predictions.json lists no")


def test_internal_error_still_ends_with_a_sentence(folders, monkeypatch):
    import ichbench.submissions.grand_challenge as gc

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gc, "evaluate", broken)
    truth, _, out = folders
    result = CliRunner().invoke(cli, ["grand-challenge", "evaluate", "--input", str(out),
                                      "--ground-truth", str(truth), "--output", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(
        "The evaluation failed with an internal error (RuntimeError: boom)")


def test_bad_max_workers_variable_is_reported(folders, monkeypatch):
    truth, _, out = folders
    monkeypatch.setenv("GRAND_CHALLENGE_MAX_WORKERS", "lots")
    result = CliRunner().invoke(cli, ["grand-challenge", "evaluate", "--input", str(out),
                                      "--ground-truth", str(truth), "--output", str(out)])
    assert result.exit_code == 1
    assert "GRAND_CHALLENGE_MAX_WORKERS='lots'" in result.output


def test_tree_and_metrics_are_readable_by_other_users(folders):
    """The container runs as another user than the one who built the tree (and
    grand-challenge reads /output): files must not be left private (mkstemp's 0600)."""
    import os
    import stat

    truth, sub, out = folders
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["grand-challenge", "dry-run", str(sub), "--truth",
                                          str(truth), "--out", str(out), "-j", "1"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "metrics.json" for p in files) and any(p.suffix == ".mha"
                                                                for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# --- issue 23: attacks on the container's entry point, as a real process -----------------


def _tree(folders):
    truth, sub, out = folders
    result = CliRunner().invoke(cli, ["grand-challenge", "dry-run", str(sub), "--truth",
                                      str(truth), "--out", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    return truth, out / "input"


def _evaluate(truth, input_dir, output):
    return _run_cli("grand-challenge", "evaluate", "--input", input_dir, "--ground-truth",
                    truth, "--output", output, "-j", "1")


def test_nul_in_one_jobs_relative_path_is_that_jobs_status(folders):
    truth, input_dir = _tree(folders)
    jobs = json.loads((input_dir / "predictions.json").read_text())
    jobs.append({"pk": "evil", "status": "Succeeded",
                 "inputs": [{"image": {"name": "131.mha"},
                             "interface": {"slug": "ct", "relative_path": "images/ct"}}],
                 "outputs": [{"image": {"name": "x.mha"},
                              "interface": {"slug": "ich-segmentation",
                                            "relative_path": "images/a\u0000b\ud800"}}]})
    (input_dir / "predictions.json").write_text(json.dumps(jobs))
    output = folders[2] / "container-output"
    done = _evaluate(truth, input_dir, output)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = {r["case"]: r for r in json.loads((output / "metrics.json").read_text())["cases"]}
    assert rows["131"]["status"] == "unreadable" and rows["200"]["status"] == "ok"


@pytest.mark.parametrize("attack", ["fifo", "deep", "unwritable"])
def test_hostile_predictions_json_or_output_is_one_line_exit_1(folders, attack):
    import os

    truth, input_dir = _tree(folders)
    output = folders[2] / "container-output"
    if attack == "fifo":
        (input_dir / "predictions.json").unlink()
        os.mkfifo(input_dir / "predictions.json")
        expected = "is not a regular file"
    elif attack == "deep":
        (input_dir / "predictions.json").write_text("[" * 200_000 + "]" * 200_000)
        expected = "nested too deeply"
    else:
        output.write_text("a file where the output folder should be")
        output = output / "sub"
        expected = "cannot be written"
    done = _evaluate(truth, input_dir, output)  # a hang fails by the 120 s timeout
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert not list(folders[2].glob("container-output*/**/metrics.json"))
