"""Clinical volume agreement: whether predicted hematoma volumes are good enough to act on.

Clinicians read ICH volumes against thresholds, so a volume error of that size matters
more than a Dice point. Over a set of cases with truth and predicted volumes in mL:

- **absolute volume error** |V_P − V_G| in mL (mean, median, max);
- the **≥ 30 mL category** of the ICH score: a 2×2 table of truth vs prediction
  (``≥ category_ml`` is "large"), the agreement and Cohen's κ;
- **expansion-sized errors**: the share of cases whose error is at least as large as a
  hematoma expansion (≥ 6 mL, or ≥ 33 % of the truth volume). The relative criterion
  applies only where V_G > 0 (a share of nothing is undefined); an empty truth counts
  by the absolute criterion alone, so a tiny false positive is not "expansion-sized";
- **case-level detection**: hemorrhage present when the volume is above
  ``detection_ml`` (default 0: any voxel); sensitivity over truth-positive cases and
  specificity over truth-negative ones, NaN where there are none.

Cohen's κ = (p_o − p_e) / (1 − p_e) with p_o the observed agreement and p_e the agreement
expected from the marginals; when p_e = 1 (every case in one category for both) κ is NaN
(undefined), not 1, and the agreement says the rest.

Pure NumPy, no I/O; NaN volumes (unknown, e.g. an unreadable truth) are left out and
counted in ``n_excluded``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_CATEGORY_ML = 30.0
"""The ICH score's volume threshold."""

DEFAULT_EXPANSION_ML = 6.0
"""Hematoma expansion: an absolute growth of at least 6 mL ..."""

DEFAULT_EXPANSION_FRACTION = 0.33
"""... or a relative growth of at least 33 %."""

DEFAULT_DETECTION_ML = 0.0
"""A case is positive when its volume exceeds this (0: any voxel)."""


def expansion_sized(gt_ml: np.ndarray | float, pred_ml: np.ndarray | float, *,
                    expansion_ml: float = DEFAULT_EXPANSION_ML,
                    expansion_fraction: float = DEFAULT_EXPANSION_FRACTION) -> np.ndarray:
    """Whether each volume error is as large as a hematoma expansion.

    Parameters
    ----------
    gt_ml, pred_ml : array_like
        Truth and predicted volumes in mL.
    expansion_ml, expansion_fraction : float
        The absolute (mL) and relative (share of the truth) thresholds, each inclusive.

    Returns
    -------
    numpy.ndarray of bool
        ``|pred − gt| ≥ expansion_ml`` or (``gt > 0`` and ``|pred − gt| ≥
        expansion_fraction · gt``). NaN volumes give False.

    Examples
    --------
    >>> expansion_sized([10.0, 10.0, 0.0, 40.0], [13.3, 13.2, 0.5, 45.0]).tolist()
    [True, False, False, False]
    """
    gt = np.asarray(gt_ml, dtype=float)
    error = np.abs(np.asarray(pred_ml, dtype=float) - gt)
    with np.errstate(invalid="ignore"):
        # error ≥ fraction · gt rather than error / gt ≥ fraction: no division by an empty
        # truth, where the relative criterion does not apply
        relative = (gt > 0) & (error >= expansion_fraction * gt)
        return (error >= expansion_ml) | relative


@dataclass(frozen=True)
class ClinicalAgreement:
    """Agreement of predicted and true volumes over cases (see the module docstring).

    Attributes
    ----------
    n : int
        Cases used; ``n_excluded`` cases had an unknown (NaN) volume.
    mean_abs_error_ml, median_abs_error_ml, max_abs_error_ml : float
        Of |V_P − V_G|; NaN when n = 0.
    category_table : tuple of tuple of int
        ``((both small, truth small & pred large), (truth large & pred small, both
        large))``, "large" meaning ≥ ``category_ml``.
    category_agreement, category_kappa : float
        Share of cases in the same category, and Cohen's κ.
    expansion_sized : int
        Cases with an expansion-sized error; ``expansion_sized_share`` = that / n.
    detection_tp, detection_fn, detection_tn, detection_fp : int
        Case-level detection counts at ``detection_ml``.
    sensitivity, specificity : float
        NaN where there are no truth-positive / truth-negative cases.
    """

    n: int
    n_excluded: int
    mean_abs_error_ml: float
    median_abs_error_ml: float
    max_abs_error_ml: float
    category_ml: float
    category_table: tuple[tuple[int, int], tuple[int, int]]
    category_agreement: float
    category_kappa: float
    expansion_sized: int
    expansion_sized_share: float
    detection_ml: float
    detection_tp: int
    detection_fn: int
    detection_tn: int
    detection_fp: int
    sensitivity: float
    specificity: float

    def as_dict(self) -> dict[str, object]:
        """The fields as a plain dict (the table as nested lists), for JSON."""
        out: dict[str, object] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["category_table"] = [list(row) for row in self.category_table]
        return out


