"""challengeR's ranking analyses in Python: test-then-rank, rank agreement, consensus.

challengeR (Wiesenfarth et al., Sci Rep 2021) is what challenge organisers use to analyse a
ranking; ichbench computes the same analyses on paired per-case results:

- **test-then-rank**: for every ordered pair of teams (a, b), a one-sided Wilcoxon
  signed-rank test of "a is better than b" on the paired cases, Holm-adjusted over all
  n·(n − 1) ordered pairs of the metric; a team's score is the number of teams it beats
  significantly, and teams are ranked by that count (more is better, ties share the
  minimum rank). The matrix of significant pairs is the *significance map*.
- **Kendall's τ** between the full ranking and each bootstrap ranking
  (``scipy.stats.kendalltau``, τ-b, which handles tied ranks); NaN where a bootstrap
  ranking ties every team. Its distribution (a violin) shows how stable a ranking is.
- **ranking methods compared**: aggregate-then-rank with the mean (the INSTANCE scheme)
  and with the median, rank-then-aggregate and test-then-rank, each per metric and then
  combined as INSTANCE does (mean of the metric ranks, ties share the minimum).
- **consensus ranking** across tasks: teams ordered by their mean rank over tasks. Over
  rankings without ties this is the Euclidean consensus (the ranking r minimising
  Σ_tasks Σ_teams (r_i − r_i,task)²): for permutations Σ r_i² is constant, so the sum is
  smallest when the smallest r goes to the smallest rank sum (rearrangement inequality).

Conventions as :mod:`ichbench.reports.stats`: values have shape (n_teams, n_cases) per
metric; ``inf`` (HD of an empty prediction) is worse than every finite value (replaced by
one value above all finite ones for the test); cases where either team's value is ``nan``
are left out of that pair; zero differences are dropped ("wilcox"); the exact null
distribution is used for up to 50 differences without ties, the normal approximation
(tie-corrected) otherwise.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau, rankdata, wilcoxon

from ichbench.reports.inputs import HIGHER_IS_BETTER
from ichbench.reports.ranking import final_ranks, min_rank, per_case_ranks
from ichbench.reports.stats import _finite_for_wilcoxon, holm, nanmean

#: The ranking methods of :func:`compare_ranking_methods`, in plot order.
RANKING_METHODS = ("aggregate-then-rank (mean)", "aggregate-then-rank (median)",
                   "rank-then-aggregate", "test-then-rank")


def one_sided_wilcoxon(a: np.ndarray, b: np.ndarray, *, higher_is_better: bool) -> float:
    """p-value of "a is better than b" by the one-sided Wilcoxon signed-rank test.

    Parameters
    ----------
    a, b : ndarray
        Paired per-case values of two teams, shape (n_cases,).
    higher_is_better : bool
        Direction of the metric: "better" means a − b > 0 (DC) or a − b < 0 (HD).

    Returns
    -------
    float
        The p-value; 1.0 when every paired difference is zero (no evidence), NaN when no
        case is usable (every pair has a NaN).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = ~(np.isnan(a) | np.isnan(b))
    if not keep.any():
        return math.nan
    a, b = _finite_for_wilcoxon(a[keep], b[keep])
    diff = a - b
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return 1.0
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    method = "exact" if nonzero.size <= 50 and not ties else "approx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = wilcoxon(nonzero, alternative="greater" if higher_is_better else "less",
                          method=method)
    return float(result.pvalue)


@dataclass(frozen=True)
class TestThenRank:
    """Result of :func:`test_then_rank` for one metric.

    Attributes
    ----------
    teams : tuple of str
        Order of every axis below.
    p, p_holm : ndarray
        Shape (n_teams, n_teams): p-value of "row beats column" (one-sided), raw and
        Holm-adjusted over the n·(n − 1) ordered pairs; NaN on the diagonal.
    significant : ndarray of bool
        ``p_holm < alpha``: row is significantly better than column.
    wins : ndarray of int
        Number of teams each team beats significantly.
    rank : ndarray of int
        Ranked by ``wins`` (more is better), ties share the minimum rank.
    """

    __test__ = False  # not a pytest class, despite the name

    teams: tuple[str, ...]
    metric: str
    alpha: float
    p: np.ndarray
    p_holm: np.ndarray
    significant: np.ndarray
    wins: np.ndarray
    rank: np.ndarray

    def rows(self) -> list[dict]:
        """One row per team, by rank: ``rank, team, wins, beaten_by``."""
        order = np.lexsort((np.arange(len(self.teams)), self.rank))
        return [{"metric": self.metric, "rank": int(self.rank[i]), "team": self.teams[i],
                 "wins": int(self.wins[i]),
                 "beaten_by": int(self.significant[:, i].sum())} for i in order]


def test_then_rank(teams: Sequence[str], values: np.ndarray, *, metric: str,
                   alpha: float = 0.05) -> TestThenRank:
    """Rank teams by how many others they beat in one-sided Wilcoxon tests (Holm).

    Parameters
    ----------
    teams : sequence of str
        Names along axis 0 of ``values``.
    values : ndarray
        Shape (n_teams, n_cases): paired per-case values of ``metric``.
    metric : str
        Its direction comes from :data:`~ichbench.reports.inputs.HIGHER_IS_BETTER`.
    alpha : float
        Significance level of the Holm-adjusted p-values.

    Returns
    -------
    TestThenRank
    """
    values = np.asarray(values, float)
    n = len(teams)
    higher = HIGHER_IS_BETTER[metric]
    p = np.full((n, n), np.nan)
    for i, j in itertools.permutations(range(n), 2):
        p[i, j] = one_sided_wilcoxon(values[i], values[j], higher_is_better=higher)
    off = ~np.eye(n, dtype=bool)
    p_holm = np.full((n, n), np.nan)
    p_holm[off] = holm(p[off])
    significant = np.where(off, np.nan_to_num(p_holm, nan=1.0) < alpha, False)
    wins = significant.sum(axis=1)
    rank = rankdata(-wins, method="min").astype(int)
    return TestThenRank(tuple(teams), metric, alpha, p, p_holm, significant, wins, rank)


