"""Lesion-wise evaluation: matching corners, 26-connectivity, empty table, bins, oracle."""

import math
import tracemalloc

import numpy as np
import pytest
from scipy import ndimage

from ichbench.metrics import evaluate_case, evaluate_lesions
from ichbench.metrics.lesions import CONNECTIVITY, DEFAULT_HD95_PENALTY_MM, bin_labels

ISO = (1.0, 1.0, 1.0)


def _mask(shape=(5, 20, 20)):
    return np.zeros(shape, bool)


def test_one_prediction_touching_two_lesions_detects_both_and_is_no_fp():
    gt, pred = _mask(), _mask()
    gt[2, 2:5, 2:5] = True   # 9 voxels
    gt[2, 2:5, 8:11] = True  # 9 voxels, separated by columns 5..7
    pred[2, 3, 2:11] = True  # one bar across both: 9 voxels, 3 in each lesion
    m = evaluate_lesions(gt, pred, spacing_mm=ISO)
    assert (m.gt_lesions, m.pred_lesions) == (2, 1)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (2, 0, 0)
    assert m.lesion_f1 == 1.0
    # each lesion against the whole bar: 2·3 / (9 + 9)
    assert [lesion.dc for lesion in m.lesions] == pytest.approx([6 / 18, 6 / 18])
    assert m.lesionwise_dc == pytest.approx(6 / 18)


def test_two_predictions_on_one_lesion_detect_it_once_without_fp():
    gt, pred = _mask(), _mask()
    gt[2, 2:5, 2:10] = True  # 24 voxels
    pred[2, 3, 2:4] = True
    pred[2, 3, 7:9] = True
    m = evaluate_lesions(gt, pred, spacing_mm=ISO)
    assert (m.gt_lesions, m.pred_lesions) == (1, 2)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (1, 0, 0)
    assert m.lesionwise_dc == pytest.approx(2 * 4 / (24 + 4))  # both parts together


def test_one_voxel_lesion_counts_and_min_size_can_drop_it():
    gt, pred = _mask(), _mask()
    gt[1, 1, 1] = True
    gt[3, 10:14, 10:14] = True  # 16 voxels, missed
    pred[1, 1, 1] = True
    m = evaluate_lesions(gt, pred, spacing_mm=ISO)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (1, 0, 1)
    one = next(lesion for lesion in m.lesions if lesion.voxels == 1)
    assert one.detected and one.dc == 1.0 and one.hd95_mm == 0.0
    # 1 voxel = 0.001 mL at 1 mm; a 0.002 mL minimum ignores it in truth and prediction
    m = evaluate_lesions(gt, pred, spacing_mm=ISO, min_lesion_ml=0.002)
    assert (m.gt_lesions, m.pred_lesions) == (1, 0)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (0, 0, 1)


def test_diagonal_neighbours_are_one_lesion_under_26_connectivity():
    gt = _mask()
    gt[1, 1, 1] = gt[2, 2, 2] = True  # corner contact only
    assert CONNECTIVITY.sum() == 27
    m = evaluate_lesions(gt, _mask(), spacing_mm=ISO)
    assert m.gt_lesions == 1 and m.lesions[0].voxels == 2
    assert ndimage.label(gt)[1] == 2  # the 6-connected default would split it


def test_false_positive_far_away_counts_its_volume_and_the_penalty():
    gt, pred = _mask((10, 30, 30)), _mask((10, 30, 30))
    gt[1:3, 1:4, 1:4] = True
    pred[1:3, 1:4, 1:4] = True
    pred[8, 25:27, 25:28] = True  # 6 voxels, other boxes
    spacing = (5.0, 0.5, 0.5)  # 1.25 mm³ per voxel
    m = evaluate_lesions(gt, pred, spacing_mm=spacing, hd95_penalty_mm=100.0)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (1, 1, 0)
    assert m.fp_volume_ml == pytest.approx(6 * 1.25 / 1000)
    assert m.lesion_f1 == pytest.approx(2 / 3)
    assert m.lesionwise_dc == pytest.approx((1.0 + 0.0) / 2)
    assert m.lesionwise_hd95 == pytest.approx((0.0 + 100.0) / 2)


