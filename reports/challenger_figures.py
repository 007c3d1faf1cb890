"""Figures of challengeR's analyses: significance map, podium, τ violin, ranking methods.

Each function builds a standalone :class:`matplotlib.figure.Figure` from plain arrays or
from :mod:`ichbench.reports.challenger` results (no pyplot, never ``show()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ichbench.reports.challenger import TestThenRank
from ichbench.reports.inputs import HIGHER_IS_BETTER
from ichbench.reports.labels import metric_label
from ichbench.reports.style import SLIDE, short_name


def significance_maps(results: Sequence[TestThenRank], *, title: str = "") -> Figure:
    """One significance map per metric: which team is significantly better than which.

    Parameters
    ----------
    results : sequence of TestThenRank
        One per metric (:func:`ichbench.reports.challenger.test_then_rank`).

    Notes
    -----
    Rows and columns are ordered by the test-then-rank rank; a dark cell at (row a,
    column b) means a beats b (one-sided Wilcoxon, Holm-adjusted p < alpha). The cell text
    is the adjusted p-value.
    """
    fig = Figure(figsize=SLIDE, layout="constrained")
    n = len(results)
    cols = min(n, 2)
    axes = np.atleast_1d(fig.subplots((n + cols - 1) // cols, cols, squeeze=False)).ravel()
    for ax, result in zip(axes, results, strict=False):
        order = np.lexsort((np.arange(len(result.teams)), result.rank))
        sig = result.significant[np.ix_(order, order)].astype(float)
        shown = np.where(np.eye(len(order), dtype=bool), np.nan, sig)
        cmap = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")  # grey diagonal
        ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.25)
        names = [short_name(result.teams[i], 12) for i in order]
        ticks = np.arange(len(order))
        ax.set_xticks(ticks, names, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(ticks, names, fontsize=8)
        if len(order) <= 10:
            for r, i in enumerate(order):
                for c, j in enumerate(order):
                    if i != j:
                        p = result.p_holm[i, j]
                        ax.text(c, r, "–" if np.isnan(p) else f"{p:.2g}", ha="center",
                                va="center", fontsize=7,
                                color="white" if result.significant[i, j] else "0.3")
        ax.set_xlabel("… is beaten by the row team (dark)")
        ax.set_title(f"{metric_label(result.metric)}: row significantly better than column",
                     fontsize=10)
    for ax in axes[n:]:
        ax.axis("off")
    if results:
        fig.suptitle(title or "Significance maps (one-sided Wilcoxon signed-rank, "
                              f"Holm-adjusted, α = {results[0].alpha:g})")
    return fig


def podium(teams: Sequence[str], values: np.ndarray, *, metric: str, title: str = ""
           ) -> Figure:
    """Podium plot (challengeR): per-case values placed on each case's rank podium.

    Parameters
    ----------
    teams : sequence of str
        Names along axis 0 of ``values``.
    values : ndarray
        Shape (n_teams, n_cases), paired values of ``metric``.

    Notes
    -----
    Top: for every case the teams are ranked (ties: minimum); team t's value is drawn in
    the column of its rank on that case, in its colour, and the dots of one case are
    joined by a grey line. Bottom: how often each team took each podium place. ``inf``
    values are drawn on a band above the finite ones; NaN cases are left out.
    """
    from ichbench.reports.ranking import min_rank

    values = np.asarray(values, float)
    n = len(teams)
    keep = ~np.isnan(values).any(axis=0)
    values = values[:, keep]
    ranks = min_rank(values, higher_is_better=HIGHER_IS_BETTER[metric], axis=0).astype(int)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    shown = np.where(np.isinf(values), top * 1.1 if top > 0 else 1.0, values)
    fig = Figure(figsize=SLIDE, layout="constrained")
    ax, ax_bar = fig.subplots(2, 1, height_ratios=[3, 1.2], sharex=True)
    width = 0.8 / max(n, 1)
    for c in range(values.shape[1]):
        xs = ranks[:, c] - 0.4 + width * (np.arange(n) + 0.5)
        order = np.argsort(ranks[:, c], kind="stable")
        ax.plot(xs[order], shown[order, c], color="0.8", lw=0.6, zorder=1)
    for t in range(n):
        xs = ranks[t] - 0.4 + width * (t + 0.5)
        ax.scatter(xs, shown[t], s=14, color=f"C{t % 10}", zorder=2,
                   label=short_name(teams[t], 20))
        counts = np.bincount(ranks[t], minlength=n + 1)[1:n + 1]
        ax_bar.bar(np.arange(1, n + 1) - 0.4 + width * (t + 0.5), counts, width=width,
                   color=f"C{t % 10}")
    if np.isinf(values).any():
        ax.axhline(top * 1.05, color="0.6", lw=0.8, ls="--")
        ax.text(0.55, top * 1.1, "∞", va="center", fontsize=10)
    arrow = "↑" if HIGHER_IS_BETTER[metric] else "↓"
    ax.set_ylabel(f"{metric_label(metric)} {arrow}")
    ax.legend(fontsize=8, loc="best", ncol=min(n, 4))
    ax.grid(axis="y", alpha=0.3)
    ax_bar.set_xticks(np.arange(1, n + 1), [f"place {k}" for k in range(1, n + 1)])
    ax_bar.set_ylabel("cases")
    ax_bar.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"Podium: {metric_label(metric)} per case, placed by its per-case rank "
                          f"({values.shape[1]} cases)", fontsize=11)
    return fig


def tau_violins(taus: Mapping[str, np.ndarray], *, title: str = "") -> Figure:
    """Violins of Kendall's τ between the full ranking and the bootstrap rankings.

    Parameters
    ----------
    taus : mapping of label to ndarray
        τ per bootstrap sample (NaN left out), e.g. one entry per task or ranking.
    """
    fig = Figure(figsize=SLIDE, layout="constrained")
    ax = fig.subplots()
    labels, data = [], []
    for label, tau in taus.items():
        tau = np.asarray(tau, float)
        tau = tau[~np.isnan(tau)]
        if tau.size:
            labels.append(label)
            data.append(tau)
    if data:
        positions = np.arange(1, len(data) + 1)
        ax.violinplot(data, positions=positions, showmedians=True)
        for x, tau in zip(positions, data, strict=True):
            ax.text(x, 1.03, f"median {np.median(tau):.2f}", ha="center", fontsize=9)
        ax.set_xticks(positions, labels)
    ax.set_ylim(-1.05, 1.1)
    ax.axhline(1.0, color="0.7", lw=0.8, ls=":")
    ax.set_ylabel("Kendall's τ (full ranking vs bootstrap ranking)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "Ranking stability: Kendall's τ over bootstrap samples "
                          "(1 = the same ranking)", fontsize=11)
    return fig


def ranking_methods(teams: Sequence[str], ranks: Mapping[str, np.ndarray], *,
                    title: str = "") -> Figure:
    """Line plot: each team's rank under each ranking method.

    Parameters
    ----------
    teams : sequence of str
    ranks : mapping of method to ndarray
        Shape (n_teams,) each (:func:`ichbench.reports.challenger.compare_ranking_methods`).
    """
    fig = Figure(figsize=SLIDE, layout="constrained")
    ax = fig.subplots()
    methods = list(ranks)
    x = np.arange(len(methods))
    n = len(teams)
    for t, team in enumerate(teams):
        # tied teams would hide each other: a small vertical offset per team
        ys = np.array([float(ranks[m][t]) for m in methods]) + 0.06 * (t - (n - 1) / 2)
        ax.plot(x, ys, "-o", color=f"C{t % 10}", label=short_name(team, 20))
    ax.set_xticks(x, [m.replace(" (", "\n(") for m in methods], fontsize=9)
    ax.set_yticks(np.arange(1, n + 1))
    ax.set_ylim(n + 0.5, 0.5)
    ax.set_ylabel("rank (tied teams drawn slightly apart)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title or "Ranking methods compared (per-metric ranks combined by their "
                          "mean)", fontsize=11)
    return fig
