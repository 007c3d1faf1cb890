"""stratify_by_class on hand-counted cases (1 mm voxels on a line or in boxes)."""

import math

import numpy as np
import pytest

from ichbench.metrics.subtypes import stratify_by_class

UNIT = (1.0, 1.0, 1.0)


def test_neighbouring_classes_split_one_predicted_blob_between_them():
    gt = np.zeros((1, 1, 12), int)
    gt[0, 0, 2:5] = 2    # IPH, 3 voxels
    gt[0, 0, 5:7] = 3    # IVH touching it, 2 voxels
    pred = np.zeros((1, 1, 12), bool)
    pred[0, 0, 1:7] = True   # one blob over both, one voxel of brain before the IPH
    pred[0, 0, 10] = True    # a far false positive: no class's
    iph, ivh = stratify_by_class(gt, pred, spacing_mm=UNIT)
    assert (iph.label, iph.detected, iph.tp_voxels, iph.pred_voxels) == (2, 1, 3, 4)
    assert iph.dc == pytest.approx(2 * 3 / (3 + 4))
    assert (ivh.pred_voxels, ivh.dc) == (3, pytest.approx(2 * 2 / (2 + 3)))


def test_missed_lesions_count_per_subtype_with_their_volume():
    gt = np.zeros((2, 2, 10), int)
    gt[0, 0, 0] = 5
    gt[0, 0, 4] = 5      # two SDH lesions (not 26-connected)
    gt[1, 1, 8:10] = 2
    pred = np.zeros_like(gt, bool)
    pred[0, 0, 0] = True
    sdh = stratify_by_class(gt, pred, spacing_mm=(2.0, 1.0, 1.0))[1]
    assert (sdh.gt_lesions, sdh.detected, sdh.lesion_recall) == (2, 1, 0.5)
    assert sdh.missed_volume_ml == pytest.approx(2e-3)
    iph = stratify_by_class(gt, pred, spacing_mm=UNIT)[0]
    assert (iph.detected, iph.dc, iph.voxel_recall) == (0, 0.0, 0.0)


def test_empty_truth_gives_no_stratum_and_empty_prediction_detects_nothing():
    empty = np.zeros((2, 3, 4), int)
    assert stratify_by_class(empty, empty.astype(bool), spacing_mm=UNIT) == []
    gt = empty.copy()
    gt[1, 1, 1] = 4
    (sah,) = stratify_by_class(gt, empty.astype(bool), spacing_mm=UNIT)
    assert (sah.detected, sah.dc, sah.voxel_recall, sah.lesion_recall) == (0, 0.0, 0.0, 0.0)
    assert not math.isnan(sah.dc)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        stratify_by_class(np.zeros((1, 2, 3), int), np.zeros((1, 2, 4), bool), spacing_mm=UNIT)