def test_lesion_hd95_equals_evaluate_case_on_the_isolated_pair():
    rng = np.random.default_rng(3)
    gt, pred = _mask((8, 40, 40)), _mask((8, 40, 40))
    gt[2:6, 5:15, 5:15] = True
    gt[2:6, 25:35, 25:35] = True
    pred[2:6, 6:17, 4:14] = True
    pred[3:7, 24:33, 27:36] = rng.random((4, 9, 9)) > 0.2
    spacing = (5.0, 0.45, 0.45)
    m = evaluate_lesions(gt, pred, spacing_mm=spacing)
    g_lab, _ = ndimage.label(gt, structure=CONNECTIVITY)
    p_lab, _ = ndimage.label(pred, structure=CONNECTIVITY)
    expected = []
    for i in (1, 2):
        partners = np.unique(p_lab[(g_lab == i) & (p_lab > 0)])
        ref = evaluate_case(g_lab == i, np.isin(p_lab, partners), spacing_mm=spacing)
        expected.append(ref.hd95)
    assert sorted(lesion.hd95_mm for lesion in m.lesions) == pytest.approx(sorted(expected))


def test_recall_per_volume_bin_with_inclusive_lower_edges():
    gt, pred = _mask((4, 30, 30)), _mask((4, 30, 30))
    gt[0, 0, 0] = True             # 1 voxel = 0.001 mL: bin < 0.002
    gt[2, 5, 5:7] = True           # 2 voxels = 0.002 mL: exactly the edge, bin 0.002–0.01
    gt[2, 10:14, 10:14] = True     # 16 voxels = 0.016 mL: bin >= 0.01
    pred[2, 5, 5] = True
    m = evaluate_lesions(gt, pred, spacing_mm=ISO, bin_edges_ml=(0.002, 0.01))
    assert [b.label for b in m.bins] == ["lt0p002ml", "0p002to0p01ml", "ge0p01ml"]
    assert [(b.lesions, b.detected) for b in m.bins] == [(1, 0), (1, 1), (1, 0)]
    assert [b.recall for b in m.bins] == [0.0, 1.0, 0.0]


def test_default_bins_are_the_clinical_ones():
    assert bin_labels() == ["lt1ml", "1to5ml", "5to30ml", "ge30ml"]


@pytest.mark.parametrize(("gt_on", "pred_on", "expected"), [
    (True, False, (0, 0, 1, 0.0, 0.0, 374.0)),
    (False, True, (0, 1, 0, 0.0, 0.0, 374.0)),
    (False, False, (0, 0, 0, 1.0, 1.0, 0.0)),
])
def test_empty_mask_table(gt_on, pred_on, expected):
    gt, pred = _mask(), _mask()
    gt[2, 2:4, 2:4] = gt_on
    pred[2, 10:12, 10:12] = pred_on
    m = evaluate_lesions(gt, pred, spacing_mm=ISO)
    got = (m.lesion_tp, m.lesion_fp, m.lesion_fn, m.lesion_f1, m.lesionwise_dc,
           m.lesionwise_hd95)
    assert got == expected
    if not gt_on:
        assert all(math.isnan(b.recall) for b in m.bins)


def _brute_force(gt, pred):
    """Global labelling and set logic, independent of the per-box implementation."""
    g_lab, n_g = ndimage.label(gt, structure=CONNECTIVITY)
    p_lab, n_p = ndimage.label(pred, structure=CONNECTIVITY)
    tp = sum(bool(np.any(pred[g_lab == i])) for i in range(1, n_g + 1))
    fp = sum(not np.any(gt[p_lab == j]) for j in range(1, n_p + 1))
    dcs = []
    for i in range(1, n_g + 1):
        lesion = g_lab == i
        partners = np.unique(p_lab[lesion & (p_lab > 0)])
        matched = np.isin(p_lab, partners) if partners.size else np.zeros_like(gt)
        dcs.append(2 * np.sum(lesion & matched) / (lesion.sum() + matched.sum()))
    return tp, fp, n_g - tp, dcs


