"""Connected components under 26-connectivity, labelled as ``scipy.ndimage.label`` does.

:func:`label_components` and :func:`labelled_boxes` return the labels (and the boxes)
that ``scipy.ndimage.label`` with a 3×3×3 structure (and ``find_objects``) return, value
for value: components numbered in raster (C) order of their first voxel. They work on
the runs of foreground voxels along the last axis instead of on voxels (a hemorrhage of
80 000 voxels is a few thousand runs): two runs in neighbouring rows, ``(z, y)`` and
``(z + dz, y + dy)`` with ``|dz|, |dy| ≤ 1``, are connected when their x ranges, widened
by one voxel, overlap; the runs' graph is merged by vectorised union-find (each root
hooked under the smallest root it touches, then every path shortened to its root).

Why not ``scipy.ndimage`` itself: importing it costs about a quarter of a second (it
imports ``scipy.special``), as much as scoring a case, and ``ichbench score`` would pay
it on every run. A mask whose runs do not compress (a speckle prediction, more than one
run per :data:`_RUNS_PER_VOXEL`⁻¹ voxels) is handed to ``scipy.ndimage.label``, imported
then, which is faster there and needs less memory; the result is the same either way.
"""

import numpy as np

_RUNS_PER_VOXEL = 1 / 16
"""Above this many runs per voxel of the mask, scipy.ndimage labels it (speckle)."""

