"""Surfaces of binary masks and the distances between them (NSD, Hausdorff).

Follows DeepMind's ``surface-distance`` exactly, with a faster route to the same numbers:

- A *surface point* is a voxel corner whose 2×2×2 neighbourhood holds both foreground
  and background; outside the array is background, so masks touching the border are
  closed. Corner ``(i, j, k)`` lies between voxels ``i-1`` and ``i`` along axis 0 (and so
  on), at ``(i·s0, j·s1, k·s2)`` mm. Each point carries the area in mm² of the marching-
  cubes surfels of its neighbourhood code (:mod:`ichbench.metrics._surfel_table`).
- The distance from a point of one surface to the other surface is the Euclidean distance
  in mm to the nearest surface point of the other surface. ``surface-distance`` gets it
  from a Euclidean distance transform over the bounding box of both masks (the whole head
  when a prediction has a far false positive); ichbench extracts each surface per
  object box (:func:`occupied_boxes`) and searches the nearest point among the surface
  points only (:mod:`ichbench.metrics.nearest`), in the arithmetic of
  ``scipy.ndimage.distance_transform_edt``, so values agree to the last bit in practice.

Empty masks (the policy table is in :mod:`ichbench.metrics.case`): an empty mask has no
surface. The distances from a surface to an empty one are ``inf`` (nothing to measure
against); :func:`surface_dice_at_tolerance` and :func:`robust_hausdorff_mm` state their
empty cases.

Array axes are used as given: ``spacing_mm[i]`` is the spacing of array axis ``i``
((z, y, x) for arrays read by ``ichbench.io.nifti``).
"""

from dataclasses import dataclass

import numpy as np

from ichbench.metrics._surfel_table import surfel_area_table_mm2
from ichbench.metrics.nearest import nearest_distances_mm

Spacing = tuple[float, float, float]


@dataclass(frozen=True)
class Surface:
    """Surface points of one mask.

    Attributes
    ----------
    corners : numpy.ndarray
        Shape (n, 3), int32: corner indices of the surface points (axis order of the mask;
        corner ``i`` lies between voxels ``i-1`` and ``i``).
    areas_mm2 : numpy.ndarray
        Shape (n,), float64: surfel area of each point in mm².
    voxels : int
        Foreground voxels of the mask (counted on the way, on its boxes only).
    """

    corners: np.ndarray
    areas_mm2: np.ndarray
    voxels: int

    @property
    def n_points(self) -> int:
        """Number of surface points (0 for an empty mask)."""
        return int(self.areas_mm2.shape[0])

    def __repr__(self) -> str:
        return (f"Surface({self.n_points} points, {float(self.areas_mm2.sum()):.4g} mm², "
                f"{self.voxels} voxels)")


@dataclass(frozen=True)
class DirectedDistances:
    """Distances from the surface points of one mask to the surface of the other.

    Attributes
    ----------
    distances_mm : numpy.ndarray
        Shape (n,), float64, sorted ascending (ties by area); ``inf`` where the other
        surface is empty.
    areas_mm2 : numpy.ndarray
        Shape (n,), float64: the surfel area of each point, in the same order.
    """

    distances_mm: np.ndarray
    areas_mm2: np.ndarray


@dataclass(frozen=True)
class PairDistances:
    """The case's two surfaces and each point's distance to the other surface.

    Attributes
    ----------
    gt, pred : Surface
        Surfaces of the truth and the prediction.
    gt_to_pred_mm, pred_to_gt_mm : numpy.ndarray
        Shape (gt.n_points,) and (pred.n_points,), float64, in the surfaces' point order
        (unsorted): from :func:`unsorted_distances_mm`.
    gt_order, pred_order : numpy.ndarray or None
        The permutations that sort them (:func:`directed_order`), when known: a lesion
        pair that keeps a direction's distances, or a subset of them, sorts them by
        reusing the order (:func:`sorted_subset`) instead of sorting again.
    """

    gt: Surface
    pred: Surface
    gt_to_pred_mm: np.ndarray
    pred_to_gt_mm: np.ndarray
    gt_order: np.ndarray | None = None
    pred_order: np.ndarray | None = None


