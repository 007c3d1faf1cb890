"""Surface extraction: neighbourhood codes, surfel areas, bounding boxes."""

import math

import numpy as np
import pytest
from scipy import ndimage

from ichbench.metrics._surfel_table import CODE_TO_TRIANGLES, surfel_area_table_mm2
from ichbench.metrics.surface import (
    Surface,
    directed_distances,
    extract_surface,
    neighbour_codes,
    occupied_boxes,
)

SPACINGS_MM = [(1.0, 1.0, 1.0), (5.0, 0.45, 0.45), (0.45, 0.45, 5.0), (0.3, 1.7, 2.9)]


@pytest.mark.parametrize("spacing_mm", SPACINGS_MM)
def test_surfel_area_table_equals_surface_distance_for_all_256_codes(
        surface_distance, spacing_mm):
    reference = surface_distance.lookup_tables.create_table_neighbour_code_to_surface_area(
        spacing_mm)
    np.testing.assert_array_equal(surfel_area_table_mm2(spacing_mm), reference)


def test_surfel_table_has_no_area_only_for_codes_0_and_255():
    empty = [code for code, letters in enumerate(CODE_TO_TRIANGLES) if not letters]
    assert empty == [0, 255]


def test_surfel_area_of_single_corner_is_one_eighth_triangle():
    # code 1: one voxel, one triangle with area vector (1, 1, 1) / 8 in voxel units
    s0, s1, s2 = 5.0, 0.45, 0.45
    expected = math.sqrt((s1 * s2) ** 2 + (s0 * s2) ** 2 + (s0 * s1) ** 2) / 8
    assert surfel_area_table_mm2((s0, s1, s2))[1] == pytest.approx(expected, rel=1e-12)


def test_neighbour_codes_equal_surface_distance_correlation(surface_distance):
    rng = np.random.default_rng(0)
    mask = rng.random((5, 6, 7)) < 0.4
    padded = np.zeros((6, 7, 8), np.uint8)  # one zero plane after each axis, as the library
    padded[:-1, :-1, :-1] = mask
    kernel = surface_distance.lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL
    expected = ndimage.correlate(padded, kernel, mode="constant", cval=0)
    np.testing.assert_array_equal(neighbour_codes(mask), expected)


def test_occupied_boxes_of_empty_mask_is_empty():
    assert occupied_boxes(np.zeros((3, 4, 5), bool)) == []


def test_occupied_boxes_split_at_empty_planes_and_are_tight():
    mask = np.zeros((6, 7, 8), bool)
    mask[1, 2, 3] = mask[1, 2, 5] = True  # same plane along 0 and 1, gap along axis 2
    mask[4, 6, 0] = True  # another plane along axis 0
    boxes = sorted(occupied_boxes(mask), key=lambda box: [s.start for s in box])
    assert boxes == [(slice(1, 2), slice(2, 3), slice(3, 4)),
                     (slice(1, 2), slice(2, 3), slice(5, 6)),
                     (slice(4, 5), slice(6, 7), slice(0, 1))]


def test_occupied_boxes_do_not_split_touching_voxels():
    mask = np.zeros((6, 7, 8), bool)
    mask[1, 2, 3] = mask[2, 3, 4] = True  # diagonal neighbours share corners
    assert occupied_boxes(mask) == [(slice(1, 3), slice(2, 4), slice(3, 5))]


def test_occupied_boxes_stop_splitting_at_max_boxes_and_still_cover_everything():
    mask = np.zeros((9, 3, 3), bool)
    mask[::2, 1, 1] = True  # five planes apart
    boxes = occupied_boxes(mask, max_boxes=1)
    assert boxes == [(slice(0, 9), slice(1, 2), slice(1, 2))]
    assert len(occupied_boxes(mask)) == 5


def test_single_voxel_surface_is_its_eight_corners():
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = True
    surface = extract_surface(mask, spacing_mm=(1.0, 1.0, 1.0))
    corners = {tuple(c) for c in surface.corners.tolist()}
    assert corners == {(i, j, k) for i in (1, 2) for j in (1, 2) for k in (1, 2)}
    np.testing.assert_allclose(surface.areas_mm2, math.sqrt(3) / 8)


def test_mask_filling_the_array_is_closed_by_outside_background():
    mask = np.ones((2, 3, 4), bool)
    surface = extract_surface(mask, spacing_mm=(1.0, 1.0, 1.0))
    # every corner of the 3x4x5 corner grid is on the surface except the interior ones
    assert surface.n_points == 3 * 4 * 5 - 1 * 2 * 3
    assert surface.corners.min() == 0
    assert tuple(surface.corners.max(axis=0)) == (2, 3, 4)


def test_empty_mask_has_no_surface_points():
    surface = extract_surface(np.zeros((2, 2, 2), bool), spacing_mm=(1.0, 1.0, 1.0))
    assert surface.n_points == 0 and surface.corners.shape == (0, 3)
    assert surface.voxels == 0


def test_surface_of_split_mask_equals_surface_of_whole():
    rng = np.random.default_rng(7)
    mask = rng.random((9, 10, 11)) < 0.08  # speckle: many boxes
    spacing_mm = (5.0, 0.45, 0.45)
    split = extract_surface(mask, spacing_mm=spacing_mm)
    codes = neighbour_codes(mask)
    on_surface = (codes != 0) & (codes != 255)
    expected = {tuple(c) for c in np.argwhere(on_surface).tolist()}
    assert {tuple(c) for c in split.corners.tolist()} == expected
    assert split.n_points == len(expected)
    assert split.voxels == int(mask.sum())


def test_distances_to_empty_surface_are_inf_and_from_empty_are_none():
    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = True
    full = extract_surface(mask, spacing_mm=(1.0, 1.0, 1.0))
    empty = Surface(np.zeros((0, 3), np.int64), np.zeros(0), 0)
    assert np.all(np.isinf(directed_distances(full, empty,
                                              spacing_mm=(1.0, 1.0, 1.0)).distances_mm))
    assert directed_distances(empty, full, spacing_mm=(1.0, 1.0, 1.0)).distances_mm.size == 0


def test_distances_are_sorted_with_their_areas():
    rng = np.random.default_rng(3)
    gt, pred = rng.random((2, 6, 6, 6)) < 0.3
    spacing_mm = (2.0, 0.5, 0.7)
    result = directed_distances(extract_surface(gt, spacing_mm=spacing_mm),
                                extract_surface(pred, spacing_mm=spacing_mm),
                                spacing_mm=spacing_mm)
    assert np.all(np.diff(result.distances_mm) >= 0)
    assert result.areas_mm2.shape == result.distances_mm.shape


def test_sorted_subset_equals_sorting_the_subset_with_ties():
    """Reusing a full sort for a subset of points gives the subset's own sort, ties too."""
    from ichbench.metrics.surface import Surface, directed_order, sorted_directed, sorted_subset

    rng = np.random.default_rng(3)
    n = 5000
    surface = Surface(np.zeros((n, 3), np.int32), rng.choice([0.1, 0.2, 0.3], n), 0)
    distances = rng.choice([0.0, 0.45, 0.9, 5.0, np.inf], n)  # many ties in both keys
    order = directed_order(surface, distances)
    for share in (0.0, 0.3, 1.0):
        keep = rng.random(n) < share
        subset = Surface(surface.corners[keep], surface.areas_mm2[keep], 0)
        expected = sorted_directed(subset, distances[keep])
        got = sorted_subset(surface, distances[keep], order, keep)
        np.testing.assert_array_equal(got.distances_mm, expected.distances_mm)
        np.testing.assert_array_equal(got.areas_mm2, expected.areas_mm2)