def cohen_kappa(table: Sequence[Sequence[int]] | np.ndarray) -> float:
    """Cohen's κ of a square agreement table (rows: truth, columns: prediction).

    Returns
    -------
    float
        (p_o − p_e) / (1 − p_e); NaN for an empty table or when p_e = 1.

    Examples
    --------
    >>> round(cohen_kappa([[20, 5], [10, 15]]), 12)
    0.4
    """
    counts = np.asarray(table, dtype=float)
    total = counts.sum()
    if total == 0:
        return math.nan
    observed = np.trace(counts) / total
    expected = float(np.sum(counts.sum(axis=0) * counts.sum(axis=1))) / total**2
    if expected >= 1.0:
        return math.nan
    return float((observed - expected) / (1.0 - expected))


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def volume_agreement(gt_ml: Sequence[float] | np.ndarray, pred_ml: Sequence[float] | np.ndarray,
                     *, category_ml: float = DEFAULT_CATEGORY_ML,
                     expansion_ml: float = DEFAULT_EXPANSION_ML,
                     expansion_fraction: float = DEFAULT_EXPANSION_FRACTION,
                     detection_ml: float = DEFAULT_DETECTION_ML) -> ClinicalAgreement:
    """Clinical agreement of predicted with true hematoma volumes.

    Parameters
    ----------
    gt_ml, pred_ml : array_like of float
        One truth and one predicted volume per case, in mL (NaN: unknown, left out).
    category_ml : float, default 30
        Volumes ``>= category_ml`` are "large" (the ICH score's 30 mL).
    expansion_ml, expansion_fraction : float, default 6 mL and 0.33
        What counts as an expansion-sized error (:func:`expansion_sized`).
    detection_ml : float, default 0
        Hemorrhage is "present" when the volume is ``> detection_ml``.

    Returns
    -------
    ClinicalAgreement

    Raises
    ------
    ValueError
        If the two sequences differ in length or a threshold is negative.
    """
    gt = np.asarray(gt_ml, dtype=float).ravel()
    pred = np.asarray(pred_ml, dtype=float).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"volume_agreement: {gt.size} truth volumes but {pred.size} "
                         "predicted ones; pass one of each per case")
    for name, value in (("category_ml", category_ml), ("expansion_ml", expansion_ml),
                        ("expansion_fraction", expansion_fraction),
                        ("detection_ml", detection_ml)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"volume_agreement: {name} must be a finite value >= 0, "
                             f"found {value!r}")
    known = ~(np.isnan(gt) | np.isnan(pred))
    gt, pred = gt[known], pred[known]
    error = np.abs(pred - gt)
    n = int(gt.size)
    large_gt, large_pred = gt >= category_ml, pred >= category_ml
    table = ((int(np.sum(~large_gt & ~large_pred)), int(np.sum(~large_gt & large_pred))),
             (int(np.sum(large_gt & ~large_pred)), int(np.sum(large_gt & large_pred))))
    n_expansion = int(np.sum(expansion_sized(gt, pred, expansion_ml=expansion_ml,
                                             expansion_fraction=expansion_fraction)))
    pos_gt, pos_pred = gt > detection_ml, pred > detection_ml
    tp, fn = int(np.sum(pos_gt & pos_pred)), int(np.sum(pos_gt & ~pos_pred))
    tn, fp = int(np.sum(~pos_gt & ~pos_pred)), int(np.sum(~pos_gt & pos_pred))
    return ClinicalAgreement(
        n=n, n_excluded=int((~known).sum()),
        mean_abs_error_ml=float(error.mean()) if n else math.nan,
        median_abs_error_ml=float(np.median(error)) if n else math.nan,
        max_abs_error_ml=float(error.max()) if n else math.nan,
        category_ml=float(category_ml), category_table=table,
        category_agreement=_ratio(table[0][0] + table[1][1], n),
        category_kappa=cohen_kappa(table),
        expansion_sized=n_expansion, expansion_sized_share=_ratio(n_expansion, n),
        detection_ml=float(detection_ml), detection_tp=tp, detection_fn=fn,
        detection_tn=tn, detection_fp=fp,
        sensitivity=_ratio(tp, tp + fn), specificity=_ratio(tn, tn + fp))