def _runs(projection: np.ndarray) -> list[tuple[int, int]]:
    """Return the [start, stop) runs of non-zero entries of a 1D array."""
    occupied = np.flatnonzero(projection)
    if occupied.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(occupied) > 1)
    starts = np.concatenate(([occupied[0]], occupied[breaks + 1]))
    stops = np.concatenate((occupied[breaks], [occupied[-1]])) + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def occupied_boxes(mask: np.ndarray, *, max_boxes: int = 64) -> list[tuple[slice, ...]]:
    """Split the foreground into boxes separated by empty planes.

    Parameters
    ----------
    mask : numpy.ndarray
        3D boolean array.
    max_boxes : int
        Stop splitting once this many boxes exist (the boxes stay correct, only coarser).

    Returns
    -------
    list of tuple of 3 slices
        Disjoint boxes, each tight around its foreground, that together hold every
        foreground voxel; empty for an empty mask. Boxes are split only at gaps of at
        least one empty plane, so the surface corners of different boxes never coincide
        and each box's surface can be extracted on its own. A lesion and a far false
        positive thus cost their own volumes, not the box spanning both.
    """
    data = mask.view(np.uint8)
    pending: list[tuple[slice, ...]] = [tuple(slice(0, n) for n in mask.shape)]
    done: list[tuple[slice, ...]] = []
    while pending:
        box = pending.pop()
        block = data[box]
        # planes along axis 0 first (cheap on a C-contiguous array), then the other two
        # axes from the maximum projection of the remaining slab
        if block.flags.c_contiguous:
            runs_0 = _runs(block.reshape(block.shape[0], -1).max(axis=1))
        else:
            runs_0 = _runs(block.max(axis=(1, 2)))
        if not runs_0:
            continue
        start = box[0].start
        if len(runs_0) > 1 and len(done) + len(pending) + len(runs_0) <= max_boxes:
            pending.extend((slice(start + a, start + b), *box[1:]) for a, b in runs_0)
            continue
        box = (slice(start + runs_0[0][0], start + runs_0[-1][1]), *box[1:])
        plane = data[box].max(axis=0)
        runs = [runs_0, _runs(plane.max(axis=1)), _runs(plane.max(axis=0))]
        tight = (box[0], *(slice(box[axis].start + runs[axis][0][0],
                                 box[axis].start + runs[axis][-1][1]) for axis in (1, 2)))
        axis = next((axis for axis in (1, 2) if len(runs[axis]) > 1), None)
        if axis is None or len(done) + len(pending) + len(runs[axis]) > max_boxes:
            done.append(tight)
            continue
        start = box[axis].start
        pending.extend((*tight[:axis], slice(start + a, start + b), *tight[axis + 1:])
                       for a, b in runs[axis])
    return done


def neighbour_codes(mask: np.ndarray) -> np.ndarray:
    r"""Return the 2×2×2 neighbourhood code of every voxel corner.

    Parameters
    ----------
    mask : numpy.ndarray
        3D boolean array of shape (n0, n1, n2); outside the array is background.

    Returns
    -------
    numpy.ndarray
        Shape (n0+1, n1+1, n2+1), uint8. Corner ``(i, j, k)`` gets
        :math:`\sum_{a,b,c \in \{0,1\}} 2^{7-(4a+2b+c)}\, m[i-1+a, j-1+b, k-1+c]`,
        the encoding of ``surface-distance`` (voxel ``(i-1, j-1, k-1)`` is bit 128,
        voxel ``(i, j, k)`` bit 1). Codes 0 and 255 are not on the surface.
    """
    n0, n1, n2 = mask.shape
    padded = np.zeros((n0 + 2, n1 + 2, n2 + 2), np.uint8)
    padded[1:-1, 1:-1, 1:-1] = mask
    codes = np.zeros((n0 + 1, n1 + 1, n2 + 1), np.uint8)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                shifted = padded[a:a + n0 + 1, b:b + n1 + 1, c:c + n2 + 1]
                codes |= shifted << np.uint8(7 - (4 * a + 2 * b + c))
    return codes


