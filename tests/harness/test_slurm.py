"""``--executor slurm`` against a real one-node Slurm cluster (see slurm_cluster.py).

Skipped, with the reason, where the slurm-wlm/munge binaries are absent or not root.
Runs use the tiny dataset and a tiny coarse config (1 epoch, 4 × 32 × 32 grid), one CPU
per job, so the module costs about a minute and a half on 2 cores.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest
import slurm_cluster
import tiny_ich_data
import torch

from ichbench.harness.runner import Execution, RunError, run_method
from ichbench.harness.slurm import SlurmOptions
from ichbench.harness.status import format_status, run_status

MISSING = slurm_cluster.missing_reason()
#: CI sets ICHBENCH_REQUIRE_SLURM=1: there a Slurm that cannot start fails these tests.
REQUIRED = os.environ.get("ICHBENCH_REQUIRE_SLURM") == "1"
pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=MISSING or "")

TINY = tiny_ich_data.TINY_COARSE
fold_weights = tiny_ich_data.fold_weights
SLURM = Execution(executor="slurm", slurm=SlurmOptions(cpus=1, poll_s=0.5))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if MISSING is not None:
        pytest.fail(f"ICHBENCH_REQUIRE_SLURM=1 but Slurm cannot run here: {MISSING}")
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        cluster.stop()




@pytest.mark.slow
def test_slurm_run_gives_the_in_process_weights_and_scores(cluster, tiny_root, tmp_path,
                                                           inprocess_run):
    lines: list[str] = []
    result = run_method("coarse", data=tiny_root, out=tmp_path, overrides=TINY,
                        echo=lines.append, score_jobs=1, report=False, execution=SLURM)
    for k in range(5):
        a, b = fold_weights(inprocess_run.run_dir, k), fold_weights(result.run_dir, k)
        assert all(torch.equal(a[name], b[name]) for name in a), f"fold {k}"
    for split in ("validation", "test", "train_oof"):
        assert (result.summaries[split]["metrics"]
                == inprocess_run.summaries[split]["metrics"])
    submitted = [line for line in lines if line.startswith("slurm: submitted")]
    assert submitted[0].startswith("slurm: submitted coarse.fold as job ")
    assert "(5 tasks)" in submitted[0]
    fold_job = submitted[0].split()[5]
    assert f"after {fold_job}" in submitted[1]  # predictions wait for the folds (afterok)
    state = json.loads((result.run_dir / "stages" / "coarse.fold2.json").read_text())
    assert state["job_id"] == f"{fold_job}_2"
    assert state["log"].startswith(str(result.run_dir / "slurm"))
    assert "fold 2 epoch 1/1" in open(state["log"]).read()


@pytest.mark.slow
def test_a_signalled_fold_job_is_requeued_and_resumes_from_its_checkpoint(
        cluster, tiny_root, tmp_path):
    settings = ("train.epochs=25", "train.patience=25", "grid_zyx=4,32,32")
    straight = run_method("coarse", data=tiny_root, out=tmp_path / "straight", folds=[0],
                          overrides=settings, echo=lambda s: None, score_jobs=1,
                          report=False)
    outcome: dict = {}

    def submit():
        try:
            outcome["result"] = run_method(
                "coarse", data=tiny_root, out=tmp_path / "slurm", folds=[0],
                overrides=settings, echo=lambda s: None, score_jobs=1, report=False,
                execution=SLURM)
        except Exception as exc:  # reported by the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 120
    history = None
    while time.monotonic() < deadline:
        found = list((tmp_path / "slurm").glob("*/folds/0/history.csv"))
        if found and len(found[0].read_text().splitlines()) >= 4:  # 3 epochs done
            history = found[0]
            break
        time.sleep(0.2)
    assert history is not None, "fold 0 never reached epoch 3"
    run_dir = history.parents[2]
    job = (run_dir / "stages" / "coarse.fold0.job").read_text().strip()
    subprocess.run(["scancel", "--signal=USR2", job], check=True)  # a preemption
    thread.join(timeout=240)
    assert not thread.is_alive() and "error" not in outcome, outcome
    log = next((run_dir / "slurm").glob(f"{job}*/*_log.out")).read_text()
    err = next((run_dir / "slurm").glob(f"{job}*/*_log.err")).read_text()
    assert "stage coarse.fold0 interrupted (time limit or preemption); requeued" in log
    assert "Caught signal SIGUSR2" in err  # submitit's handler, then its requeue:
    assert f"Requeued job {job.split('_')[0]}" in log
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True,
                           check=True).stdout
    assert "Restarts=1" in shown
    resumed = [line for line in log.splitlines() if "fold 0: resuming after epoch" in line]
    assert len(resumed) == 1
    a, b = fold_weights(straight.run_dir, 0), fold_weights(run_dir, 0)
    assert all(torch.equal(a[name], b[name]) for name in a)  # as if never interrupted


@pytest.mark.slow
def test_a_failing_job_is_reported_with_its_log_and_its_dependents_cancelled(
        cluster, tmp_path, inprocess_run):
    run_dir = tmp_path / "run"
    shutil.copytree(inprocess_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "stages")
    (run_dir / "folds" / "3" / "result.json").unlink()
    (run_dir / "folds" / "3" / "checkpoint.pt").write_bytes(b"torn")
    t0 = time.monotonic()
    with pytest.raises(RunError) as info:
        run_method(resume=run_dir, echo=lambda s: None, score_jobs=1, report=False,
                   execution=SLURM)
    assert time.monotonic() - t0 < 120  # reported, not a hang on a dependency never met
    message = str(info.value)
    assert "stage coarse.fold3 failed: RuntimeError:" in message
    assert "cannot read the checkpoint" in message
    assert f"(log: {run_dir / 'slurm'}" in message
    rows = {row["key"]: row for row in run_status(run_dir)}
    assert rows["coarse.fold3"]["state"] == "failed"
    assert {rows[f"coarse.fold{k}"]["state"] for k in (0, 1, 2, 4)} == {"done"}
    for key in ("coarse.predict.validation", "coarse.predict.test", "score"):
        assert rows[key]["state"] == "blocked"  # Slurm cancelled them (kill-on-invalid-dep)
    assert rows["coarse.predict.test"]["error"] == "needs coarse.fold3"
    text = format_status(run_status(run_dir))
    print(text)  # the --status output of a run with one failed fold (for the record)
    assert "failed   run/coarse.fold3" in text
    assert text.splitlines()[-1] == "9 stages: 4 done, 1 failed, 4 blocked"
