"""challengeR's analyses of a leaderboard, and consensus rankings across tasks.

:func:`challenger_results` runs :mod:`ichbench.reports.challenger` on an
:class:`~ichbench.reports.leaderboard.Analysis` with two or more paired teams (once, when
the leaderboard is analysed); :func:`write_challenger_tables` and
:func:`challenger_figures` only format what it computed. :func:`build_task_leaderboards`
ranks several tasks (``ichbench leaderboard --task small=… --task large=…``) and writes
their consensus.

Lesion-size strata: the paired cases are split by their truth volume (< 5 mL, 5–30 mL,
≥ 30 mL; the volume of the whole case, so the ICH score's 30 mL is one edge), every
stratum with cases is ranked like the leaderboard (aggregate-then-rank on the same
metrics), and the consensus of those rankings shows whether a team wins only on large
bleeds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichbench.atomic import write_text
from ichbench.reports.challenger import (
    TestThenRank,
    compare_ranking_methods,
    consensus_ranking,
    kendall_tau_to_bootstrap,
    test_then_rank,
)
from ichbench.reports.inputs import ReportInputError, load_inputs
from ichbench.reports.ranking import instance_ranking
from ichbench.reports.stats import nanmean
from ichbench.reports.tables import markdown_text, write_tables

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ichbench.reports.leaderboard import Analysis

#: Case truth-volume strata (mL) of the stratified consensus.
STRATA_EDGES_ML = (5.0, 30.0)
STRATA_LABELS = ("<5 mL", "5–30 mL", "≥30 mL")


@dataclass
class ChallengerResults:
    """Everything challengeR-style about one leaderboard (teams in ``Analysis.paired`` order).

    Attributes
    ----------
    tests : list of TestThenRank
        One per ranked metric.
    methods : dict of str to ndarray
        Final rank of each paired team per ranking method.
    taus : dict of str to ndarray
        Kendall's τ between the leaderboard and each bootstrap ranking (empty without a
        bootstrap).
    stratum_ranks : dict of str to dict
        {stratum: {team: rank}} for every truth-volume stratum holding cases.
    stratum_cases : dict of str to int
        Cases per stratum.
    consensus : list of dict
        Consensus of the strata (:func:`~ichbench.reports.challenger.consensus_ranking`).
    """

    tests: list[TestThenRank]
    methods: dict[str, np.ndarray]
    taus: dict[str, np.ndarray] = field(default_factory=dict)
    stratum_ranks: dict[str, dict[str, int]] = field(default_factory=dict)
    stratum_cases: dict[str, int] = field(default_factory=dict)
    consensus: list[dict] = field(default_factory=list)


def _strata(analysis: Analysis) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Rank the paired teams within each truth-volume stratum of the paired cases."""
    first = analysis.team(analysis.paired[0]).cases
    assert first is not None and analysis.values is not None
    volume = first.subset(analysis.case_ids).values.get("gt_volume_ml")
    if volume is None:
        return {}, {}
    edges = [-np.inf, *STRATA_EDGES_ML, np.inf]
    ranks, cases = {}, {}
    for label, low, high in zip(STRATA_LABELS, edges, edges[1:], strict=False):
        inside = (volume >= low) & (volume < high)
        if not inside.any():
            continue
        means = nanmean(analysis.values[:, :, inside], axis=2)
        per_team = {team: {m: float(means[k, i]) for k, m in enumerate(analysis.metrics)}
                    for i, team in enumerate(analysis.paired)}
        ranks[label] = {r["team"]: int(r["rank"]) for r in
                        instance_ranking(per_team, analysis.metrics)}
        cases[label] = int(inside.sum())
    return ranks, cases


def challenger_results(analysis: Analysis, *, alpha: float = 0.05) -> ChallengerResults:
    """Test-then-rank, ranking methods, Kendall's τ and stratum consensus of ``analysis``.

    Parameters
    ----------
    analysis : Analysis
        With paired values of two or more teams.
    alpha : float
        Significance level of test-then-rank.
    """
    assert analysis.values is not None
    names, values, metrics = analysis.paired, analysis.values, analysis.metrics
    tests = [test_then_rank(names, values[k], metric=m, alpha=alpha)
             for k, m in enumerate(metrics)]
    result = ChallengerResults(tests, compare_ranking_methods(names, values, metrics,
                                                              alpha=alpha, tests=tests))
    if analysis.boot is not None:
        # the leaderboard ranking recomputed on the paired teams only (as the bootstrap)
        table = {r["team"]: r["rank"] for r in _paired_table(analysis)}
        full = np.array([table[t] for t in analysis.boot.teams])
        result.taus[analysis.ranking] = kendall_tau_to_bootstrap(full, analysis.boot.ranks)
    result.stratum_ranks, result.stratum_cases = _strata(analysis)
    if len(result.stratum_ranks) >= 2:
        result.consensus = consensus_ranking(result.stratum_ranks)
    return result


