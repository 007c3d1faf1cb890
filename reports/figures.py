"""Figures: metric distributions, rank stability, volume agreement, overlays.

The learning-curve figure is :mod:`ichbench.reports.learning_curve`.

Every function builds a standalone :class:`matplotlib.figure.Figure` (no pyplot, no global
state, never ``show()``); callers save it or put it in a PDF. The functions take plain
arrays; :func:`leaderboard_figures` gathers them from an
:class:`~ichbench.reports.analysis.Analysis` and the files
:func:`ichbench.reports.sources.file_inputs` read. Size, colours and names come from
:mod:`ichbench.reports.style` and :mod:`ichbench.reports.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ichbench.reports.inputs import HIGHER_IS_BETTER, RANKED_METRICS
from ichbench.reports.labels import METRIC_LABELS
from ichbench.reports.style import PRED_COLOUR, SLIDE, TRUTH_COLOUR, short_name

if TYPE_CHECKING:
    from ichbench.reports.analysis import Analysis
    from ichbench.reports.sources import FigureFiles


def metric_distributions(groups: Mapping[str, Mapping[str, np.ndarray]],
                         metrics: Sequence[str] = RANKED_METRICS, *, seed: int = 0,
                         title: str = "") -> Figure:
    """Box plot per team and metric with every case as a jittered point.

    Parameters
    ----------
    groups : mapping of team to {metric: values}
        Per-case values (shape (n_cases,)) in the order the teams should appear.
    seed : int
        Seed of the horizontal jitter (for identical figures on every build).

    Notes
    -----
    ``inf`` values (HD of an empty prediction) are drawn as triangles on a band above the
    finite values, labelled ``∞``, with their count; ``nan`` (RVD on empty truth) are left
    out and counted in the panel title.
    """
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=SLIDE, layout="constrained")
    axes = fig.subplots(2, 2).ravel() if len(metrics) == 4 else fig.subplots(1, len(metrics))
    names = list(groups)
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=False):
        data, n_inf, n_nan = [], 0, 0
        for team in names:
            v = np.asarray(groups[team].get(metric, np.array([])), dtype=float)
            n_nan += int(np.isnan(v).sum())
            n_inf += int(np.isinf(v).sum())
            data.append(v[~np.isnan(v)])
        finite = [d[np.isfinite(d)] for d in data]
        top = max((float(d.max()) for d in finite if d.size), default=1.0)
        ax.boxplot([d if d.size else [np.nan] for d in finite], widths=0.55,
                   showfliers=False, medianprops={"color": "black"})
        inf_y = top * 1.12 if top > 0 else 1.0
        for i, d in enumerate(data):
            x = i + 1 + rng.uniform(-0.18, 0.18, d.size)
            fin = np.isfinite(d)
            ax.scatter(x[fin], d[fin], s=9, alpha=0.55, color="C0", zorder=3)
            if (~fin).any():
                ax.scatter(x[~fin], np.full((~fin).sum(), inf_y), marker="^", s=18,
                           color="C3", zorder=3)
        if n_inf:
            ax.axhline(top * 1.06, color="0.7", lw=0.8, ls="--")
            ticks = [t for t in ax.get_yticks() if 0 <= t <= top]
            ax.set_yticks([*ticks, inf_y], [*(f"{t:g}" for t in ticks), "∞"])
        ax.set_xticks(range(1, len(names) + 1), [short_name(n) for n in names],
                      rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4
                      else "center", fontsize=8)
        arrow = "↑" if HIGHER_IS_BETTER.get(metric, False) else "↓"
        extra = []
        if n_inf:
            extra.append(f"{n_inf} inf")
        if n_nan:
            extra.append(f"{n_nan} undefined left out")
        ax.set_title(f"{METRIC_LABELS.get(metric, metric)} {arrow}" +
                     (f"  ({', '.join(extra)})" if extra else ""), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def rank_stability(teams: Sequence[str], rank_counts: np.ndarray, *,
                   observed: Mapping[str, int] | None = None, title: str = "") -> Figure:
    """Blob plot of bootstrap ranks (as challengeR): one column per team.

    Parameters
    ----------
    teams : sequence of str
        In leaderboard order (left to right).
    rank_counts : ndarray
        Shape (n_teams, n_teams): how often team i took rank r + 1, rows in ``teams`` order.
    observed : mapping, optional
        The leaderboard rank of each team, drawn as a cross.

    Notes
    -----
    Blob area is proportional to the share of bootstrap samples; the black line spans the
    2.5–97.5 % rank interval and the dot is the median rank.
    """
    counts = np.asarray(rank_counts, dtype=float)
    n = len(teams)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=SLIDE, layout="constrained")
    ax = fig.subplots()
    ranks = np.arange(1, n + 1)
    for i in range(n):
        keep = share[i] > 0
        ax.scatter(np.full(keep.sum(), i + 1), ranks[keep], s=share[i][keep] * 900,
                   color="C0", alpha=0.45, edgecolors="none")
        cdf = np.cumsum(share[i])
        low = ranks[np.searchsorted(cdf, 0.025)] if cdf[-1] > 0 else np.nan
        high = ranks[min(np.searchsorted(cdf, 0.975), n - 1)] if cdf[-1] > 0 else np.nan
        median = ranks[min(np.searchsorted(cdf, 0.5), n - 1)] if cdf[-1] > 0 else np.nan
        ax.plot([i + 1, i + 1], [low, high], color="black", lw=1.2)
        ax.plot(i + 1, median, "o", color="black", ms=4)
        if observed and teams[i] in observed:
            ax.plot(i + 1, observed[teams[i]], "x", color="C3", ms=8, mew=2)
    ax.plot([0.5, n + 0.5], [0.5, n + 0.5], color="0.8", lw=0.8, zorder=0)
    ax.set_xlim(0.5, n + 0.5)
    ax.set_ylim(n + 0.5, 0.5)
    ax.set_yticks(ranks)
    ax.set_xticks(ranks, [short_name(t) for t in teams], rotation=30 if n > 4 else 0,
                  ha="right" if n > 4 else "center", fontsize=9)
    ax.set_ylabel("rank in bootstrap samples")
    ax.set_title(title or "Ranking stability: blob area = share of bootstrap samples, "
                 "line = 95 % interval, × = leaderboard rank", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def volume_agreement(series: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                     abc2: tuple[np.ndarray, np.ndarray] | None = None,
                     title: str = "") -> Figure:
    """Predicted vs true volume (left) and Bland–Altman (right), ABC/2 as reference.

    Parameters
    ----------
    series : mapping of team to (true_ml, predicted_ml)
        Arrays of shape (n_cases,), mL.
    abc2 : (true_ml, abc2_ml), optional
        The clinical ABC/2 estimate from the truth masks, drawn in black as the reference
        a segmentation should beat.

    Notes
    -----
    Bland–Altman: x = mean of the two volumes, y = predicted − true; lines at the bias and
    bias ± 1.96 SD per series (limits of agreement only for ABC/2 when there are more than
    four series, to stay readable; the legend gives every series' numbers). Empty truths
    (true volume 0) are kept in the scatter.
    """
    fig = Figure(figsize=SLIDE, layout="constrained")
    ax_sc, ax_ba = fig.subplots(1, 2)
    all_series = dict(series)
    styles = {name: {"color": f"C{i % 10}", "marker": "o"} for i, name in enumerate(series)}
    if abc2 is not None:
        all_series["ABC/2 (truth)"] = abc2
        styles["ABC/2 (truth)"] = {"color": "black", "marker": "x"}
    top = 1.0
    for name, (true_ml, pred_ml) in all_series.items():
        true_ml, pred_ml = np.asarray(true_ml, float), np.asarray(pred_ml, float)
        ok = np.isfinite(true_ml) & np.isfinite(pred_ml)
        true_ml, pred_ml = true_ml[ok], pred_ml[ok]
        if not true_ml.size:
            continue
        top = max(top, float(true_ml.max()), float(pred_ml.max()))
        st = styles[name]
        ax_sc.scatter(true_ml, pred_ml, s=14, alpha=0.6, label=short_name(name, 22), **st)
        mean, diff = (true_ml + pred_ml) / 2, pred_ml - true_ml
        bias, sd = float(diff.mean()), float(diff.std(ddof=1)) if diff.size > 1 else 0.0
        ax_ba.scatter(mean, diff, s=14, alpha=0.6,
                      label=f"{short_name(name, 22)}: bias {bias:+.1f}, LoA ±{1.96 * sd:.1f} mL",
                      **st)
        ax_ba.axhline(bias, color=st["color"], lw=1)
        if len(all_series) <= 4 or name == "ABC/2 (truth)":  # many teams: bias lines only
            for sign in (-1, 1):
                ax_ba.axhline(bias + sign * 1.96 * sd, color=st["color"], lw=0.8, ls="--")
    ax_sc.plot([0, top], [0, top], color="0.5", lw=1, ls=":")
    ax_sc.set_xlabel("true volume (mL)")
    ax_sc.set_ylabel("predicted / estimated volume (mL)")
    ax_sc.set_title("Volume: prediction vs truth", fontsize=10)
    ax_ba.axhline(0, color="0.5", lw=1, ls=":")
    ax_ba.set_xlabel("mean of the two volumes (mL)")
    ax_ba.set_ylabel("predicted − true (mL)")
    ax_ba.set_title("Bland–Altman (solid: bias, dashed: ±1.96 SD)", fontsize=10)
    for ax in (ax_sc, ax_ba):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=9, loc="upper left")
    if title:
        fig.suptitle(title)
    return fig


def window(ct: np.ndarray, *, width: float = 80.0, level: float = 40.0) -> np.ndarray:
    """Map HU to [0, 1] with the brain window (W80/L40 by default)."""
    low = level - width / 2
    return np.clip((np.asarray(ct, dtype=float) - low) / width, 0.0, 1.0)


def case_overlays(panels: Sequence[Mapping], *, title: str = "") -> Figure:
    """CT slices in the brain window with truth and prediction contours.

    Parameters
    ----------
    panels : sequence of mapping
        Each with ``title`` (str), ``ct`` (2D HU array, (y, x)), ``truth`` and ``pred``
        (2D masks of the same shape) and ``aspect`` (y spacing / x spacing).
    """
    fig = Figure(figsize=SLIDE, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(panels), 1)))
    for ax, panel in zip(axes, panels, strict=False):
        ax.imshow(window(panel["ct"]), cmap="gray", vmin=0, vmax=1,
                  aspect=panel.get("aspect", 1.0), interpolation="nearest")
        for key, colour in (("truth", TRUTH_COLOUR), ("pred", PRED_COLOUR)):
            mask = np.asarray(panel[key]) != 0
            if mask.any() and not mask.all():
                ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2)
        ax.set_title(panel["title"], fontsize=13)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.suptitle((title + "  " if title else "") +
                 "(CT W80/L40; green = truth, red = prediction)", fontsize=13)
    return fig


def leaderboard_figures(analysis: Analysis, *, files: FigureFiles) -> dict[str, Figure]:
    """The figures of a leaderboard: distributions, rank stability, volumes, overlays.

    ``files`` is :func:`ichbench.reports.sources.file_inputs`' result, read once by the
    caller (whose analysis carries its notes). Figures that need something missing
    (per-case results, volumes, truth or images) are left out, never an error. Text is
    never parsed as mathtext: a team name between dollar signs is shown as written
    instead of crashing the drawing.
    """
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False}):
        return _leaderboard_figures(analysis, files=files)


def _leaderboard_figures(analysis: Analysis, *, files: FigureFiles) -> dict[str, Figure]:
    """The figures of :func:`leaderboard_figures`, drawn inside its rc_context."""
    figures: dict[str, Figure] = {}
    if analysis.values is None:
        return figures
    order = [r["team"] for r in analysis.table if r["team"] in analysis.paired]
    groups = {}
    for name in order:
        cases = analysis.team(name).cases
        assert cases is not None
        groups[name] = cases.subset(analysis.case_ids).values
    figures["distributions"] = metric_distributions(
        groups, title=f"Per-case metrics ({len(analysis.case_ids)} cases)")
    if analysis.ranking == "lesionwise":  # issue 13: the metrics that were ranked too
        figures["lesionwise_distributions"] = metric_distributions(
            groups, analysis.metrics, title="Per-case lesion-wise metrics")
    if analysis.boot is not None and len(order) > 1:
        index = [analysis.boot.teams.index(t) for t in order]
        counts = analysis.boot.rank_counts()[index]
        figures["rank_stability"] = rank_stability(
            order, counts, observed={r["team"]: r["rank"] for r in analysis.table})
    if analysis.challenger is not None:  # issue 13: challengeR's figures
        figures.update(challenger_figures(analysis))
    series = {n: (g["gt_volume_ml"], g["pred_volume_ml"]) for n, g in groups.items()
              if "gt_volume_ml" in g and "pred_volume_ml" in g}
    if series:
        figures["volumes"] = volume_agreement(series, abc2=files.abc2)
    if files.overlays:
        name, panels = files.overlays
        figures["overlays"] = case_overlays(panels, title=f"{name}: best, median, "
                                                          "worst case by DC")
    return figures


def challenger_figures(analysis: Analysis) -> dict[str, Figure]:
    """Significance maps, podium of the first metric, τ violin and ranking-method lines.

    Drawn by :mod:`ichbench.reports.challenger_figures` from ``analysis.challenger``;
    empty without it.
    """
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
