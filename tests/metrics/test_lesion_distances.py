"""Lesion HD95 between a small and a large surface: equal to the full computation, exactly."""

import numpy as np
import pytest
from scipy import ndimage

from ichbench.metrics import lesion_distances
from ichbench.metrics.lesion_distances import LargeSurface, lesion_hd95_mm
from ichbench.metrics.surface import (
    directed_distances,
    directed_percentile_mm,
    extract_surface,
    robust_hausdorff_mm,
)

SPACINGS = [(5.0, 0.45, 0.45), (1.0, 1.0, 1.0), (2.0, 0.7, 0.7)]


def _pair(seed):
    """A large surface (a box or a ragged blob) and a small lesion somewhere near it."""
    rng = np.random.default_rng(seed)
    large = np.zeros((16, 96, 96), bool)
    if seed % 2:
        large[2:14, 8:88, 8:88] = True
    else:
        large = ndimage.binary_opening(ndimage.gaussian_filter(rng.random(large.shape), 3)
                                       > 0.5)
    small = np.zeros_like(large)
    z, y, x = (int(rng.integers(0, n - 5)) for n in large.shape)
    small[z:z + 2, y:y + int(rng.integers(1, 6)), x:x + 4] = True
    return small, large, SPACINGS[seed % 3]


@pytest.mark.parametrize("seed", range(12))
def test_prepared_large_surface_gives_the_full_computations_values(seed):
    small, large, spacing = _pair(seed)
    lesion = extract_surface(small, spacing_mm=spacing)
    matched = extract_surface(large, spacing_mm=spacing)
    assert matched.n_points > LargeSurface.MIN_POINTS
    prepared = LargeSurface(matched, spacing_mm=spacing)
    full_in = directed_distances(lesion, matched, spacing_mm=spacing)
    full_out = directed_distances(matched, lesion, spacing_mm=spacing)
    near = prepared.nearest_from(lesion)
    np.testing.assert_array_equal(near.distances_mm, full_in.distances_mm)
    np.testing.assert_array_equal(near.areas_mm2, full_in.areas_mm2)
    for percent in (50.0, 95.0, 100.0):
        assert (prepared.percentile_to(lesion, percent=percent)
                == directed_percentile_mm(full_out, percent))
    assert (lesion_hd95_mm(lesion, matched, spacing_mm=spacing, prepared=prepared)
            == robust_hausdorff_mm(full_in, full_out, percent=95.0))


def test_percentile_on_a_tie_of_equal_areas_takes_the_full_sort(monkeypatch):
    # one-voxel specks on a lattice: every point has the same area, so the 95 % share
    # falls exactly on a point, where summation order could decide
    specks = np.zeros((10, 80, 80), bool)
    specks[::2, ::2, ::2] = True
    lesion = np.zeros_like(specks)
    lesion[4:6, 30:36, 30:36] = True
    spacing = (1.0, 1.0, 1.0)
    large = extract_surface(specks, spacing_mm=spacing)
    small = extract_surface(lesion, spacing_mm=spacing)
    calls = []
    real = lesion_distances.directed_distances
    monkeypatch.setattr(lesion_distances, "directed_distances",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    got = LargeSurface(large, spacing_mm=spacing).percentile_to(small, percent=95.0)
    assert got == directed_percentile_mm(real(large, small, spacing_mm=spacing), 95.0)
    assert calls, "a tie must be settled by the full sort"
