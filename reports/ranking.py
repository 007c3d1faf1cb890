"""Ranking teams: the INSTANCE 2022 scheme and the rank-then-aggregate alternative.

INSTANCE 2022 ("aggregate-then-rank"): rank the teams' mean of each of DC and NSD (higher
is better) and HD and RVD (lower is better) separately; tied values share the *minimum*
rank (``scipy.stats.rankdata(method="min")``: 1, 2, 2, 4); the final score is the mean of
the four ranks, and teams with equal scores share the minimum final rank.

Rank-then-aggregate (as in challengeR): rank the teams on every case and metric, average a
team's per-case ranks per metric, then aggregate these mean ranks exactly as above.

Ordering of special values: ``inf`` is worse than every finite value whatever the direction
(an ``inf`` mean HD ranks last; several share that rank); ``nan`` (undefined) ranks last as
well, tied with the other ``nan``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from ichbench.reports.inputs import HIGHER_IS_BETTER, RANKED_METRICS


def badness(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Map metric values to "lower is better" keys: negate where higher is better.

    ``inf`` HD or RVD stays ``inf`` (worst); ``nan`` becomes ``inf`` (worst, tied with other
    undefined values). A ``-inf`` or ``inf`` DC/NSD cannot occur and is treated by sign.
    """
    keys = -np.asarray(values, dtype=float) if higher_is_better else np.asarray(values,
                                                                               dtype=float)
    return np.where(np.isnan(keys), np.inf, keys)


def min_rank(values: Sequence[float] | np.ndarray, *, higher_is_better: bool,
             axis: int = 0) -> np.ndarray:
    """Rank values (1 = best) with ties sharing the minimum rank.

    Parameters
    ----------
    values : array_like
        Metric values; ranked along ``axis``.
    higher_is_better : bool
        True for DC/NSD, False for HD/RVD.
    axis : int
        Axis holding the teams.

    Returns
    -------
    ndarray of float
        Ranks, same shape as ``values``.

    Examples
    --------
    >>> min_rank([0.7, 0.6, 0.7], higher_is_better=True).tolist()
    [1.0, 3.0, 1.0]
    >>> min_rank([3.0, float("inf"), float("inf")], higher_is_better=False).tolist()
    [1.0, 2.0, 2.0]
    """
    keys = badness(np.asarray(values, dtype=float), higher_is_better)
    return rankdata(keys, method="min", axis=axis).astype(float)


def final_ranks(metric_ranks: np.ndarray, *, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of per-metric ranks and the final rank (ties share the minimum).

    Parameters
    ----------
    metric_ranks : ndarray
        Shape (n_metrics, n_teams, ...) ranks; the metric axis is 0, teams on ``axis + 1``.

    Returns
    -------
    score, rank : ndarray
        Mean rank per team (lower is better) and its min-tied rank.
    """
    score = metric_ranks.mean(axis=0)
    # Scores are means of four integers: round so that 2.25 computed twice compares equal.
    rank = rankdata(np.round(score, 9), method="min", axis=axis).astype(float)
    return score, rank


def instance_ranking(means: Mapping[str, Mapping[str, float]],
                     metrics: Sequence[str] = RANKED_METRICS) -> list[dict]:
    """Rank teams by the INSTANCE 2022 scheme on their mean metrics.

    Parameters
    ----------
    means : mapping of team to {metric: mean}
        Every team needs every metric of ``metrics``.
    metrics : sequence of str
        Metrics to rank on (directions from :data:`~ichbench.reports.inputs.HIGHER_IS_BETTER`).

    Returns
    -------
    list of dict
        One row per team sorted by final rank then name: ``team, rank, score`` and
        ``rank_<metric>`` per metric, plus the means.
    """
    teams = list(means)
    table = np.array([[means[t][m] for t in teams] for m in metrics], dtype=float)
    return _rows(teams, table, metrics, table, higher=[HIGHER_IS_BETTER[m] for m in metrics])


def per_case_ranks(values: np.ndarray, metrics: Sequence[str] = RANKED_METRICS) -> np.ndarray:
    """Rank teams on every case and metric.

    Parameters
    ----------
    values : ndarray
        Shape (n_metrics, n_teams, n_cases).

    Returns
    -------
    ndarray
        Same shape; min-tied ranks across teams per (metric, case). Where a metric is
        undefined (``nan``) for every team on a case (RVD on an empty truth) the ranks are
        ``nan`` so that case drops out of that metric's mean rank.
    """
    ranks = np.empty_like(values, dtype=float)
    for i, metric in enumerate(metrics):
        ranks[i] = min_rank(values[i], higher_is_better=HIGHER_IS_BETTER[metric], axis=0)
        undefined = np.isnan(values[i]).all(axis=0)
        ranks[i][:, undefined] = np.nan
    return ranks


def rank_then_aggregate(teams: Sequence[str], values: np.ndarray,
                        metrics: Sequence[str] = RANKED_METRICS) -> list[dict]:
    """Rank per case, average the ranks per metric, then aggregate as INSTANCE does.

    Parameters
    ----------
    teams : sequence of str
        Team names, matching axis 1 of ``values``.
    values : ndarray
        Shape (n_metrics, n_teams, n_cases), paired cases.

    Returns
    -------
    list of dict
        As :func:`instance_ranking`; ``mean_rank_<metric>`` holds the per-metric mean
        per-case rank that was ranked.
    """
    mean_ranks = np.nanmean(per_case_ranks(values, metrics), axis=2)
    rows = _rows(list(teams), mean_ranks, metrics, None,
                 higher=[False] * len(metrics))
    for row in rows:
        i = list(teams).index(row["team"])
        for k, metric in enumerate(metrics):
            row[f"mean_rank_{metric}"] = float(mean_ranks[k, i])
    return rows


def _rows(teams: list[str], ranked: np.ndarray, metrics: Sequence[str],
          means: np.ndarray | None, *, higher: list[bool]) -> list[dict]:
    ranks = np.stack([min_rank(ranked[k], higher_is_better=higher[k])
                      for k in range(len(metrics))])
    score, rank = final_ranks(ranks)
    rows = []
    for i, team in enumerate(teams):
        row: dict = {"rank": int(rank[i]), "team": team, "score": float(score[i])}
        if means is not None:
            row.update({m: float(means[k, i]) for k, m in enumerate(metrics)})
        row.update({f"rank_{m}": int(ranks[k, i]) for k, m in enumerate(metrics)})
        rows.append(row)
    rows.sort(key=lambda r: (r["rank"], r["team"]))
    return rows