def _paired_table(analysis: Analysis) -> list[dict]:
    """The leaderboard's scheme applied to the paired teams alone."""
    from ichbench.reports.ranking import rank_then_aggregate

    assert analysis.values is not None
    if analysis.ranking == "rank-then-aggregate":
        return rank_then_aggregate(analysis.paired, analysis.values, analysis.metrics)
    means = nanmean(analysis.values, axis=2)
    per_team = {team: {m: float(means[k, i]) for k, m in enumerate(analysis.metrics)}
                for i, team in enumerate(analysis.paired)}
    return instance_ranking(per_team, analysis.metrics)


def method_rows(analysis: Analysis) -> list[dict]:
    """One row per paired team: its rank under each ranking method."""
    assert analysis.challenger is not None
    rows = []
    for i, team in enumerate(analysis.paired):
        row: dict = {"team": team}
        row.update({m: int(r[i]) for m, r in analysis.challenger.methods.items()})
        rows.append(row)
    first = next(iter(analysis.challenger.methods))
    rows.sort(key=lambda r: (r[first], r["team"]))
    return rows


def tau_rows(taus: Mapping[str, np.ndarray]) -> list[dict]:
    """Median and quartiles of each τ distribution (NaN samples left out and counted)."""
    rows = []
    for label, tau in taus.items():
        known = tau[~np.isnan(tau)]
        stats = (np.quantile(known, [0.25, 0.5, 0.75]) if known.size
                 else np.full(3, np.nan))
        rows.append({"ranking": label, "samples": int(known.size),
                     "undefined": int(np.isnan(tau).sum()), "tau_q1": float(stats[0]),
                     "tau_median": float(stats[1]), "tau_q3": float(stats[2])})
    return rows


def strata_rows(results: ChallengerResults) -> list[dict]:
    """The stratum consensus with each stratum's case count in its column name."""
    rename = {f"rank_{s}": f"rank {s} ({n} cases)" for s, n in results.stratum_cases.items()}
    return [{rename.get(k, k): v for k, v in row.items()} for row in results.consensus]


def write_challenger_tables(analysis: Analysis, out_dir: Path) -> list[Path]:
    """Write test_then_rank, significance, ranking_methods, kendall_tau and strata tables."""
    res = analysis.challenger
    assert res is not None
    rows = [r for t in res.tests for r in t.rows()]
    written = write_tables(out_dir / "test_then_rank", rows,
                           ["metric", "rank", "team", "wins", "beaten_by"],
                           caption="Test-then-rank: one-sided Wilcoxon signed-rank per "
                                   "ordered pair, Holm-adjusted per metric")
    sig = [{"metric": t.metric, "team": t.teams[i], "versus": t.teams[j],
            "p": float(t.p[i, j]), "p_holm": float(t.p_holm[i, j]),
            "significant": bool(t.significant[i, j])}
           for t in res.tests for i in range(len(t.teams)) for j in range(len(t.teams))
           if i != j]
    written += write_tables(out_dir / "significance", sig,
                            ["metric", "team", "versus", "p", "p_holm", "significant"],
                            markdown=False)
    written += write_tables(out_dir / "ranking_methods", method_rows(analysis),
                            ["team", *res.methods], caption="Rank under each ranking method")
    if res.taus:
        written += write_tables(out_dir / "kendall_tau", tau_rows(res.taus),
                                ["ranking", "samples", "undefined", "tau_q1", "tau_median",
                                 "tau_q3"])
    if res.consensus:
        rows = strata_rows(res)
        written += write_tables(out_dir / "consensus_strata", rows, list(rows[0]),
                                caption="Consensus over case truth-volume strata (mean rank)")
    return written


def challenger_figures(analysis: Analysis) -> dict[str, Figure]:
    """Significance maps, podium of the first metric, τ violin and ranking-method lines."""
    from ichbench.reports.challenger_figures import (
        podium,
        ranking_methods,
        significance_maps,
        tau_violins,
    )

    res = analysis.challenger
    if res is None or analysis.values is None:
        return {}
    figures = {"significance_map": significance_maps(res.tests),
               "podium": podium(analysis.paired, analysis.values[0],
                                metric=analysis.metrics[0]),
               "ranking_methods": ranking_methods(analysis.paired, res.methods)}
    if res.taus:
        figures["kendall_tau"] = tau_violins(res.taus)
    return figures


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
    from ichbench.reports.leaderboard import analyse, write_outputs

    if len(tasks) < 2:
        raise ReportInputError(f"--task given for {len(tasks)} task(s); a consensus needs "
                               "two or more task names")
    for name in tasks:
        check_task_name(name)
    out = Path(out_dir)
    analyses = {}
    for name, inputs in tasks.items():
        given = [team for team, _ in inputs if team is not None]
        teams = load_inputs([path for _, path in inputs], names=given, split=split)
        analyses[name] = analyse(teams, ranking=ranking, n_bootstrap=n_bootstrap, seed=seed)
        write_outputs(analyses[name], out / "tasks" / name, split=split, figures=figures)
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
