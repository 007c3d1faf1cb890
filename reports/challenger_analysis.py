"""challengeR's analyses of a leaderboard: computed once, then only formatted.

:func:`challenger_results` runs :mod:`ichbench.reports.challenger` on a leaderboard's
paired values (two or more teams; :func:`ichbench.reports.analysis.analyse` calls it
once); :func:`write_challenger_tables` and the rows functions only format what it
computed, and :func:`ichbench.reports.figures.challenger_figures` draws it. The consensus
across tasks (``ichbench leaderboard --task``) is :mod:`ichbench.reports.tasks`.

Lesion-size strata: the paired cases are split by their truth volume (< 5 mL, 5–30 mL,
≥ 30 mL; the volume of the whole case, so the ICH score's 30 mL is one edge), every
stratum with cases is ranked like the leaderboard (aggregate-then-rank on the same
metrics), and the consensus of those rankings shows whether a team wins only on large
bleeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichbench.reports.challenger import (
    TestThenRank,
    compare_ranking_methods,
    consensus_ranking,
    kendall_tau_to_bootstrap,
    test_then_rank,
)
from ichbench.reports.ranking import instance_ranking, rank_then_aggregate
from ichbench.reports.stats import nanmean
from ichbench.reports.tables import write_tables

if TYPE_CHECKING:
    from ichbench.reports.stats import Bootstrap

#: Case truth-volume strata (mL) of the stratified consensus.
STRATA_EDGES_ML = (5.0, 30.0)
STRATA_LABELS = ("<5 mL", "5–30 mL", "≥30 mL")


@dataclass(frozen=True)
class ChallengerResults:
    """Everything challengeR-style about one leaderboard (teams in its paired order).

    Attributes
    ----------
    tests : tuple of TestThenRank
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
    consensus : tuple of dict
        Consensus of the strata (:func:`~ichbench.reports.challenger.consensus_ranking`).
    """

    tests: tuple[TestThenRank, ...]
    methods: dict[str, np.ndarray]
    taus: dict[str, np.ndarray] = field(default_factory=dict)
    stratum_ranks: dict[str, dict[str, int]] = field(default_factory=dict)
    stratum_cases: dict[str, int] = field(default_factory=dict)
    consensus: tuple[dict, ...] = ()


def _strata(teams: Sequence[str], values: np.ndarray, metrics: Sequence[str],
            volume_ml: np.ndarray | None) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Rank the paired teams within each truth-volume stratum of the paired cases."""
    if volume_ml is None:
        return {}, {}
    edges = [-np.inf, *STRATA_EDGES_ML, np.inf]
    ranks, cases = {}, {}
    for label, low, high in zip(STRATA_LABELS, edges, edges[1:], strict=False):
        inside = (volume_ml >= low) & (volume_ml < high)
        if not inside.any():
            continue
        means = nanmean(values[:, :, inside], axis=2)
        per_team = {team: {m: float(means[k, i]) for k, m in enumerate(metrics)}
                    for i, team in enumerate(teams)}
        ranks[label] = {r["team"]: int(r["rank"]) for r in instance_ranking(per_team, metrics)}
        cases[label] = int(inside.sum())
    return ranks, cases


def challenger_results(teams: Sequence[str], values: np.ndarray, metrics: Sequence[str], *,
                       ranking: str, boot: Bootstrap | None = None,
                       volume_ml: np.ndarray | None = None, alpha: float = 0.05
                       ) -> ChallengerResults:
    """Test-then-rank, ranking methods, Kendall's τ and stratum consensus of a leaderboard.

    Parameters
    ----------
    teams : sequence of str
        The paired teams (two or more), along axis 1 of ``values``.
    values : ndarray
        Shape (n_metrics, n_teams, n_cases), the paired values of ``metrics``.
    ranking : str
        The leaderboard's scheme (:data:`ichbench.reports.analysis.RANKINGS`); Kendall's τ
        compares it with the bootstrap's rankings.
    boot : Bootstrap, optional
        The leaderboard's bootstrap (no τ without it).
    volume_ml : ndarray, optional
        Truth volume per paired case, shape (n_cases,), for the strata (none without it).
    alpha : float
        Significance level of test-then-rank.
    """
    metrics = tuple(metrics)
    tests = [test_then_rank(teams, values[k], metric=m, alpha=alpha)
             for k, m in enumerate(metrics)]
    methods = compare_ranking_methods(teams, values, metrics, alpha=alpha, tests=tests)
    taus = {}
    if boot is not None:
        # the leaderboard ranking recomputed on the paired teams only (as the bootstrap)
        table = {r["team"]: r["rank"] for r in _paired_table(teams, values, metrics, ranking)}
        full = np.array([table[t] for t in boot.teams])
        taus[ranking] = kendall_tau_to_bootstrap(full, boot.ranks)
    stratum_ranks, stratum_cases = _strata(teams, values, metrics, volume_ml)
    consensus = consensus_ranking(stratum_ranks) if len(stratum_ranks) >= 2 else []
    return ChallengerResults(tuple(tests), methods, taus, stratum_ranks, stratum_cases,
                             tuple(consensus))


def _paired_table(teams: Sequence[str], values: np.ndarray, metrics: tuple[str, ...],
                  ranking: str) -> list[dict]:
    """The leaderboard's scheme applied to the paired teams alone."""
    if ranking == "rank-then-aggregate":
        return rank_then_aggregate(teams, values, metrics)
    means = nanmean(values, axis=2)
    per_team = {team: {m: float(means[k, i]) for k, m in enumerate(metrics)}
                for i, team in enumerate(teams)}
    return instance_ranking(per_team, metrics)


def method_rows(teams: Sequence[str], results: ChallengerResults) -> list[dict]:
    """One row per paired team: its rank under each ranking method."""
    rows = []
    for i, team in enumerate(teams):
        row: dict = {"team": team}
        row.update({m: int(r[i]) for m, r in results.methods.items()})
        rows.append(row)
    first = next(iter(results.methods))
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


def write_challenger_tables(teams: Sequence[str], results: ChallengerResults, out_dir: Path
                            ) -> list[Path]:
    """Write test_then_rank, significance, ranking_methods, kendall_tau and strata tables.

    ``teams`` are the paired teams ``results`` was computed on, in its order.
    """
    rows = [r for t in results.tests for r in t.rows()]
    written = write_tables(out_dir / "test_then_rank", rows,
                           ["metric", "rank", "team", "wins", "beaten_by"],
                           caption="Test-then-rank: one-sided Wilcoxon signed-rank per "
                                   "ordered pair, Holm-adjusted per metric")
    sig = [{"metric": t.metric, "team": t.teams[i], "versus": t.teams[j],
            "p": float(t.p[i, j]), "p_holm": float(t.p_holm[i, j]),
            "significant": bool(t.significant[i, j])}
           for t in results.tests for i in range(len(t.teams)) for j in range(len(t.teams))
           if i != j]
    written += write_tables(out_dir / "significance", sig,
                            ["metric", "team", "versus", "p", "p_holm", "significant"],
                            markdown=False)
    written += write_tables(out_dir / "ranking_methods", method_rows(teams, results),
                            ["team", *results.methods],
                            caption="Rank under each ranking method")
    if results.taus:
        written += write_tables(out_dir / "kendall_tau", tau_rows(results.taus),
                                ["ranking", "samples", "undefined", "tau_q1", "tau_median",
                                 "tau_q3"])
    if results.consensus:
        rows = strata_rows(results)
        written += write_tables(out_dir / "consensus_strata", rows, list(rows[0]),
                                caption="Consensus over case truth-volume strata (mean rank)")
    return written
