"""Executors on tiny coarse runs: in-process, 2 local CPU workers, a failing fold, --status.

Tiny coarse config: 1 epoch on a 4 × 32 × 32 grid of the tiny 10-case dataset (seconds per
fold), so that the weights of every fold can be compared bit for bit between executors.
"""

import json

import pytest
import tiny_ich_data
import torch
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.harness.runner import Execution, RunError, run_method
from ichbench.harness.slurm import SlurmOptions
from ichbench.harness.status import format_status, run_status

TINY = tiny_ich_data.TINY_COARSE
fold_weights = tiny_ich_data.fold_weights


@pytest.mark.slow
def test_two_local_workers_give_the_in_process_weights_and_scores(tiny_root, tmp_path,
                                                                  inprocess_run):
    lines: list[str] = []
    local = run_method("coarse", data=tiny_root, out=tmp_path, overrides=TINY,
                       echo=lines.append, score_jobs=1, report=False,
                       execution=Execution(executor="local", workers=2))
    for k in range(5):
        a, b = fold_weights(inprocess_run.run_dir, k), fold_weights(local.run_dir, k)
        assert all(torch.equal(a[name], b[name]) for name in a), f"fold {k}"
    for split in ("validation", "test", "train_oof"):
        assert (local.summaries[split]["metrics"]["dc"]["mean"]
                == inprocess_run.summaries[split]["metrics"]["dc"]["mean"])
    started = [line for line in lines if "started on cpu" in line]
    assert len(started) == 8  # 5 folds, 2 prediction splits, score
    log = (local.run_dir / "logs" / "coarse.fold3.txt").read_text()
    assert "fold 3 epoch 1/1" in log


@pytest.mark.slow
def test_a_failing_fold_is_reported_with_its_log_and_status_then_resumed(
        tiny_root, tmp_path, inprocess_run):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(inprocess_run.run_dir, run_dir)
    # restore the config's run folder, forget every stage, break fold 3's checkpoint
    shutil.rmtree(run_dir / "stages")
    shutil.rmtree(run_dir / "scores")
    (run_dir / "folds" / "3" / "result.json").unlink()
    (run_dir / "folds" / "3" / "checkpoint.pt").write_bytes(b"torn")
    with pytest.raises(RunError) as info:
        run_method(resume=run_dir, echo=lambda s: None, score_jobs=1, report=False,
                   execution=Execution(executor="local", workers=2))
    message = str(info.value)
    assert "stage coarse.fold3 failed: RuntimeError:" in message
    assert "cannot read the checkpoint" in message
    assert str(run_dir / "logs" / "coarse.fold3.txt") in message
    assert "3 stage(s) after them not run" in message  # predict validation, test, score
    rows = {r["key"]: r for r in run_status(run_dir)}
    assert rows["coarse.fold3"]["state"] == "failed"
    assert {rows[f"coarse.fold{k}"]["state"] for k in (0, 1, 2, 4)} == {"done"}
    assert rows["score"]["state"] == "blocked" and "coarse.fold3" in rows["score"]["error"]
    text = CliRunner().invoke(cli, ["run", "--status", str(run_dir)]).output
    assert "failed   run/coarse.fold3" in text and "cannot read the checkpoint" in text
    assert "stages: 4 done, 1 failed, 4 blocked" in text.splitlines()[-1]
    (run_dir / "folds" / "3" / "checkpoint.pt").unlink()  # the fix the message names
    lines: list[str] = []
    again = run_method(resume=run_dir, echo=lines.append, score_jobs=1, report=False,
                       execution=Execution(executor="local", workers=2))
    assert any("4 of 8 stages already done" in line for line in lines)  # no report stage
    assert not any("coarse.fold0: started" in line for line in lines)
    assert json.loads((run_dir / "stages" / "coarse.fold3.json").read_text())["state"] == "done"
    assert again.summaries["test"]["metrics"] == inprocess_run.summaries["test"]["metrics"]


