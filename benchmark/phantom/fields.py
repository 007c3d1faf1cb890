"""Smooth random fields defined in physical space (mm), evaluable at any point.

Anatomy and lesions are implicit functions of position; their irregularity (sulcal
pattern, skull thickness, lesion outline) comes from these fields. A field is a periodic
tile of white noise (64³ lattice points, step half the correlation length), Gaussian-
smoothed with wrap-around and scaled to unit standard deviation, read by trilinear
interpolation. The period (32 correlation lengths) is far larger than any feature, the
tile is small (1 MB) and quick to make, and the field does not depend on the output grid,
so the ``small`` and ``full`` presets of one case show the same anatomy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

TILE = 64


class Field:
    """A smooth random scalar field, unit standard deviation, zero mean.

    Parameters
    ----------
    rng
        Source of the noise.
    scale_mm
        Correlation length (Gaussian sigma, mm).
    """

    def __init__(self, rng: np.random.Generator, scale_mm: float) -> None:
        self.step_mm = scale_mm / 2.0
        noise = rng.standard_normal((TILE, TILE, TILE), dtype=np.float32)
        smooth = ndimage.gaussian_filter(noise, sigma=2.0, mode="wrap")
        smooth -= smooth.mean()
        smooth /= max(float(smooth.std()), 1e-6)
        self.grid = smooth.astype(np.float32)
        self.offset = rng.uniform(0, TILE, 3).astype(np.float32)

    def __call__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Field values at points given by coordinate arrays (mm, head frame)."""
        inv = np.float32(1.0 / self.step_mm)
        coords = np.stack([np.asarray(x, np.float32).ravel() * inv + self.offset[0],
                           np.asarray(y, np.float32).ravel() * inv + self.offset[1],
                           np.asarray(z, np.float32).ravel() * inv + self.offset[2]])
        return ndimage.map_coordinates(self.grid, coords, order=1,
                                       mode="grid-wrap").reshape(np.shape(x))
