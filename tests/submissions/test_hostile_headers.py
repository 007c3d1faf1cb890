"""Header and stream tricks, scored end to end: each ends in the right status.

The reader-level checks are tested in tests/io/test_nifti_hostile.py; here a real
file of each class goes through score_folder, and the output folder's own traps.
"""

import gzip
import os
import stat
import struct

import numpy as np
import pytest
from submission_files import blob, write

from ichbench.submissions import ScoreError, Status, score_folder


def score(pred_dir, truth_dir, tmp_path, **options):
    result = score_folder(pred_dir, truth_dir, tmp_path / "out", jobs=1, progress=False,
                          **options)
    return {row.case: row for row in result.cases}, result


def _content(tmp_path, array) -> bytearray:
    path = write(tmp_path, "plain.nii", array)
    content = bytearray(path.read_bytes())
    path.unlink()
    return content


def test_uint8_mask_with_tiny_scl_slope_is_not_a_mask(truth_dir, pred_dir, tmp_path):
    content = _content(tmp_path, blob())
    struct.pack_into("<ff", content, 112, 1e-30, 0.0)
    (pred_dir / "001.nii.gz").write_bytes(gzip.compress(bytes(content)))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.NOT_A_MASK and "whole numbers" in rows["001"].message


def test_float_nan_mask_with_wrong_bitpix_is_unreadable_not_ok(truth_dir, pred_dir, tmp_path):
    array = blob().astype(np.float32)
    array[0, 0, 0] = np.nan
    content = _content(tmp_path, array)
    struct.pack_into("<h", content, 72, 16)
    (pred_dir / "001.nii.gz").write_bytes(gzip.compress(bytes(content)))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE and "bitpix" in rows["001"].message


def test_float_nan_mask_with_a_consistent_header_is_not_a_mask(truth_dir, pred_dir, tmp_path):
    array = blob().astype(np.float32)
    array[0, 0, 0] = np.nan
    write(pred_dir, "001.nii.gz", array)
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.NOT_A_MASK and "NaN" in rows["001"].message


def test_vox_offset_far_past_the_header_is_unreadable(truth_dir, pred_dir, tmp_path):
    content = _content(tmp_path, blob())
    struct.pack_into("<f", content, 108, float(1 << 30))
    (pred_dir / "001.nii.gz").write_bytes(gzip.compress(bytes(content[:352]) + bytes(1 << 20)))
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.UNREADABLE and "vox_offset" in rows["001"].message


def test_truth_that_is_a_fifo_is_named_as_such(truth_dir, pred_dir, tmp_path):
    (truth_dir / "002.nii.gz").unlink()
    os.mkfifo(truth_dir / "002.nii.gz")
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["002"].status is Status.TRUTH_UNREADABLE
    assert "not a regular file" in rows["002"].message


def test_upper_case_suffix_gets_a_rename_hint(truth_dir, pred_dir, tmp_path):
    os.rename(write(pred_dir, "001.nii.gz", blob()), pred_dir / "001.NII.GZ")
    rows, _ = score(pred_dir, truth_dir, tmp_path)
    assert rows["001"].status is Status.MISSING
    assert "001.NII.GZ" in rows["001"].message and "rename it to 001.nii.gz" in rows[
        "001"].message


def test_results_are_written_with_the_umask_not_private(truth_dir, pred_dir, tmp_path):
    old = os.umask(0o022)
    try:
        _, result = score(pred_dir, truth_dir, tmp_path)
    finally:
        os.umask(old)
    for path in (result.cases_csv, result.summary_json):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("where", ["truth", "truth/sub", "file/out", "csv_dir"])
def test_unusable_output_folder_is_a_score_error_before_scoring(truth_dir, pred_dir, tmp_path,
                                                                where):
    (tmp_path / "file").write_text("a regular file")
    out = {"truth": truth_dir, "truth/sub": truth_dir / "sub", "file/out": tmp_path / "file/out",
           "csv_dir": tmp_path / "out"}[where]
    if where == "csv_dir":
        (out / "cases.csv").mkdir(parents=True)
    expected = {"truth": "lies in the truth folder", "truth/sub": "lies in the truth folder",
                "file/out": "is a file, not a folder", "csv_dir": "cases.csv exists and is not"}
    with pytest.raises(ScoreError, match=expected[where]):
        score_folder(pred_dir, truth_dir, out, jobs=1, progress=False)
    assert not (truth_dir / "cases.csv").exists()


def test_non_utf8_truth_file_name_is_a_score_error(truth_dir, pred_dir, tmp_path):
    os.rename(truth_dir / "003.nii.gz", truth_dir / os.fsdecode(b"00\xff.nii.gz"))
    with pytest.raises(ScoreError, match="not valid UTF-8; rename it"):
        score_folder(pred_dir, truth_dir, tmp_path / "out", jobs=1, progress=False)
