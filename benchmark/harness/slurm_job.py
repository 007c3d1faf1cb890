"""The callable a Slurm job runs (pickled by submitit): one stage of a run folder.

It is :class:`submitit.helpers.Checkpointable`: when Slurm signals a time-out or a
preemption, submitit calls :meth:`StageJob.checkpoint`, which requeues the same call; the
stage then continues from the checkpoint its training loop wrote after the last epoch (the
coarse loop and nnU-Net both write one every epoch), so no finished epoch is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import submitit


class StageJob(submitit.helpers.Checkpointable):
    """``StageJob()(run_dir, key, device)`` runs stage ``key`` of ``run_dir``."""

    def __call__(self, run_dir: str, key: str, device: str) -> None:
        """Run the stage; a failed stage raises, so the job fails and ``afterok`` holds."""
        from ichbench.harness.rundir import RunError
        from ichbench.harness.worker import run_one

        env = submitit.JobEnvironment()
        try:
            run_one(Path(run_dir), key, device=device, log_file=Path(env.paths.stdout),
                    job_id=str(env.job_id))
        except RunError as exc:
            raise RuntimeError(str(exc)) from None

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Requeue the same stage; it resumes from its own checkpoint files."""
        key = args[1] if len(args) > 1 else kwargs.get("key", "?")
        print(f"ichbench: stage {key} interrupted (time limit or preemption); requeued, it "
              "resumes from its last checkpoint", flush=True)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
