""".mha masks in submission and truth folders: same rules and statuses as NIfTI."""

import numpy as np
from submission_files import GEOMETRY, blob, write

from ichbench.io.volumes import write_volume
from ichbench.submissions import Status, score_folder


def write_mha(folder, name, array, geometry=GEOMETRY, compress=True):
    path = folder / name
    write_volume(np.asarray(array), geometry, path, compress=compress)
    return path


def score(pred_dir, truth_dir, tmp_path, name="out"):
    result = score_folder(pred_dir, truth_dir, tmp_path / name, jobs=1, progress=False)
    return {row.case: row for row in result.cases}, result


def test_mixed_folder_scores_mha_like_nifti_and_two_formats_are_ambiguous(truth_dir, pred_dir,
                                                                         tmp_path):
    write_mha(pred_dir, "001.mha", blob(z0=3, z1=6))
    write(pred_dir, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    write_mha(pred_dir, "003.mha", blob(0, 2, 0, 4, 0, 4), compress=False)
    write(pred_dir, "003.nii.gz", blob(0, 2, 0, 4, 0, 4))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.OK and rows["002"].status is Status.OK
    assert rows["003"].status is Status.AMBIGUOUS
    assert "003.mha" in rows["003"].message and "003.nii.gz" in rows["003"].message

    nifti_only = tmp_path / "nifti"
    nifti_only.mkdir()
    write(nifti_only, "001.nii.gz", blob(z0=3, z1=6))
    same, _ = score(nifti_only, truth_dir, tmp_path, "ref")
    assert rows["001"] == same["001"]


def test_mha_truth_folder_is_read(truth_dir, pred_dir, tmp_path):
    mha_truth = tmp_path / "mha_truth"
    mha_truth.mkdir()
    write_mha(mha_truth, "001.mha", blob())
    write(pred_dir, "001.nii.gz", blob())
    rows, _ = score(pred_dir, mha_truth, tmp_path)
    assert list(rows) == ["001"] and rows["001"].status is Status.OK and rows["001"].dc == 1.0


def test_mha_pointing_at_another_file_is_unreadable_and_never_opens_it(truth_dir, pred_dir,
                                                                       tmp_path, monkeypatch):
    secret = tmp_path / "secret.raw"
    secret.write_bytes(blob().tobytes())
    header = ("ObjectType = Image\nNDims = 3\nDimSize = 32 32 12\nElementType = MET_UCHAR\n"
              f"BinaryData = True\nElementDataFile = {secret}\n")
    (pred_dir / "001.mha").write_text(header)
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE
    assert "another file" in rows["001"].message and "LOCAL" in rows["001"].message
    assert str(pred_dir / "001.mha") in opened
    assert str(secret) not in opened


def test_mha_geometry_and_value_rules_match_nifti(truth_dir, pred_dir, tmp_path):
    from ichbench.io.volumes import Geometry

    shifted = Geometry(GEOMETRY.size_xyz, GEOMETRY.spacing_xyz_mm, (0.0, 0.0, 0.0),
                       GEOMETRY.direction)
    write_mha(pred_dir, "001.mha", blob(), geometry=shifted)
    write_mha(pred_dir, "002.mha", blob().astype(np.float32) * 0.5)
    nan_mask = blob().astype(np.float32)
    nan_mask[0, 0, 0] = np.nan
    write_mha(pred_dir, "003.mha", nan_mask)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH and "origin" in rows["001"].message
    assert rows["002"].status is Status.NOT_A_MASK
    assert rows["003"].status is Status.NOT_A_MASK and "NaN" in rows["003"].message


def test_mha_larger_than_truth_is_refused_before_any_voxel_is_read(truth_dir, pred_dir,
                                                                  tmp_path):
    import zlib

    bomb = zlib.compress(bytes(512 * 512 * 400), 9)
    header = ("ObjectType = Image\nNDims = 3\nDimSize = 512 512 400\nElementType = MET_UCHAR\n"
              "BinaryData = True\nCompressedData = True\nElementDataFile = LOCAL\n")
    (pred_dir / "001.mha").write_bytes(header.encode() + bomb)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.GEOMETRY_MISMATCH
    assert "512 × 512 × 400" in rows["001"].message


def test_truncated_or_empty_mha_is_unreadable_and_scored_as_empty(truth_dir, pred_dir,
                                                                   tmp_path):
    good = write_mha(tmp_path, "good.mha", blob())
    (pred_dir / "001.mha").write_bytes(good.read_bytes()[:-20])
    (pred_dir / "002.mha").write_bytes(b"")
    rows, result = score(pred_dir, truth_dir, tmp_path)
    for case in ("001", "002"):
        assert rows[case].status is Status.UNREADABLE
        assert f"{case}.mha" in rows[case].message and "\n" not in rows[case].message
        assert rows[case].dc == 0.0 and rows[case].pred_voxels == 0
    assert result.status_counts["unreadable"] == 2
