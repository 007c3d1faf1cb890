"""The checks every metric applies to its (truth, prediction, spacing) arguments.

One definition of a usable mask pair, so that :func:`ichbench.metrics.evaluate_case`,
:func:`ichbench.metrics.evaluate_lesions` and the per-class metrics refuse the same inputs
with the same one-line messages, each naming the function that was called.
"""

from __future__ import annotations

import math

import numpy as np


def check_spacing(spacing_mm: object, *, caller: str) -> tuple[float, float, float]:
    """``spacing_mm`` as 3 floats in array axis order; ValueError unless positive and finite.

    Parameters
    ----------
    spacing_mm
        Voxel spacing in mm per array axis, (z, y, x) for arrays read by
        :mod:`ichbench.io.volumes`.
    caller
        The public function's name, which starts the message.
    """
    try:
        spacing = tuple(float(s) for s in spacing_mm)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        spacing = ()
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"{caller}: spacing_mm must be 3 positive finite floats in array "
                         f"axis order (z, y, x), found {spacing_mm!r}")
    return spacing  # type: ignore[return-value]


def check_pair(gt: np.ndarray, pred: np.ndarray, spacing_mm: object, *,
               caller: str) -> tuple[float, float, float]:
    """Check a (truth, prediction) pair of masks on one grid; return the spacing.

    Both must be 3D NumPy arrays of one shape with at least one voxel (any dtype: non-zero
    is foreground), and ``spacing_mm`` as :func:`check_spacing` says.

    Raises
    ------
    ValueError
        One line starting with ``caller``, naming the argument, what was found and the fix.
    """
    for name, array in (("gt", gt), ("pred", pred)):
        if not isinstance(array, np.ndarray) or array.ndim != 3:
            found = f"{array.ndim}D array" if isinstance(array, np.ndarray) else type(array)
            raise ValueError(f"{caller}: {name} must be a 3D numpy array, found {found}; "
                             "pass one volume (z, y, x)")
    if gt.size == 0:
        raise ValueError(f"{caller}: gt has no voxels (shape {gt.shape}); pass a volume with "
                         "at least one voxel along each axis")
    if gt.shape != pred.shape:
        raise ValueError(f"{caller}: gt shape {gt.shape} != pred shape {pred.shape}; "
                         "resample the prediction onto the truth grid")
    return check_spacing(spacing_mm, caller=caller)