#: (dz, dy) of the neighbouring rows that follow a row in raster order.
_FORWARD_ROWS = ((0, 1), (1, -1), (1, 0), (1, 1))


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 26-connected components of a 3D boolean mask.

    :func:`labelled_boxes` without the boxes (a speckle mask has a million components).

    Examples
    --------
    >>> m = np.zeros((1, 3, 4), bool); m[0, 0, 0] = m[0, 1, 1] = m[0, 0, 3] = True
    >>> labels, n = label_components(m)
    >>> n, labels[0].tolist()
    (2, [[1, 0, 0, 2], [0, 1, 0, 0], [0, 0, 0, 0]])
    """
    labels, n, _ = _label(mask, boxes=False)
    return labels, n


def labelled_boxes(mask: np.ndarray) -> tuple[np.ndarray, int, list[tuple[slice, ...]]]:
    """Label the 26-connected components of a 3D boolean mask and find their boxes.

    Parameters
    ----------
    mask : numpy.ndarray
        3D boolean array (any memory layout); outside it is background.

    Returns
    -------
    labels : numpy.ndarray
        int32, the shape of ``mask``: 0 for background, 1..n for the components, numbered
        in raster (C) order of their first voxel, as ``scipy.ndimage.label``.
    n : int
        Number of components.
    boxes : list of tuple of 3 slices
        Bounding box of component ``k`` at index ``k - 1``, as
        ``scipy.ndimage.find_objects(labels)``.

    Examples
    --------
    >>> m = np.zeros((1, 3, 4), bool); m[0, 0, 0] = m[0, 1, 1] = m[0, 0, 3] = True
    >>> labels, n, boxes = labelled_boxes(m)
    >>> n, boxes[1]
    (2, (slice(0, 1, None), slice(0, 1, None), slice(3, 4, None)))
    """
    labels, n, boxes = _label(mask, boxes=True)
    assert boxes is not None
    return labels, n, boxes


def _label(mask: np.ndarray, *, boxes: bool,
           ) -> tuple[np.ndarray, int, list[tuple[slice, ...]] | None]:
    """Labels, their number and (``boxes``) the boxes of :func:`labelled_boxes`."""
    n0, n1, n2 = mask.shape
    rows = n0 * n1
    padded = np.zeros((rows, n2 + 2), bool)
    padded[:, 1:-1] = mask.reshape(rows, n2)
    starts_at = padded[:, 1:] & ~padded[:, :-1]  # column c: a run starts at x = c
    if np.count_nonzero(starts_at) > _RUNS_PER_VOXEL * max(mask.size, 1) + 64:
        del padded, starts_at
        return _scipy_label(mask, boxes)
    first = np.flatnonzero(starts_at)
    del starts_at
    stop = np.flatnonzero(padded[:, :-1] & ~padded[:, 1:])  # column c: a run ends before c
    del padded
    width = n2 + 1
    row = first // width
    x_start = first - row * width
    x_stop = stop - row * width
    del first, stop
    n_runs = row.size
    if n_runs == 0:
        return np.zeros(mask.shape, np.int32), 0, [] if boxes else None

    root = _merge_runs(row, x_start, x_stop, n0, n1, width)
    # roots are each component's first run (the smallest index): number them in order
    is_root = root == np.arange(n_runs)
    number = np.cumsum(is_root, dtype=np.int32)
    run_label = number[root]
    n = int(number[-1])

    lengths = x_stop - x_start
    offset = row * n2 + x_start - (np.cumsum(lengths) - lengths)
    flat = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(offset, lengths)
    labels = np.zeros(mask.size, np.int32)
    labels[flat] = np.repeat(run_label, lengths)
    del flat
    return (labels.reshape(mask.shape), n,
            _boxes(run_label, n, row, x_start, x_stop, n1) if boxes else None)


def _merge_runs(row: np.ndarray, x_start: np.ndarray, x_stop: np.ndarray,
                n0: int, n1: int, width: int) -> np.ndarray:
    """The root (smallest connected run index) of every run, by vectorised union-find."""
    start_key = row * width + x_start
    stop_key = row * width + x_stop
    z, y = row // n1, row % n1
    sources, targets = [], []
    for dz, dy in _FORWARD_ROWS:
        ok = (z + dz < n0) & (y + dy >= 0) & (y + dy < n1)
        runs = np.flatnonzero(ok)
        other = (row[runs] + dz * n1 + dy) * width
        # runs of the other row overlapping [x_start - 1, x_stop + 1): they end after
        # x_start - 1 and start before x_stop + 1 (the row's runs are sorted and disjoint)
        low = np.searchsorted(stop_key, other + x_start[runs], side="left")
        high = np.searchsorted(start_key, other + x_stop[runs], side="right")
        count = np.maximum(high - low, 0)
        if not count.any():
            continue
        sources.append(np.repeat(runs, count))
        within = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        targets.append(np.repeat(low, count) + within)
    parent = np.arange(row.size)
    if not sources:
        return parent
    u, v = np.concatenate(sources), np.concatenate(targets)
    while u.size:
        ru, rv = parent[u], parent[v]
        apart = ru != rv
        u, v, ru, rv = u[apart], v[apart], ru[apart], rv[apart]
        if not u.size:
            break
        # hook the larger root under the smaller: parents only decrease, no cycles
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:  # compress every path to its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def _boxes(run_label: np.ndarray, n: int, row: np.ndarray, x_start: np.ndarray,
           x_stop: np.ndarray, n1: int) -> list[tuple[slice, ...]]:
    """Bounding boxes per label (``find_objects`` order) from the labelled runs."""
    order = np.argsort(run_label, kind="stable")
    first = np.searchsorted(run_label[order], np.arange(1, n + 1))
    z, y = row[order] // n1, row[order] % n1
    bounds = [np.minimum.reduceat(z, first), np.maximum.reduceat(z, first) + 1,
              np.minimum.reduceat(y, first), np.maximum.reduceat(y, first) + 1,
              np.minimum.reduceat(x_start[order], first),
              np.maximum.reduceat(x_stop[order], first)]
    return [(slice(z0, z1), slice(y0, y1), slice(x0, x1))
            for z0, z1, y0, y1, x0, x1 in zip(*(b.tolist() for b in bounds), strict=True)]


def _scipy_label(mask: np.ndarray, boxes: bool,
                 ) -> tuple[np.ndarray, int, list[tuple[slice, ...]] | None]:
    """``scipy.ndimage.label`` and ``find_objects`` (26-connectivity), imported on demand."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    return labels, int(n), ndimage.find_objects(labels) if boxes else None
