"""The words of the PDF reports: metric and ranking definitions, figure captions.

Written once here and laid out by :mod:`ichbench.reports.report` and
:mod:`ichbench.reports.report_sections`; the recorded scoring settings (NSD tolerance, HD
percentile) are filled in, never replaced by the INSTANCE defaults.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ichbench.reports.analysis import Analysis
    from ichbench.reports.report_content import Settings


def metric_definitions(tolerance_mm: float | None, hd_percentile: float | None) -> str:
    """The metric and empty-case definitions, with the settings the inputs recorded.

    ``None`` (not recorded, e.g. published means, or inputs that disagree) is said so
    rather than replaced by the INSTANCE default.
    """
    tau = (f"τ = {tolerance_mm:g} mm" if tolerance_mm is not None
           else "a tolerance τ not recorded in the inputs (INSTANCE 2022: 0.42 mm)")
    pct = (f"{hd_percentile:g}th percentile" if hd_percentile is not None
           else "percentile not recorded (INSTANCE 2022: 100th)")
    return (
        "DC = (2|P∩G| + 1e-5) / (|P| + |G| + 1e-5) on binarised masks.\n"
        f"NSD: surface Dice at {tau} (surfel-area weighted, as DeepMind "
        "surface-distance).\n"
        f"HD: symmetric Hausdorff distance, {pct}, in mm (the challenge ranked on it); "
        "HD95: 95th percentile, extra column.\n"
        "RVD = | |P| − |G| | / |G|.\n"
        "Spacing from the truth header. Empty prediction with non-empty truth: DC 0, NSD 0, "
        "RVD 1, HD inf (an inf HD makes that mean inf). A missing or unreadable prediction "
        "is scored as empty and flagged in the status column. Empty truth: RVD undefined, "
        "left out of RVD means and counted.")


def tolerance_text(settings: Settings) -> str:
    """The NSD tolerance as recorded, for captions ("τ = 0.42 mm" or "τ not recorded")."""
    tol = settings.tolerance_mm
    return f"τ = {tol:g} mm" if tol is not None and math.isfinite(tol) else "τ not recorded"


RANKING_TEXT = {
    "instance": "INSTANCE 2022: rank teams on the mean of DC and NSD (higher better), HD and "
                "RVD (lower better) separately; ties take the minimum rank; final score = "
                "mean of the four ranks (lower better); equal scores share the rank.",
    "rank-then-aggregate": "Rank-then-aggregate: rank teams on every case per metric (ties "
                           "minimum), average each team's ranks per metric, then rank those "
                           "averages and take the mean of the four ranks.",
    "lesionwise": "Lesion-wise: rank teams on the mean lesion-wise DC and lesion F1 (higher "
                  "better) and lesion-wise HD95 (lower better) separately; ties take the "
                  "minimum rank; final score = mean of the three ranks.",
}


LESION_TEXT = (
    "Lesions are 26-connected components of truth and prediction. A truth lesion is "
    "detected when a predicted component overlaps it by at least one voxel; a predicted "
    "component overlapping no truth lesion is a false positive. Lesion F1 = 2TP / (2TP + "
    "FP + FN). Lesion-wise DC and HD95 (BraTS 2023 style) average each truth lesion against "
    "its matched components with missed and false lesions scored DC 0 and HD95 374 mm; "
    "every component counts (no minimum size). Clinical agreement: |V_P − V_G| in mL, the "
    "≥ 30 mL category (Cohen's κ), errors as large as hematoma expansion (≥ 6 mL or ≥ 33 % "
    "of V_G), case detection (volume > 0).")


FIGURE_CAPTIONS = {
    "rank_stability": "Ranking stability: ranks of each team over bootstrap samples of the "
                      "cases (paired); blob area = share of samples.",
    "volumes": "Volumes: predicted vs true and Bland–Altman; ABC/2 (black ×) is the clinical "
               "estimate from the truth masks (largest axial diameter A, perpendicular B, "
               "C = slices × thickness; A·B·C/2).",
    "overlays": "Qualitative: best, median and worst case by DC, slice of largest truth "
                "area, brain window W80/L40.",
    "ranking_methods": "Ranking methods: each team's rank under aggregate-then-rank (mean, "
                       "median), rank-then-aggregate and test-then-rank, per-metric ranks "
                       "combined by their mean.",
    "kendall_tau": "Kendall's τ: agreement of the leaderboard ranking with the ranking of "
                   "each bootstrap sample (τ-b; 1 = identical).",
    "lesionwise_distributions": "Lesion-wise metrics: per-case lesion-wise DC, HD95 and "
                                "lesion F1.",
}


def figure_captions(settings: Settings, analysis: Analysis | None = None) -> dict[str, str]:
    """Captions of the report's figures, with the recorded NSD tolerance."""
    captions = dict(FIGURE_CAPTIONS)
    captions["distributions"] = (f"Per-case metrics: NSD at {tolerance_text(settings)}; box "
                                 "= quartiles, whiskers = 1.5 IQR, dots = cases; ∞ marks HD of "
                                 "empty predictions; undefined RVD (empty truth) left out.")
    if analysis is not None and analysis.challenger is not None and analysis.challenger.tests:
        alpha = analysis.challenger.tests[0].alpha
        captions["significance_map"] = (
            f"Significance maps: dark cell = the row team is better than the column team "
            f"(one-sided Wilcoxon signed-rank on paired cases, Holm-adjusted over all ordered "
            f"pairs, α = {alpha:g}); test-then-rank counts these wins.")
        captions["podium"] = (f"Podium: each case's {analysis.metrics[0]} values placed by "
                              "their per-case rank, one line per case; bars = how often each "
                              "team took each place.")
    return captions
