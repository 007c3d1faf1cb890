"""Reading one case's truth, CT and prediction for the figures (sources.read_case)."""

from __future__ import annotations

import numpy as np

from ichbench.io.volumes import Geometry, write_volume
from ichbench.reports.sources import read_case

GEOMETRY = Geometry(size_xyz=(6, 5, 3), spacing_xyz_mm=(0.5, 0.5, 5.0),
                    origin_mm=(0.0, 0.0, 0.0), direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


def _files(tmp_path):
    truth = np.zeros((3, 5, 6), np.uint8)
    truth[1, 2:4, 2:5] = 1
    ct = np.arange(truth.size, dtype=np.float32).reshape(truth.shape)
    paths = {name: tmp_path / f"{name}.nii.gz" for name in ("truth", "ct", "pred")}
    write_volume(truth, GEOMETRY, paths["truth"])
    write_volume(ct, GEOMETRY, paths["ct"])
    write_volume(np.roll(truth, 1, axis=2), GEOMETRY, paths["pred"])
    return truth, ct, paths


def test_read_case_returns_truth_ct_and_prediction_in_zyx_order(tmp_path):
    truth, ct, paths = _files(tmp_path)
    gt, ct_read, pred = read_case(paths["truth"], paths["ct"], paths["pred"])
    assert gt.array.shape == (3, 5, 6) and gt.geometry.spacing_zyx_mm == (5.0, 0.5, 0.5)
    np.testing.assert_array_equal(gt.array, truth)
    assert ct_read.dtype == np.float32
    np.testing.assert_array_equal(ct_read, ct)
    np.testing.assert_array_equal(pred, np.roll(truth, 1, axis=2))


def test_read_case_without_prediction_gives_an_empty_mask(tmp_path):
    truth, _, paths = _files(tmp_path)
    _, _, pred = read_case(paths["truth"], paths["ct"], None)
    assert pred.shape == truth.shape and not pred.any()


def test_read_case_leaves_out_a_case_with_another_size_or_an_unreadable_file(tmp_path):
    _, _, paths = _files(tmp_path)
    small = Geometry(size_xyz=(6, 5, 2), spacing_xyz_mm=(0.5, 0.5, 5.0),
                     origin_mm=(0.0, 0.0, 0.0), direction=GEOMETRY.direction)
    write_volume(np.zeros((2, 5, 6), np.uint8), small, tmp_path / "small.nii.gz")
    assert read_case(paths["truth"], paths["ct"], tmp_path / "small.nii.gz") is None
    assert read_case(paths["truth"], tmp_path / "small.nii.gz", paths["pred"]) is None
    (tmp_path / "bad.nii.gz").write_bytes(b"not a nifti file" * 30)
    assert read_case(paths["truth"], tmp_path / "bad.nii.gz", paths["pred"]) is None
    assert read_case(tmp_path / "bad.nii.gz", paths["ct"], paths["pred"]) is None
