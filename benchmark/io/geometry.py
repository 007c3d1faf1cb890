"""Where a volume's voxels sit: the format-neutral records every volume reader returns.

:class:`Geometry` is in SimpleITK's physical (x, y, z) order, while arrays are indexed
(z, y, x); :attr:`Geometry.spacing_zyx_mm` and :attr:`Geometry.shape` give the array
order. Both readers (:mod:`ichbench.io.nifti`, :mod:`ichbench.io.metaimage`) import this module
and not each other; :mod:`ichbench.io.volumes` chooses between them by file name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Where a volume's voxels sit in the patient (all in SimpleITK's (x, y, z) order).

    Attributes
    ----------
    size_xyz : tuple of int
        Number of voxels along x, y, z.
    spacing_xyz_mm : tuple of float
        Voxel spacing in mm along x, y, z.
    origin_mm : tuple of float
        Physical position of voxel (0, 0, 0) in mm.
    direction : tuple of float
        Row-major 3 × 3 direction cosine matrix.
    """

    size_xyz: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape, (z, y, x)."""
        x, y, z = self.size_xyz
        return (z, y, x)

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel spacing in mm per array axis, (z, y, x)."""
        x, y, z = self.spacing_xyz_mm
        return (z, y, x)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (1 mL = 1000 mm³)."""
        return float(np.prod(self.spacing_xyz_mm)) / 1000.0

    def mismatch(self, other: Geometry, *, spacing_rtol: float = 1e-3,
                 origin_atol_mm: float = 1e-2, direction_atol: float = 1e-3) -> str | None:
        """Describe how ``other`` differs from this geometry, or return None if it matches.

        Size must be equal; spacing, origin and direction are compared within tolerances
        that absorb float32 header rounding but not a real difference.
        """
        if self.size_xyz != other.size_xyz:
            return f"size {other.size_xyz} (x, y, z) differs from the reference's {self.size_xyz}"
        if not np.allclose(other.spacing_xyz_mm, self.spacing_xyz_mm, rtol=spacing_rtol,
                           atol=0):
            return (f"spacing {_fmt(other.spacing_xyz_mm)} mm differs from the reference's "
                    f"{_fmt(self.spacing_xyz_mm)} mm")
        if not np.allclose(other.origin_mm, self.origin_mm, rtol=0, atol=origin_atol_mm):
            return (f"origin {_fmt(other.origin_mm)} mm differs from the reference's "
                    f"{_fmt(self.origin_mm)} mm")
        if not np.allclose(other.direction, self.direction, rtol=0, atol=direction_atol):
            return (f"direction {_fmt(other.direction)} differs from the reference's "
                    f"{_fmt(self.direction)}")
        return None

    def voxel_map(self, other: Geometry, *, tolerance_vox: float = 1e-2,
                  ) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]] | None:
        """How ``other``'s voxels land exactly on this grid, or None if they do not.

        Two grids coincide physically when every voxel centre of ``other`` is a voxel
        centre of this grid: its axes are this grid's axes permuted and possibly reversed
        (same spacing), and both cover the same box. That is what a mask saved with its
        array and direction both flipped looks like.

        Returns
        -------
        (axes, flips) or None
            ``axes[a]`` is the axis of ``other`` (in x, y, z order) that runs along this
            grid's axis ``a``; ``flips[a]`` whether it runs backwards. The identity is
            ``((0, 1, 2), (False, False, False))``. See :func:`reorient`.
        """
        a_self = np.reshape(self.direction, (3, 3)) * np.asarray(self.spacing_xyz_mm)
        a_other = np.reshape(other.direction, (3, 3)) * np.asarray(other.spacing_xyz_mm)
        try:
            inverse = np.linalg.inv(a_self)
        except np.linalg.LinAlgError:
            return None
        linear = inverse @ a_other  # other's index steps in this grid's index steps
        shift = inverse @ (np.asarray(other.origin_mm) - np.asarray(self.origin_mm))
        rounded = np.round(linear)
        if (np.abs(linear - rounded).max() > 1e-3
                or not np.array_equal(np.abs(rounded).sum(axis=0), np.ones(3))
                or not np.array_equal(np.abs(rounded).sum(axis=1), np.ones(3))):
            return None
        axes = tuple(int(np.flatnonzero(rounded[a])[0]) for a in range(3))
        flips = tuple(bool(rounded[a, axes[a]] < 0) for a in range(3))
        for a in range(3):
            n = self.size_xyz[a]
            if other.size_xyz[axes[a]] != n:
                return None
            start = (n - 1) if flips[a] else 0  # where other's index 0 must land
            if abs(shift[a] - start) > tolerance_vox:
                return None
        return axes, flips  # type: ignore[return-value]

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        """Plain-JSON form (x, y, z order), for fingerprints and run folders."""
        return {"size_xyz": list(self.size_xyz), "spacing_xyz_mm": list(self.spacing_xyz_mm),
                "origin_mm": list(self.origin_mm), "direction": list(self.direction)}


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@dataclass(frozen=True)
class Volume:
    """A volume as an array indexed (z, y, x) with its geometry."""

    array: np.ndarray
    geometry: Geometry

    def __repr__(self) -> str:
        sp = "×".join(f"{s:.3g}" for s in self.geometry.spacing_xyz_mm)
        return (f"Volume(shape={self.array.shape} (z, y, x), dtype={self.array.dtype}, "
                f"spacing={sp} mm)")


def reorient(array: np.ndarray, axes: tuple[int, int, int],
             flips: tuple[bool, bool, bool]) -> np.ndarray:
    """Put a (z, y, x) array of another grid onto this one, per :meth:`Geometry.voxel_map`.

    Exact: voxels are only permuted and reversed, never interpolated.
    """
    xyz = array.transpose(2, 1, 0).transpose(axes)
    for a, flip in enumerate(flips):
        if flip:
            xyz = np.flip(xyz, axis=a)
    return np.ascontiguousarray(xyz.transpose(2, 1, 0))


@dataclass(frozen=True)
class OpenedVolume:
    """A volume whose header has been checked, with its voxels not yet read.

    Attributes
    ----------
    geometry : Geometry
        From the checked header: compare it with the truth's before reading anything.
    load : callable
        ``load(writable=True)`` reads and checks the voxels, returning the (z, y, x)
        array; raises :class:`NiftiError` (or a subclass) with a one-line message.
    """

    geometry: Geometry
    load: Callable[..., np.ndarray]