def test_bad_executor_options_are_one_line_errors(tiny_root, tmp_path):
    with pytest.raises(RunError, match="--workers and --devices belong to --executor local"):
        run_method("threshold", data=tiny_root, out=tmp_path,
                   execution=Execution(workers=2))
    with pytest.raises(RunError, match="expected cuda:<n> entries"):
        run_method("threshold", data=tiny_root, out=tmp_path,
                   execution=Execution(executor="local", devices=("gpu0",)))
    if torch.cuda.device_count() < 8:
        with pytest.raises(RunError, match=r"--devices cuda:0,cuda:7: torch sees \d+ CUDA "
                                           r"GPU\(s\) here, so .*cuda:7 does not exist"):
            run_method("threshold", data=tiny_root, out=tmp_path, execution=Execution(
                executor="local", devices=("cuda:0", "cuda:7")))
    with pytest.raises(RunError, match="--no-wait needs --executor slurm"):
        run_method("threshold", data=tiny_root, out=tmp_path,
                   execution=Execution(executor="local", wait=False))
    with pytest.raises(RunError, match=r"--sbatch 'qos=': expected key=value or a flag"):
        run_method("threshold", data=tiny_root, out=tmp_path, execution=Execution(
            executor="slurm", slurm=SlurmOptions(sbatch=("qos=",))))
    assert not list(tmp_path.iterdir())  # refused before a run folder was made


def test_slurm_without_sbatch_is_a_one_line_error(tiny_root, tmp_path, monkeypatch):
    from ichbench.harness import slurm

    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    with pytest.raises(RunError, match="sbatch is not on PATH; run on a Slurm login node"):
        run_method("threshold", data=tiny_root, out=tmp_path, echo=lambda s: None,
                   execution=Execution(executor="slurm"))


def test_sbatch_pass_through_options_become_submitit_parameters():
    options = SlurmOptions(sbatch=("qos=high", "--account=lab", "exclusive",
                                   "--mail-type=END"))
    assert options.extra() == {"qos": "high", "account": "lab", "exclusive": True,
                               "mail_type": "END"}


def test_status_of_a_finished_run_lists_every_stage(inprocess_run):
    text = format_status(run_status(inprocess_run.run_dir))
    assert text.splitlines()[-1] == "9 stages: 8 done, 1 queued"  # --no-report: report
    assert text.splitlines()[0].split() == ["done", f"{inprocess_run.run_dir.name}/coarse.fold0"]
    assert "queued   " + f"{inprocess_run.run_dir.name}/report" in text


def test_a_split_predicted_in_parts_gives_the_same_masks(inprocess_run, tmp_path,
                                                         monkeypatch):
    import shutil

    import numpy as np

    from ichbench.harness import stages
    from ichbench.io.volumes import read_volume

    run_dir = tmp_path / "run"
    shutil.copytree(inprocess_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "predictions")
    for path in (run_dir / "stages").glob("*.json"):
        if not path.name.startswith("coarse.fold"):
            path.unlink()
    monkeypatch.setattr(stages, "SHARD_CASES", 1)
    rows = [r["key"] for r in run_status(run_dir)]
    assert [k for k in rows if ".predict." in k] == [
        "coarse.predict.validation.1of2", "coarse.predict.validation.2of2",
        "coarse.predict.test.1of2", "coarse.predict.test.2of2"]
    run_method(resume=run_dir, echo=lambda s: None, score_jobs=1, report=False)
    for split in ("validation", "test"):
        before = sorted((inprocess_run.run_dir / "predictions" / split).glob("*.nii.gz"))
        after = sorted((run_dir / "predictions" / split).glob("*.nii.gz"))
        assert [p.name for p in before] == [p.name for p in after] and len(after) == 2
        for a, b in zip(before, after, strict=True):
            np.testing.assert_array_equal(read_volume(a).array, read_volume(b).array)
