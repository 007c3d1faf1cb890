"""How metrics and table columns are named on figures and in the PDF (issue 24).

:data:`METRIC_LABELS` is the one place a metric's display name is written ("HD95 (mm)");
the figures' axes, the report's table heads and its per-case tables all take it from here.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Display name of each metric column of ``cases.csv`` that a report shows.
METRIC_LABELS = {"dc": "DC", "nsd": "NSD", "hd": "HD (mm)", "hd95": "HD95 (mm)",
                 "rvd": "RVD", "lesionwise_dc": "lesion-wise DC",
                 "lesionwise_hd95": "lesion-wise HD95 (mm)", "lesion_f1": "lesion F1"}

#: Table heads of the PDF: the metrics, their ranks and the statistics' columns.
HEADS = {**METRIC_LABELS,
         "rank_dc": "rank DC", "rank_nsd": "rank NSD", "rank_hd": "rank HD",
         "rank_rvd": "rank RVD", "median hd": "median HD", "rvd n excl.": "RVD n excl.",
         "median_diff": "median diff", "p_holm": "p (Holm)", "team_a": "team a",
         "team_b": "team b", "rank_lesionwise_dc": "rank lw DC",
         "rank_lesionwise_hd95": "rank lw HD95", "rank_lesion_f1": "rank F1",
         "mean_rank": "mean rank"}


def metric_label(metric: str) -> str:
    """Display name of ``metric``; an unknown column shows with spaces for underscores.

    >>> metric_label("hd95"), metric_label("gt_volume_ml")
    ('HD95 (mm)', 'gt volume ml')
    """
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def heads(columns: Sequence[str]) -> list[str]:
    """Display names of table columns (``mean_rank_<m>`` as "mean rank <label of m>").

    >>> heads(["rank", "hd95", "mean_rank_dc", "p_holm"])
    ['rank', 'HD95 (mm)', 'mean rank DC', 'p (Holm)']
    """
    return [HEADS.get(c) or (f"mean rank {HEADS.get(c[10:], c[10:])}"
                             if c.startswith("mean_rank_") else c.replace("_", " "))
            for c in columns]
