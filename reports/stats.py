"""Statistics over per-case results: bootstrap ranks and CIs, Wilcoxon tests with Holm.

All functions work on a paired array ``values`` of shape (n_metrics, n_teams, n_cases):
the same cases, in the same order, for every team. Randomness comes only from the
``numpy.random.Generator`` passed in, so a seed reproduces every number.

Special values: ``inf`` (HD of an empty prediction) enters means, so a bootstrap sample
that draws such a case has an ``inf`` mean and a CI bound may be ``inf``; ``nan`` (RVD on an
empty truth) is left out of each mean (``nanmean``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata, wilcoxon

from ichbench.reports.inputs import HIGHER_IS_BETTER, RANKED_METRICS
from ichbench.reports.ranking import final_ranks, min_rank, per_case_ranks


def nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring ``nan`` (``nan`` where everything is ``nan``), keeping ``inf``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


@dataclass(frozen=True)
class Bootstrap:
    """Result of :func:`bootstrap`.

    Attributes
    ----------
    teams : tuple of str
    metrics : tuple of str
    n_samples : int
    means : ndarray
        Bootstrap means, shape (n_metrics, n_teams, n_samples).
    ranks : ndarray of int
        Final rank of every team in every sample, shape (n_teams, n_samples).
    """

    teams: tuple[str, ...]
    metrics: tuple[str, ...]
    n_samples: int
    means: np.ndarray
    ranks: np.ndarray

    def rank_counts(self) -> np.ndarray:
        """How often each team took each rank: shape (n_teams, n_teams), column r = rank r+1."""
        n = len(self.teams)
        return np.stack([np.bincount(r - 1, minlength=n)[:n] for r in self.ranks])

    def ci(self, level: float = 0.95) -> np.ndarray:
        """Percentile CI of every mean: shape (n_metrics, n_teams, 2).

        The lower bound takes the sample at or below the quantile and the upper the one at
        or above, so no interpolation mixes a finite and an infinite mean.
        """
        alpha = (1.0 - level) / 2.0
        low = np.quantile(self.means, alpha, axis=2, method="lower")
        high = np.quantile(self.means, 1.0 - alpha, axis=2, method="higher")
        return np.stack([low, high], axis=-1)

    def rank_summary(self, level: float = 0.95) -> np.ndarray:
        """Median and percentile interval of every team's rank: shape (n_teams, 3)."""
        alpha = (1.0 - level) / 2.0
        return np.stack([np.median(self.ranks, axis=1),
                         np.quantile(self.ranks, alpha, axis=1, method="lower"),
                         np.quantile(self.ranks, 1 - alpha, axis=1, method="higher")], axis=1)


