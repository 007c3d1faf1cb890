"""`ichbench run`: train, predict and score one method (or all) in a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from ichbench.methods import DEVICES, METHOD_CHOICES, PRESETS


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


@click.command("run")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default=None,
              help="Method to run; 'all' runs threshold, coarse, fine and cascade on one "
                   "protocol, each in its own run folder under runs/all-<timestamp>/.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Dataset root in the INSTANCE layout "
                                 "[default: the cached synthetic dataset].")
@click.option("--preset", type=click.Choice(PRESETS), default=None,
              help="smoke: minutes on a CPU; paper: the paper's budgets (GPU) [default: smoke].")
@click.option("--device", type=click.Choice(DEVICES), default="auto",
              show_default=True, help="Where to train.")
@click.option("--folds", callback=_parse_folds, default=None, metavar="0,1,..",
              help="Folds to train [default: all 5].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Parent folder of new run folders.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, metavar="RUN_DIR", help="Continue a run from its checkpoints.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a setting of the method's preset (repeatable); keys are dotted "
                   "paths, e.g. --set train.epochs=20 --set grid_zyx=16,128,128 (coarse), "
                   "--set coarse.train.epochs=5 --set fine.num_epochs=50 (cascade). "
                   "config.json of a run lists every key.")
@click.option("--seed", type=int, default=None, help="Training seed [default: 0].")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Build summary.md and report.pdf in the run folder at the end.")
def run(method: str | None, data: Path | None, preset: str | None, device: str,
        folds: tuple[int, ...] | None, out: Path, resume: Path | None,
        overrides: tuple[str, ...], seed: int | None, report: bool) -> None:
    """Train a method with 5-fold cross-validation, predict and score it.

    Writes runs/<method>-<timestamp>/ (config.json, protocol.json, log.txt, folds/,
    predictions/<split>/, scores/<split>/) and prints a table of mean DC, NSD, HD, HD95 and
    RVD per split. Without --data it uses a synthetic head-CT dataset.
    """
    from ichbench.runner import RunError, run_all, run_method

    if method is None and resume is None:
        raise click.UsageError("give --method NAME (or --resume RUN_DIR)")
    try:
        if method == "all" or (method is None and resume is not None
                               and (resume / "all.json").exists()):
            result = run_all(data=data, preset=preset, device=device, folds=folds, out=out,
                             resume=resume, overrides=overrides, seed=seed, echo=click.echo,
                             report=report)
            if not result.results:
                raise click.ClickException("no method could run; see the lines above")
            return
        # The run logs its progress, the score table and the run folder as it goes.
        run_method(method, data=data, preset=preset, device=device, folds=folds, out=out,
                   resume=resume, overrides=overrides, seed=seed, echo=click.echo,
                   report=report)
    except RunError as exc:
        raise click.ClickException(str(exc)) from None
