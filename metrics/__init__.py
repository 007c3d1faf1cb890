"""Segmentation metrics of ichbench: pure numpy/scipy, no I/O.

The entry point is :func:`evaluate_case` (DC, NSD, HD, HD95, RVD of one case); the
formulas and the empty-mask policy are documented once, in :mod:`ichbench.metrics.case`.
Surface extraction and distances live in :mod:`ichbench.metrics.surface`.
Lesion-wise evaluation (connected components, matching, recall by lesion volume) is
:func:`evaluate_lesions` (:mod:`ichbench.metrics.lesions`); clinical volume agreement over
cases (30 mL category, expansion-sized errors, case detection) is
:func:`volume_agreement` (:mod:`ichbench.metrics.clinical`).
"""

from ichbench.metrics.case import (
    DEFAULT_HD_PERCENTILE,
    DEFAULT_TOLERANCE_MM,
    CaseMetrics,
    dice_coefficient,
    evaluate_case,
    relative_volume_difference,
)
from ichbench.metrics.clinical import ClinicalAgreement, expansion_sized, volume_agreement
from ichbench.metrics.lesions import (
    DEFAULT_BIN_EDGES_ML,
    DEFAULT_HD95_PENALTY_MM,
    LesionMetrics,
    bin_labels,
    evaluate_lesions,
)

__all__ = [
    "DEFAULT_BIN_EDGES_ML",
    "DEFAULT_HD95_PENALTY_MM",
    "DEFAULT_HD_PERCENTILE",
    "DEFAULT_TOLERANCE_MM",
    "CaseMetrics",
    "ClinicalAgreement",
    "LesionMetrics",
    "bin_labels",
    "dice_coefficient",
    "evaluate_case",
    "evaluate_lesions",
    "expansion_sized",
    "relative_volume_difference",
    "volume_agreement",
]
