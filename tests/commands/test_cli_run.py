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


# --- issue 23: --set values no run can use, refused at the boundary -----------------------
DEEP_JSON = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize(("method", "item", "message"), [
    ("threshold", "hu_high=inf", "config.hu_high[0]=inf: expected a finite number"),
    ("threshold", "hu_high=nan", "expected a finite number"),
    ("threshold", "hu_low=-1e9", "hu_low=[-1000000000.0]: expected values in [-32768, 32767]"),
    ("threshold", "keep=all,rm -rf /", "not in ['largest', 'all']"),
    ("threshold", "smooth_sigma_vox=[]", "the grid axis is empty"),
    ("fine", "optimizer=rm -rf /", "optimizer='rm -rf /': expected one of sgd, adam"),
    ("fine", "features_per_stage=[]", "features_per_stage has 0 entries"),
    ("fine", "oversample_foreground_percent=2", "oversample_foreground_percent=2.0: expected "
                                                "a value in [0, 1]"),
    ("fine", "patch_size_zyx=100000,100000,100000", "patch_size_zyx=[100000, 100000, "
                                                     "100000]: expected values in [1, 1024]"),
    ("fine", "patch_size_zyx=1000,1000,1000", "more than 16,777,216 (256³)"),
    ("fine", "num_epochs=1000000000000000000000000000000", "expected an int of at most"),
    ("fine", "num_epochs=10^30", "cannot read as int"),
    ("fine", "num_epochs=2000000", "num_epochs=2000000: expected a value in [1, 1e+06]"),
    ("fine", "initial_lr=1e400", "expected a finite number"),
    ("cascade", "fine.optimizer=rm -rf /", "expected one of sgd, adam"),
    ("cascade", "coarse.hu_windows=[[0, 1e9], [0, 100]]", "expected values in [-32768, 32767]"),
    ("cascade", "coarse.grid_zyx=4096,4096,4096", "more than 134,217,728"),
    ("coarse", "train.lr=inf", "expected a finite number"),
    ("coarse", "model.growth_rate=100000", "model.growth_rate=100000: expected a value in"),
    ("coarse", "augment.gamma_range=0.5,1e9", "0 < low <= high <= 10"),
    ("coarse", f"hu_windows={DEEP_JSON}", "JSON nested deeper than 32 levels"),
    ("coarse", "hu_windows=" + "[" * 40 + "]" * 40, "JSON nested deeper than 32 levels"),
    ("coarse", f"train={DEEP_JSON}", "JSON nested deeper than 32 levels"),
    ("coarse", "k" * 200_000 + "=1", "not a setting of coarse"),
    ("coarse", "train.epochs=" + "9" * 200_000, "cannot read as int"),
    ("threshold", "keep=" + "x" * 200_000, "not in ['largest', 'all']"),
    ("coarse", "model.decoder_channels=" + ",".join(["8"] * 100_000), "needs one entry per"),
    ("coarse", "hu_windows=" + str([[0, 1]] * 50_000), "50000 windows: expected 1 to 16"),
    ("coarse", "hu_windows=[]", "expected one or more (low, high) windows"),
])
def test_set_values_no_run_can_use_are_one_line_errors(tiny_root, tmp_path, method, item,
                                                       message):
    out = tmp_path / "runs"
    result = _run("--method", method, "--data", tiny_root, "--out", out, "--set", item)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output[:500]
    assert message in lines[0], lines[0]
    assert len(lines[0]) < 700  # long input cut
    assert not out.exists()  # refused before a run folder (or the data) was made
