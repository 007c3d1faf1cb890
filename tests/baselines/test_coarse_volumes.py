import numpy as np
import pytest

from ichbench.baselines.volumes import (
    binarise,
    ensemble_mean,
    from_grid,
    resample_linear,
    to_grid,
    window_normalise,
    write_mask,
)
from ichbench.io.volumes import Geometry, read_volume

GEOM = Geometry(size_xyz=(30, 22, 7), spacing_xyz_mm=(0.43, 0.51, 4.8),
                origin_mm=(-101.5, 87.25, -33.0),
                direction=(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))


def test_window_normalise_clips_to_the_hu_window_and_scales_to_unit_range():
    ct = np.array([-1000.0, -100.0, 50.0, 200.0, 1500.0])
    out = window_normalise(ct, (-100.0, 200.0))
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert out.dtype == np.float32


def test_resample_linear_same_shape_is_identity_and_constant_stays_constant():
    a = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(resample_linear(a, (3, 4, 5)), a)
    np.testing.assert_allclose(resample_linear(np.full((5, 9, 7), 2.5), (16, 32, 32)), 2.5)


def test_resample_linear_upsampling_by_two_interpolates_between_voxel_centres():
    out = resample_linear(np.array([0.0, 1.0]), (4,))
    np.testing.assert_allclose(out, [0.0, 0.25, 0.75, 1.0])


def test_resample_linear_matches_scipy_zoom_grid_mode():
    from scipy import ndimage

    a = np.random.default_rng(1).random((6, 10, 12))
    ours = resample_linear(a, (8, 16, 16))
    ref = ndimage.zoom(a, (8 / 6, 16 / 10, 16 / 12), order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_grid_round_trip_of_a_mask_keeps_its_shape_and_most_voxels():
    mask = np.zeros(GEOM.shape, np.float32)
    mask[2:6, 5:17, 8:24] = 1
    back = binarise(from_grid(to_grid(mask, (16, 64, 64)), GEOM))
    assert back.shape == GEOM.shape
    dice = 2 * (back * mask).sum() / (back.sum() + mask.sum())
    assert dice > 0.9


def test_written_prediction_copies_the_ct_geometry_exactly(tmp_path):
    # anisotropic spacing, axis-permuting direction with a flip, non-zero origin
    from ichbench.io.volumes import write_volume

    write_volume(np.zeros(GEOM.shape, np.int16), GEOM, tmp_path / "ct.nii.gz")
    ct = read_volume(tmp_path / "ct.nii.gz")
    prob = np.random.default_rng(2).random((16, 64, 64)).astype(np.float32)
    write_mask(binarise(from_grid(prob, ct.geometry)), ct.geometry, tmp_path / "001.nii.gz")
    vol = read_volume(tmp_path / "001.nii.gz")
    assert vol.geometry == ct.geometry
    assert vol.geometry.mismatch(GEOM) is None
    assert vol.array.dtype == np.uint8 and set(np.unique(vol.array)) <= {0, 1}


def test_ensemble_mean_averages_and_refuses_mismatched_or_no_maps():
    np.testing.assert_allclose(ensemble_mean([np.zeros(3), np.ones(3)]), 0.5)
    with pytest.raises(ValueError, match="shapes"):
        ensemble_mean([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="no fold model"):
        ensemble_mean([])


def test_binarise_counts_a_tie_as_foreground():
    assert binarise(np.array([0.49, 0.5, 0.9])).tolist() == [0, 1, 1]
