"""Own 26-connected labelling and box dilation against scipy.ndimage, the reference."""

import numpy as np
import pytest
from scipy import ndimage

import ichbench.metrics.components as components
from ichbench.metrics.components import label_components, labelled_boxes
from ichbench.metrics.nearest import dilate_box

BOX = np.ones((3, 3, 3), bool)


def _masks(seed: int, n: int) -> list[np.ndarray]:
    """Random masks of random shapes and densities, with smooth blobs and lone voxels."""
    rng = np.random.default_rng(seed)
    masks = []
    for k in range(n):
        shape = tuple(int(s) for s in rng.integers(1, 14, 3))
        mask = rng.random(shape) < rng.uniform(0.0, 0.6)
        if k % 3 == 0:
            mask = ndimage.gaussian_filter(rng.random(shape), 1.0) > 0.5
        masks.append(mask)
    return masks


@pytest.fixture(params=["runs", "scipy"])
def route(request, monkeypatch):
    """Both routes of the labeller: its own runs, and the speckle fallback to scipy."""
    monkeypatch.setattr(components, "_RUNS_PER_VOXEL", np.inf if request.param == "runs"
                        else -np.inf)
    return request.param


def test_labels_and_boxes_equal_scipy_on_random_masks(route):
    for mask in _masks(0, 400):
        expected, n_expected = ndimage.label(mask, structure=BOX)
        labels, n, boxes = labelled_boxes(mask)
        assert n == n_expected
        assert labels.dtype == np.int32 and labels.shape == mask.shape
        np.testing.assert_array_equal(labels, expected)  # same numbering, not only sets
        assert boxes == ndimage.find_objects(expected)
        plain, n_plain = label_components(mask)
        assert n_plain == n and np.array_equal(plain, labels)


def test_corner_and_edge_neighbours_connect_and_one_gap_separates(route):
    mask = np.zeros((4, 5, 6), bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True  # corner neighbours: one component
    mask[3, 4, 5] = mask[3, 3, 4] = True  # edge neighbours (in-plane diagonal): one
    mask[0, 4, 0] = mask[2, 4, 0] = True  # a slice between: two components
    labels, n, _ = labelled_boxes(mask)
    assert n == 4
    assert labels[0, 0, 0] == labels[1, 1, 1] == 1
    assert labels[0, 4, 0] == 2 and labels[2, 4, 0] == 3  # raster order of first voxel
    assert labels[3, 4, 5] == labels[3, 3, 4] == 4


def test_a_component_found_late_in_raster_order_merges_with_an_earlier_one(route):
    # a U: two arms start in row 0, joined only in the last slice
    mask = np.zeros((3, 1, 5), bool)
    mask[:, 0, 0] = mask[:, 0, 4] = True
    mask[2, 0, :] = True
    labels, n, boxes = labelled_boxes(mask)
    assert n == 1 and np.all(labels[mask] == 1)
    assert boxes == [(slice(0, 3), slice(0, 1), slice(0, 5))]


@pytest.mark.parametrize("fill", [False, True])
def test_empty_and_full_masks(route, fill):
    mask = np.full((3, 4, 5), fill)
    labels, n, boxes = labelled_boxes(mask)
    assert n == int(fill)
    np.testing.assert_array_equal(labels, mask.astype(np.int32))
    assert boxes == ([tuple(slice(0, s) for s in mask.shape)] if fill else [])


def test_a_view_with_strides_is_labelled_as_its_copy():
    mask = _masks(1, 1)[0]
    big = np.zeros((20, 20, 20), bool)
    big[2:2 + mask.shape[0], 3:3 + mask.shape[1], 1:1 + mask.shape[2]] = mask
    view = big[::-1, 1:, ::2]
    np.testing.assert_array_equal(label_components(view)[0],
                                  ndimage.label(np.ascontiguousarray(view), BOX)[0])


def test_speckle_goes_to_scipy_and_blobs_do_not(monkeypatch):
    calls = []
    original = components._scipy_label
    monkeypatch.setattr(components, "_scipy_label",
                        lambda mask, boxes: calls.append(1) or original(mask, boxes))
    speckle = np.zeros((8, 40, 40), bool)
    speckle[::2, ::2, ::2] = True
    blob = np.zeros((8, 40, 40), bool)
    blob[2:6, 5:30, 5:30] = True
    label_components(blob)
    assert calls == []
    _, n = label_components(speckle)
    assert calls == [1] and n == 4 * 20 * 20


def test_box_dilation_equals_scipy_on_random_grids():
    for mask in _masks(2, 200):
        np.testing.assert_array_equal(dilate_box(mask), ndimage.binary_dilation(mask, BOX))
