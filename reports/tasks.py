"""Several tasks ranked at once, and their consensus ranking.

``ichbench leaderboard --task small=… --task large=…`` ranks each task's inputs into
``OUT/tasks/<name>/`` as one leaderboard (:mod:`ichbench.reports.leaderboard`) and writes
the consensus of the task rankings (``consensus.csv/.md/.tex``, mean rank, challengeR's
Euclidean consensus) with, when figures are on, the Kendall's τ violins of every task.
:func:`parse_tasks` reads the options and :func:`check_task_name` keeps every task's
folder inside ``OUT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ichbench.io.atomic import write_text
from ichbench.reports.analysis import Analysis, analyse
from ichbench.reports.challenger import consensus_ranking
from ichbench.reports.inputs import ReportInputError, load_inputs
from ichbench.reports.leaderboard import with_figure_files, write_outputs
from ichbench.reports.tables import markdown_text, write_tables

#: A task name: one safe path component (it names the folder ``OUT/tasks/<name>/``).
TASK_NAME = re.compile(r"\w[\w.+-]{0,99}")


def check_task_name(name: str) -> None:
    """Refuse a task name that is not one safe folder name.

    The name becomes ``OUT/tasks/<name>/``, so ``../../x``, an absolute path, a NUL or a
    separator would write outside ``--out`` (issue 23). Allowed: up to 100 letters, digits
    and ``_``, then ``.``, ``+`` and ``-`` after the first character.

    Raises
    ------
    ReportInputError
        Naming the task (cut to 40 characters) and what a name may hold.
    """
    if not TASK_NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise ReportInputError(f"--task name {shown!r}: a task name becomes a folder under "
                               "--out/tasks/, so it must be 1-100 letters, digits, '_', and "
                               "'.', '+' or '-' after the first (no '/', '..' or spaces), "
                               "e.g. small_lesions")


def parse_tasks(specs: Sequence[str]) -> dict[str, list[tuple[str | None, str]]]:
    """``NAME=PATH`` or ``NAME:TEAM=PATH`` options grouped by task, in first-seen order.

    ``TEAM`` names the team of that input (needed when folder names repeat across teams,
    e.g. ``a/small`` and ``b/small``); without it the input's own name is used.

    Returns
    -------
    dict of task name to list of (team or None, path)

    Raises
    ------
    ReportInputError
        For an option without ``=``, an empty name, team or path, a name that is not one
        safe folder name (:func:`check_task_name`), or a task mixing inputs with and without
        a team name.

    Examples
    --------
    >>> parse_tasks(["small:a=x/small", "small:b=y/small", "large:a=x/large"])["small"]
    [('a', 'x/small'), ('b', 'y/small')]
    """
    tasks: dict[str, list[tuple[str | None, str]]] = {}
    for spec in specs:
        head, sep, path = spec.partition("=")
        name, colon, team = head.partition(":")
        if not sep or not name.strip() or not path.strip() or (colon and not team.strip()):
            shown = spec if len(spec) <= 60 else spec[:60] + "…"
            raise ReportInputError(f"--task {shown!r}: expected NAME=PATH or NAME:TEAM=PATH (a "
                                   "score folder, run folder or CSV), e.g. --task "
                                   "small:team_a=team_a/small")
        tasks.setdefault(name.strip(), []).append((team.strip() if colon else None,
                                                   path.strip()))
    for name, inputs in tasks.items():
        check_task_name(name)
        if len({team is None for team, _ in inputs}) > 1:
            raise ReportInputError(f"task {name!r}: give a TEAM (NAME:TEAM=PATH) for every "
                                   "input of the task or for none")
    return tasks


def build_task_leaderboards(tasks: Mapping[str, Sequence[tuple[str | None, str]]],
                            out_dir: str | Path, *,
                            ranking: str = "instance", n_bootstrap: int = 1000,
                            seed: int = 0, split: str = "test", figures: bool = True
                            ) -> tuple[dict[str, Analysis], list[dict]]:
    """Rank every task into ``out_dir/tasks/<name>/`` and write their consensus.

    Parameters
    ----------
    tasks : mapping of task name to (team or None, input) pairs
        Each task's score folders, run folders or CSV (:func:`parse_tasks`); the team
        names (given, or the folder name / a run's method) must be the same in every
        task.

    Returns
    -------
    (dict of task to Analysis, list of dict)
        The analyses and the consensus rows (``consensus.csv/.md``).

    Raises
    ------
    ReportInputError
        On unreadable inputs or tasks ranking different teams.
    """
    if len(tasks) < 2:
        raise ReportInputError(f"--task given for {len(tasks)} task(s); a consensus needs "
                               "two or more task names")
    for name in tasks:
        check_task_name(name)
    out = Path(out_dir)
    analyses: dict[str, Analysis] = {}
    for name, inputs in tasks.items():
        given = [team for team, _ in inputs if team is not None]
        teams = load_inputs([path for _, path in inputs], names=given, split=split)
        analysis = analyse(teams, ranking=ranking, n_bootstrap=n_bootstrap, seed=seed)
        files = None
        if figures:
            analysis, files = with_figure_files(analysis)
        write_outputs(analysis, out / "tasks" / name, split=split, figures=figures,
                      files=files)
        analyses[name] = analysis
    try:
        rows = consensus_ranking({name: {r["team"]: r["rank"] for r in a.table}
                                  for name, a in analyses.items()})
    except ValueError as exc:
        raise ReportInputError(f"{exc}; team names come from the folder names or --name"
                               ) from None
    columns = list(rows[0])
    write_tables(out / "consensus", rows, columns, latex=True,
                 caption="Consensus ranking across tasks (mean rank; the Euclidean "
                         "consensus of the task rankings)")
    if figures:
        from ichbench.reports.challenger_figures import tau_violins

        taus = {name: a.challenger.taus.get(a.ranking, np.array([]))
                for name, a in analyses.items() if a.challenger is not None}
        if any(t.size for t in taus.values()):
            (out / "figures").mkdir(parents=True, exist_ok=True)
            tau_violins(taus, title="Kendall's τ per task (full vs bootstrap ranking)"
                        ).savefig(out / "figures" / "kendall_tau_tasks.png", dpi=110)
    write_text(out / "consensus_summary.md",
               "# Consensus across tasks\n\n" + markdown_text(rows, columns))
    return analyses, rows
