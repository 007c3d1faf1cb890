"""``--executor slurm``: the stage graph as Slurm jobs, submitted through submitit.

* Stages of one group (the folds of a model, the prediction splits) become one **job
  array**; a group waits for the groups it needs with ``--dependency=afterok:<array>``
  and ``--kill-on-invalid-dep=yes``, so when a stage fails, Slurm cancels what needs it
  instead of leaving it pending for ever.
* Every job runs one stage (:class:`ichbench.harness.slurm_job.StageJob`) that is requeued on a
  time-out or a preemption and resumes from its checkpoint.
* Logs: submitit's folder is ``<run>/slurm/<job id>/`` (``*_log.out``, ``*_log.err``);
  each stage's state file records its log path, and ``ichbench run --status`` shows it.
* ichbench schedules nothing itself: it submits everything at once and, unless
  ``--no-wait``, follows the stages' state files and ``squeue`` until the queue holds none
  of its jobs.

Stages already done are not submitted; ``--resume`` therefore submits only what is left.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.harness.rundir import RunError
from ichbench.harness.stages import Stage, is_done, read_state
from ichbench.io.atomic import write_text


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of every job, and free ``sbatch`` options.

    Attributes
    ----------
    partition
        ``--partition`` (None: the cluster's default).
    time_min
        Time limit per job in minutes; a job that reaches it is requeued and resumes.
    gpus
        GPUs per job (one fold per GPU).
    cpus
        CPUs per job.
    mem_gb
        Memory per job in GB (None: the cluster's default).
    sbatch
        Other ``sbatch`` options, ``key=value`` or ``--key=value`` (``qos=high``,
        ``--account=lab``), or flags (``exclusive``), passed through unchanged.
    poll_s
        Seconds between progress checks while waiting.
    """

    partition: str | None = None
    time_min: int = 24 * 60
    gpus: int = 0
    cpus: int = 2
    mem_gb: float | None = None
    sbatch: tuple[str, ...] = ()
    poll_s: float = 5.0

    def extra(self) -> dict[str, str | bool]:
        """``sbatch`` pass-through as submitit's ``slurm_additional_parameters``.

        ``key=value`` becomes ``--key=value``; a bare ``key`` a flag (``--exclusive``).
        """
        out: dict[str, str | bool] = {}
        for item in self.sbatch:
            key, sep, value = item.strip().lstrip("-").partition("=")
            if not key or (sep and not value):
                raise RunError(f"--sbatch {item!r}: expected key=value or a flag, e.g. "
                               "--sbatch qos=high --sbatch exclusive")
            out[key.replace("-", "_")] = value if sep else True
        return out


def job_states(stages: Iterable[Stage]) -> dict[str, str] | None:
    """Slurm state of every job of ``stages`` still in the queue (``squeue``).

    Returns None when no stage has a job or ``squeue`` is not available (then states
    come from the state files alone).
    """
    ids = set()
    for stage in stages:
        job = read_state(stage).get("job_id") or _job_file(stage)
        if job:
            ids.add(str(job).split("_")[0])
    if not ids or shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(sorted(ids))],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    states: dict[str, str] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def _job_file(stage: Stage) -> str | None:
    path = Path(stage.home) / "stages" / f"{stage.key}.job"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _levels(plan: Sequence[Any]) -> dict[tuple[str, str], int]:
    """Longest chain of needs below each stage (0: needs nothing)."""
    level: dict[tuple[str, str], int] = {}
    for p in plan:  # plan is in dependency order
        level[p.stage.ident] = max((level.get(n.ident, -1) for n in p.stage.needs),
                                   default=-1) + 1
    return level


