"""ABC/2 on masks with hand-computable diameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichbench.reports.volumes import abc2_ml


def test_abc2_square_on_four_thick_slices():
    # 10 x 10 mm square: A = B = diagonal 14.14 mm; C = 4 x 5 mm -> 14.14^2 * 20 / 2 = 2 mL
    mask = np.zeros((6, 12, 12), bool)
    mask[1:5, 1:11, 1:11] = True
    assert abc2_ml(mask, spacing_mm=(5.0, 1.0, 1.0)) == pytest.approx(2.0)


def test_abc2_rectangle_uses_spacing_per_axis():
    # 20 voxels along x at 0.5 mm = 10 mm, 4 along y at 1 mm = 4 mm; one 2 mm slice.
    mask = np.zeros((1, 6, 30), bool)
    mask[0, 1:5, 2:22] = True
    a = math.hypot(10, 4)
    b = 2 * 10 * 4 / a  # width of a rectangle across its diagonal
    assert abc2_ml(mask, spacing_mm=(2.0, 1.0, 0.5)) == pytest.approx(a * b * 2 / 2 / 1000)


def test_abc2_empty_mask_is_zero_and_ellipsoid_is_close():
    assert abc2_ml(np.zeros((3, 4, 4)), spacing_mm=(1.0, 1.0, 1.0)) == 0.0
    z, y, x = np.mgrid[-20:21, -40:41, -30:31]
    ellipsoid = (z / 20) ** 2 + (y / 40) ** 2 + (x / 30) ** 2 <= 1
    true_ml = ellipsoid.sum() / 1000
    assert abc2_ml(ellipsoid, spacing_mm=(1.0, 1.0, 1.0)) == pytest.approx(true_ml, rel=0.1)
