"""Subtype-stratified evaluation of a binary prediction against a subtype label map.

A binary method (one label: ICH) scored against a truth that names the subtype of every
voxel (BHSD: 1 EDH, 2 IPH, 3 IVH, 4 SAH, 5 SDH) can still be asked *which* bleeds it
finds. :func:`stratify_by_class` answers per truth class c, with G the truth label map,
G_c = {G = c} and P the binary prediction:

- **detection**: the lesions of class c are the 26-connected components of G_c (the
  connectivity of :mod:`ichbench.metrics.lesions`); a lesion is detected when P overlaps
  it by at least one voxel, as the lesion matching there. ``lesion_recall`` = detected /
  lesions (NaN without a lesion of class c).
- **DC within the subtype** (``dc``): the prediction is restricted to what can be
  attributed to class c, P_c = (the 26-connected components of P that overlap G_c)
  minus the voxels the truth labels with another class (G ≠ 0, G ≠ c); then
  DC_c = 2 |P ∩ G_c| / (|G_c| + |P_c|) (no ε: G_c is non-empty). A predicted blob that
  covers an IPH and spills into the brain costs the IPH's DC; its part lying on a
  neighbouring IVH is counted for the IVH, not against the IPH; a false-positive blob far
  from any bleed belongs to no class and is left out (it is in the merged case's DC).
- **voxel recall** (``voxel_recall``) = |P ∩ G_c| / |G_c|: the share of the subtype's
  voxels covered, whichever component covers them.

Why not the plain DC of P against G_c: every voxel of P outside G_c would count as a
false positive of every class, so a perfect binary segmentation of a case with an IPH and
an SDH would score ~0.5 on both. The restriction keeps the prediction's own outline
error around each subtype's lesions and nothing else.

Only classes present in the truth get a row (a binary prediction names no class). Counts
come back raw so that sums over cases (pooled recall and pooled DC) can be formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ichbench.metrics.checks import check_spacing
from ichbench.metrics.components import label_components, labelled_boxes


@dataclass(frozen=True)
class SubtypeStratum:
    """How a binary prediction does on the truth lesions of one class.

    Attributes
    ----------
    label : int
        The class value in the truth label map.
    gt_lesions, detected : int
        26-connected components of G_c, and those overlapped by P.
    gt_voxels : int
        |G_c|.
    tp_voxels : int
        |P ∩ G_c|.
    pred_voxels : int
        |P_c|: voxels of the predicted components touching G_c, less other classes'.
    gt_volume_ml, missed_volume_ml : float
        Volume of G_c, and of its lesions that were not detected.
    """

    label: int
    gt_lesions: int
    detected: int
    gt_voxels: int
    tp_voxels: int
    pred_voxels: int
    gt_volume_ml: float
    missed_volume_ml: float

    @property
    def lesion_recall(self) -> float:
        """Detected / lesions; NaN without a truth lesion of the class."""
        return self.detected / self.gt_lesions if self.gt_lesions else math.nan

    @property
    def dc(self) -> float:
        """2 |P ∩ G_c| / (|G_c| + |P_c|); NaN when the class is absent."""
        total = self.gt_voxels + self.pred_voxels
        return 2.0 * self.tp_voxels / total if self.gt_voxels else math.nan

    @property
    def voxel_recall(self) -> float:
        """|P ∩ G_c| / |G_c|; NaN when the class is absent."""
        return self.tp_voxels / self.gt_voxels if self.gt_voxels else math.nan


def stratify_by_class(gt_labels: np.ndarray, pred: np.ndarray, *,
                      spacing_mm: tuple[float, float, float]) -> list[SubtypeStratum]:
    """Detection and DC of a binary prediction within each truth class's lesions.

    Parameters
    ----------
    gt_labels : numpy.ndarray of int
        Truth label map (z, y, x): 0 background, every other value a class.
    pred : numpy.ndarray
        Prediction of the same shape, non-zero = foreground (classes, if any, ignored).
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis (volumes only).

    Returns
    -------
    list of SubtypeStratum
        One per class present in ``gt_labels``, by increasing value; empty for an empty
        truth. An empty prediction detects nothing: recall 0, DC 0.

    Raises
    ------
    ValueError
        Arrays not 3D or of different shapes, or bad spacing.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((1, 1, 9), int); gt[0, 0, 0:2] = 2; gt[0, 0, 6:8] = 5
    >>> pred = np.zeros((1, 1, 9), bool); pred[0, 0, 0:4] = True   # IPH found, SDH missed
    >>> [(s.label, s.detected, s.dc) for s in stratify_by_class(gt, pred,
    ...                                                        spacing_mm=(1, 1, 1))]
    [(2, 1, 0.6666666666666666), (5, 0, 0.0)]
    """
    if not (isinstance(gt_labels, np.ndarray) and isinstance(pred, np.ndarray)
            and gt_labels.ndim == 3 and gt_labels.shape == pred.shape):
        raise ValueError("stratify_by_class: gt_labels and pred must be 3D arrays of one "
                         f"shape (z, y, x), found {getattr(gt_labels, 'shape', None)} and "
                         f"{getattr(pred, 'shape', None)}")
    spacing = check_spacing(spacing_mm, caller="stratify_by_class")
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    gt_any = gt_labels != 0
    pred_mask = pred if pred.dtype == np.bool_ else pred != 0
    values = np.unique(gt_labels[gt_any])
    if values.size == 0:
        return []
    p_lab, _, p_boxes = labelled_boxes(pred_mask)
    strata = []
    for value in values.tolist():
        g_c = gt_labels == value
        box = _box(g_c)  # label each class on its own box only
        g_lab, n_g = label_components(g_c[box])
        hit = np.zeros(n_g + 1, bool)
        hit[g_lab[pred_mask[box] & g_c[box]]] = True
        g_size = np.bincount(g_lab.ravel(), minlength=n_g + 1)
        touching = np.unique(p_lab[box][g_c[box] & pred_mask[box]])
        touching = touching[touching > 0]
        pred_voxels = 0
        if touching.size:
            around = tuple(slice(min(p_boxes[j - 1][a].start for j in touching),
                                 max(p_boxes[j - 1][a].stop for j in touching))
                           for a in range(3))
            other = gt_any[around] & ~g_c[around]
            pred_voxels = int(np.count_nonzero(np.isin(p_lab[around], touching) & ~other))
        strata.append(SubtypeStratum(
            label=int(value), gt_lesions=int(n_g), detected=int(hit[1:].sum()),
            gt_voxels=int(g_size[1:].sum()),
            tp_voxels=int(np.count_nonzero(pred_mask[box] & g_c[box])),
            pred_voxels=pred_voxels, gt_volume_ml=float(g_size[1:].sum() * voxel_ml),
            missed_volume_ml=float(g_size[1:][~hit[1:]].sum() * voxel_ml)))
    return strata


def _box(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)
