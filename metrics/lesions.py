"""Lesion-wise evaluation: connected components of truth and prediction, matched.

A *lesion* is a connected component of a binary mask under **26-connectivity** (voxels
sharing a face, an edge or a corner are connected), numbered as ``scipy.ndimage.label``
numbers them (:func:`ichbench.metrics.components.label_components`).
ICH is often multifocal; a missed 2 mL bleed next to a 60 mL hematoma hardly moves a
case's Dice, so these numbers count lesions instead of voxels.

Matching rule (overlap, as BraTS 2023 before its dilation step and panoptica's
many-to-one overlap matching):

- a truth lesion is **detected** (``lesion_tp``) when at least one predicted component
  overlaps it by at least one voxel; otherwise it is missed (``lesion_fn``);
- a predicted component that overlaps no truth lesion is a false positive (``lesion_fp``);
- one predicted component touching two truth lesions detects both (and is no FP);
  two predicted components on one truth lesion detect it once (neither is an FP).

Why overlap and not an IoU threshold: hemorrhages have fuzzy, partial-volume borders on
5 mm slices and a prediction that finds a small bleed but draws it too large (IoU < 0.5)
has still *found* it; the quality of the outline is what the lesion-wise DC and HD95
measure. TP counts truth lesions and FP predicted components, so
``lesion_f1 = 2·TP / (2·TP + FP + FN)``.

Lesion-wise DC and HD95 (BraTS 2023 style): each truth lesion is compared with the union
of the predicted components matched to it: DC = 2|G_i ∩ P_i| / (|G_i| + |P_i|) (no ε:
both are non-empty), HD95 as :func:`ichbench.metrics.evaluate_case` on the crop holding
both. A missed lesion and a false-positive component score DC 0 and HD95
``hd95_penalty_mm`` (default 374 mm, BraTS 2023's penalty: a distance no real error
reaches, so that a missed lesion costs more than any outline error). The case value is
the mean over truth lesions and FP components: Σ scores / (TP + FN + FP).

Minimum lesion size: components smaller than ``min_lesion_ml`` (default 0: every
component counts, a one-voxel lesion included) are ignored entirely, in truth and
prediction, before matching (their voxels neither detect nor count as FP).

Recall by truth-lesion volume: truth lesions are binned by volume with ``bin_edges_ml``
(default 1, 5, 30 mL: bins < 1, 1–5, 5–30, ≥ 30 mL; a lesion of exactly 5 mL falls in
5–30); each bin gives the number of lesions, the number detected and their ratio (NaN
when the bin is empty).

Empty-mask policy (no lesion at all in a mask; NaN = undefined):

====================  ===  ===  ===  ========  ==========  ============  ==========
case                  TP   FP   FN   F1        DC (lw)     HD95 (lw)     recall/bin
====================  ===  ===  ===  ========  ==========  ============  ==========
G non-empty, P empty  0    0    n_G  0         0           penalty       0 or NaN
G empty, P non-empty  0    n_P  0    0         0           penalty       NaN
both empty            0    0    0    1         1           0             NaN
====================  ===  ===  ===  ========  ==========  ============  ==========

Both empty is a perfect answer (as the case-level policy); recall is NaN in a bin without
truth lesions (nothing to find).

Cost: the foreground is split into boxes separated by empty planes
(:func:`ichbench.metrics.surface.occupied_boxes`) and labelled per box, so a far false
positive costs its own volume, not a label pass over the whole head.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ichbench.metrics.checks import check_pair
from ichbench.metrics.components import label_components, labelled_boxes
from ichbench.metrics.lesion_distances import LargeSurface, lesion_hd95_mm
from ichbench.metrics.nearest import (
    corner_bounds,
    lattice_found_below_mm,
    nearest_distances_mm,
)
from ichbench.metrics.surface import (
    DirectedDistances,
    PairDistances,
    Surface,
    extract_surface,
    occupied_boxes,
    robust_hausdorff_mm,
    sorted_directed,
    sorted_subset,
)

CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)
"""26-connectivity: face, edge and corner neighbours are one lesion."""

DEFAULT_BIN_EDGES_ML: tuple[float, ...] = (1.0, 5.0, 30.0)
"""Truth-lesion volume bins: < 1, 1–5, 5–30, ≥ 30 mL."""

DEFAULT_HD95_PENALTY_MM = 374.0
"""HD95 of a missed or false-positive lesion (BraTS 2023's value)."""

DEFAULT_MIN_LESION_ML = 0.0
"""Components below this volume are ignored; 0 keeps every component."""


@dataclass(frozen=True)
class Lesion:
    """One truth lesion and how it was found.

    Attributes
    ----------
    voxels : int
        Size of the component.
    volume_ml : float
        Its volume in mL.
    detected : bool
        Whether a predicted component overlaps it.
    dc, hd95_mm : float
        Lesion-wise DC and HD95 (0 and the penalty when missed).
    box : tuple of 3 (start, stop) pairs
        Its bounding box in array indices (axis order of the masks).
    """

    voxels: int
    volume_ml: float
    detected: bool
    dc: float
    hd95_mm: float
    box: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class VolumeBin:
    """Recall of the truth lesions whose volume falls in ``[low_ml, high_ml)``."""

    label: str
    low_ml: float
    high_ml: float
    lesions: int
    detected: int

    @property
    def recall(self) -> float:
        """Detected / lesions; NaN when the bin holds no truth lesion."""
        return self.detected / self.lesions if self.lesions else math.nan


@dataclass(frozen=True)
class LesionMetrics:
    """Lesion-wise results of one case (see the module docstring for every rule).

    Attributes
    ----------
    gt_lesions, pred_lesions : int
        Truth lesions and predicted components (after the minimum size).
    lesion_tp, lesion_fp, lesion_fn : int
        Detected truth lesions, unmatched predicted components, missed truth lesions.
    lesion_f1 : float
        2·TP / (2·TP + FP + FN); 1 when both masks are empty.
    fp_volume_ml : float
        Total volume of the false-positive components.
    lesionwise_dc, lesionwise_hd95 : float
        Means over truth lesions and FP components (BraTS 2023 style).
    bins : tuple of VolumeBin
        Recall per truth-lesion volume bin.
    lesions : tuple of Lesion
        Every truth lesion, largest first.
    """

    gt_lesions: int
    pred_lesions: int
    lesion_tp: int
    lesion_fp: int
    lesion_fn: int
    lesion_f1: float
    fp_volume_ml: float
    lesionwise_dc: float
    lesionwise_hd95: float
    bins: tuple[VolumeBin, ...]
    lesions: tuple[Lesion, ...]


def bin_labels(bin_edges_ml: Sequence[float] = DEFAULT_BIN_EDGES_ML) -> list[str]:
    """Short names of the volume bins, usable in column names.

    Examples
    --------
    >>> bin_labels((1.0, 5.0, 30.0))
    ['lt1ml', '1to5ml', '5to30ml', 'ge30ml']
    """
    edges = [f"{e:g}".replace(".", "p") for e in bin_edges_ml]
    if not edges:
        return ["all"]
    return ([f"lt{edges[0]}ml"] + [f"{a}to{b}ml" for a, b in itertools.pairwise(edges)]
            + [f"ge{edges[-1]}ml"])


def _check(gt: np.ndarray, pred: np.ndarray, spacing_mm: object,
           bin_edges_ml: Sequence[float], min_lesion_ml: float,
           hd95_penalty_mm: float) -> tuple[float, float, float]:
    spacing = check_pair(gt, pred, spacing_mm, caller="evaluate_lesions")
    edges = [float(e) for e in bin_edges_ml]
    if any(not math.isfinite(e) or e <= 0 for e in edges) or edges != sorted(set(edges)):
        raise ValueError("evaluate_lesions: bin_edges_ml must be increasing positive "
                         f"volumes in mL, found {tuple(bin_edges_ml)!r}")
    if not (math.isfinite(min_lesion_ml) and min_lesion_ml >= 0):
        raise ValueError(f"evaluate_lesions: min_lesion_ml must be >= 0, found {min_lesion_ml!r}")
    if not (math.isfinite(hd95_penalty_mm) and hd95_penalty_mm >= 0):
        raise ValueError("evaluate_lesions: hd95_penalty_mm must be a finite distance >= 0, "
                         f"found {hd95_penalty_mm!r}")
    return spacing


def _binary(array: np.ndarray) -> np.ndarray:
    return array if array.dtype == np.bool_ else array != 0


@dataclass(frozen=True)
class _ComponentSurfaces:
    """Surface points of chosen components of one labelled block, grouped by component.

    Two 26-connected components never share a voxel corner's 2×2×2 neighbourhood (that
    would connect them), so the surface of a union of components is the union of their
    surfaces, point for point and area for area: each component's points are extracted
    once per block, whatever the number of lesions that share it.
    """

    corners: np.ndarray
    areas_mm2: np.ndarray
    starts: np.ndarray

    def surface(self, labels: Sequence[int] | np.ndarray) -> Surface:
        """The surface of the union of the components ``labels`` (a view for one)."""
        parts = [slice(int(self.starts[j]), int(self.starts[j + 1])) for j in labels]
        if len(parts) == 1:
            return Surface(self.corners[parts[0]], self.areas_mm2[parts[0]], 0)
        return Surface(np.concatenate([self.corners[part] for part in parts]),
                       np.concatenate([self.areas_mm2[part] for part in parts]), 0)


def _component_surfaces(labels: np.ndarray, wanted: np.ndarray,
                        spacing: tuple[float, float, float]) -> _ComponentSurfaces:
    """Extract the surface of the ``wanted`` components (a bool per label) of a block."""
    surface = extract_surface(wanted[labels], spacing_mm=spacing)
    owner = np.zeros(surface.n_points, np.int64)
    shape = np.asarray(labels.shape)
    for step in itertools.product((0, 1), repeat=3):
        # corner c touches voxels c - 1 and c along each axis; one component owns them all
        voxel = surface.corners - np.asarray(step)
        inside = np.flatnonzero(np.all((voxel >= 0) & (voxel < shape), axis=1))
        owner[inside] = np.maximum(owner[inside], labels[tuple(voxel[inside].T)])
    order = np.argsort(owner, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=wanted.size))))
    return _ComponentSurfaces(surface.corners[order], surface.areas_mm2[order], starts)


