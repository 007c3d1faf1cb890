"""`ichbench run`: train, predict and score one method (or all) in a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from ichbench.commands.needs import require_full_install
from ichbench.harness.executors import EXECUTORS
from ichbench.harness.methods import DEVICES, METHOD_CHOICES, PRESETS


def _parse_folds(ctx: click.Context, param: click.Parameter, value: str | None
                 ) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        folds = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected fold numbers like 0,1,2") from None
    if not folds:
        raise click.BadParameter(f"{value!r}: expected fold numbers like 0,1,2")
    return folds


def _parse_devices(ctx: click.Context, param: click.Parameter, value: str | None
                   ) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


@click.command("run")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default=None,
              help="Method to run; 'all' runs threshold, coarse, fine and cascade on one "
                   "protocol, each in its own run folder under runs/all-<timestamp>/ (the "
                   "cascade reuses the coarse run's model).")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Dataset root in the INSTANCE layout "
                                 "[default: the cached synthetic dataset].")
@click.option("--preset", type=click.Choice(PRESETS), default=None,
              help="cpu: minutes on 2 CPU cores; paper: the paper's budgets (GPU) "
                   "[default: cpu].")
@click.option("--device", type=click.Choice(DEVICES), default="auto",
              show_default=True, help="Where to train.")
@click.option("--folds", callback=_parse_folds, default=None, metavar="0,1,..",
              help="Folds to train [default: all 5].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Parent folder of new run folders.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, metavar="RUN_DIR",
              help="Continue a run: finished stages are skipped, the others continue from "
                   "their checkpoints.")
@click.option("--status", "status_dir", type=click.Path(exists=True, file_okay=False,
                                                        path_type=Path),
              default=None, metavar="RUN_DIR",
              help="Show every stage of a run as queued/running/done/failed, and exit.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting of the method's preset (repeatable); keys are dotted "
                   "paths, e.g. --set train.epochs=20 --set grid_zyx=16,128,128 (coarse), "
                   "--set coarse.train.epochs=5 --set fine.num_epochs=50 (cascade). "
                   "config.json of a run lists every key.")
@click.option("--seed", type=int, default=None, help="Training seed [default: 0].")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Build summary.md and report.pdf in the run folder at the end.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="inprocess",
              show_default=True,
              help="inprocess: every stage here; local: worker processes (--workers, "
                   "--devices); slurm: Slurm jobs through submitit.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="local: number of CPU worker processes (folds in parallel).")
@click.option("--devices", callback=_parse_devices, default=None, metavar="cuda:0,cuda:1",
              help="local: one worker per GPU, each pinned to its device.")
@click.option("--partition", default=None, help="slurm: partition.")
@click.option("--time-min", type=click.IntRange(min=1), default=24 * 60, show_default=True,
              help="slurm: time limit per job (minutes); a job that reaches it is requeued "
                   "and resumes from its checkpoint.")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="slurm: GPUs per job.")
@click.option("--cpus", type=click.IntRange(min=1), default=2, show_default=True,
              help="slurm: CPUs per job.")
@click.option("--mem-gb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="slurm: memory per job in GB.")
@click.option("--sbatch", "sbatch_options", multiple=True, metavar="KEY=VALUE",
              help="slurm: any other sbatch option, passed through (repeatable), e.g. "
                   "--sbatch qos=high --sbatch account=lab.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="slurm: follow the jobs and print progress, or return once submitted.")
def run(method: str | None, data: Path | None, preset: str | None, device: str,
        folds: tuple[int, ...] | None, out: Path, resume: Path | None,
        status_dir: Path | None, overrides: tuple[str, ...], seed: int | None, report: bool,
        executor: str, workers: int | None, devices: tuple[str, ...],
        partition: str | None, time_min: int, gpus: int, cpus: int, mem_gb: float | None,
        sbatch_options: tuple[str, ...], wait: bool) -> None:
    """Train a method with 5-fold cross-validation, predict and score it.

    Writes runs/<method>-<timestamp>/ (config.json, protocol.json, log.txt, folds/,
    predictions/<split>/, scores/<split>/, stages/) and prints a table of mean DC, NSD, HD,
    HD95 and RVD per split. Without --data it uses a synthetic head-CT dataset.
    """
    from ichbench.harness.runner import Execution, RunError, run_all, run_method
    from ichbench.harness.slurm import SlurmOptions
    from ichbench.harness.status import format_status
    from ichbench.harness.status import run_status as stage_status

    try:
        if status_dir is not None:
            click.echo(format_status(stage_status(status_dir)))
            return
        if method is None and resume is None:
            raise click.UsageError("give --method NAME (or --resume RUN_DIR, or --status "
                                   "RUN_DIR)")
        # Training needs torch (every method: the device is resolved through it), the
        # report matplotlib, the fine stage nnU-Net; say so before a run folder is made.
        require_full_install("run", "torch", *(["matplotlib"] if report else []),
                             *(["nnunetv2"] if method in ("fine", "cascade", "all") else []))
        execution = Execution(
            executor=executor, workers=workers, devices=devices, wait=wait,
            slurm=SlurmOptions(partition=partition, time_min=time_min, gpus=gpus, cpus=cpus,
                               mem_gb=mem_gb, sbatch=sbatch_options))
        if method == "all" or (method is None and resume is not None
                               and (resume / "all.json").exists()):
            result = run_all(data=data, preset=preset, device=device, folds=folds, out=out,
                             resume=resume, overrides=overrides, seed=seed, echo=click.echo,
                             report=report, execution=execution)
            if not result.results and wait:
                raise click.ClickException("no method could run; see the lines above")
            return
        # The run logs its progress, the score table and the run folder as it goes.
        run_method(method, data=data, preset=preset, device=device, folds=folds, out=out,
                   resume=resume, overrides=overrides, seed=seed, echo=click.echo,
                   report=report, execution=execution)
    except RunError as exc:
        raise click.ClickException(str(exc)) from None
