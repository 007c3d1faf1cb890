"""Every cell of the empty / non-empty matrix, as documented in ichbench.metrics.case."""

import math

import numpy as np
import pytest

from ichbench.metrics import evaluate_case

SPACING_MM = (5.0, 0.45, 0.45)


def _cube() -> np.ndarray:
    mask = np.zeros((4, 6, 6), np.uint8)
    mask[1:3, 2:4, 2:4] = 1
    return mask


def _empty() -> np.ndarray:
    return np.zeros((4, 6, 6), np.uint8)


def test_empty_pred_nonempty_gt_scores_zero_inf_and_rvd_one():
    m = evaluate_case(_cube(), _empty(), spacing_mm=SPACING_MM)
    assert m.dc == 0.0
    assert m.nsd == 0.0
    assert m.hd == math.inf and m.hd95 == math.inf
    assert m.rvd == 1.0
    assert (m.gt_voxels, m.pred_voxels, m.tp_voxels) == (8, 0, 0)


def test_empty_gt_nonempty_pred_scores_zero_inf_and_rvd_nan():
    m = evaluate_case(_empty(), _cube(), spacing_mm=SPACING_MM)
    assert m.dc == 0.0
    assert m.nsd == 0.0
    assert m.hd == math.inf and m.hd95 == math.inf
    assert math.isnan(m.rvd)
    assert (m.gt_voxels, m.pred_voxels, m.tp_voxels) == (0, 8, 0)


def test_both_empty_is_a_perfect_match():
    m = evaluate_case(_empty(), _empty(), spacing_mm=SPACING_MM)
    assert (m.dc, m.nsd, m.hd, m.hd95, m.rvd) == (1.0, 1.0, 0.0, 0.0, 0.0)
    assert (m.gt_voxels, m.pred_voxels, m.tp_voxels) == (0, 0, 0)
    assert m.gt_volume_ml == 0.0 and m.pred_volume_ml == 0.0


def test_both_nonempty_identical_is_a_perfect_match():
    m = evaluate_case(_cube(), _cube() * 255, spacing_mm=SPACING_MM)
    assert (m.dc, m.nsd, m.hd, m.hd95, m.rvd) == (1.0, 1.0, 0.0, 0.0, 0.0)
    assert m.gt_volume_ml == pytest.approx(8 * 5.0 * 0.45 * 0.45 / 1000)