def extract_surface(mask: np.ndarray, *, spacing_mm: Spacing) -> Surface:
    """Return the surface points of a mask and their surfel areas.

    Parameters
    ----------
    mask : numpy.ndarray
        3D boolean array, axes as ``spacing_mm``.
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis.

    Returns
    -------
    Surface
        Empty (0 points) when the mask is empty. Work is done per box of
        :func:`occupied_boxes`, so its cost follows the objects, not the image.
    """
    table = surfel_area_table_mm2(tuple(float(s) for s in spacing_mm))
    corners, areas_mm2 = [np.zeros((0, 3), np.int32)], [np.zeros(0)]
    voxels = 0
    for box in occupied_boxes(mask):
        block = mask[box]
        voxels += int(np.count_nonzero(block))
        codes = neighbour_codes(block)
        on_surface = (codes != 0) & (codes != 255)
        areas_mm2.append(table[codes[on_surface]])
        # one (n, 3) int32 array (an axis has fewer than 2**31 corners: at most 1e9
        # voxels are read) filled axis by axis from the flat indices, instead of
        # np.nonzero's three int64 index arrays and their stacked copies: a speckle
        # mask has a surface point per voxel
        flat = np.flatnonzero(on_surface)
        block_corners = np.empty((flat.size, 3), np.int32)
        n1, n2 = codes.shape[1], codes.shape[2]
        block_corners[:, 0] = flat // (n1 * n2)
        block_corners[:, 1] = flat // n2 % n1
        block_corners[:, 2] = flat % n2
        del flat
        block_corners += np.array([s.start for s in box], np.int32)
        corners.append(block_corners)
    if len(corners) == 2:  # one box: no concatenated copy
        return Surface(corners[1], areas_mm2[1], voxels)
    return Surface(np.concatenate(corners), np.concatenate(areas_mm2), voxels)


def directed_distances(source: Surface, target: Surface, *,
                       spacing_mm: Spacing) -> DirectedDistances:
    r"""Return the distance from each point of ``source`` to the nearest of ``target``.

    Parameters
    ----------
    source, target : Surface
        Surfaces of two masks of the same array shape.
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis.

    Returns
    -------
    DirectedDistances
        Sorted by (distance, area) like ``surface-distance``. Empty when ``source`` is
        empty; all ``inf`` when ``target`` is empty (nothing to measure against).

    Notes
    -----
    :math:`d(p) = \min_{q \in T} \sqrt{\sum_i ((p_i - q_i)\, s_i)^2}` over corner
    indices :math:`p, q`, computed exactly by :mod:`ichbench.metrics.nearest` (lattice
    offsets near the surface, a k-d tree beyond), in the arithmetic of
    ``distance_transform_edt``, so lattice distances (e.g. one slice, 5.0 mm) are exact.
    """
    return sorted_directed(source, unsorted_distances_mm(source, target, spacing_mm=spacing_mm))


def unsorted_distances_mm(source: Surface, target: Surface, *,
                          spacing_mm: Spacing) -> np.ndarray:
    """The distances of :func:`directed_distances`, in ``source``'s point order.

    Kept by :func:`ichbench.metrics.case.evaluate_case_with_distances` so that the
    lesion-wise HD95 of a lesion whose pair is nearly the case's pair can reuse them
    point by point instead of measuring the same surfaces again.
    """
    if source.n_points == 0:
        return np.zeros(0)
    if target.n_points == 0:
        return np.full(source.n_points, np.inf)
    return nearest_distances_mm(source.corners, target.corners, spacing_mm=spacing_mm)


def sorted_directed(source: Surface, distances_mm: np.ndarray) -> DirectedDistances:
    """``distances_mm`` (one per point of ``source``) sorted by (distance, area).

    The result depends only on the multiset of (distance, area) pairs, not on the
    points' order, so any subset of a surface measured point by point sorts to what
    :func:`directed_distances` gives for that subset.
    """
    order = directed_order(source, distances_mm)
    return DirectedDistances(distances_mm[order], source.areas_mm2[order])


def directed_order(source: Surface, distances_mm: np.ndarray) -> np.ndarray:
    """The permutation :func:`sorted_directed` applies: by distance, then area, then index.

    ``np.lexsort`` is stable, so points equal in both keep their order.
    """
    return np.lexsort((source.areas_mm2, distances_mm))


