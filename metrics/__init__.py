"""Segmentation metrics of ichbench: pure numpy/scipy, no I/O.

The entry point is :func:`evaluate_case` (DC, NSD, HD, HD95, RVD of one case); the
formulas and the empty-mask policy are documented once, in :mod:`ichbench.metrics.case`.
Surface extraction and distances live in :mod:`ichbench.metrics.surface`.
"""

from ichbench.metrics.case import (
    DEFAULT_HD_PERCENTILE,
    DEFAULT_TOLERANCE_MM,
    CaseMetrics,
    dice_coefficient,
    evaluate_case,
    relative_volume_difference,
)

__all__ = [
    "DEFAULT_HD_PERCENTILE",
    "DEFAULT_TOLERANCE_MM",
    "CaseMetrics",
    "dice_coefficient",
    "evaluate_case",
    "relative_volume_difference",
]
