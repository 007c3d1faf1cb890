"""evaluate_case on hand-computable fixtures, and its argument checks."""

import dataclasses

import numpy as np
import pytest

from ichbench.metrics import CaseMetrics, evaluate_case


def _two_voxels(shape, gt_at, pred_at):
    gt = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    gt[gt_at] = True
    pred[pred_at] = True
    return gt, pred


def test_hd_two_voxels_2mm_apart_is_2mm():
    # voxel 0 and voxel 2 on a row: the far corners of gt are 2 mm from pred's near ones
    gt, pred = _two_voxels((1, 1, 4), (0, 0, 0), (0, 0, 2))
    m = evaluate_case(gt, pred, spacing_mm=(1.0, 1.0, 1.0))
    assert m.hd == 2.0
    assert m.hd95 == 2.0
    assert m.nsd == 0.0
    assert m.rvd == 0.0
    assert m.dc == pytest.approx(1e-5 / (2 + 1e-5))


def test_hd_anisotropic_spacing_depends_on_axis_order():
    # objects two slices apart along axis 0: 2 × 5 mm, or 2 × 0.45 mm if spacing is swapped
    gt, pred = _two_voxels((4, 2, 2), (0, 0, 0), (2, 0, 0))
    assert evaluate_case(gt, pred, spacing_mm=(5.0, 0.45, 0.45)).hd == 10.0
    assert evaluate_case(gt, pred, spacing_mm=(0.45, 0.45, 5.0)).hd == pytest.approx(0.9)


def test_cube_shifted_by_one_voxel_has_dice_three_quarters_and_rvd_zero():
    gt = np.zeros((6, 6, 6), np.uint8)
    pred = np.zeros((6, 6, 6), np.uint8)
    gt[1:5, 1:5, 1:5] = 1
    pred[1:5, 1:5, 2:6] = 1
    m = evaluate_case(gt, pred, spacing_mm=(1.0, 1.0, 1.0))
    assert (m.gt_voxels, m.pred_voxels, m.tp_voxels) == (64, 64, 48)
    assert m.dc == pytest.approx(0.75, abs=1e-6)
    assert m.rvd == 0.0
    assert m.hd == 1.0  # every corner is at most one voxel from the other surface


def test_larger_cube_rvd_is_relative_excess_volume():
    gt = np.zeros((6, 6, 6), bool)
    pred = np.zeros((6, 6, 6), bool)
    gt[1:5, 1:5, 1:5] = True
    pred[1:5, 1:5, 1:6] = True
    m = evaluate_case(gt, pred, spacing_mm=(2.0, 1.0, 1.0))
    assert m.rvd == pytest.approx(16 / 64)
    assert m.dc == pytest.approx(128 / 144, abs=1e-6)
    assert m.gt_volume_ml == pytest.approx(64 * 2.0 / 1000)
    assert m.pred_volume_ml == pytest.approx(80 * 2.0 / 1000)


def test_labels_other_than_one_are_foreground():
    gt = np.zeros((3, 3, 3), np.int16)
    gt[1, 1, 1] = 255
    pred = np.zeros((3, 3, 3), np.float32)
    pred[1, 1, 1] = 1.0
    m = evaluate_case(gt, pred, spacing_mm=(1.0, 1.0, 1.0))
    assert (m.dc, m.nsd, m.hd) == (1.0, 1.0, 0.0)


def test_nsd_counts_distance_equal_to_tolerance():
    # pred = gt shifted one voxel of 0.42 mm: the shifted faces are exactly at tolerance
    gt = np.zeros((4, 4, 6), bool)
    gt[1:3, 1:3, 1:3] = True
    pred = np.roll(gt, 1, axis=2)
    spacing_mm = (1.0, 1.0, 0.42)
    assert evaluate_case(gt, pred, spacing_mm=spacing_mm, tolerance_mm=0.42).nsd == 1.0
    assert evaluate_case(gt, pred, spacing_mm=spacing_mm, tolerance_mm=0.41).nsd < 1.0


def test_hd_percentile_95_gives_hd95():
    rng = np.random.default_rng(5)
    gt, pred = rng.random((2, 6, 7, 8)) < 0.3
    m = evaluate_case(gt, pred, spacing_mm=(1.5, 0.5, 0.5), hd_percentile=95.0)
    assert m.hd == m.hd95


def test_case_metrics_is_frozen_and_as_dict_keeps_field_order():
    gt, pred = _two_voxels((1, 1, 4), (0, 0, 0), (0, 0, 2))
    m = evaluate_case(gt, pred, spacing_mm=(1.0, 1.0, 1.0))
    assert list(m.as_dict()) == [f.name for f in dataclasses.fields(CaseMetrics)]
    assert list(m.as_dict())[:5] == ["dc", "nsd", "hd", "hd95", "rvd"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.dc = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gt": np.zeros((2, 2)), "pred": np.zeros((2, 2))}, "gt must be a 3D numpy array"),
    ({"gt": np.zeros((2, 2, 2)), "pred": [0]}, "pred must be a 3D numpy array"),
    ({"gt": np.zeros((2, 2, 2)), "pred": np.zeros((2, 2, 3))}, "shape"),
    ({"gt": np.zeros((0, 2, 2)), "pred": np.zeros((0, 2, 2))}, "gt has no voxels"),
    ({"spacing_mm": (1.0, 1.0)}, "spacing_mm must be 3 positive"),
    ({"spacing_mm": (1.0, 0.0, 1.0)}, "spacing_mm must be 3 positive"),
    ({"spacing_mm": (1.0, float("nan"), 1.0)}, "spacing_mm must be 3 positive"),
    ({"tolerance_mm": -1.0}, "tolerance_mm"),
    ({"hd_percentile": 101.0}, "hd_percentile"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, message):
    arguments = {"gt": np.zeros((2, 2, 2)), "pred": np.zeros((2, 2, 2)),
                 "spacing_mm": (1.0, 1.0, 1.0)} | kwargs
    gt, pred = arguments.pop("gt"), arguments.pop("pred")
    with pytest.raises(ValueError, match=message):
        evaluate_case(gt, pred, **arguments)


def test_any_memory_layout_gives_the_same_metrics():
    rng = np.random.default_rng(2)
    gt, pred = rng.random((2, 5, 6, 7)) < 0.3
    spacing_mm = (5.0, 0.45, 0.45)
    reference = evaluate_case(gt, pred, spacing_mm=spacing_mm)
    fortran = evaluate_case(np.asfortranarray(gt), np.asfortranarray(pred),
                            spacing_mm=spacing_mm)
    flipped = evaluate_case(gt[::-1, ::-1, ::-1].copy()[::-1, ::-1, ::-1],
                            pred[::-1, ::-1, ::-1].copy()[::-1, ::-1, ::-1],
                            spacing_mm=spacing_mm)
    assert reference == fortran == flipped
