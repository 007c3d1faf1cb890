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
    monkeypatch.setattr(nearest, "_MAX_CELL_POINTS", -1)  # the tree and EDT routes
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


def _lattice_oracle(source, target, spacing):
    from ichbench.metrics.nearest import lattice_distance_mm

    offsets = (source[:, None, :] - target[None, :, :]).reshape(-1, 3)
    return lattice_distance_mm(offsets, np.asarray(spacing, float)).reshape(
        source.shape[0], -1).min(axis=1)


@pytest.mark.parametrize("spacing", [(5.0, 0.45, 0.45), (1.0, 1.0, 1.0), (2.0, 0.7, 0.9),
                                     (0.45, 0.45, 5.0)])
@pytest.mark.parametrize("rows", [1, 8, 64])
@pytest.mark.parametrize("shuffled", [False, True])  # surfaces come in array order; any order
def test_far_points_searched_by_cells_equal_the_k_d_tree_route(monkeypatch, spacing, rows,
                                                               shuffled):
    """A few far points (specks) skip the k-d tree: same distances, bit for bit, and the
    minimum over every target point in the lattice arithmetic, whatever the cell size."""
    import ichbench.metrics.nearest as nearest

    rng = np.random.default_rng(5)
    target = np.unique(rng.integers(0, 40, (3000, 3)), axis=0)
    source = np.unique(np.concatenate([rng.integers(0, 40, (200, 3)),
                                       rng.integers(150, 400, (20, 3)),
                                       rng.integers(-60, -20, (20, 3))]), axis=0)
    if shuffled:
        target = rng.permutation(target)
    monkeypatch.setattr(nearest, "_CELL_ROWS", rows)
    monkeypatch.setattr(nearest, "_MAX_CELL_POINTS", 10 ** 9)
    cells = nearest.nearest_distances_mm(source, target, spacing_mm=spacing)
    monkeypatch.setattr(nearest, "_MAX_CELL_POINTS", -1)
    tree = nearest.nearest_distances_mm(source, target, spacing_mm=spacing)
    np.testing.assert_array_equal(cells, tree)
    np.testing.assert_array_equal(cells, _lattice_oracle(source, target, spacing))


def test_a_point_inside_a_hollow_shell_and_ties_on_cell_borders(monkeypatch):
    """The search visits cells until their bound exceeds the best: a point at the centre of
    a shell (every cell about as near) and targets at equal distance in different cells."""
    import ichbench.metrics.nearest as nearest

    monkeypatch.setattr(nearest, "_MAX_CELL_POINTS", 10 ** 9)
    grid = np.indices((21, 41, 41)).reshape(3, -1).T
    radius = np.sqrt((((grid - [10, 20, 20]) * [2.0, 1.0, 1.0]) ** 2).sum(axis=1))
    shell = grid[(radius > 17) & (radius <= 18)].astype(np.int64)
    ties = np.array([[10, 20 - 16, 20], [10, 20 + 16, 20], [10, 20, 20 - 16], [10, 20, 20 + 16]])
    for target in (shell, ties):
        source = np.array([[10, 20, 20], [0, 0, 0], [10, 15, 16]])
        spacing = (2.0, 1.0, 1.0)
        got = nearest.nearest_distances_mm(source, target, spacing_mm=spacing)
        np.testing.assert_array_equal(got, _lattice_oracle(source, target, spacing))
