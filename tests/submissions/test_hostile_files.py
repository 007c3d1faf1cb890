"""Every status, each from a real hostile file made in tmp_path."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
from submission_files import GEOMETRY, blob, write, write_header_only

from ichbench.io.volumes import Geometry
from ichbench.submissions import Status, score_folder


def score(pred_dir, truth_dir, tmp_path, **options):
    options = {"jobs": 1, "progress": False, **options}
    result = score_folder(pred_dir, truth_dir, tmp_path / "out", **options)
    return {row.case: row for row in result.cases}, result


def assert_scored_as_empty(row):
    """Non-empty truth against an empty prediction: the challenge's numbers."""
    assert row.dc == 0.0
    assert row.nsd == 0.0
    assert math.isinf(row.hd) and math.isinf(row.hd95)
    assert row.rvd == 1.0
    assert row.pred_voxels == 0 and row.tp_voxels == 0 and row.pred_volume_ml == 0.0


@pytest.fixture
def reads(monkeypatch):
    """Record every file whose voxels the scorer reads (jobs=1 runs in this process)."""
    import ichbench.io.nifti as nifti

    seen = []
    original = nifti.read_voxels

    def recording(path, *args, **kwargs):
        seen.append(Path(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(nifti, "read_voxels", recording)
    return seen


def test_perfect_prediction_is_ok_with_dc_1_and_hd_0(truth_dir, pred_dir, tmp_path):
    write(pred_dir, "001.nii.gz", blob())
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OK and rows["001"].message == ""
    assert rows["001"].dc == pytest.approx(1.0) and rows["001"].hd == 0.0
    assert rows["001"].gt_voxels == rows["001"].tp_voxels == 4 * 12 * 12


def test_missing_case_has_a_row_scored_as_empty_prediction(truth_dir, pred_dir, tmp_path):
    rows, result = score(pred_dir, truth_dir, tmp_path)
    assert list(rows) == ["001", "002", "003"]
    assert {row.status for row in rows.values()} == {Status.MISSING}
    assert_scored_as_empty(rows["002"])
    assert "002.nii.gz" in rows["002"].message
    # empty truth and nothing submitted: both empty, a perfect match by the metrics' policy
    assert rows["003"].dc == pytest.approx(1.0) and rows["003"].rvd == 0.0
    assert result.status_counts["missing"] == 3


def test_shift_of_one_slice_uses_truth_z_spacing(truth_dir, pred_dir, tmp_path):
    # spacing per array axis (z, y, x): one slice off is 5 mm, not 0.45 mm
    write(pred_dir, "001.nii.gz", blob(z0=4, z1=8))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OK
    assert rows["001"].hd == pytest.approx(5.0)


@pytest.mark.parametrize("kind", ["empty", "random_bytes", "truncated_gz", "gz_trailer_lost",
                                  "truncated_nii", "text"])
def test_broken_files_are_unreadable_and_scored_as_empty(truth_dir, pred_dir, tmp_path, kind):
    good = write(tmp_path, "good.nii.gz", blob())
    raw = write(tmp_path, "good.nii", blob())
    name, content = {
        "empty": ("001.nii.gz", b""),
        "random_bytes": ("001.nii.gz", np.random.default_rng(0).bytes(4000)),
        "truncated_gz": ("001.nii.gz", good.read_bytes()[: good.stat().st_size // 2]),
        "gz_trailer_lost": ("001.nii.gz", good.read_bytes()[:-4]),  # ITK reads zeros here
        "truncated_nii": ("001.nii", raw.read_bytes()[:-500]),
        "text": ("001.nii.gz", b"this is not an image\n" * 50),
    }[kind]
    (pred_dir / name).write_bytes(content)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    row = rows["001"]
    assert row.status is Status.UNREADABLE, row.message
    assert name in row.message and "\n" not in row.message
    assert str(tmp_path) not in row.message  # names the file, not the scorer's paths
    assert_scored_as_empty(row)


def test_header_claiming_1e12_voxels_is_refused_before_reading(truth_dir, pred_dir, tmp_path,
                                                               reads):
    write_header_only(pred_dir / "001.nii.gz", (10_000, 10_000, 10_000))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE
    assert "voxels" in rows["001"].message
    assert not [p for p in reads if p.parent == pred_dir]


def test_gz_bomb_header_larger_than_truth_is_refused_before_reading(truth_dir, pred_dir,
                                                                    tmp_path, reads):
    # 512 × 512 × 1000 uint8 = 262 MB claimed by a 300-byte file: never inflated
    write_header_only(pred_dir / "001.nii.gz", (512, 512, 1000))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert "512 × 512 × 1000" in rows["001"].message
    assert not [p for p in reads if p.parent == pred_dir]


def test_folder_and_fifo_named_like_a_case_are_unreadable(truth_dir, pred_dir, tmp_path):
    (pred_dir / "001.nii.gz").mkdir()
    os.mkfifo(pred_dir / "002.nii.gz")  # reading it would block forever
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE and "folder" in rows["001"].message
    assert rows["002"].status is Status.UNREADABLE and "regular" in rows["002"].message


def test_symlink_to_truth_file_is_outside_folder_and_never_read(truth_dir, pred_dir,
                                                                 tmp_path, reads):
    (pred_dir / "001.nii.gz").symlink_to(truth_dir / "001.nii.gz")
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OUTSIDE_FOLDER
    assert "symbolic link" in rows["001"].message
    assert_scored_as_empty(rows["001"])
    assert reads == [truth_dir / name for name in ("001.nii.gz", "002.nii.gz", "003.nii.gz")]


def test_relative_symlink_inside_folder_is_refused_too(truth_dir, pred_dir, tmp_path):
    write(pred_dir, "mine.nii.gz", blob())
    (pred_dir / "001.nii.gz").symlink_to("mine.nii.gz")
    rows, result = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OUTSIDE_FOLDER
    assert "mine.nii.gz" in result.summary["ignored_files"]


def test_hard_link_to_truth_file_is_outside_folder(truth_dir, pred_dir, tmp_path):
    os.link(truth_dir / "002.nii.gz", pred_dir / "002.nii.gz")
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["002"].status is Status.OUTSIDE_FOLDER
    assert "hard link" in rows["002"].message


def test_symlinked_subfolder_is_ignored_and_not_followed(truth_dir, pred_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere, "001.nii.gz", blob())
    (pred_dir / "sub").symlink_to(elsewhere, target_is_directory=True)
    (pred_dir / "real_sub").mkdir()
    write(pred_dir / "real_sub", "002.nii.gz", blob())
    rows, result = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.MISSING and rows["002"].status is Status.MISSING
    assert set(result.summary["ignored_files"]) == {"sub", "real_sub/"}


def test_nii_and_nii_gz_of_one_case_are_ambiguous(truth_dir, pred_dir, tmp_path, reads):
    write(pred_dir, "001.nii", blob())
    write(pred_dir, "001.nii.gz", blob())
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.AMBIGUOUS
    assert "001.nii" in rows["001"].message and "001.nii.gz" in rows["001"].message
    assert_scored_as_empty(rows["001"])
    assert not [p for p in reads if p.parent == pred_dir]


@pytest.mark.parametrize(("value", "words"), [(0.73, "not whole"), (np.nan, "NaN"),
                                              (-np.inf, "infinite")])
def test_float_probabilities_nan_and_inf_are_not_a_mask(truth_dir, pred_dir, tmp_path,
                                                        value, words):
    array = blob().astype(np.float32)
    array[4, 10, 12] = value
    write(pred_dir, "001.nii.gz", array)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.NOT_A_MASK
    assert words in rows["001"].message and "001.nii.gz" in rows["001"].message
    assert_scored_as_empty(rows["001"])


def test_float_mask_with_whole_values_is_accepted(truth_dir, pred_dir, tmp_path):
    write(pred_dir, "001.nii.gz", blob().astype(np.float64))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OK and rows["001"].dc == pytest.approx(1.0)


def test_0_255_mask_is_binarised_and_accepted_with_a_warning(truth_dir, pred_dir, tmp_path):
    write(pred_dir, "001.nii.gz", blob() * 255)
    write(pred_dir, "002.nii.gz", blob(2, 9, 4, 12, 4, 12).astype(np.int16) * -3)
    rows, result = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OK
    assert rows["001"].dc == pytest.approx(1.0)  # not inflated by the raw 255s
    assert "255" in rows["001"].message
    assert rows["002"].status is Status.OK and "-3" in rows["002"].message
    assert any("case 001" in w and "255" in w for w in result.summary["warnings"])


def _moved(**changes):
    fields = {"size_xyz": GEOMETRY.size_xyz, "spacing_xyz_mm": GEOMETRY.spacing_xyz_mm,
              "origin_mm": GEOMETRY.origin_mm, "direction": GEOMETRY.direction}
    return Geometry(**{**fields, **changes})


OTHER_GEOMETRIES = {
    "spacing": _moved(spacing_xyz_mm=(0.45, 0.45, 2.5)),
    "origin": _moved(origin_mm=(-7.0, 3.5, 25.0)),
    "direction": _moved(direction=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)),
}


@pytest.mark.parametrize("field", sorted(OTHER_GEOMETRIES))
def test_other_spacing_origin_direction_is_geometry_mismatch(truth_dir, pred_dir, tmp_path,
                                                             field):
    write(pred_dir, "001.nii.gz", blob(), geometry=OTHER_GEOMETRIES[field])
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert field in rows["001"].message and "--lenient-geometry" in rows["001"].message
    assert_scored_as_empty(rows["001"])


@pytest.mark.parametrize("field", ["origin", "spacing"])
def test_lenient_geometry_scores_with_truth_spacing_and_warns(truth_dir, pred_dir, tmp_path,
                                                              field):
    write(pred_dir, "001.nii.gz", blob(z0=4, z1=8), geometry=OTHER_GEOMETRIES[field])
    rows, result = score(pred_dir, truth_dir, tmp_path, lenient_geometry=True)
    assert rows["001"].status is Status.OK
    assert rows["001"].hd == pytest.approx(5.0)  # the truth's 5 mm slices
    assert field in rows["001"].message
    assert any("case 001" in w and "lenient" in w for w in result.summary["warnings"])


@pytest.mark.parametrize("lenient", [False, True])
def test_wrong_shape_is_geometry_mismatch_even_when_lenient(truth_dir, pred_dir, tmp_path,
                                                            lenient):
    small = _moved(size_xyz=(32, 32, 11))
    write(pred_dir, "001.nii.gz", np.ones(small.shape, np.uint8), geometry=small)
    rows, _ = score(pred_dir, truth_dir, tmp_path, lenient_geometry=lenient)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert "32 × 32 × 11" in rows["001"].message and "32 × 32 × 12" in rows["001"].message


@pytest.mark.parametrize("problem", ["corrupt", "probabilities"])
def test_bad_truth_file_gives_a_nan_row_and_does_not_stop_the_run(truth_dir, pred_dir,
                                                                  tmp_path, problem):
    if problem == "corrupt":
        (truth_dir / "002.nii.gz").write_bytes(b"\x1f\x8b garbage")
    else:
        write(truth_dir, "002.nii.gz", blob().astype(np.float32) * 0.5)
    write(pred_dir, "001.nii.gz", blob())
    write(pred_dir, "002.nii.gz", blob())
    rows, result = score(pred_dir, truth_dir, tmp_path)
    assert rows["002"].status is Status.TRUTH_UNREADABLE
    assert "truth" in rows["002"].message and "002.nii.gz" in rows["002"].message
    assert math.isnan(rows["002"].dc) and math.isnan(rows["002"].gt_voxels)
    assert rows["001"].status is Status.OK
    assert result.summary["metrics"]["dc"]["count"] == 2
    assert any("unusable truth" in w for w in result.summary["warnings"])


def test_unknown_ids_and_stray_files_are_listed_as_ignored(truth_dir, pred_dir, tmp_path):
    write(pred_dir, "1.nii.gz", blob())
    (pred_dir / "README.txt").write_text("hello")
    (pred_dir / ".DS_Store").write_bytes(b"\0")
    (pred_dir / "extra").mkdir()
    _, result = score(pred_dir, truth_dir, tmp_path)
    assert result.summary["ignored_files"] == [".DS_Store", "1.nii.gz", "README.txt",
                                               "extra/"]
    assert any("1.nii.gz" in w and "001.nii.gz" in w for w in result.summary["warnings"])


@pytest.mark.parametrize("kind", ["vector", "2d"])
def test_not_one_scalar_3d_volume_is_unreadable(truth_dir, pred_dir, tmp_path, kind):
    import SimpleITK as sitk

    if kind == "vector":  # e.g. a softmax output with 3 channels per voxel
        image = sitk.GetImageFromArray(np.zeros((*GEOMETRY.shape, 3), np.uint8), isVector=True)
    else:
        image = sitk.GetImageFromArray(np.zeros((32, 32), np.uint8))
    sitk.WriteImage(image, str(pred_dir / "001.nii.gz"))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE
    assert ("components" if kind == "vector" else "2D") in rows["001"].message


def test_lenient_geometry_refuses_another_direction_on_another_grid(truth_dir, pred_dir,
                                                                     tmp_path):
    # x mirrored about the origin: not one voxel centre in common with the truth's grid
    write(pred_dir, "001.nii.gz", blob(), geometry=OTHER_GEOMETRIES["direction"])
    rows, _ = score(pred_dir, truth_dir, tmp_path, lenient_geometry=True)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert "do not lie on the truth's grid" in rows["001"].message


def _flipped_x_and_y() -> Geometry:
    """GEOMETRY with x and y reversed: origin at the last voxel, direction negated."""
    d = np.reshape(GEOMETRY.direction, (3, 3))
    last = np.asarray(GEOMETRY.origin_mm) + d @ (np.asarray(GEOMETRY.spacing_xyz_mm)
                                                 * (np.asarray(GEOMETRY.size_xyz) - 1)
                                                 * np.array([1, 1, 0]))
    flipped = d * np.array([-1.0, -1.0, 1.0])  # columns x and y reversed
    return _moved(origin_mm=tuple(float(v) for v in last),
                  direction=tuple(float(v) for v in flipped.ravel()))


def test_lenient_geometry_reorients_a_physically_identical_flipped_mask_exactly(
        truth_dir, pred_dir, tmp_path):
    truth = blob(x0=3, x1=9)  # asymmetric in x and y, so a flip would show
    write(truth_dir, "001.nii.gz", truth)
    write(pred_dir, "001.nii.gz", truth[:, ::-1, ::-1].copy(), geometry=_flipped_x_and_y())
    rows, _ = score(pred_dir, truth_dir, tmp_path, lenient_geometry=True)
    assert rows["001"].status is Status.OK and rows["001"].dc == pytest.approx(1.0)
    assert "reoriented exactly" in rows["001"].message


def test_flipped_mask_without_lenient_geometry_is_refused_with_the_option(
        truth_dir, pred_dir, tmp_path):
    write(pred_dir, "001.nii.gz", blob()[:, ::-1, ::-1].copy(), geometry=_flipped_x_and_y())
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert "flipped" in rows["001"].message and "--lenient-geometry" in rows["001"].message
