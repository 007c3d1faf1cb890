"""The analysis of a leaderboard: one frozen record, computed in one call.

:func:`analyse` is pure (teams in, numbers out): the ranking of every team, and where
per-case results exist the paired values, rank-then-aggregate, the seeded bootstrap
(CIs and rank stability), pairwise Wilcoxon-Holm and challengeR's analyses
(:mod:`ichbench.reports.challenger_analysis`). Its :class:`Analysis` is complete when
returned and frozen: what later steps find (e.g. the figures' notes about files they
could not read) makes a new record with :meth:`Analysis.with_notes`, so the record that
``leaderboard.json`` is written from is the one the CLI prints and the report shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichbench.reports.challenger_analysis import ChallengerResults, challenger_results
from ichbench.reports.inputs import (
    LESIONWISE_METRICS,
    RANKED_METRICS,
    ReportInputError,
    TeamResults,
    common_cases,
)
from ichbench.reports.ranking import instance_ranking, rank_then_aggregate
from ichbench.reports.stats import Bootstrap, bootstrap, nanmean, pairwise_wilcoxon

RANKINGS = ("instance", "rank-then-aggregate", "lesionwise")
LEADERBOARD_COLUMNS = ("rank", "team", "score", "dc", "nsd", "hd", "rvd", "rank_dc",
                       "rank_nsd", "rank_hd", "rank_rvd")
#: Metrics ranked by each scheme; ``lesionwise`` ranks lesion-wise DC, HD95 and F1 means
#: as INSTANCE ranks its four (mean rank of the per-metric ranks).
RANKING_METRICS: dict[str, tuple[str, ...]] = {
    "instance": RANKED_METRICS, "rank-then-aggregate": RANKED_METRICS,
    "lesionwise": LESIONWISE_METRICS}


@dataclass(frozen=True)
class Analysis:
    """Everything a leaderboard shows; built whole by :func:`analyse`, never changed.

    The row dicts are the tables as written; treat them as read-only too (``values`` is
    a read-only array).

    Attributes
    ----------
    teams : tuple of TeamResults
        In input order.
    ranking : str
        The scheme of :attr:`table`.
    table : tuple of dict
        Leaderboard rows ordered by rank (:data:`LEADERBOARD_COLUMNS`, ``hd95`` if known).
    instance_table, rta_table : tuple of dict
        Both schemes (``rta_table`` empty without paired per-case results).
    paired : tuple of str
        Teams in the paired statistics; ``case_ids`` their shared cases.
    values : ndarray or None
        Paired values, shape (n_metrics, n_paired, n_cases) for :attr:`metrics`.
    boot : Bootstrap or None
    ci_rows, stability_rows, pairwise_rows : tuple of dict
    notes : tuple of str
        What was left out and why.
    n_bootstrap, seed : int
        The bootstrap's samples and the seed of its ``numpy.random.Generator``.
    metrics : tuple of str
        The metrics it ranks (:data:`RANKING_METRICS`); ``values`` holds them.
    challenger : ChallengerResults or None
        Test-then-rank, ranking methods, Kendall's τ and the consensus over lesion-size
        strata (:mod:`ichbench.reports.challenger_analysis`), with two or more paired teams.
    """

    teams: tuple[TeamResults, ...]
    ranking: str
    table: tuple[dict, ...]
    instance_table: tuple[dict, ...]
    rta_table: tuple[dict, ...] = ()
    paired: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()
    values: np.ndarray | None = None
    boot: Bootstrap | None = None
    ci_rows: tuple[dict, ...] = ()
    stability_rows: tuple[dict, ...] = ()
    pairwise_rows: tuple[dict, ...] = ()
    notes: tuple[str, ...] = ()
    n_bootstrap: int = 0
    seed: int = 0
    metrics: tuple[str, ...] = RANKED_METRICS
    challenger: ChallengerResults | None = None

    def team(self, name: str) -> TeamResults:
        """Return the team called ``name``."""
        return next(t for t in self.teams if t.name == name)

    def with_notes(self, notes: Sequence[str]) -> Analysis:
        """The same analysis with ``notes`` added after its own."""
        return dataclasses.replace(self, notes=(*self.notes, *notes)) if notes else self


def analyse(teams: Sequence[TeamResults], *, ranking: str = "instance",
            n_bootstrap: int = 1000, seed: int = 0) -> Analysis:
    """Rank teams and, where per-case results exist, compute the paired statistics.

    Parameters
    ----------
    teams : sequence of TeamResults
    ranking : {"instance", "rank-then-aggregate", "lesionwise"}
        Which scheme orders the leaderboard; INSTANCE and rank-then-aggregate are both
        computed when possible; ``lesionwise`` ranks lesion-wise DC, HD95 and F1 (needs
        the lesion columns of cases.csv).
    n_bootstrap : int
        Bootstrap samples (0 skips the bootstrap).
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the bootstrap cases.

    Raises
    ------
    ReportInputError
        For rank-then-aggregate with a team that has means only, or an unknown scheme.
    """
    if ranking not in RANKINGS:
        raise ReportInputError(f"--ranking is {ranking!r}; expected one of {', '.join(RANKINGS)}")
    teams = tuple(teams)
    means = {t.name: t.means for t in teams}
    metrics = RANKING_METRICS[ranking]
    for t in teams:
        missing = [m for m in RANKED_METRICS if m not in t.means]
        if missing:
            raise ReportInputError(f"team {t.name!r} ({t.source}) lacks {', '.join(missing)}")
        missing = [m for m in metrics if m not in t.means]
        if missing:
            raise ReportInputError(f"team {t.name!r} ({t.source}) has no {', '.join(missing)}; "
                                   "--ranking lesionwise needs the lesion columns of "
                                   "cases.csv: rescore with 'ichbench score'")
    instance = instance_ranking(means)
    paired, case_ids, notes = common_cases(teams)
    if ranking == "rank-then-aggregate" and len(paired) < len(teams):
        lacking = [t.name for t in teams if t.cases is None]
        raise ReportInputError("rank-then-aggregate needs per-case results; means only for "
                               f"{', '.join(lacking)}; use --ranking instance")
    names: tuple[str, ...] = ()
    values: np.ndarray | None = None
    boot: Bootstrap | None = None
    rta_table: list[dict] = []
    ci_rows: list[dict] = []
    stability_rows: list[dict] = []
    pairwise_rows: list[dict] = []
    challenger = None
    if paired and case_ids:
        names = tuple(t.name for t in paired)
        values = np.stack([np.stack([t.cases.subset(case_ids).values[m]  # type: ignore[union-attr]
                                     for t in paired]) for m in metrics])
        values.flags.writeable = False
        rta_table = rank_then_aggregate(names, values, metrics)
        for row in rta_table:
            row.update({m: means[row["team"]][m] for m in metrics})
        if n_bootstrap > 0:
            rng = np.random.default_rng(seed)
            boot = bootstrap(names, values, rng, n_samples=n_bootstrap, metrics=metrics,
                             ranking="instance" if ranking == "lesionwise" else ranking)
            ci_rows, stability_rows = _ci_rows(boot, values), _stability_rows(boot)
        if len(paired) >= 2:
            pairwise_rows = pairwise_wilcoxon(names, values, metrics)
        n_rvd_nan = (int(np.isnan(values[metrics.index("rvd")]).all(axis=0).sum())
                     if "rvd" in metrics else 0)
        if n_rvd_nan:
            notes.append(f"{n_rvd_nan} case(s) with an empty truth have no RVD and are left "
                         "out of RVD means and ranks")
        if len(paired) >= 2:
            volume = paired[0].cases.subset(case_ids).values.get(  # type: ignore[union-attr]
                "gt_volume_ml")
            challenger = challenger_results(names, values, metrics, ranking=ranking,
                                            boot=boot, volume_ml=volume)
    if ranking == "lesionwise":
        table = instance_ranking(means, metrics)
    else:
        table = instance if ranking == "instance" else rta_table
    if ranking != "lesionwise" and all("hd95" in means[r["team"]] for r in table):
        for row in table:
            row["hd95"] = means[row["team"]]["hd95"]
    return Analysis(teams, ranking, tuple(table), tuple(instance), tuple(rta_table), names,
                    case_ids if names else (), values, boot, tuple(ci_rows),
                    tuple(stability_rows), tuple(pairwise_rows), tuple(notes), n_bootstrap,
                    seed, metrics, challenger)


def _ci_rows(boot: Bootstrap, values: np.ndarray) -> list[dict]:
    ci = boot.ci()
    rows = []
    for i, team in enumerate(boot.teams):
        for k, metric in enumerate(boot.metrics):
            column = values[k, i]
            rows.append({"team": team, "metric": metric,
                         "mean": float(nanmean(column, axis=0)),
                         "ci_low": float(ci[k, i, 0]), "ci_high": float(ci[k, i, 1]),
                         "n": int((~np.isnan(column)).sum()),
                         "n_excluded": int(np.isnan(column).sum())})
    return rows


def _stability_rows(boot: Bootstrap) -> list[dict]:
    counts = boot.rank_counts()
    summary = boot.rank_summary()
    rows = []
    for i, team in enumerate(boot.teams):
        row: dict = {"team": team, "median_rank": float(summary[i, 0]),
                     "rank_ci_low": int(summary[i, 1]), "rank_ci_high": int(summary[i, 2])}
        row.update({f"p_rank_{r + 1}": float(counts[i, r] / boot.n_samples)
                    for r in range(len(boot.teams))})
        rows.append(row)
    rows.sort(key=lambda r: (r["median_rank"], r["team"]))
    return rows


def leaderboard_columns(analysis: Analysis) -> list[str]:
    """Columns of ``leaderboard.csv`` for this analysis."""
    if analysis.ranking == "lesionwise":
        return ["rank", "team", "score", *analysis.metrics,
                *(f"rank_{m}" for m in analysis.metrics)]
    columns = list(LEADERBOARD_COLUMNS)
    if analysis.table and "hd95" in analysis.table[0]:
        columns.append("hd95")
    return columns
