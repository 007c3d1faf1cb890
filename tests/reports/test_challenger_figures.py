"""challengeR figures: built from plain results, one axes per panel, nothing shown."""

from __future__ import annotations

import numpy as np

from ichbench.reports.challenger import compare_ranking_methods, test_then_rank
from ichbench.reports.challenger_figures import (
    podium,
    ranking_methods,
    significance_maps,
    tau_violins,
)

VALUES = np.array([[0.8, 0.7, 0.9, 0.6, 0.75, 0.85],
                   [0.5, 0.6, 0.4, 0.55, 0.45, 0.65],
                   [0.3, 0.2, 0.35, 0.1, 0.25, 0.3]])
TEAMS = ["a", "b", "c"]


def test_significance_maps_one_panel_per_metric_with_p_values():
    tests = [test_then_rank(TEAMS, VALUES, metric="dc"),
             test_then_rank(TEAMS, 1 - VALUES, metric="hd")]
    fig = significance_maps(tests)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    assert len(panels[0].texts) == 6  # every off-diagonal cell carries its p-value


def test_podium_places_every_case_value_and_counts_places():
    fig = podium(TEAMS, np.where(np.arange(6) == 0, np.inf, VALUES), metric="hd")
    top, bars = fig.axes
    points = sum(len(c.get_offsets()) for c in top.collections)
    assert points == VALUES.size
    assert sum(p.get_height() for p in bars.patches) == VALUES.size


def test_tau_violins_leave_out_nan_and_ranking_methods_draw_a_line_per_team():
    fig = tau_violins({"x": np.array([1.0, np.nan, 0.5]), "empty": np.array([np.nan])})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["x"]
    ranks = compare_ranking_methods(TEAMS, VALUES[None], ["dc"])
    fig = ranking_methods(TEAMS, ranks)
    assert len(fig.axes[0].lines) == 3
