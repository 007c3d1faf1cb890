"""The clinical ABC/2 hematoma volume estimate, computed from a truth mask.

ABC/2 (Kothari et al., Stroke 1996) is how clinicians estimate a hemorrhage's volume at the
bedside: on the axial slice with the largest hemorrhage area, A is the largest diameter and
B the largest diameter perpendicular to A; C is the number of slices with hemorrhage times
the slice thickness; the volume is A·B·C/2 (an ellipsoid's π/6 ≈ 1/2). With A, B, C in cm
the result is in mL. It is shown beside the segmentations as the accuracy a clinician gets
without one; it is known to overestimate irregular and multifocal bleeds, and here all
hemorrhage voxels of the slice count (no single-component selection), as a clinician
outlining "the bleed" on that slice would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError


def abc2_ml(mask: np.ndarray, *, spacing_mm: tuple[float, float, float]) -> float:
    """ABC/2 volume estimate of a 3D mask in mL.

    Parameters
    ----------
    mask : ndarray
        Shape (z, y, x); non-zero = hemorrhage. Axial slices are ``mask[k]``.
    spacing_mm : tuple of float
        Voxel spacing in mm along (z, y, x); z is the slice thickness.

    Returns
    -------
    float
        A·B·C/2 in mL (0.0 for an empty mask). Diameters are measured between voxel corners,
        so a single voxel has A = its diagonal and B = its width across that diagonal.

    Examples
    --------
    A 10 × 10 mm square on 4 slices of 5 mm: A = 14.14 mm (diagonal), B = 14.14 mm
    (perpendicular extent), C = 20 mm, so A·B·C/2 = 2000 mm³ = 2.0 mL.

    >>> m = np.zeros((6, 12, 12), bool); m[1:5, 1:11, 1:11] = True
    >>> round(abc2_ml(m, spacing_mm=(5.0, 1.0, 1.0)), 3)
    2.0
    """
    mask = np.asarray(mask) != 0
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3D (z, y, x), but it is {mask.ndim}D")
    areas = mask.sum(axis=(1, 2))
    if not areas.any():
        return 0.0
    dz, dy, dx = (float(s) for s in spacing_mm)
    k = int(np.argmax(areas))
    ys, xs = np.nonzero(mask[k])
    # The four corners of every voxel, in mm: extents include the voxels' own size.
    corners = np.concatenate([np.stack([(ys + oy) * dy, (xs + ox) * dx], axis=1)
                              for oy in (0, 1) for ox in (0, 1)])
    points = np.unique(corners, axis=0)
    try:
        hull = points[ConvexHull(points).vertices]
    except QhullError:  # collinear points cannot occur with voxel corners; be safe
        hull = points
    diffs = hull[:, None, :] - hull[None, :, :]
    dist = np.sqrt((diffs ** 2).sum(-1))
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    a_mm = float(dist[i, j])
    direction = diffs[i, j] / a_mm
    normal = np.array([-direction[1], direction[0]])
    projected = hull @ normal
    b_mm = float(projected.max() - projected.min())
    c_mm = int((areas > 0).sum()) * dz
    return a_mm * b_mm * c_mm / 2.0 / 1000.0


def abc2_for_cases(truth: Mapping[str, Path], case_ids: list[str] | tuple[str, ...]
                   ) -> dict[str, tuple[float, float]]:
    """(true volume, ABC/2) in mL per case of ``case_ids`` found in ``truth``.

    Reads each label once through :mod:`ichbench.io.nifti` (spacing from its header); the
    true volume is the label's voxel count times the voxel volume. Unreadable labels are
    skipped.
    """
    from ichbench.io.volumes import NiftiError, read_volume

    out: dict[str, tuple[float, float]] = {}
    for case in case_ids:
        path = truth.get(case)
        if path is None:
            continue
        try:
            volume = read_volume(path)
        except NiftiError:
            continue
        true_ml = float(np.count_nonzero(volume.array)) * volume.geometry.voxel_volume_ml
        out[case] = (true_ml, abc2_ml(volume.array, spacing_mm=volume.geometry.spacing_zyx_mm))
    return out