@pytest.mark.parametrize("seed", range(6))
def test_counts_and_dc_agree_with_brute_force_global_labelling(seed):
    rng = np.random.default_rng(seed)
    gt = ndimage.binary_opening(rng.random((6, 24, 24)) > 0.75) | (rng.random((6, 24, 24)) > 0.97)
    pred = gt.copy()
    pred ^= rng.random(gt.shape) > 0.9
    m = evaluate_lesions(gt, pred, spacing_mm=(2.0, 0.7, 0.7))
    tp, fp, fn, dcs = _brute_force(gt, pred)
    assert (m.lesion_tp, m.lesion_fp, m.lesion_fn) == (tp, fp, fn)
    assert sorted(lesion.dc for lesion in m.lesions) == pytest.approx(sorted(dcs))


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"spacing_mm": (1.0, 1.0)}, "spacing_mm"),
    ({"spacing_mm": ISO, "bin_edges_ml": (5.0, 1.0)}, "bin_edges_ml"),
    ({"spacing_mm": ISO, "min_lesion_ml": -1.0}, "min_lesion_ml"),
    ({"spacing_mm": ISO, "hd95_penalty_mm": math.inf}, "hd95_penalty_mm"),
])
def test_bad_arguments_name_themselves(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        evaluate_lesions(_mask(), _mask(), **kwargs)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        evaluate_lesions(_mask(), _mask((5, 20, 21)), spacing_mm=ISO)


def test_case_hd95_is_reused_only_when_the_lesion_pair_is_the_case_pair():
    gt, pred = _mask(), _mask()
    gt[1:3, 2:6, 2:6] = True
    pred[1:3, 3:7, 2:6] = True
    spacing = (5.0, 0.5, 0.5)
    computed = evaluate_lesions(gt, pred, spacing_mm=spacing).lesionwise_hd95
    assert computed == pytest.approx(evaluate_case(gt, pred, spacing_mm=spacing).hd95)
    # a marker value shows whether the case value was taken
    assert evaluate_lesions(gt, pred, spacing_mm=spacing,
                            case_hd95_mm=123.0).lesions[0].hd95_mm == 123.0
    with_fp = pred.copy()
    with_fp[4, 18, 18] = True
    m = evaluate_lesions(gt, with_fp, spacing_mm=spacing, case_hd95_mm=123.0)
    assert m.lesions[0].hd95_mm == pytest.approx(computed)
    two = gt.copy()
    two[4, 15:17, 15:17] = True
    m = evaluate_lesions(two, pred, spacing_mm=spacing, case_hd95_mm=123.0)
    assert 123.0 not in [lesion.hd95_mm for lesion in m.lesions]
    tiny = pred.copy()
    tiny[4, 18, 18] = True  # ignored by the minimum size: the case pair differs
    m = evaluate_lesions(gt, tiny, spacing_mm=spacing, case_hd95_mm=123.0,
                         min_lesion_ml=0.01)
    assert m.lesion_fp == 0 and m.lesions[0].hd95_mm == pytest.approx(computed)


def test_any_non_zero_label_is_foreground_whatever_the_dtype():
    gt = _mask().astype(np.uint8)
    gt[2, 2:4, 2:4] = 255
    gt[2, 10:12, 10:12] = 2
    pred = np.zeros(gt.shape, np.float32)
    pred[2, 2:4, 2:4] = 1.0
    m = evaluate_lesions(gt, pred, spacing_mm=ISO)
    assert (m.gt_lesions, m.lesion_tp, m.lesion_fn) == (2, 1, 1)
    assert [lesion.dc for lesion in m.lesions if lesion.detected] == [1.0]


def test_volume_without_voxels_is_refused():
    empty = np.zeros((0, 4, 4), bool)
    with pytest.raises(ValueError, match="no voxels"):
        evaluate_lesions(empty, empty, spacing_mm=ISO)


def _box_over_lesions(n_side, shape=(12, 160, 160)):
    """n_side² small truth lesions on a grid, one predicted box over all of them."""
    gt, pred = _mask(shape), _mask(shape)
    for y in np.linspace(20, shape[1] - 24, n_side).astype(int):
        for x in np.linspace(20, shape[2] - 24, n_side).astype(int):
            gt[5:7, y:y + 3, x:x + 3] = True
    pred[1:11, 10:shape[1] - 10, 10:shape[2] - 10] = True
    return gt, pred


@pytest.mark.parametrize("case", ["box", "box_and_own_specks", "speckle", "ragged"])
def test_lesion_hd95_is_exactly_that_of_the_isolated_pair(case):
    """Each lesion's HD95 equals evaluate_case on the lesion and the union of its partners
    over the whole volume (BraTS 2023's definition), bit for bit, also where a partner is
    large and shared (the prepared-surface route) or speckled."""
    spacing = (5.0, 0.45, 0.45)
    rng = np.random.default_rng(7)
    if case.startswith("box"):
        gt, pred = _box_over_lesions(4)
        if case == "box_and_own_specks":  # every lesion with a partner set of its own:
            # the box and a speck across an empty slice, both overlapping the lesion
            gt = np.roll(gt, 5, axis=0)  # lesions at slices 10-11, the box ends at 10
            gt = np.concatenate([gt, _mask((2, *gt.shape[1:]))])
            pred = np.concatenate([pred, _mask((2, *pred.shape[1:]))])
            gt[12] = gt[11]
            pred[12] = gt[12]
    elif case == "speckle":
        gt, pred = _mask((8, 60, 60)), _mask((8, 60, 60))
        gt[2:6, 10:50, 10:50] = True
        pred[::2, ::2, ::2] = True
    else:
        gt = ndimage.binary_opening(ndimage.gaussian_filter(rng.random((10, 90, 90)), 2) > 0.52)
        pred = np.roll(ndimage.binary_dilation(gt, iterations=2), 2, axis=2)
    m = evaluate_lesions(gt, pred, spacing_mm=spacing)
    g_lab, n_g = ndimage.label(gt, structure=CONNECTIVITY)
    p_lab, _ = ndimage.label(pred, structure=CONNECTIVITY)
    expected = []
    for i in range(1, n_g + 1):
        partners = np.unique(p_lab[(g_lab == i) & (p_lab > 0)])
        if partners.size:
            expected.append(evaluate_case(g_lab == i, np.isin(p_lab, partners),
                                          spacing_mm=spacing).hd95)
    got = [lesion.hd95_mm for lesion in m.lesions if lesion.detected]
    assert sorted(got) == sorted(expected)  # exact, not approximate


def test_lesion_memory_does_not_grow_with_the_lesions_a_prediction_covers():
    """One predicted box over 4 or 64 lesions: the same peak memory (the lesions' work
    is done on surfaces extracted once, nothing volume-sized is kept per lesion)."""
    peaks = []
    for n_side in (2, 8):
        gt, pred = _box_over_lesions(n_side)
        tracemalloc.start()
        m = evaluate_lesions(gt, pred, spacing_mm=(5.0, 0.45, 0.45))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert m.lesion_tp == n_side ** 2
    assert peaks[1] < 1.5 * peaks[0] + (1 << 20)
    assert peaks[1] < 40 * gt.size  # bytes per voxel of the volume, well inside the bound


def test_case_distances_are_shared_with_a_lone_lesion_and_far_specks(monkeypatch):
    """A ragged lesion, its shifted and dilated prediction, and specks near and far:
    reusing the case's distances gives the values of measuring the pair again, and the
    shared route is taken (issue 23: the two far specks used to force a second pass)."""
    import ichbench.metrics.lesions as lesions_module
    from ichbench.metrics.case import evaluate_case_with_distances

    taken = []
    shared = lesions_module._shared_hd95_mm

    def spy(*args):
        value = shared(*args)
        taken.append(value is not None)
        return value

    monkeypatch.setattr(lesions_module, "_shared_hd95_mm", spy)
    rng = np.random.default_rng(7)
    for k in range(24):
        shape = (12, 64, 64)
        gt = _mask(shape)
        zz, yy, xx = np.ogrid[:12, :64, :64]
        radii = rng.uniform(3, 9, 2)
        gt[((zz - 6) / 3.5) ** 2 + ((yy - 32) / radii[0]) ** 2
           + ((xx - 30) / radii[1]) ** 2 <= 1] = True
        gt[2:10, 30:34, 30:40] |= rng.random((8, 4, 10)) < 0.5  # ragged, still one lesion
        lab, _ = ndimage.label(gt, structure=CONNECTIVITY)
        gt = lab == np.bincount(lab.ravel())[1:].argmax() + 1
        pred = np.roll(gt, tuple(int(v) for v in rng.integers(-3, 4, 2)), axis=(1, 2))
        if k % 2:
            pred = ndimage.binary_dilation(pred, np.ones((1, 3, 3), bool))
        pred[int(rng.integers(0, 12)), 60, 60] = True  # far speck
        pred[int(rng.integers(0, 12)), 2, 62] = True
        if k % 3 == 0:  # a speck within reach of the lesion
            pred[6, 32, int(np.flatnonzero(gt[6, 32]).max()) + 3] = True
        spacing = ((5.0, 0.45, 0.45), (1.0, 1.0, 1.0), (2.0, 0.7, 0.9))[k % 3]
        metrics, distances = evaluate_case_with_distances(gt, pred, spacing_mm=spacing)
        measured = evaluate_lesions(gt, pred, spacing_mm=spacing, case_hd95_mm=metrics.hd95)
        reused = evaluate_lesions(gt, pred, spacing_mm=spacing, case_hd95_mm=metrics.hd95,
                                  case_distances=distances)
        assert reused == measured  # bit for bit
        assert measured.lesion_fp >= 2
    assert taken and all(taken)


def test_a_missed_lone_lesion_keeps_the_penalty_when_the_case_hd95_is_passed():
    # an empty prediction: the case's HD95 is inf, the missed lesion's is the penalty
    gt = np.zeros((6, 12, 12), bool)
    gt[2:4, 3:7, 3:7] = True
    pred = np.zeros_like(gt)
    for case_hd95 in (None, math.inf):
        m = evaluate_lesions(gt, pred, spacing_mm=(5.0, 0.5, 0.5), case_hd95_mm=case_hd95)
        assert m.lesion_fn == 1 and m.lesions[0].hd95_mm == DEFAULT_HD95_PENALTY_MM
        assert m.lesionwise_hd95 == DEFAULT_HD95_PENALTY_MM
