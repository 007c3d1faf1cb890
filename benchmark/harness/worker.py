"""Run one stage of a run folder: ``python -m ichbench.harness.worker RUN_DIR STAGE [--device D]``.

The entry point of every process that is not the submitting one (a local worker, a Slurm
job). It rebuilds the run's stage graph from ``RUN_DIR`` (``config.json``,
``protocol.json``), runs the stage named ``STAGE`` with its state file kept
(:func:`ichbench.harness.stages.run_stage`) and exits 0 when it is done, 1 with a one-line error
on stderr when it failed (the traceback goes to the run's ``log.txt``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ichbench.harness.rundir import OpenRun, RunError, RunLog, open_run, run_guarded, stdout_echo
from ichbench.harness.stages import Stage, is_done, run_stage


def run_graph(run: OpenRun, *, score_jobs: int | None = None) -> dict[str, Stage]:
    """Key → stage for every stage of an open run: the method's, then score and report."""
    from ichbench.harness.scoring import scoring_stages

    method_stages = run.impl.stages(run.ctx)
    score, report = scoring_stages(run, method_stages, jobs=score_jobs)
    graph: dict[str, Stage] = {}
    for stage in [*method_stages, score, report]:
        if stage.key in graph:
            raise RunError(f"{run.run_dir}: two stages are named {stage.key}")
        graph[stage.key] = stage
    return graph


def run_one(run_dir: Path, key: str, *, device: str | None = None,
            log_file: Path | None = None, job_id: str | None = None) -> None:
    """Run stage ``key`` of the run in ``run_dir`` in this process.

    Raises
    ------
    RunError
        Unknown stage, or the stage failed (one line; traceback in ``log.txt``).
    """
    run = open_run(run_dir, device=device, echo=stdout_echo())
    graph = run_graph(run)
    if key not in graph:
        raise RunError(f"{run_dir}: no stage {key!r}; stages: {', '.join(graph)}")
    stage = graph[key]
    missing = [n.key for n in stage.needs if not is_done(n)]
    if missing:
        raise RunError(f"stage {key}: needs {', '.join(missing)} first (not done)")
    log = RunLog(run.run_dir / "log.txt", stdout_echo(), prefix=f"[{key}] ")
    ctx_log = run.ctx.log
    if isinstance(ctx_log, RunLog):
        ctx_log.prefix = f"[{key}] "
    run_guarded(f"stage {key}", lambda: run_stage(stage, log, job_id=job_id,
                                                 log_file=log_file),
                run.run_dir / "log.txt")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ichbench.harness.worker",
                                     description="Run one stage of an ichbench run folder.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("stage")
    parser.add_argument("--device", default=None, help="torch device (default: recorded)")
    parser.add_argument("--log-file", type=Path, default=None,
                        help="where this process's console output goes (recorded)")
    args = parser.parse_args(argv)
    try:
        run_one(args.run_dir, args.stage, device=args.device, log_file=args.log_file)
    except RunError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
