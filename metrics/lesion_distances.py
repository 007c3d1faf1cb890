r"""HD95 between a small surface and a large one, exact, without every pairwise distance.

A lesion-wise HD95 compares one truth lesion G with the union P of the predicted
components that touch it. P can be far larger than G: one predicted box over hundreds of
small truth lesions is compared with each of them. Measuring the distance from every
point of P to G for every lesion costs lesions × |P|, and the old route (an EDT-sized
crop per lesion, kept until the end) also cost lesions × the box's volume in memory.

The values here are those of :func:`ichbench.metrics.surface.directed_distances` and
:func:`~ichbench.metrics.surface.robust_hausdorff_mm` on the same two surfaces; what is
saved is measuring distances that cannot change the result:

- **Small → large** (:func:`nearest_to_large_mm`): a point of P farther from G's
  bounding box than an upper bound of every G point's nearest distance cannot be
  nearest to any G point, so the search runs on the points of P near G only.
- **Large → small** (:func:`percentile_to_small_mm`): only one area-weighted percentile
  of these distances is needed. Each point of P gets a lower bound (its distance to G's
  bounding box) and an upper bound (its distance to a few points of G); the percentile
  lies between the same percentile of the lower and of the upper bounds, so only the
  points whose bounds straddle that interval need their exact distance; the others are
  known to lie below or above it, and only their area counts.

Exactness: the exact distances come from
:func:`ichbench.metrics.nearest.nearest_distances_mm`, as for every other distance. The
percentile sums the areas of the points below it in another order than a full sort
would, so where a cumulative share lies within :data:`_SHARE_MARGIN` of the percentile
(a tie that summation order could decide), the full computation is done instead.
"""

import numpy as np

from ichbench.metrics.nearest import corner_bounds, lattice_distance_mm, nearest_distances_mm
from ichbench.metrics.surface import (
    DirectedDistances,
    Surface,
    directed_distances,
    directed_percentile_mm,
    robust_hausdorff_mm,
)

Spacing = tuple[float, float, float]

_MIN_LARGE_POINTS = 4096
"""Below this many points the full computation is as cheap; it is used directly."""

_CELL_MM = 8.0
"""Edge of the cells that bucket a large surface's points (mm, rounded to corners)."""

_SHARE_MARGIN = 1e-9
"""Cumulative area shares this close to the percentile fall back to the full sort."""

_BINS = 2048
"""Histogram bins that locate the percentile of the bounds."""

_ROUNDING = 1e-12
"""Relative widening of the float bounds, so that rounding cannot make them cross."""


def _box_gap(low_a: np.ndarray, high_a: np.ndarray, low_b: np.ndarray,
             high_b: np.ndarray) -> np.ndarray:
    """Per-axis corner steps between boxes [low_a, high_a] and [low_b, high_b] (0: overlap)."""
    return np.maximum(low_b - high_a, 0) + np.maximum(low_a - high_b, 0)


