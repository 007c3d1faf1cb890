import json

import pytest
from click.testing import CliRunner

from ichbench.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_run_help_lists_the_options():
    result = _run("--help")
    assert result.exit_code == 0
    for option in ("--method", "--data", "--preset", "--device", "--folds", "--out",
                   "--resume", "--set", "--seed", "--status", "--executor", "--workers",
                   "--devices", "--partition", "--time-min", "--gpus", "--cpus", "--mem-gb",
                   "--sbatch", "--no-wait"):
        assert option in result.output


@pytest.mark.parametrize(("args", "message"), [
    ((), "give --method NAME"),
    (("--method", "coarse", "--folds", "a,b"), "expected fold numbers"),
    (("--method", "magic"), "'magic' is not one of"),
    (("--method", "threshold", "--preset", "huge"), "'huge' is not one of"),
])
def test_bad_arguments_are_usage_errors(args, message):
    result = _run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("extra", "message"), [
    (("--set", "epoch=3"), "--set epoch: not a setting of coarse (did you mean train.epochs?)"),
    (("--set", "train.epochs=many"), "cannot read as int"),
    (("--set", "train.epoch=3"), "valid keys under train: train.epochs, train.patience"),
    (("--set", "grid_zyx=8,48,48"), "divisible by 32"),
    (("--folds", "5"), "--folds 5: expected fold numbers between 0 and 4"),
])
def test_bad_settings_are_one_line_errors(tiny_root, tmp_path, extra, message):
    result = _run("--method", "coarse", "--data", tiny_root, "--out", tmp_path, *extra)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and message in lines[-1]
    assert "Traceback" not in result.output


def test_a_method_value_error_is_a_one_line_error_not_a_traceback(tiny_root, tmp_path,
                                                                  monkeypatch):
    from ichbench.baselines.threshold import ThresholdMethod

    def bad(self, ctx):
        raise ValueError("label geometry does not match its CT")

    monkeypatch.setattr(ThresholdMethod, "tune_and_predict", bad)
    result = _run("--method", "threshold", "--data", tiny_root, "--out", tmp_path)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: stage threshold failed: ValueError: label geometry")
    assert "log.txt" in last and "Traceback" not in result.output


def test_cuda_without_a_gpu_is_a_one_line_error(tiny_root, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    result = _run("--method", "threshold", "--data", tiny_root, "--out", tmp_path,
                  "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU" in result.output


@pytest.mark.slow
def test_coarse_smoke_run_end_to_end_then_resume_is_a_no_op(tiny_root, tmp_path):
    result = _run("--method", "coarse", "--preset", "cpu", "--data", tiny_root, "--out",
                  tmp_path, "--set", "train.epochs=2", "--set", "grid_zyx=4,32,32",
                  "--no-report")
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    assert f"run folder: {run_dir}" in result.output
    assert "fold 4 epoch 2/2" in result.output and "ETA" in result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["train"]["epochs"] == 2
    assert config["config"]["grid_zyx"] == [4, 32, 32]
    for k in range(5):
        assert (run_dir / "folds" / str(k) / "history.csv").exists()
        assert (run_dir / "folds" / str(k) / "learning_curve.png").exists()
    for split in ("validation", "test", "train_oof"):
        assert (run_dir / "scores" / split / "cases.csv").exists()
    again = _run("--resume", run_dir, "--no-report")
    assert again.exit_code == 0, again.output
    assert "epoch 1/2" not in again.output
    # 5 fold stages, 2 prediction stages (validation, test), score; --no-report: no report
    assert "8 of 8 stages already done, skipped" in again.output
