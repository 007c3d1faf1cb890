r"""Exact nearest-point distances between two sets of voxel corners.

For every source corner :math:`p` we need
:math:`d(p) = \min_{q \in T} \sqrt{\sum_i ((p_i - q_i)\, s_i)^2}` in mm, with the same
floating-point arithmetic as ``scipy.ndimage.distance_transform_edt`` (which
``surface-distance`` uses), so that NSD's ``d <= τ`` and the Hausdorff distances agree
to the last bit in practice.

Most surface points of a prediction lie within a few voxels of the truth's surface, so
the search runs in two stages:

1. *Lattice offsets.* The offsets :math:`o` with :math:`\lVert o \cdot s \rVert \le r`
   (up to 1000, sorted by length) are tried in increasing length against a boolean
   grid of the target points: the first offset that lands on a target point gives the
   exact distance. Shared points (offset 0) cost one look-up.
2. *k-d tree.* The points farther than :math:`r` (a far false positive, the truth
   around an under-segmented hematoma) query a k-d tree of the target points, first
   bounded at a few reaches; the distance is recomputed from the integer offset to the
   point found. Points with no target point in the neighbouring cells of a coarse grid
   (cell = the reach) skip stage 1. Only when many points find nothing within the bound
   and lie inside the target's bounding box (a lesion inside a huge prediction, where an
   unbounded k-d tree query degrades) do those get an EDT over that box, which costs at
   most what ``surface-distance`` pays for every case. A few far points (false-positive
   specks) instead visit cells of the target points in the order of a lower bound of
   their distance: the minimum of the same lattice lengths, without building a tree.

Both stages give the minimum over all target points, as an EDT over the bounding box of
both masks would, at a cost that mostly follows the number of surface points, not the
box.
"""

import itertools
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scipy is imported where it is needed: it costs ~0.2 s at start-up
    from scipy.spatial import cKDTree

_MAX_OFFSETS = 1000
"""Lattice offsets tried before falling back to the k-d tree."""

_MAX_LOOKUPS = 1 << 22
"""Grid look-ups per vectorised step (32 MiB of int64 indices), whatever the surface size."""

_MAX_TREE_WORK = 20_000_000
"""Above this (far points inside the target's box × target points), those use an EDT."""

_MAX_FAR_CHUNK = 1 << 18
"""Points per k-d tree query (about 25 MiB of temporary arrays)."""

_TREE_BOUND_REACHES = 3.0
"""The k-d tree's first, bounded query looks this many lattice reaches far."""

_MAX_CELL_POINTS = 256
"""Up to this many far points, a search over cells of the target replaces the k-d tree."""

_CELL_ROWS = 8
"""A cell of that search: the target points of one slice (z) in this many rows (y)."""

_CHUNKS = (1, 4, 8, 16, 32, 64, 128, 256)
"""Offsets tried per vectorised step, doubling (the rest go in one last step)."""