class Slurm:
    """Submit the stages as Slurm job arrays with ``afterok`` dependencies."""

    name = "slurm"

    def __init__(self, options: SlurmOptions, *, wait: bool = True) -> None:
        self.options = options
        self.wait = wait
        options.extra()  # refuse a malformed pass-through option before submitting

    def _executor(self, folder: Path, group: str, deps: Sequence[str]):  # type: ignore[no-untyped-def]
        import submitit

        opts = self.options
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        extra = opts.extra()
        if deps:
            extra.update(dependency="afterok:" + ":".join(deps), kill_on_invalid_dep="yes")
        params: dict[str, Any] = {"name": f"ichbench-{group}", "timeout_min": opts.time_min,
                                  "cpus_per_task": opts.cpus, "slurm_additional_parameters": extra}
        if opts.partition:
            params["slurm_partition"] = opts.partition
        if opts.gpus:
            params["gpus_per_node"] = opts.gpus
        if opts.mem_gb:
            params["mem_gb"] = opts.mem_gb
        executor.update_parameters(**params)
        return executor

    def execute(self, plan: Sequence[Any], log: Callable[[str], None]):  # type: ignore[no-untyped-def]
        """Submit every stage of ``plan`` that is not done; wait unless ``--no-wait``."""
        from ichbench.harness.executors import Outcome
        from ichbench.harness.slurm_job import StageJob

        if shutil.which("sbatch") is None:
            raise RunError("--executor slurm: sbatch is not on PATH; run on a Slurm login "
                           "node, or use --executor local")
        todo = [p for p in plan if not is_done(p.stage)]
        if len(todo) < len(plan):
            log(f"{len(plan) - len(todo)} of {len(plan)} stages already done, not submitted")
        array_of: dict[tuple[str, str], str] = {}
        submitted: list[Stage] = []
        queued = job_states(p.stage for p in todo) or {}
        for p in list(todo):  # a --resume while jobs still wait or run: do not submit twice
            job = _job_file(p.stage)
            if job and job in queued:
                array_of[p.stage.ident] = job.split("_")[0]
                submitted.append(p.stage)
                todo.remove(p)
                log(f"slurm: {p.stage.key} is still in the queue as job {job}, kept")
        levels = _levels(plan)
        groups: dict[tuple[int, str, str], list[Any]] = {}
        for p in todo:
            key = (levels[p.stage.ident], p.stage.group or p.stage.key, str(p.stage.home))
            groups.setdefault(key, []).append(p)
        device = "cuda" if self.options.gpus else "cpu"
        for (_, group, _home), members in sorted(groups.items()):
            deps = sorted({array_of[n.ident] for p in members for n in p.stage.needs
                           if n.ident in array_of})
            owner = Path(members[0].owner)
            executor = self._executor(owner / "slurm", group, deps)
            for p in members:
                if read_state(p.stage).get("state") == "failed":
                    p.stage.state_path.unlink()  # a retry: queued again until it starts
            try:
                with executor.batch():
                    jobs = [executor.submit(StageJob(), str(p.owner), p.stage.key, device)
                            for p in members]
            except Exception as exc:  # sbatch refused the job: say why, in one line
                raise RunError(f"sbatch refused the {group} jobs: {str(exc).strip()[:300]}"
                               ) from None
            for p, job in zip(members, jobs, strict=True):
                array_of[p.stage.ident] = str(job.job_id).split("_")[0]
                write_text(p.stage.home / "stages" / f"{p.stage.key}.job", f"{job.job_id}\n")
                submitted.append(p.stage)
            after = f" after {','.join(deps)}" if deps else ""
            log(f"slurm: submitted {group} as job {array_of[members[0].stage.ident]} "
                f"({len(members)} task{'s' if len(members) > 1 else ''}){after}; logs in "
                f"{owner / 'slurm'}")
        if not self.wait:
            return Outcome(finished=False, submitted=True)
        return self.follow(submitted, log)

    def follow(self, stages: Sequence[Stage], log: Callable[[str], None]):  # type: ignore[no-untyped-def]
        """Print progress until none of ``stages`` has a job in the queue."""
        from ichbench.harness.executors import Outcome
        from ichbench.harness.stages import status_rows

        last = ""
        while True:
            states = job_states(stages) or {}
            rows = status_rows(stages, states)
            counts = _count(rows)
            line = ", ".join(f"{n} {s}" for s, n in counts.items())
            if line != last:
                log(f"slurm: {line}")
                last = line
            in_queue = any(str(r["job_id"]) in states for r in rows if r["job_id"])
            if not in_queue:
                break
            time.sleep(self.options.poll_s)
        failed = tuple(s for s, r in zip(stages, rows, strict=True) if r["state"] == "failed")
        blocked = sum(1 for r in rows if r["state"] == "blocked")
        for stage, row in zip(stages, rows, strict=True):
            if row["state"] == "failed" and read_state(stage).get("state") != "failed":
                from ichbench.harness.stages import write_state

                write_state(stage, "failed", error=row["error"])  # a job that died silently
        unfinished = any(r["state"] != "done" for r in rows)
        return Outcome(finished=not unfinished, failed=failed, blocked=blocked)


def _count(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts
