"""Per-case segmentation metrics of the INSTANCE 2022 challenge.

:func:`evaluate_case` compares a predicted mask P with the truth G (3D arrays of one
shape, non-zero = foreground, axes as ``spacing_mm``, i.e. (z, y, x) for arrays read by
``ichbench.io.nifti``) and returns a :class:`CaseMetrics`:

- DC  = (2|P∩G| + 1e-5) / (|P| + |G| + 1e-5), ε-smoothed as the challenge's code, on
  binarised masks (the challenge summed raw values, which inflates 0/255 masks).
- NSD = surfel-area-weighted surface Dice at tolerance τ (default 0.42 mm), distance ≤ τ.
- HD  = max of the two directed ``hd_percentile`` percentiles (default 100: the full
  Hausdorff distance), in mm. HD95 = the same at 95 (area-weighted per direction, then
  the larger), as ``surface-distance``'s ``compute_robust_hausdorff``.
- RVD = | |P| − |G| | / |G|.

Empty-mask policy (the one place it is defined; NaN = undefined, inf = nothing to
measure against):

=====================  ==========  ===  =====  =====  =====
case                   DC          NSD  HD     HD95   RVD
=====================  ==========  ===  =====  =====  =====
G non-empty, P empty   0           0    inf    inf    1
G empty, P non-empty   0           0    inf    inf    nan (|G| = 0: undefined)
both empty             1 (ε/ε)     1    0      0      0
=====================  ==========  ===  =====  =====  =====

When exactly one mask is empty DC is exactly 0, the challenge's stated rule for an empty
prediction; the ε formula would give ε/(|G|+|P|+ε) < 1e-5 there, a difference that no
mean can show but that would make "scored as empty" rows unequal to 0.
``surface-distance`` gives NSD NaN and HD inf when both masks are empty; ichbench scores
two empty masks as a perfect match. The challenge's conversion of missing or
unreadable predictions is the caller's (score them as an empty prediction).
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ichbench.metrics.checks import check_pair
from ichbench.metrics.nearest import corner_bounds
from ichbench.metrics.surface import (
    DirectedDistances,
    PairDistances,
    directed_order,
    extract_surface,
    robust_hausdorff_mm,
    surface_dice_at_tolerance,
    unsorted_distances_mm,
)

DICE_EPSILON = 1e-5
"""Smoothing term of the challenge's Dice coefficient."""

DEFAULT_TOLERANCE_MM = 0.42
"""NSD tolerance of INSTANCE 2022."""

DEFAULT_HD_PERCENTILE = 100.0
"""INSTANCE 2022 ranked on the full Hausdorff distance."""


@dataclass(frozen=True)
class CaseMetrics:
    """Metrics of one case, with the raw counts behind them.

    Attributes
    ----------
    dc, nsd : float
        Dice coefficient and normalised surface Dice, in [0, 1].
    hd, hd95 : float
        Hausdorff distance at the chosen percentile and at 95, in mm (inf: one mask empty).
    rvd : float
        Relative volume difference (nan: empty truth with a non-empty prediction).
    gt_voxels, pred_voxels, tp_voxels : int
        Foreground voxels of truth, prediction, and both.
    gt_volume_ml, pred_volume_ml : float
        Foreground volumes in mL.
    """

    dc: float
    nsd: float
    hd: float
    hd95: float
    rvd: float
    gt_voxels: int
    pred_voxels: int
    tp_voxels: int
    gt_volume_ml: float
    pred_volume_ml: float

    def as_dict(self) -> dict[str, float | int]:
        """Return the fields as a plain dict, in declaration order."""
        return dataclasses.asdict(self)


def dice_coefficient(gt_voxels: int, pred_voxels: int, tp_voxels: int) -> float:
    r"""Return the ε-smoothed Dice coefficient from voxel counts.

    Parameters
    ----------
    gt_voxels, pred_voxels, tp_voxels : int
        |G|, |P| and |P∩G|.

    Returns
    -------
    float
        :math:`(2|P \cap G| + \varepsilon) / (|P| + |G| + \varepsilon)`,
        :math:`\varepsilon = 10^{-5}`. Both empty -> 1.0; exactly one empty -> 0.0
        (the challenge's rule for an empty prediction, instead of the formula's ~1e-8).
    """
    if tp_voxels == 0 and (gt_voxels == 0) != (pred_voxels == 0):
        return 0.0
    return (2.0 * tp_voxels + DICE_EPSILON) / (gt_voxels + pred_voxels + DICE_EPSILON)


def relative_volume_difference(gt_voxels: int, pred_voxels: int) -> float:
    """Return the relative volume difference | |P| − |G| | / |G|.

    Parameters
    ----------
    gt_voxels, pred_voxels : int
        |G| and |P|.

    Returns
    -------
    float
        Empty prediction with non-empty truth -> 1.0; both empty -> 0.0 (chosen);
        empty truth with non-empty prediction -> nan (undefined: division by |G| = 0).
    """
    if gt_voxels == 0:
        return 0.0 if pred_voxels == 0 else math.nan
    return abs(pred_voxels - gt_voxels) / gt_voxels


def _check_inputs(gt: np.ndarray, pred: np.ndarray, spacing_mm: object,
                  tolerance_mm: float, hd_percentile: float) -> tuple[float, float, float]:
    spacing = check_pair(gt, pred, spacing_mm, caller="evaluate_case")
    if not (math.isfinite(tolerance_mm) and tolerance_mm >= 0):
        raise ValueError(f"evaluate_case: tolerance_mm must be a finite float >= 0, "
                         f"found {tolerance_mm!r}")
    if not 0.0 <= hd_percentile <= 100.0:
        raise ValueError(f"evaluate_case: hd_percentile must be in [0, 100], "
                         f"found {hd_percentile!r}")
    return spacing


def _binary(array: np.ndarray) -> np.ndarray:
    return array if array.dtype == np.bool_ else array != 0


def evaluate_case(gt: np.ndarray, pred: np.ndarray, *,
                  spacing_mm: tuple[float, float, float],
                  tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                  hd_percentile: float = DEFAULT_HD_PERCENTILE) -> CaseMetrics:
    """Compute DC, NSD, HD, HD95 and RVD of one predicted mask against the truth.

    Parameters
    ----------
    gt, pred : numpy.ndarray
        Truth and prediction, 3D arrays of identical shape, any dtype, non-zero =
        foreground; axes in the order of ``spacing_mm`` ((z, y, x) from ``ichbench.io.nifti``).
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis, from the truth's header. No default: a wrong
        axis order changes HD (e.g. (5.0, 0.45, 0.45) vs (0.45, 0.45, 5.0)).
    tolerance_mm : float, default 0.42
        NSD tolerance τ; a surfel counts when its distance is ``<= tolerance_mm``.
    hd_percentile : float, default 100
        Percentile of the ``hd`` field (``hd95`` is always the 95th).

    Returns
    -------
    CaseMetrics
        See the module docstring for formulas and the empty-mask policy: G non-empty and
        P empty -> DC ≈0, NSD 0, HD inf, HD95 inf, RVD 1; G empty and P non-empty ->
        DC ≈0, NSD 0, HD inf, HD95 inf, RVD nan; both empty -> DC 1, NSD 1, HD 0,
        HD95 0, RVD 0.

    Raises
    ------
    ValueError
        Arrays not 3D or of different shapes, bad spacing, tolerance or percentile.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((1, 1, 4), bool); gt[0, 0, 0] = True
    >>> pred = np.zeros((1, 1, 4), bool); pred[0, 0, 2] = True
    >>> evaluate_case(gt, pred, spacing_mm=(1.0, 1.0, 1.0)).hd
    2.0
    """
    return evaluate_case_with_distances(gt, pred, spacing_mm=spacing_mm,
                                        tolerance_mm=tolerance_mm,
                                        hd_percentile=hd_percentile)[0]


def evaluate_case_with_distances(gt: np.ndarray, pred: np.ndarray, *,
                                 spacing_mm: tuple[float, float, float],
                                 tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                                 hd_percentile: float = DEFAULT_HD_PERCENTILE,
                                 ) -> tuple[CaseMetrics, PairDistances]:
    """:func:`evaluate_case`, also returning the surfaces and per-point distances.

    The distances cost most of a case's time; :func:`ichbench.metrics.evaluate_lesions`
    (``case_distances``) reuses them for a lone truth lesion whose prediction also has
    far false-positive components, instead of measuring nearly the same surfaces again.
    """
    spacing = _check_inputs(gt, pred, spacing_mm, tolerance_mm, hd_percentile)
    gt_mask, pred_mask = _binary(gt), _binary(pred)
    gt_surface = extract_surface(gt_mask, spacing_mm=spacing)
    pred_surface = extract_surface(pred_mask, spacing_mm=spacing)
    gt_voxels, pred_voxels = gt_surface.voxels, pred_surface.voxels
    tp_voxels = _overlap_voxels(gt_mask, pred_mask, gt_surface.corners, pred_surface.corners)
    gt_to_pred_mm = unsorted_distances_mm(gt_surface, pred_surface, spacing_mm=spacing)
    pred_to_gt_mm = unsorted_distances_mm(pred_surface, gt_surface, spacing_mm=spacing)
    gt_order = directed_order(gt_surface, gt_to_pred_mm)
    pred_order = directed_order(pred_surface, pred_to_gt_mm)
    gt_to_pred = DirectedDistances(gt_to_pred_mm[gt_order], gt_surface.areas_mm2[gt_order])
    pred_to_gt = DirectedDistances(pred_to_gt_mm[pred_order],
                                   pred_surface.areas_mm2[pred_order])
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    return CaseMetrics(
        dc=dice_coefficient(gt_voxels, pred_voxels, tp_voxels),
        nsd=surface_dice_at_tolerance(gt_to_pred, pred_to_gt, tolerance_mm=tolerance_mm),
        hd=robust_hausdorff_mm(gt_to_pred, pred_to_gt, percent=hd_percentile),
        hd95=robust_hausdorff_mm(gt_to_pred, pred_to_gt, percent=95.0),
        rvd=relative_volume_difference(gt_voxels, pred_voxels),
        gt_voxels=gt_voxels,
        pred_voxels=pred_voxels,
        tp_voxels=tp_voxels,
        gt_volume_ml=gt_voxels * voxel_ml,
        pred_volume_ml=pred_voxels * voxel_ml,
    ), PairDistances(gt_surface, pred_surface, gt_to_pred_mm, pred_to_gt_mm, gt_order,
                     pred_order)


def _overlap_voxels(gt_mask: np.ndarray, pred_mask: np.ndarray,
                    gt_corners: np.ndarray, pred_corners: np.ndarray) -> int:
    """Count |P∩G| on the intersection of the two masks' corner boxes only."""
    if gt_corners.size == 0 or pred_corners.size == 0:
        return 0
    (gt_low, gt_high), (pred_low, pred_high) = corner_bounds(gt_corners), corner_bounds(
        pred_corners)
    low, high = np.maximum(gt_low, pred_low), np.minimum(gt_high, pred_high)
    if np.any(high <= low):
        return 0
    box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low, high, strict=True))
    return int(np.count_nonzero(gt_mask[box] & pred_mask[box]))