test_then_rank.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def kendall_tau_to_bootstrap(full_rank: np.ndarray, boot_ranks: np.ndarray) -> np.ndarray:
    """Kendall's τ-b between the full ranking and every bootstrap ranking.

    Parameters
    ----------
    full_rank : ndarray
        Shape (n_teams,): the ranking on all cases.
    boot_ranks : ndarray
        Shape (n_teams, n_samples): the ranking in each bootstrap sample.

    Returns
    -------
    ndarray
        Shape (n_samples,); NaN where τ is undefined (a constant ranking).

    Examples
    --------
    >>> kendall_tau_to_bootstrap(np.array([1, 2, 3]), np.array([[1, 2], [2, 1], [3, 3]]))
    array([1.        , 0.33333333])
    """
    full = np.asarray(full_rank, float)
    boot = np.asarray(boot_ranks, float)
    out = np.full(boot.shape[1], np.nan)
    if np.unique(full).size < 2:
        return out
    for s in range(boot.shape[1]):
        if np.unique(boot[:, s]).size > 1:
            out[s] = kendalltau(full, boot[:, s]).statistic
    return out


def _combine(metric_ranks: np.ndarray) -> np.ndarray:
    return final_ranks(metric_ranks)[1].astype(int)


def compare_ranking_methods(teams: Sequence[str], values: np.ndarray,
                            metrics: Sequence[str], *, alpha: float = 0.05,
                            tests: Sequence[TestThenRank] | None = None
                            ) -> dict[str, np.ndarray]:
    """The final rank of every team under each of :data:`RANKING_METHODS`.

    Parameters
    ----------
    teams : sequence of str
    values : ndarray
        Shape (n_metrics, n_teams, n_cases), paired.
    metrics : sequence of str
        Names along axis 0.
    tests : sequence of TestThenRank, optional
        :func:`test_then_rank` of each metric if already computed (else computed here).

    Returns
    -------
    dict of method to ndarray of int
        Shape (n_teams,) each: per-metric ranks combined by their mean (ties minimum).
    """
    values = np.asarray(values, float)
    higher = [HIGHER_IS_BETTER[m] for m in metrics]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = nanmean(values, axis=2)
        median = np.nanmedian(values, axis=2)
        rta = np.nanmean(per_case_ranks(values, metrics), axis=2)
    by_mean = np.stack([min_rank(mean[k], higher_is_better=higher[k]) for k in
                        range(len(metrics))])
    by_median = np.stack([min_rank(median[k], higher_is_better=higher[k]) for k in
                          range(len(metrics))])
    by_rta = np.stack([min_rank(rta[k], higher_is_better=False) for k in range(len(metrics))])
    if tests is None:
        tests = [test_then_rank(teams, values[k], metric=m, alpha=alpha)
                 for k, m in enumerate(metrics)]
    by_test = np.stack([t.rank for t in tests]).astype(float)
    return dict(zip(RANKING_METHODS, (_combine(by_mean), _combine(by_median),
                                      _combine(by_rta), _combine(by_test)), strict=True))


def consensus_ranking(task_ranks: Mapping[str, Mapping[str, float]]) -> list[dict]:
    """Consensus of several tasks' rankings: teams ordered by their mean rank.

    Parameters
    ----------
    task_ranks : mapping of task to {team: rank}
        Every task must rank the same teams.

    Returns
    -------
    list of dict
        ``rank, team, mean_rank`` and ``rank_<task>`` per task, by consensus rank (ties
        share the minimum) then name.

    Raises
    ------
    ValueError
        With no task, or when the tasks rank different teams (names them).

    Examples
    --------
    >>> rows = consensus_ranking({"small": {"a": 1, "b": 2}, "large": {"a": 2, "b": 1},
    ...                           "all": {"a": 1, "b": 2}})
    >>> [(r["team"], r["rank"], round(r["mean_rank"], 3)) for r in rows]
    [('a', 1, 1.333), ('b', 2, 1.667)]
    """
    if not task_ranks:
        raise ValueError("consensus_ranking: no task given")
    tasks = list(task_ranks)
    teams = sorted(task_ranks[tasks[0]])
    for task in tasks[1:]:
        if sorted(task_ranks[task]) != teams:
            diff = sorted(set(teams) ^ set(task_ranks[task]))
            raise ValueError(f"consensus_ranking: task {task!r} and task {tasks[0]!r} rank "
                             f"different teams ({', '.join(diff)}); give every team in "
                             "every task")
    table = np.array([[float(task_ranks[t][team]) for team in teams] for t in tasks])
    mean = table.mean(axis=0)
    rank = rankdata(np.round(mean, 9), method="min").astype(int)
    rows = [{"rank": int(rank[i]), "team": team, "mean_rank": float(mean[i]),
             **{f"rank_{t}": int(table[k, i]) for k, t in enumerate(tasks)}}
            for i, team in enumerate(teams)]
    rows.sort(key=lambda r: (r["rank"], r["team"]))
    return rows
