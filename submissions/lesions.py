"""The lesion-wise and clinical-volume columns of cases.csv and their summary.json block.

Per case, :func:`lesion_columns` turns :func:`ichbench.metrics.evaluate_lesions` and the
case's volumes into the columns of :data:`LESION_COLUMNS` (appended after the INSTANCE
columns of cases.csv, which stay as they were). Over a scoring run,
:func:`lesion_summary` pools the counts (lesion F1 and recall per volume bin from the
summed counts, so a case with many lesions weighs more, as in detection studies) and adds
:func:`ichbench.metrics.volume_agreement` (the clinical table).

The rules (26-connectivity, overlap matching, HD95 penalty, minimum lesion size, empty
masks) are documented once, in :mod:`ichbench.metrics.lesions` and
:mod:`ichbench.metrics.clinical`. A ``truth_unreadable`` row has NaN in every column and
is left out of the pooled numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ichbench.metrics import (
    DEFAULT_BIN_EDGES_ML,
    DEFAULT_HD95_PENALTY_MM,
    bin_labels,
    evaluate_lesions,
    expansion_sized,
    volume_agreement,
)
from ichbench.metrics.surface import PairDistances

BIN_LABELS: tuple[str, ...] = tuple(bin_labels(DEFAULT_BIN_EDGES_ML))
"""Truth-lesion volume bins of cases.csv: lt1ml, 1to5ml, 5to30ml, ge30ml."""

#: Columns appended to cases.csv, in order.
LESION_COLUMNS: tuple[str, ...] = (
    "gt_lesions", "pred_lesions", "lesion_tp", "lesion_fp", "lesion_fn", "lesion_f1",
    "fp_volume_ml", "lesionwise_dc", "lesionwise_hd95",
    *(f"gt_lesions_{b}" for b in BIN_LABELS), *(f"lesion_tp_{b}" for b in BIN_LABELS),
    *(f"recall_{b}" for b in BIN_LABELS),
    "abs_volume_error_ml", "expansion_sized_error",
)

#: Lesion columns summarised with mean, median, quartiles ... in summary.json.
LESION_SUMMARY_METRICS: tuple[str, ...] = ("lesion_f1", "lesionwise_dc", "lesionwise_hd95",
                                           "fp_volume_ml", "abs_volume_error_ml")


def lesion_columns(gt: np.ndarray, pred: np.ndarray, *,
                   spacing_mm: tuple[float, float, float], gt_volume_ml: float,
                   pred_volume_ml: float, case_hd95_mm: float | None = None,
                   case_distances: PairDistances | None = None) -> dict[str, float | int]:
    """The :data:`LESION_COLUMNS` of one case.

    Parameters
    ----------
    gt, pred : numpy.ndarray of bool
        Truth and prediction (z, y, x); an unusable prediction is passed as empty.
    spacing_mm : tuple of 3 floats
        The truth's spacing per array axis.
    gt_volume_ml, pred_volume_ml : float
        The case's volumes (from :func:`ichbench.metrics.evaluate_case`).
    case_hd95_mm : float, optional
        The case's HD95, reused for a single lesion matched by every prediction.
    case_distances : PairDistances, optional
        The case's surfaces and distances, reused for a single lesion whose prediction
        also has unmatched components (:func:`ichbench.metrics.evaluate_lesions`).

    Returns
    -------
    dict
        Column name to value; counts are ints, ``expansion_sized_error`` is 0 or 1.
    """
    m = evaluate_lesions(gt, pred, spacing_mm=spacing_mm, bin_edges_ml=DEFAULT_BIN_EDGES_ML,
                         hd95_penalty_mm=DEFAULT_HD95_PENALTY_MM, case_hd95_mm=case_hd95_mm,
                         case_distances=case_distances)
    row: dict[str, float | int] = {
        "gt_lesions": m.gt_lesions, "pred_lesions": m.pred_lesions, "lesion_tp": m.lesion_tp,
        "lesion_fp": m.lesion_fp, "lesion_fn": m.lesion_fn, "lesion_f1": m.lesion_f1,
        "fp_volume_ml": m.fp_volume_ml, "lesionwise_dc": m.lesionwise_dc,
        "lesionwise_hd95": m.lesionwise_hd95}
    for b in m.bins:
        row[f"gt_lesions_{b.label}"] = b.lesions
        row[f"lesion_tp_{b.label}"] = b.detected
        row[f"recall_{b.label}"] = b.recall
    row["abs_volume_error_ml"] = abs(pred_volume_ml - gt_volume_ml)
    row["expansion_sized_error"] = int(expansion_sized(gt_volume_ml, pred_volume_ml))
    return row


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else math.nan


def lesion_summary(rows: Sequence[Mapping[str, float]], gt_volume_ml: Sequence[float],
                   pred_volume_ml: Sequence[float],
                   describe: Callable[[Any], dict[str, float | int]]) -> dict[str, Any]:
    """The ``lesions`` and ``clinical`` blocks of summary.json.

    Parameters
    ----------
    rows : sequence of mapping
        The lesion columns of every case (NaN everywhere for an unusable truth).
    gt_volume_ml, pred_volume_ml : sequence of float
        Volumes per case, same order (NaN: unknown).
    describe : callable
        The summary's statistics of one metric (mean, std, median ... count).

    Returns
    -------
    dict
        ``{"lesions": {...}, "clinical": {...}}``: pooled counts, pooled F1, recall per
        volume bin with its counts, statistics of :data:`LESION_SUMMARY_METRICS`, and
        :class:`ichbench.metrics.ClinicalAgreement` as a dict.
    """
    known = [r for r in rows if not math.isnan(float(r.get("lesion_tp", math.nan)))]

    def total(column: str) -> int:
        return int(sum(int(r[column]) for r in known))

    tp, fp, fn = total("lesion_tp"), total("lesion_fp"), total("lesion_fn")
    recall = {}
    for b in BIN_LABELS:
        n, found = total(f"gt_lesions_{b}"), total(f"lesion_tp_{b}")
        recall[b] = {"lesions": n, "detected": found, "recall": _ratio(found, n)}
    lesions = {
        "cases": len(known), "gt_lesions": total("gt_lesions"),
        "pred_lesions": total("pred_lesions"), "lesion_tp": tp, "lesion_fp": fp,
        "lesion_fn": fn,
        # no lesion anywhere is a perfect answer (as per case), unless nothing was scored
        "lesion_f1_pooled": (_ratio(2 * tp, 2 * tp + fp + fn) if tp + fp + fn
                             else (1.0 if known else math.nan)),
        "fp_lesions_per_case": _ratio(fp, len(known)),
        "bin_edges_ml": list(DEFAULT_BIN_EDGES_ML),
        "hd95_penalty_mm": DEFAULT_HD95_PENALTY_MM,
        "recall_by_volume": recall,
        "metrics": {m: describe(float(r.get(m, math.nan)) for r in rows)
                    for m in LESION_SUMMARY_METRICS},
    }
    clinical = volume_agreement(np.asarray(gt_volume_ml, float),
                                np.asarray(pred_volume_ml, float)).as_dict()
    return {"lesions": lesions, "clinical": clinical}