def lattice_distance_mm(offsets: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    r"""Return the length in mm of integer corner offsets, in the EDT's arithmetic.

    Parameters
    ----------
    offsets : numpy.ndarray
        Shape (n, 3), integer offsets along array axes 0, 1, 2.
    spacing_mm : numpy.ndarray
        Shape (3,), voxel spacing in mm per axis.

    Returns
    -------
    numpy.ndarray
        Shape (n,), :math:`\sqrt{(o_0 s_0)^2 + (o_1 s_1)^2 + (o_2 s_2)^2}` summed in
        axis order, as ``scipy.ndimage.distance_transform_edt`` computes it.
    """
    scaled = offsets.astype(np.float64) * spacing_mm
    squared = scaled * scaled
    return np.sqrt(squared[:, 0] + squared[:, 1] + squared[:, 2])


def corner_bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest index per axis of (n, 3) points, n ≥ 1.

    Column by column: ``points.min(axis=0)`` on an (n, 3) array runs a reduction of
    length 3 per row and is about twenty times slower.
    """
    low = np.array([points[:, axis].min() for axis in range(3)])
    high = np.array([points[:, axis].max() for axis in range(3)])
    return low, high


def dilate_box(grid: np.ndarray) -> np.ndarray:
    """Binary dilation of a 3D boolean grid by a 3×3×3 box (outside is background).

    What ``scipy.ndimage.binary_dilation(grid, structure=np.ones((3, 3, 3)))`` gives: a
    box is separable, so one shifted OR per direction of each axis.
    """
    out = grid.copy()
    for axis in range(3):
        before = out.copy()
        lead = [slice(None)] * 3
        lag = [slice(None)] * 3
        lead[axis], lag[axis] = slice(1, None), slice(None, -1)
        out[tuple(lead)] |= before[tuple(lag)]
        out[tuple(lag)] |= before[tuple(lead)]
    return out


def _reach_mm(spacing_mm: tuple[float, float, float]) -> tuple[np.ndarray, float]:
    """Spacing as an array, and how far the lattice stage looks (mm).

    A few voxels of the finest axis and at least one step of the coarsest (slices).
    """
    spacing = np.asarray(spacing_mm, np.float64)
    return spacing, max(6.0 * float(spacing.min()), 1.5 * float(spacing.max()))


@lru_cache(maxsize=32)
def _sorted_offsets(spacing_mm: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Return every offset shorter than a cut-off, sorted by length, and the lengths.

    The cut-off is chosen so that about ``_MAX_OFFSETS`` offsets remain and every offset
    shorter than the longest kept one is kept (ties included): a point none of them
    reaches is farther than every kept length.
    """
    spacing, reach_mm = _reach_mm(spacing_mm)
    radius = np.ceil(reach_mm / spacing).astype(int)
    axes = [np.arange(-r, r + 1) for r in radius]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    lengths = lattice_distance_mm(offsets, spacing)
    inside = lengths <= reach_mm  # the whole ball of this radius is in the box
    offsets, lengths = offsets[inside], lengths[inside]
    order = np.lexsort((*offsets.T[::-1], lengths))
    offsets, lengths = offsets[order], lengths[order]
    if lengths.size > _MAX_OFFSETS:
        keep = lengths < lengths[_MAX_OFFSETS]
        offsets, lengths = offsets[keep], lengths[keep]
    offsets.flags.writeable = False
    lengths.flags.writeable = False
    return offsets, lengths


def lattice_found_below_mm(spacing_mm: tuple[float, float, float]) -> float:
    """A distance below which :func:`nearest_distances_mm` answered from its offset table.

    A result ``d`` below this value is the length of the first offset, in the table's
    fixed order, that reaches a target point: it does not depend on the other source
    points, nor on target points farther than ``d`` (removing them leaves the same first
    hit). Results at or above it may come from the k-d tree or the EDT stage, whose
    choice depends on the whole batch. Every offset of length up to the last kept one is
    in the table (ties included), so a point the table missed is at least that far.
    """
    return float(_sorted_offsets(tuple(float(s) for s in spacing_mm))[1][-1])


def _flat_index(points: np.ndarray, low: np.ndarray, shape: tuple[int, ...],
                cell: np.ndarray | None = None) -> np.ndarray:
    """Row-major flat index of ``(points - low) // cell`` in an array of ``shape``.

    Computed column by column, so that a million points cost 8 MB of temporaries, not
    the 24 MB of ``points - low`` (a speckle mask has a surface point per voxel).
    """
    flat = np.zeros(points.shape[0], np.int64)
    for axis in range(3):
        column = points[:, axis] - low[axis]
        if cell is not None:
            column //= cell[axis]
        flat *= shape[axis]
        flat += column
    return flat


def nearest_distances_mm(source: np.ndarray, target: np.ndarray, *,
                         spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Return, for each source corner, the distance in mm to the nearest target corner.

    Parameters
    ----------
    source, target : numpy.ndarray
        Shapes (n, 3) and (m, 3), integer corner indices (unique rows); ``m >= 1``.
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm per array axis.

    Returns
    -------
    numpy.ndarray
        Shape (n,), float64, exact (see the module docstring).
    """
    spacing = np.asarray(spacing_mm, np.float64)
    offsets, lengths = _sorted_offsets(tuple(float(s) for s in spacing_mm))
    reach = np.abs(offsets).max(axis=0)
    (source_low, source_high), (target_low, target_high) = (corner_bounds(source),
                                                            corner_bounds(target))
    low = np.minimum(source_low, target_low) - reach
    extent = np.maximum(source_high, target_high) + reach + 1 - low
    grid = np.zeros(tuple(int(n) for n in extent), bool)  # zero pages cost nothing
    flat_grid = grid.reshape(-1)
    flat_grid[_flat_index(target, low, grid.shape)] = True
    source_flat = _flat_index(source, low, grid.shape)
    strides = np.array([extent[1] * extent[2], extent[2], 1], np.int64)
    offsets_flat = offsets @ strides

    # cells of the size of the reach: a point none of whose 27 neighbouring cells holds a
    # target point is out of reach of every offset and goes straight to the tree
    cell = np.maximum(reach, 1)
    occupied = np.zeros(tuple(int(n) for n in extent // cell + 1), bool)
    occupied.reshape(-1)[_flat_index(target, low, occupied.shape, cell)] = True
    near = dilate_box(occupied)
    in_reach = near.reshape(-1)[_flat_index(source, low, near.shape, cell)]

    distances_mm = np.full(source.shape[0], np.inf)
    pending = np.flatnonzero(in_reach)
    bounds = np.cumsum((0, *_CHUNKS, max(0, lengths.size - sum(_CHUNKS))))
    for start, stop in itertools.pairwise(bounds):
        if pending.size == 0 or start >= lengths.size:
            break
        unresolved = []
        rows = max(1, _MAX_LOOKUPS // (stop - start))  # bounds the temporary arrays
        for block in np.array_split(pending, -(-pending.size // rows)):
            hits = flat_grid[source_flat[block, None] + offsets_flat[None, start:stop]]
            first = hits.argmax(axis=1)  # the shortest offset that reaches the target
            found = hits[np.arange(block.size), first]
            distances_mm[block[found]] = lengths[start + first[found]]
            unresolved.append(block[~found])
        pending = np.concatenate(unresolved)
    del source_flat, flat_grid, grid  # the far stage needs none of them
    pending = np.concatenate((pending, np.flatnonzero(~in_reach)))
    del in_reach
    if pending.size:
        _far_distances_mm(source, pending, target, spacing, distances_mm)
    return distances_mm


def _chunks(indices: np.ndarray) -> list[np.ndarray]:
    """``indices`` in pieces of at most :data:`_MAX_FAR_CHUNK`."""
    return np.array_split(indices, -(-indices.size // _MAX_FAR_CHUNK)) if indices.size else []


def _query_mm(tree: "cKDTree", source: np.ndarray, which: np.ndarray, target: np.ndarray,
              spacing: np.ndarray, out: np.ndarray, **bound: float) -> None:
    """Exact distances of ``source[which]`` to their k-d tree nearest target, into ``out``.

    Queried in pieces, so that the float copies of the points cost a bounded amount of
    memory whatever their number; a point's answer does not depend on the pieces.
    Points with nothing within ``distance_upper_bound`` keep ``inf``.
    """
    for piece in _chunks(which):
        found_mm, nearest = tree.query(source[piece] * spacing, k=1, **bound)
        hit = np.isfinite(found_mm)
        out[piece[hit]] = lattice_distance_mm(source[piece[hit]] - target[nearest[hit]],
                                              spacing)


def _far_distances_mm(source: np.ndarray, which: np.ndarray, target: np.ndarray,
                      spacing: np.ndarray, out: np.ndarray) -> None:
    """Exact distances of ``source[which]`` (beyond the offsets' reach) into ``out``.

    ``out[which]`` must be ``inf`` on entry. Every point first gets a k-d tree query
    bounded at :data:`_TREE_BOUND_REACHES` reaches of the lattice stage. A bounded query
    stays cheap even where an unbounded one degrades (a point that the target surrounds
    at similar distances, e.g. a lesion inside a huge prediction): it prunes everything
    beyond the bound. This answers the common far points in milliseconds: an
    under-segmented large hematoma (truth points a few millimetres outside the
    prediction) and false-positive specks. The rare points with nothing inside the bound
    get an unbounded query when they are few, else a Euclidean distance transform over
    the target's bounding box (what ``surface-distance`` does over the box of both masks
    for every case). Points are handled in pieces of :data:`_MAX_FAR_CHUNK` (a speckle
    prediction has millions).
    """
    distances_mm = out
    if which.size <= _MAX_CELL_POINTS:
        _cell_distances_mm(source, which, target, spacing, distances_mm)
        return
    from scipy.spatial import cKDTree

    tree = cKDTree(target * spacing, leafsize=32, balanced_tree=False, compact_nodes=False)
    _, reach_mm = _reach_mm(tuple(float(s) for s in spacing))
    _query_mm(tree, source, which, target, spacing, distances_mm,
              distance_upper_bound=_TREE_BOUND_REACHES * reach_mm)
    rest = which[np.isinf(distances_mm[which])]
    if rest.size == 0:
        return
    if rest.size * target.shape[0] <= _MAX_TREE_WORK:
        _query_mm(tree, source, rest, target, spacing, distances_mm)
        return
    low, high = corner_bounds(target)
    high = high + 1
    inside = np.concatenate([np.all((source[piece] >= low) & (source[piece] < high), axis=1)
                             for piece in _chunks(rest)])
    if inside.any():
        from scipy import ndimage

        background = np.ones(tuple(int(n) for n in high - low), bool)
        background[tuple((target - low).T)] = False
        distance_map_mm = ndimage.distance_transform_edt(background, sampling=spacing)
        distances_mm[rest[inside]] = distance_map_mm[tuple((source[rest[inside]] - low).T)]
        del distance_map_mm, background
    # outside the box a k-d tree does not degrade
    _query_mm(tree, source, rest[~inside], target, spacing, distances_mm)


def _squared_mm(point: np.ndarray, targets: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Squared lengths of ``point - targets`` in :func:`lattice_distance_mm`'s arithmetic.

    Each axis's scaled offset squared, summed in axis order from 0.0: integer offsets are
    exact in float64, so the square root of the minimum is the EDT's distance.
    """
    squared = np.zeros(targets.shape[0])
    for axis in range(3):
        scaled = (point[axis] - targets[:, axis]).astype(np.float64)
        scaled *= spacing[axis]
        scaled *= scaled
        squared += scaled
    return squared


def _cell_distances_mm(source: np.ndarray, which: np.ndarray, target: np.ndarray,
                       spacing: np.ndarray, out: np.ndarray) -> None:
    """Exact distances of a few far points ``source[which]`` to the target, into ``out``.

    The target points are grouped in cells of one slice and :data:`_CELL_ROWS` rows
    (contiguous runs when the points come in array order, as surfaces do; sorted
    otherwise); for each point the cells are visited in the order of a lower bound of
    their squared distance (the point's integer offset to the cell's box, in the same
    arithmetic) until that bound exceeds the best squared distance found. Rounding is
    monotone and every term is non-negative, so the bound never exceeds a distance
    computed in the cell and the minimum equals the one over every target point, bit for
    bit. Two false-positive specks cost about a millisecond and no k-d tree (whose
    ``scipy.spatial`` import alone costs ~0.15 s).
    """
    band = (target[:, 1] - target[:, 1].min()) // _CELL_ROWS
    keys = (target[:, 0] - target[:, 0].min()) * (int(band.max()) + 1) + band
    members = target
    if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
        order = np.argsort(keys, kind="stable")
        keys, members = keys[order], target[order]
    new_cell = np.ones(keys.size, bool)
    new_cell[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(new_cell)
    stops = np.append(starts[1:], keys.size)
    low = np.minimum.reduceat(members, starts, axis=0)
    high = np.maximum.reduceat(members, starts, axis=0)
    for index in which:
        point = source[index]
        bound = _squared_mm(point, np.clip(point, low, high), spacing)
        best = np.inf
        for c in np.argsort(bound, kind="stable"):
            if bound[c] > best:
                break
            best = min(best, float(_squared_mm(point, members[starts[c]:stops[c]],
                                               spacing).min()))
        out[index] = np.sqrt(best)