def _overlaps(g_lab: np.ndarray, p_lab: np.ndarray, both: np.ndarray, n_p: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping (truth, predicted) label pairs, shape (2, k), and their voxels.

    Sorted by truth label, then predicted label (the codes' order).
    """
    codes = g_lab[both].astype(np.int64) * (n_p + 1) + p_lab[both]
    if codes.size == 0:
        return np.zeros((2, 0), np.int64), np.zeros(0, np.int64)
    if int(codes.max()) < 4 * codes.size + 1_000_000:  # a count per code, no sort
        counts = np.bincount(codes)
        found = np.flatnonzero(counts)
        overlap = counts[found]
    else:
        found, overlap = np.unique(codes, return_counts=True)
    return np.stack([found // (n_p + 1), found % (n_p + 1)]), overlap


def evaluate_lesions(gt: np.ndarray, pred: np.ndarray, *,
                     spacing_mm: tuple[float, float, float],
                     bin_edges_ml: Sequence[float] = DEFAULT_BIN_EDGES_ML,
                     min_lesion_ml: float = DEFAULT_MIN_LESION_ML,
                     hd95_penalty_mm: float = DEFAULT_HD95_PENALTY_MM,
                     case_hd95_mm: float | None = None,
                     case_distances: PairDistances | None = None) -> LesionMetrics:
    """Match the lesions of a prediction to those of the truth and score them.

    Parameters
    ----------
    gt, pred : numpy.ndarray
        Truth and prediction, 3D arrays of one shape, non-zero = foreground, axes in the
        order of ``spacing_mm`` ((z, y, x) for arrays read by ``ichbench.io.nifti``).
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis, from the truth's header (volumes and HD95).
    bin_edges_ml : sequence of float, default (1, 5, 30)
        Increasing edges of the truth-lesion volume bins in mL.
    min_lesion_ml : float, default 0
        Components smaller than this are ignored in both masks.
    hd95_penalty_mm : float, default 374
        HD95 of a missed truth lesion or a false-positive component.
    case_hd95_mm : float, optional
        The case's HD95 (:func:`ichbench.metrics.evaluate_case`) if already known. When
        the case has exactly one truth lesion, every predicted component is matched to it
        and nothing was ignored, the lesion's HD95 is by definition the case's, and this
        value is used instead of computing the same distances again.
    case_distances : PairDistances, optional
        The case's surfaces and per-point distances
        (:func:`ichbench.metrics.case.evaluate_case_with_distances`, same arrays and
        spacing). When the truth is one lesion and the prediction adds unmatched
        components (far specks), the lesion's pair is the case's pair less those
        components: its distances are taken from the case's wherever they cannot differ
        (:func:`_shared_hd95_mm`), the same values as measuring the pair again.

    Returns
    -------
    LesionMetrics
        Counts, F1, recall per bin, false-positive volume and lesion-wise DC/HD95; the
        empty-mask cases follow the table of the module docstring.

    Raises
    ------
    ValueError
        Arrays not 3D or of different shapes, bad spacing, bins, size or penalty.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((1, 1, 7), bool); gt[0, 0, [0, 3]] = True   # two one-voxel lesions
    >>> pred = np.zeros((1, 1, 7), bool); pred[0, 0, [3, 6]] = True
    >>> m = evaluate_lesions(gt, pred, spacing_mm=(1.0, 1.0, 1.0))
    >>> m.lesion_tp, m.lesion_fp, m.lesion_fn, m.lesion_f1
    (1, 1, 1, 0.5)
    """
    spacing = _check(gt, pred, spacing_mm, bin_edges_ml, min_lesion_ml, hd95_penalty_mm)
    gt_mask, pred_mask = _binary(gt), _binary(pred)
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    min_voxels = min_lesion_ml / voxel_ml
    lesions: list[Lesion] = []
    fp_count = fp_voxels = n_pred = n_components = 0
    deferred: Callable[[], None] | None = None  # a lone lesion's HD95 (see case_hd95_mm)
    # the lone lesion's predicted labels, which one is its partner, and their origin (a
    # partner of its own: with several, the old route orders their points by label)
    lone: tuple[np.ndarray, np.ndarray, list[int]] | None = None
    n_truth = 0
    for box in occupied_boxes(gt_mask | pred_mask):
        g_lab, n_g, g_boxes = labelled_boxes(gt_mask[box])
        p_lab, n_p = label_components(pred_mask[box])
        g_size = np.bincount(g_lab.ravel(), minlength=n_g + 1)
        p_size = np.bincount(p_lab.ravel(), minlength=n_p + 1)
        g_keep = g_size >= min_voxels
        p_keep = p_size >= min_voxels
        g_keep[0] = p_keep[0] = False
        pairs, overlap = _overlaps(g_lab, p_lab, gt_mask[box] & pred_mask[box], n_p)
        valid = g_keep[pairs[0]] & p_keep[pairs[1]]
        pairs, overlap = pairs[:, valid], overlap[valid]
        matched_pred = np.zeros(n_p + 1, bool)
        matched_pred[pairs[1]] = True
        n_pred += int(p_keep.sum())
        n_components += n_g + n_p
        n_truth += n_g
        unmatched = p_keep & ~matched_pred
        fp_count += int(unmatched.sum())
        fp_voxels += int(p_size[unmatched].sum())
        origin = [s.start for s in box]
        first = np.searchsorted(pairs[0], np.arange(n_g + 2))  # pairs of lesion i: first[i]:
        work: list[tuple[int, int, np.ndarray]] = []  # index in lesions, label, partners
        for i, g_box in enumerate(g_boxes, start=1):
            if not g_keep[i]:
                continue
            where = tuple((int(o + s.start), int(o + s.stop))
                          for o, s in zip(origin, g_box, strict=True))
            partners = pairs[1, first[i]:first[i + 1]]
            if partners.size == 0:
                lesions.append(Lesion(int(g_size[i]), float(g_size[i] * voxel_ml), False, 0.0,
                                      hd95_penalty_mm, where))
                continue
            inter = int(overlap[first[i]:first[i + 1]].sum())
            dc = 2.0 * inter / (g_size[i] + int(p_size[partners].sum()))
            work.append((len(lesions), i, partners))
            lesions.append(Lesion(int(g_size[i]), float(g_size[i] * voxel_ml), True, float(dc),
                                  math.nan, where))
        if not work:
            continue
        task = functools.partial(_score_hd95, lesions, work, g_lab, p_lab, matched_pred,
                                 spacing)
        reusable = case_hd95_mm is not None or case_distances is not None
        if reusable and len(lesions) == 1 and deferred is None:
            deferred = task  # perhaps the case pair: wait until every box is seen
            lone = (p_lab, matched_pred, origin) if work[0][2].size == 1 else None
        else:
            task()
    # one truth lesion matched by every predicted component, nothing ignored: the lesion
    # pair is the case pair, so its HD95 is the case's (a missed lesion keeps the penalty:
    # with an empty prediction the case's HD95 is inf)
    if (case_hd95_mm is not None and len(lesions) == 1 and lesions[0].detected
            and not fp_count and n_components == len(lesions) + n_pred):
        lesions[0] = dataclasses.replace(lesions[0], hd95_mm=float(case_hd95_mm))
    elif deferred is not None:
        shared = None
        if (case_distances is not None and lone is not None and n_truth == 1
                and len(lesions) == 1 and lesions[0].detected):
            shared = _shared_hd95_mm(case_distances, *lone, spacing)
        if shared is None:
            deferred()
        else:
            lesions[0] = dataclasses.replace(lesions[0], hd95_mm=shared)
    lesions.sort(key=lambda lesion: -lesion.voxels)
    return _summarise(lesions, fp_count, fp_voxels, n_pred, voxel_ml, bin_edges_ml,
                      hd95_penalty_mm)


def _score_hd95(lesions: list[Lesion], work: list[tuple[int, int, np.ndarray]],
                g_lab: np.ndarray,
                p_lab: np.ndarray, matched_pred: np.ndarray,
                spacing: tuple[float, float, float]) -> None:
    """Fill in the HD95 of the detected lesions of one block (``work``), in place.

    Each lesion is compared with the union of its predicted partners (BraTS 2023), by
    :func:`ichbench.metrics.lesion_distances.lesion_hd95_mm`: the surfaces are extracted
    once per block and component, and the distances cost the lesion's own surface plus
    a few passes over its partners', never a volume per lesion.
    """
    detected = np.zeros(int(g_lab.max()) + 1, bool)
    detected[[label for _, label, _ in work]] = True
    truth = _component_surfaces(g_lab, detected, spacing)
    predicted = _component_surfaces(p_lab, matched_pred, spacing)
    # lesions that share their partners one after another: one prepared surface at a time
    work = sorted(work, key=lambda item: tuple(item[2]))
    key: tuple[int, ...] = ()
    prepared: LargeSurface | None = None
    for index, label, partners in work:
        lesion, matched = truth.surface([label]), predicted.surface(partners)
        if tuple(partners) != key:
            key, prepared = tuple(partners), None
        if (prepared is None and matched.n_points >= LargeSurface.MIN_POINTS
                and 4 * lesion.n_points <= matched.n_points):
            prepared = LargeSurface(matched, spacing_mm=spacing)
        hd95 = lesion_hd95_mm(lesion, matched, spacing_mm=spacing, prepared=prepared)
        lesions[index] = dataclasses.replace(lesions[index], hd95_mm=hd95)


def _shared_hd95_mm(case: PairDistances, p_lab: np.ndarray, matched_pred: np.ndarray,
                    origin: list[int], spacing: tuple[float, float, float]) -> float | None:
    """HD95 of the case's only truth lesion against its partners, from the case's distances.

    The truth is one lesion, so the lesion's surface is the case's truth surface; its
    partners (``matched_pred`` of the labels ``p_lab`` of the box at ``origin``) are the
    case's prediction less the unmatched components ("others"). Distances are then
    reused point by point where :func:`ichbench.metrics.nearest.nearest_distances_mm`
    would give the same value for the lesion's pair, and measured again elsewhere:

    - partners → lesion: same target; a case distance below
      :func:`~ichbench.metrics.nearest.lattice_found_below_mm` came from the offset
      table and does not depend on the other source points;
    - lesion → partners: the case measured against partners ∪ others; a distance below
      that limit whose point has no other-component point within the limit (k-d tree,
      with a margin for rounding) was a partner's, the first hit of the table.

    The points measured again are exactly those the full measurement sends beyond the
    table (plus a few within it), so its k-d tree/EDT stage sees the same points. The
    HD95 is then :func:`~ichbench.metrics.surface.robust_hausdorff_mm` of the sorted
    distances, which depends only on the (distance, area) multisets; with one partner
    the points keep the order the measured route gives them. Returns None (the caller
    measures the pair) when others hold more points than the partner (a speckle
    prediction: a tree over them would cost more than it saves) or when
    :func:`~ichbench.metrics.lesion_distances.lesion_hd95_mm` would take its bounded
    route for surfaces this unequal.
    """
    gt, pred = case.gt, case.pred
    # corner c touches voxels c - 1 and c along each axis, one component's (or none);
    # padded by one voxel, those are c and c + 1: a partner's corner touches a partner
    is_partner = np.pad(matched_pred[p_lab], 1).reshape(-1)
    shape = np.asarray(p_lab.shape) + 2
    local = pred.corners - np.asarray(origin, np.int32)
    inside = np.flatnonzero(np.all((local >= 0) & (local < shape - 1), axis=1))
    flat = ((local[inside, 0].astype(np.int64) * shape[1] + local[inside, 1]) * shape[2]
            + local[inside, 2])
    del local
    touches = np.zeros(inside.size, bool)
    for step in itertools.product((0, 1), repeat=3):
        touches |= is_partner[flat + (step[0] * shape[1] + step[1]) * shape[2] + step[2]]
    partner = np.zeros(pred.n_points, bool)
    partner[inside[touches]] = True
    del is_partner, flat, touches
    n_partner = int(np.count_nonzero(partner))
    if n_partner == 0 or pred.n_points - n_partner > n_partner:
        return None
    small, large = sorted((gt.n_points, n_partner))
    if large >= LargeSurface.MIN_POINTS and 4 * small <= large:
        return None  # lesion_hd95_mm would take its bounded route: let it
    found_below = lattice_found_below_mm(spacing)
    matched = Surface(pred.corners[partner], pred.areas_mm2[partner], 0)

    to_lesion = case.pred_to_gt_mm[partner]
    redo_partner = np.flatnonzero(~(to_lesion < found_below))
    if redo_partner.size:
        to_lesion[redo_partner] = nearest_distances_mm(matched.corners[redo_partner],
                                                       gt.corners, spacing_mm=spacing)

    to_matched = case.gt_to_pred_mm.copy()
    reusable = to_matched < found_below
    others = pred.corners[~partner]
    if others.size:  # only those within reach of the truth's box can be nearer
        reach = np.ceil(found_below / np.asarray(spacing, np.float64)).astype(np.int64) + 1
        low, high = corner_bounds(gt.corners)
        low, high = low - reach, high + reach
        others = others[np.all((others >= low) & (others <= high), axis=1)]
    if others.size:
        from scipy.spatial import cKDTree

        step_mm = np.asarray(spacing, np.float64)
        tree = cKDTree(others * step_mm)
        near, _ = tree.query(gt.corners[reusable] * step_mm, k=1,
                             distance_upper_bound=found_below * (1.0 + 1e-6))
        reusable[np.flatnonzero(reusable)[np.isfinite(near)]] = False
    redo = np.flatnonzero(~reusable)
    if redo.size:
        to_matched[redo] = nearest_distances_mm(gt.corners[redo], matched.corners,
                                                spacing_mm=spacing)
    # a direction whose distances were all kept sorts them by the case's order
    gt_side = (DirectedDistances(to_matched[case.gt_order], gt.areas_mm2[case.gt_order])
               if case.gt_order is not None and not redo.size
               else sorted_directed(gt, to_matched))
    pred_side = (sorted_subset(pred, to_lesion, case.pred_order, partner)
                 if case.pred_order is not None and not redo_partner.size
                 else sorted_directed(matched, to_lesion))
    return robust_hausdorff_mm(gt_side, pred_side, percent=95.0)


def _summarise(lesions: list[Lesion], fp: int, fp_voxels: int, n_pred: int, voxel_ml: float,
               bin_edges_ml: Sequence[float], hd95_penalty_mm: float) -> LesionMetrics:
    tp = sum(lesion.detected for lesion in lesions)
    fn = len(lesions) - tp
    scored = len(lesions) + fp
    if scored == 0:  # both empty: a perfect answer
        f1, dc, hd95 = 1.0, 1.0, 0.0
    else:
        f1 = 2.0 * tp / (2.0 * tp + fp + fn)
        dc = sum(lesion.dc for lesion in lesions) / scored
        hd95 = (sum(lesion.hd95_mm for lesion in lesions) + fp * hd95_penalty_mm) / scored
    edges = [0.0, *(float(e) for e in bin_edges_ml), math.inf]
    bins = []
    for label, (low, high) in zip(bin_labels(bin_edges_ml), itertools.pairwise(edges),
                                   strict=True):
        inside = [lesion for lesion in lesions if low <= lesion.volume_ml < high]
        bins.append(VolumeBin(label, low, high, len(inside),
                              sum(lesion.detected for lesion in inside)))
    return LesionMetrics(
        gt_lesions=len(lesions), pred_lesions=n_pred, lesion_tp=tp, lesion_fp=fp,
        lesion_fn=fn, lesion_f1=f1, fp_volume_ml=fp_voxels * voxel_ml,
        lesionwise_dc=dc, lesionwise_hd95=hd95, bins=tuple(bins), lesions=tuple(lesions))