def _representatives(corners: np.ndarray) -> np.ndarray:
    """Up to 14 points of a surface: the extreme ones along each axis and diagonal."""
    directions = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, -1],
                           [1, -1, 1], [-1, 1, 1]], np.int64)
    scores = corners @ directions.T
    picks = np.concatenate((scores.argmin(axis=0), scores.argmax(axis=0)))
    return corners[np.unique(picks)]


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The indices of the ranges [starts[k], stops[k]) one after another."""
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum()))


class LargeSurface:
    """A large surface prepared for distances to many small ones.

    Its points are bucketed in cells of about :data:`_CELL_MM`; each cell keeps the
    bounding box and the total area of its points. Bounds between a small surface and a
    cell (its box) settle most cells at once, so a small surface costs a pass over the
    cells plus the points of the few cells that the bounds leave open, not a pass over
    every point.

    Parameters
    ----------
    surface : Surface
        The large surface (non-empty).
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis.
    """

    MIN_POINTS = _MIN_LARGE_POINTS
    """Smaller surfaces are not worth preparing."""

    def __init__(self, surface: Surface, *, spacing_mm: Spacing) -> None:
        self.surface = surface
        self.spacing_mm = spacing_mm
        self.spacing = np.asarray(spacing_mm, np.float64)
        cell = np.maximum(np.rint(_CELL_MM / self.spacing), 1).astype(np.int64)
        keys = surface.corners // cell
        keys -= keys.min(axis=0)
        extent = keys.max(axis=0) + 1
        flat = (keys[:, 0] * extent[1] + keys[:, 1]) * extent[2] + keys[:, 2]
        order = np.argsort(flat, kind="stable")
        self.corners = surface.corners[order]
        self.areas_mm2 = surface.areas_mm2[order]
        flat = flat[order]
        self.starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
        self.stops = np.append(self.starts[1:], flat.size)
        self.cell_low = np.minimum.reduceat(self.corners, self.starts, axis=0)
        self.cell_high = np.maximum.reduceat(self.corners, self.starts, axis=0)
        self.cell_areas_mm2 = np.add.reduceat(self.areas_mm2, self.starts)
        self.total_mm2 = float(np.sum(self.areas_mm2))

    @property
    def n_points(self) -> int:
        """Number of surface points."""
        return self.surface.n_points

    def _cells_to_box_mm(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Lower bound of the distance from each cell's points to the box [low, high]."""
        gap = _box_gap(self.cell_low, self.cell_high, low, high)
        return lattice_distance_mm(gap, self.spacing) * (1.0 - _ROUNDING)

    def _cells_upper_mm(self, anchors: np.ndarray) -> np.ndarray:
        """Upper bound of the distance from each cell's points to the nearest anchor."""
        upper_mm = np.full(self.starts.size, np.inf)
        for anchor in anchors:
            far = np.maximum(np.abs(self.cell_low - anchor), np.abs(self.cell_high - anchor))
            np.minimum(upper_mm, lattice_distance_mm(far, self.spacing), out=upper_mm)
        return upper_mm * (1.0 + _ROUNDING)

    def nearest_from(self, source: Surface) -> DirectedDistances:
        """``directed_distances(source, self.surface)`` for a small ``source``.

        A target point can be nearest to a source point only if it lies within the
        farthest source point's distance to one target point (an anchor near the
        source) of the source's bounding box; the search sees those points only.
        """
        low, high = corner_bounds(source.corners)
        cells_mm = self._cells_to_box_mm(low, high)
        nearest_cell = int(np.argmin(cells_mm))
        anchor = self.corners[self.starts[nearest_cell]]
        reach_mm = float(lattice_distance_mm(source.corners - anchor, self.spacing).max())
        reach_mm = reach_mm * (1.0 + _ROUNDING) + _ROUNDING
        open_cells = np.flatnonzero(cells_mm <= reach_mm)
        index = _ranges(self.starts[open_cells], self.stops[open_cells])
        points = self.corners[index]
        gap = _box_gap(points, points, low, high)
        near = index[lattice_distance_mm(gap, self.spacing) * (1.0 - _ROUNDING) <= reach_mm]
        nearby = Surface(self.corners[near], self.areas_mm2[near], 0)
        return directed_distances(source, nearby, spacing_mm=self.spacing_mm)

    def percentile_to(self, target: Surface, *, percent: float) -> float:
        """Area-weighted ``percent`` percentile of the distances from here to ``target``.

        Equal to ``directed_percentile_mm(directed_distances(self.surface, target),
        percent)``: cells, then points, whose bounds put them surely below or above the
        percentile only contribute their area; the rest get exact distances.
        """
        needed_mm2 = percent / 100.0 * self.total_mm2
        low, high = corner_bounds(target.corners)
        anchors = _representatives(target.corners)
        # cells
        lower_mm = self._cells_to_box_mm(low, high)
        upper_mm = self._cells_upper_mm(anchors)
        below, open_ = _settle(lower_mm, upper_mm, self.cell_areas_mm2, needed_mm2)
        below_mm2 = float(np.sum(self.cell_areas_mm2[below]))
        index = _ranges(self.starts[open_], self.stops[open_])
        # points of the open cells
        points, areas_mm2 = self.corners[index], self.areas_mm2[index]
        lower_mm = lattice_distance_mm(_box_gap(points, points, low, high), self.spacing)
        lower_mm *= 1.0 - _ROUNDING
        upper_mm = np.full(points.shape[0], np.inf)
        for anchor in anchors:
            np.minimum(upper_mm, lattice_distance_mm(points - anchor, self.spacing),
                       out=upper_mm)
        upper_mm *= 1.0 + _ROUNDING
        below, open_ = _settle(lower_mm, upper_mm, areas_mm2, needed_mm2 - below_mm2)
        below_mm2 += float(np.sum(areas_mm2[below]))
        if 2 * int(np.count_nonzero(open_)) > self.n_points:
            return self._full_percentile(target, percent)  # the bounds settled too little
        # exact distances where the bounds leave it open
        distances_mm = nearest_distances_mm(points[open_], target.corners,
                                            spacing_mm=self.spacing_mm)
        candidate_areas = areas_mm2[open_]
        order = np.lexsort((candidate_areas, distances_mm))
        share = (below_mm2 + np.cumsum(candidate_areas[order])) / self.total_mm2
        wanted = percent / 100.0
        at = int(np.searchsorted(share, wanted))
        before = share[at - 1] if at > 0 else below_mm2 / self.total_mm2
        if (at >= share.size or share[at] - wanted <= _SHARE_MARGIN
                or wanted - before <= _SHARE_MARGIN):
            # on a near-tie (or past the last candidate) the order of summation could
            # decide: let the full sort decide, as the full computation would
            return self._full_percentile(target, percent)
        return float(distances_mm[order[at]])

    def _full_percentile(self, target: Surface, percent: float) -> float:
        return directed_percentile_mm(
            directed_distances(self.surface, target, spacing_mm=self.spacing_mm), percent)


def _bound_percentile_mm(values_mm: np.ndarray, areas_mm2: np.ndarray, top_mm: float,
                         needed_mm2: float, *, upper: bool) -> float:
    """A lower (or upper) bound of the area-weighted percentile of ``values_mm``.

    The smallest value ``v`` with ``areas_mm2[values_mm <= v].sum() >= needed_mm2`` is
    located by binning: the bin where the cumulative area first reaches ``needed_mm2``
    holds it, and its lower (upper) edge bounds it. One more bin on that side absorbs
    the rounding of the binning and of the summed areas.
    """
    width_mm = max(top_mm, 1e-9) / _BINS
    index = np.minimum((values_mm / width_mm).astype(np.int64), _BINS - 1)
    mass = np.cumsum(np.bincount(index, weights=areas_mm2, minlength=_BINS))
    found = min(int(np.searchsorted(mass, needed_mm2)), _BINS - 1)
    return (found + 2) * width_mm if upper else (found - 1) * width_mm


def _settle(lower_mm: np.ndarray, upper_mm: np.ndarray, areas_mm2: np.ndarray,
            needed_mm2: float) -> tuple[np.ndarray, np.ndarray]:
    """Which items lie surely below the percentile, and which are still open.

    The percentile ``v`` (the smallest distance at which ``needed_mm2`` of area is
    reached) lies between the same percentile of the lower bounds and of the upper
    bounds; an item whose upper bound is below the first is below ``v``, one whose lower
    bound is above the second is above it. The rest is open.
    """
    if lower_mm.size == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    top_mm = float(np.max(upper_mm[np.isfinite(upper_mm)], initial=0.0))
    floor_mm = _bound_percentile_mm(lower_mm, areas_mm2, top_mm, needed_mm2, upper=False)
    ceiling_mm = _bound_percentile_mm(upper_mm, areas_mm2, top_mm, needed_mm2, upper=True)
    below = upper_mm < floor_mm
    return below, ~below & (lower_mm <= ceiling_mm)


def lesion_hd95_mm(lesion: Surface, matched: Surface, *, spacing_mm: Spacing,
                   prepared: LargeSurface | None = None) -> float:
    """HD95 between a truth lesion's surface and its matched prediction's, both non-empty.

    Equal to ``robust_hausdorff_mm(directed_distances(lesion, matched),
    directed_distances(matched, lesion), percent=95)``. When one surface is much larger
    than the other, the larger is prepared as a :class:`LargeSurface` and the cost
    follows the smaller surface plus the cells of the larger; ``prepared`` (the
    :class:`LargeSurface` of ``matched``) reuses that preparation over several lesions.
    """
    small, large = sorted((lesion, matched), key=lambda surface: surface.n_points)
    if large.n_points < _MIN_LARGE_POINTS or 4 * small.n_points > large.n_points:
        return robust_hausdorff_mm(
            directed_distances(lesion, matched, spacing_mm=spacing_mm),
            directed_distances(matched, lesion, spacing_mm=spacing_mm), percent=95.0)
    if prepared is None or large is not matched:
        prepared = LargeSurface(large, spacing_mm=spacing_mm)
    return max(directed_percentile_mm(prepared.nearest_from(small), 95.0),
               prepared.percentile_to(small, percent=95.0))