def sorted_subset(source: Surface, distances_mm: np.ndarray, order: np.ndarray,
                  keep: np.ndarray) -> DirectedDistances:
    """:func:`sorted_directed` of the points ``keep`` of ``source``, from its full ``order``.

    Parameters
    ----------
    source : Surface
        The surface whose points ``keep`` (bool, one per point) are wanted.
    distances_mm : numpy.ndarray
        One distance per kept point, in ``source``'s point order: the values that
        ``order`` was computed from, restricted to ``keep``.
    order : numpy.ndarray
        :func:`directed_order` of all of ``source``'s points.
    keep : numpy.ndarray
        Bool, shape (source.n_points,).

    Returns
    -------
    DirectedDistances
        Equal to ``sorted_directed`` of the subset: a stable sort of a subset is the full
        stable order with the other points left out.
    """
    position = np.cumsum(keep) - 1  # index of each kept point within the subset
    subset = position[order[keep[order]]]
    return DirectedDistances(distances_mm[subset], source.areas_mm2[keep][subset])


def surface_dice_at_tolerance(gt_to_pred: DirectedDistances, pred_to_gt: DirectedDistances,
                              *, tolerance_mm: float) -> float:
    r"""Return the normalised surface Dice (NSD) at a tolerance.

    Parameters
    ----------
    gt_to_pred, pred_to_gt : DirectedDistances
        From :func:`directed_distances` in both directions.
    tolerance_mm : float
        A surfel overlaps when its distance to the other surface is ``<= tolerance_mm``.

    Returns
    -------
    float
        :math:`\mathrm{NSD} = (\sum_{g: d(g) \le \tau} a_g + \sum_{p: d(p) \le \tau}
        a_p) / (\sum_g a_g + \sum_p a_p)`, in [0, 1]. Empty policy: both surfaces
        empty -> 1.0 (identical, chosen; ``surface-distance`` gives NaN); one empty ->
        0.0.
    """
    total_mm2 = np.sum(gt_to_pred.areas_mm2) + np.sum(pred_to_gt.areas_mm2)
    if gt_to_pred.areas_mm2.size == 0 and pred_to_gt.areas_mm2.size == 0:
        return 1.0
    overlap_mm2 = (np.sum(gt_to_pred.areas_mm2[gt_to_pred.distances_mm <= tolerance_mm])
                   + np.sum(pred_to_gt.areas_mm2[pred_to_gt.distances_mm <= tolerance_mm]))
    return float(overlap_mm2 / total_mm2)


def directed_percentile_mm(directed: DirectedDistances, percent: float) -> float:
    """Return the area-weighted ``percent`` percentile of one direction's distances.

    Parameters
    ----------
    directed : DirectedDistances
        Sorted distances with their surfel areas.
    percent : float
        In [0, 100]; 100 gives the maximum.

    Returns
    -------
    float
        The first distance whose cumulative area share reaches ``percent / 100``
        (as ``surface-distance``'s ``compute_robust_hausdorff``); ``inf`` when there are
        no points (nothing to measure).
    """
    n = directed.distances_mm.size
    if n == 0:
        return float("inf")
    share = np.cumsum(directed.areas_mm2) / np.sum(directed.areas_mm2)
    index = int(np.searchsorted(share, percent / 100.0))
    return float(directed.distances_mm[min(index, n - 1)])


def robust_hausdorff_mm(gt_to_pred: DirectedDistances, pred_to_gt: DirectedDistances,
                        *, percent: float) -> float:
    r"""Return the symmetric (robust) Hausdorff distance in mm.

    Parameters
    ----------
    gt_to_pred, pred_to_gt : DirectedDistances
        From :func:`directed_distances` in both directions.
    percent : float
        100 for the Hausdorff distance, 95 for HD95.

    Returns
    -------
    float
        :math:`\max(P_{\%}(d_{G \to P}), P_{\%}(d_{P \to G}))`, each percentile
        area-weighted over its own direction (not pooled). Empty policy: both empty ->
        0.0 (chosen; ``surface-distance`` gives inf); one empty -> inf.
    """
    if gt_to_pred.distances_mm.size == 0 and pred_to_gt.distances_mm.size == 0:
        return 0.0
    return max(directed_percentile_mm(gt_to_pred, percent),
               directed_percentile_mm(pred_to_gt, percent))