def bootstrap(teams: Sequence[str], values: np.ndarray, rng: np.random.Generator, *,
              n_samples: int = 1000, metrics: Sequence[str] = RANKED_METRICS,
              ranking: str = "instance") -> Bootstrap:
    """Resample cases with replacement (paired across teams) and re-rank every sample.

    Parameters
    ----------
    teams : sequence of str
        Names along axis 1 of ``values``.
    values : ndarray
        Shape (n_metrics, n_teams, n_cases).
    rng : numpy.random.Generator
        Source of the case indices; the same generator state gives the same result.
    n_samples : int
        Number of bootstrap samples.
    ranking : {"instance", "rank-then-aggregate"}
        Scheme applied to every sample. For rank-then-aggregate the per-case ranks are
        computed once (they do not depend on the sample) and their means are re-ranked.

    Returns
    -------
    Bootstrap
        Sample means of the metrics (always the metric values, for CIs) and final ranks.
    """
    values = np.asarray(values, dtype=float)
    n_cases = values.shape[2]
    if n_cases == 0:
        raise ValueError("bootstrap needs at least one paired case")
    index = rng.integers(0, n_cases, size=(n_samples, n_cases))
    means = np.stack([nanmean(values[:, :, row], axis=2) for row in index], axis=-1)
    if ranking == "instance":
        ranked, higher = means, [HIGHER_IS_BETTER[m] for m in metrics]
    elif ranking == "rank-then-aggregate":
        case_ranks = per_case_ranks(values, metrics)
        ranked = np.stack([nanmean(case_ranks[:, :, row], axis=2) for row in index], axis=-1)
        higher = [False] * len(metrics)
    else:
        raise ValueError(f"ranking is {ranking!r}; expected 'instance' or "
                         "'rank-then-aggregate'")
    metric_ranks = np.stack([min_rank(ranked[k], higher_is_better=higher[k], axis=0)
                             for k in range(len(metrics))])
    _, ranks = final_ranks(metric_ranks, axis=0)
    return Bootstrap(tuple(teams), tuple(metrics), n_samples, means, ranks.astype(int))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    With the m finite p-values sorted ascending, p_(i) is multiplied by (m − i + 1) and the
    running maximum is taken, so an adjusted p-value never falls below an earlier one.
    ``nan`` entries stay ``nan`` and do not count in m.

    Examples
    --------
    >>> np.round(holm([0.01, 0.04, 0.03, 0.005]), 12).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def _finite_for_wilcoxon(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``inf`` by one value above every finite value of both teams.

    Wilcoxon ranks |a − b|: an ``inf`` against a finite value becomes the largest difference
    and ``inf`` against ``inf`` a zero (dropped), which is what the ordering implies.
    """
    both = np.concatenate([a, b])
    finite = both[np.isfinite(both)]
    top = (np.max(np.abs(finite)) * 2 + 1.0) if finite.size else 1.0
    return np.where(np.isinf(a), top, a), np.where(np.isinf(b), top, b)


def _wilcoxon(nonzero: np.ndarray) -> tuple[float, float]:
    """Two-sided signed-rank test on non-zero paired differences (zeros dropped, "wilcox").

    The exact null distribution is used for up to 50 differences without ties, the normal
    approximation (tie-corrected) otherwise. scipy's ``method="auto"`` would run a
    permutation test for small samples with ties, which takes seconds per pair.
    """
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    method = "exact" if nonzero.size <= 50 and not ties else "approx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = wilcoxon(nonzero, alternative="two-sided", method=method)
    return float(result.statistic), float(result.pvalue)


def pairwise_wilcoxon(teams: Sequence[str], values: np.ndarray,
                      metrics: Sequence[str] = RANKED_METRICS, *,
                      alpha: float = 0.05) -> list[dict]:
    """Two-sided Wilcoxon signed-rank test between every pair of teams, per metric.

    Holm's correction is applied within each metric over its n_teams·(n_teams−1)/2 pairs.
    Cases where either team's value is ``nan`` are left out of that pair.

    Returns
    -------
    list of dict
        ``metric, team_a, team_b, n, median_diff`` (a − b, ``inf`` replaced as for the
        test), ``statistic,
        p, p_holm, better`` (the better team where ``p_holm < alpha``, by the sign of the
        signed-rank sum, else empty).
    """
    rows: list[dict] = []
    for k, metric in enumerate(metrics):
        block: list[dict] = []
        for i, j in itertools.combinations(range(len(teams)), 2):
            a, b = values[k, i], values[k, j]
            keep = ~(np.isnan(a) | np.isnan(b))
            a, b = _finite_for_wilcoxon(a[keep], b[keep])
            diff = a - b
            stat, p, signed = np.nan, np.nan, 0.0
            nonzero = diff[diff != 0]
            if nonzero.size:
                signed = float(np.sum(rankdata(np.abs(nonzero)) * np.sign(nonzero)))
                stat, p = _wilcoxon(nonzero)
            elif keep.any():
                p = 1.0  # identical on every case: no evidence of a difference
            block.append({"metric": metric, "team_a": teams[i], "team_b": teams[j],
                          "n": int(keep.sum()),
                          "median_diff": float(np.median(diff)) if diff.size else np.nan,
                          "statistic": stat, "p": p, "_signed": signed})
        for row, adjusted in zip(block, holm([r["p"] for r in block]), strict=True):
            row["p_holm"] = float(adjusted)
            row["better"] = ""
            signed = row.pop("_signed")
            if adjusted < alpha and signed != 0:
                a_better = (signed > 0) == HIGHER_IS_BETTER[metric]
                row["better"] = row["team_a"] if a_better else row["team_b"]
        rows.extend(block)
    return rows
