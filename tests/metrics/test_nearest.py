"""Exact nearest-point distances: lattice offsets near the surface, k-d tree beyond."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from ichbench.metrics.nearest import _sorted_offsets, lattice_distance_mm, nearest_distances_mm


def _unique_points(rng, n, high):
    return np.unique(rng.integers(0, high, size=(n, 3)), axis=0).astype(np.int64)


@pytest.mark.parametrize("spacing_mm", [(1.0, 1.0, 1.0), (5.0, 0.45, 0.45), (0.45, 0.45, 5.0),
                                        (0.3, 1.7, 2.9)])
@pytest.mark.parametrize("spread", [6, 40])  # near: offsets only; far: k-d tree fallback
def test_nearest_distances_equal_brute_force(spacing_mm, spread):
    rng = np.random.default_rng(spread)
    source = _unique_points(rng, 300, spread)
    target = _unique_points(rng, 40, spread)
    expected = cdist(source * np.array(spacing_mm), target * np.array(spacing_mm)).min(axis=1)
    got = nearest_distances_mm(source, target, spacing_mm=spacing_mm)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_nearest_distances_equal_distance_transform_bit_for_bit():
    # the reference arithmetic: EDT of the target points over a grid holding both sets
    rng = np.random.default_rng(1)
    spacing_mm = (5.0, 0.45, 0.45)
    source = _unique_points(rng, 200, 30)
    target = _unique_points(rng, 30, 30)
    grid = np.ones((30, 30, 30), bool)
    grid[tuple(target.T)] = False
    edt = ndimage.distance_transform_edt(grid, sampling=spacing_mm)
    got = nearest_distances_mm(source, target, spacing_mm=spacing_mm)
    np.testing.assert_array_equal(got, edt[tuple(source.T)])


def test_one_slice_apart_is_exactly_the_slice_thickness():
    source = np.array([[0, 5, 5]])
    target = np.array([[1, 5, 5], [9, 9, 9]])
    assert nearest_distances_mm(source, target, spacing_mm=(5.0, 0.45, 0.45))[0] == 5.0


def test_offsets_are_sorted_and_complete_up_to_their_longest():
    spacing_mm = (5.0, 0.45, 0.45)
    offsets, lengths = _sorted_offsets(spacing_mm)
    assert np.all(np.diff(lengths) >= 0) and lengths[0] == 0.0
    longest = lengths[-1]
    # every offset of a box around the ball that is no longer than the longest kept one
    radius = np.ceil(longest / np.array(spacing_mm)).astype(int)
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in radius], indexing="ij"),
                    axis=-1).reshape(-1, 3)
    shorter = grid[lattice_distance_mm(grid, np.array(spacing_mm)) <= longest]
    assert {tuple(o) for o in shorter.tolist()} == {tuple(o) for o in offsets.tolist()}
    assert 5.0 in lengths  # one slice is within reach, so caps need no tree search


@pytest.mark.parametrize("tree_work", [0, 10**12])  # EDT branch, k-d tree branch
@pytest.mark.parametrize("bound_reaches", [0.0, 3.0])  # every point unresolved by the
def test_far_points_equal_brute_force_with_either_search(monkeypatch, tree_work,  # bounded
                                                         bound_reaches):  # query, or few
    import ichbench.metrics.nearest as nearest

    monkeypatch.setattr(nearest, "_MAX_TREE_WORK", tree_work)
    monkeypatch.setattr(nearest, "_TREE_BOUND_REACHES", bound_reaches)
    rng = np.random.default_rng(11)
    spacing_mm = (5.0, 0.45, 0.45)
    source = _unique_points(rng, 200, 60)
    target = _unique_points(rng, 20, 60)
    expected = cdist(source * np.array(spacing_mm), target * np.array(spacing_mm)).min(axis=1)
    got = nearest.nearest_distances_mm(source, target, spacing_mm=spacing_mm)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_truth_around_an_under_segmented_ball_equals_brute_force():
    # truth sphere of radius 30 voxels, prediction of radius 18: every truth point is
    # 12 voxels (5.4 mm in-plane, more across slices) from the prediction, beyond the reach
    spacing_mm = (5.0, 0.45, 0.45)
    grid = np.indices((9, 81, 81)).reshape(3, -1).T
    centre = np.array([4, 40, 40])
    scaled = (grid - centre) * np.array([8.0, 1.0, 1.0])
    radius = np.sqrt((scaled ** 2).sum(axis=1))
    source = grid[(radius > 29) & (radius <= 30)].astype(np.int64)
    target = grid[(radius > 17) & (radius <= 18)].astype(np.int64)
    expected = cdist(source * np.array(spacing_mm), target * np.array(spacing_mm)).min(axis=1)
    got = nearest_distances_mm(source, target, spacing_mm=spacing_mm)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("spacing", [(5.0, 0.45, 0.45), (1.0, 1.0, 1.0), (2.0, 0.7, 0.9)])
def test_far_points_compared_with_every_target_equal_the_k_d_tree_route(monkeypatch, spacing):
    """A few far points (specks) skip the k-d tree: same distances, bit for bit, and the
    minimum over every target point in the lattice arithmetic."""
    import ichbench.metrics.nearest as nearest

    rng = np.random.default_rng(5)
    target = np.unique(rng.integers(0, 40, (3000, 3)), axis=0)
    source = np.unique(np.concatenate([rng.integers(0, 40, (200, 3)),
                                       rng.integers(150, 400, (20, 3))]), axis=0)
    monkeypatch.setattr(nearest, "_SMALL_BRUTE_WORK", 10 ** 12)
    brute = nearest.nearest_distances_mm(source, target, spacing_mm=spacing)
    monkeypatch.setattr(nearest, "_SMALL_BRUTE_WORK", -1)
    monkeypatch.setattr(nearest, "_MAX_BRUTE_WORK", -1)
    tree = nearest.nearest_distances_mm(source, target, spacing_mm=spacing)
    np.testing.assert_array_equal(brute, tree)
    offsets = (source[:, None, :] - target[None, :, :]).reshape(-1, 3)
    oracle = nearest.lattice_distance_mm(offsets, np.asarray(spacing)).reshape(
        source.shape[0], -1).min(axis=1)
    np.testing.assert_array_equal(brute, oracle)


def test_far_points_skip_the_tree_within_the_budget_only(monkeypatch):
    import sys

    import ichbench.metrics.nearest as nearest

    monkeypatch.delitem(sys.modules, "scipy.spatial", raising=False)
    monkeypatch.setattr(nearest, "_brute_pairs", 0)
    assert nearest._compare_with_every_target(nearest._SMALL_BRUTE_WORK)
    assert nearest._brute_pairs == 0  # small comparisons are free of the budget
    assert nearest._compare_with_every_target(nearest._MAX_BRUTE_WORK)
    assert not nearest._compare_with_every_target(nearest._MAX_BRUTE_WORK + 1)
    monkeypatch.setattr(nearest, "_brute_pairs", nearest._BRUTE_BUDGET)
    assert not nearest._compare_with_every_target(nearest._SMALL_BRUTE_WORK + 1)
