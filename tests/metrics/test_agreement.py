"""evaluate_case equals DeepMind's ``surface-distance`` 0.1 to 1e-6.

Fixed, named cases first, then property-based cases (``hypothesis``). Both-empty and
one-empty cases follow ichbench's own policy (test_empty_policy.py) and are left out
here. DC is compared with the challenge's ε-smoothed formula (the library has none).
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from ichbench.metrics import evaluate_case

TOLERANCE = 1e-6


def _reference(surface_distance, gt, pred, spacing_mm, tolerance_mm):
    with warnings.catch_warnings():  # the library imports from deprecated scipy namespaces
        warnings.simplefilter("ignore", DeprecationWarning)
        distances = surface_distance.compute_surface_distances(gt, pred, spacing_mm)
    return {
        "nsd": surface_distance.compute_surface_dice_at_tolerance(distances, tolerance_mm),
        "hd": surface_distance.compute_robust_hausdorff(distances, 100),
        "hd95": surface_distance.compute_robust_hausdorff(distances, 95),
    }


def _assert_agrees(surface_distance, gt, pred, spacing_mm, tolerance_mm=0.42):
    gt, pred = gt.astype(bool), pred.astype(bool)
    m = evaluate_case(gt, pred, spacing_mm=spacing_mm, tolerance_mm=tolerance_mm)
    expected = _reference(surface_distance, gt, pred, spacing_mm, tolerance_mm)
    for name, value in expected.items():
        assert getattr(m, name) == pytest.approx(float(value), abs=TOLERANCE), name
    tp = int(np.count_nonzero(gt & pred))
    assert m.dc == pytest.approx((2 * tp + 1e-5) / (gt.sum() + pred.sum() + 1e-5),
                                 abs=TOLERANCE)
    assert m.rvd == pytest.approx(abs(int(pred.sum()) - int(gt.sum())) / gt.sum(),
                                  abs=TOLERANCE)


def _ellipsoid(shape, center, radii):
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii, strict=True)) <= 1


def _lesion_pair():
    gt = _ellipsoid((12, 40, 40), (6, 18, 20), (3, 9, 7))
    pred = ndimage.binary_dilation(gt) & ~_ellipsoid((12, 40, 40), (6, 24, 20), (1, 3, 3))
    return gt, pred


FIXED_CASES = {
    "lesion_head_ct_spacing": (*_lesion_pair(), (5.0, 0.45, 0.45)),
    "lesion_swapped_spacing": (*_lesion_pair(), (0.45, 0.45, 5.0)),
    "lesion_with_far_false_positive": (
        _lesion_pair()[0],
        _lesion_pair()[1] | _ellipsoid((12, 40, 40), (1, 36, 36), (1, 2, 2)),
        (5.0, 0.45, 0.45)),
    "single_voxels_far_apart": (
        np.pad(np.ones((1, 1, 1), bool), ((0, 9), (0, 9), (0, 9))),
        np.pad(np.ones((1, 1, 1), bool), ((9, 0), (9, 0), (9, 0))),
        (1.0, 0.7, 0.3)),
    "masks_filling_the_array": (np.ones((3, 4, 5), bool), np.ones((3, 4, 5), bool),
                                (5.0, 0.45, 0.45)),
    "shift_by_exactly_the_tolerance": (
        _ellipsoid((6, 12, 12), (3, 6, 6), (2, 4, 4)),
        np.roll(_ellipsoid((6, 12, 12), (3, 6, 6), (2, 4, 4)), 1, axis=2),
        (1.0, 1.0, 0.42)),
}


@pytest.mark.parametrize("case", FIXED_CASES)
def test_fixed_case_agrees_with_surface_distance(surface_distance, case):
    gt, pred, spacing_mm = FIXED_CASES[case]
    _assert_agrees(surface_distance, gt, pred, spacing_mm)


SPACING_MM = st.tuples(*[st.sampled_from([0.42, 0.45, 0.5, 0.9, 1.0, 2.5, 5.0])] * 3)
SHAPES = st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7))
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _mask_pairs(draw):
    shape = draw(SHAPES)
    gt = draw(arrays(bool, shape))
    pred = draw(arrays(bool, shape))
    if draw(st.booleans()):  # blobs rather than speckle
        gt = ndimage.binary_dilation(gt) if gt.any() else gt
    if not gt.any():
        gt.flat[draw(st.integers(0, gt.size - 1))] = True
    if not pred.any():
        pred.flat[draw(st.integers(0, pred.size - 1))] = True
    return gt, pred


@SETTINGS
@given(pair=_mask_pairs(), spacing_mm=SPACING_MM,
       tolerance_mm=st.sampled_from([0.42, 0.9, 1.0, 2.0, 5.0]))
def test_random_masks_agree_with_surface_distance(surface_distance, pair, spacing_mm,
                                                  tolerance_mm):
    gt, pred = pair
    _assert_agrees(surface_distance, gt, pred, spacing_mm, tolerance_mm)


@SETTINGS
@given(shape=st.tuples(st.integers(2, 30), st.integers(1, 6), st.integers(1, 6)),
       seed=st.integers(0, 2**16), spacing_mm=SPACING_MM)
def test_far_apart_blobs_agree_with_surface_distance(surface_distance, shape, seed,
                                                     spacing_mm):
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    gt[: max(1, shape[0] // 4)] = rng.random((max(1, shape[0] // 4), *shape[1:])) < 0.5
    pred[-max(1, shape[0] // 4):] = rng.random((max(1, shape[0] // 4), *shape[1:])) < 0.5
    gt[0, 0, 0] = pred[-1, -1, -1] = True
    pred |= rng.random(shape) < 0.02  # scattered false positives
    _assert_agrees(surface_distance, gt, pred, spacing_mm)


@pytest.mark.parametrize("empty", ["gt", "pred"])
def test_one_empty_mask_agrees_with_surface_distance(surface_distance, empty):
    mask = _lesion_pair()[0]
    none = np.zeros_like(mask)
    gt, pred = (none, mask) if empty == "gt" else (mask, none)
    m = evaluate_case(gt, pred, spacing_mm=(5.0, 0.45, 0.45))
    expected = _reference(surface_distance, gt, pred, (5.0, 0.45, 0.45), 0.42)
    assert (m.nsd, m.hd, m.hd95) == (expected["nsd"], expected["hd"], expected["hd95"])


def test_both_empty_is_where_ichbench_chooses_differently(surface_distance):
    none = np.zeros((3, 4, 5), bool)
    m = evaluate_case(none, none, spacing_mm=(5.0, 0.45, 0.45))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0 in the library's NSD
        expected = _reference(surface_distance, none, none, (5.0, 0.45, 0.45), 0.42)
    assert np.isnan(expected["nsd"]) and expected["hd"] == np.inf  # the library
    assert (m.nsd, m.hd, m.hd95) == (1.0, 0.0, 0.0)  # ichbench: a perfect match
