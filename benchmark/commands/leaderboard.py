"""`ichbench leaderboard`: rank score folders, run folders or published means."""

from __future__ import annotations

import click

from ichbench.commands.needs import require_full_install


@click.command("leaderboard")
@click.argument("inputs", nargs=-1, type=click.Path(exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for leaderboard.csv/.md/.tex, statistics tables and figures.")
@click.option("--ranking", type=click.Choice(["instance", "rank-then-aggregate", "lesionwise"]),
              default="instance", show_default=True,
              help="instance: rank the means per metric (INSTANCE 2022); rank-then-aggregate: "
                   "average per-case ranks per metric; lesionwise: rank the means of "
                   "lesion-wise DC, HD95 and lesion F1 as INSTANCE ranks its four.")
@click.option("--task", "tasks", multiple=True, metavar="NAME[:TEAM]=PATH",
              help="Rank several tasks and their consensus instead of INPUTS: one score "
                   "folder, run folder or CSV per option, grouped by NAME, the team named "
                   "TEAM (default: the folder name or a run's method), e.g. --task "
                   "small:a=a/small --task small:b=b/small --task large:a=a/large ...; "
                   "every task needs the same teams.")
@click.option("--name", "names", multiple=True,
              help="Team name for each folder input, in order (repeat once per folder).")
@click.option("--split", default="test", show_default=True,
              help="Which scores/<split>/ to read from run folders.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Bootstrap samples over cases (0 to skip).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the bootstrap's random generator.")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of CT images named like the cases, for the overlay figure.")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
def leaderboard(inputs: tuple[str, ...], out_dir: str, ranking: str, tasks: tuple[str, ...],
                names: tuple[str, ...], split: str, n_bootstrap: int, seed: int,
                images: str | None, no_figures: bool) -> None:
    """Rank teams from INPUT score folders, run folders or a CSV of per-team means.

    A CSV needs the columns team,dc,nsd,hd,rvd (hd may be 'inf'). Where per-case results
    exist, the bootstrap, rank-then-aggregate, Wilcoxon-Holm and challengeR tables
    (test-then-rank, ranking methods, Kendall's τ, consensus over lesion-size strata) are
    written too. With --task, every task is ranked into OUT/tasks/NAME/ and their consensus
    into OUT/consensus.csv.
    """
    if bool(inputs) == bool(tasks):
        raise click.UsageError("give either INPUTS or --task NAME[:TEAM]=PATH options, not both "
                               "(and not neither)")
    if not no_figures:  # before any table is written: no half-written folder
        require_full_install("leaderboard", "matplotlib",
                             hint="or pass --no-figures for the tables alone")
    from ichbench.reports.analysis import leaderboard_columns
    from ichbench.reports.inputs import ReportInputError
    from ichbench.reports.leaderboard import build_leaderboard
    from ichbench.reports.tables import markdown_text

    if tasks:
        from ichbench.reports.tasks import build_task_leaderboards, parse_tasks

        try:
            _, rows = build_task_leaderboards(parse_tasks(tasks), out_dir, ranking=ranking,
                                              n_bootstrap=n_bootstrap, seed=seed, split=split,
                                              figures=not no_figures)
        except ReportInputError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(markdown_text(rows, list(rows[0])), nl=False)
        click.echo(f"wrote {out_dir}/consensus.csv and one leaderboard per task in "
                   f"{out_dir}/tasks/")
        return
    try:
        analysis = build_leaderboard(inputs, out_dir, names=names, ranking=ranking,
                                     n_bootstrap=n_bootstrap, seed=seed, split=split,
                                     figures=not no_figures, images=images)
    except ReportInputError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(markdown_text(analysis.table, leaderboard_columns(analysis)[:7]), nl=False)
    for note in analysis.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {out_dir}/leaderboard.csv (+ .md, .tex and statistics)")
