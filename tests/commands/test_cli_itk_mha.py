"""`.mha` files as SimpleITK converts them from NIfTI, through `score` and `grand-challenge`.

``sitk.WriteImage(sitk.ReadImage("x.nii.gz"), "x.mha")`` copies the NIfTI's header fields
into the MetaImage header (``dim[0] = 3``, ``pixdim[1] = 0.45``, ``srow_x = ...``). Such a
truth and such a perfect prediction must score as any other file: ``ok``, DC 1, HD 0.
"""

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry((16, 16, 8), (0.45, 0.45, 5.0), (-3.0, 7.5, 12.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
CASES = {"131": ("sitkUInt8", True), "177": ("sitkInt16", False),
         "200": ("sitkFloat32", True), "201": ("sitkUInt64", False)}


def lesion(shift=0):
    mask = np.zeros(GEOMETRY.shape, np.uint8)
    mask[2:5, 4 + shift:10 + shift, 5:11] = 1
    return mask


def convert(nifti, mha, pixel_type, compress):
    """What participants and organisers do: read a NIfTI with SimpleITK, write .mha."""
    source = sitk.ReadImage(str(nifti))
    image = sitk.Cast(source, getattr(sitk, pixel_type))
    for key in source.GetMetaDataKeys():  # Cast drops the metadata; a pipeline keeps it
        image.SetMetaData(key, source.GetMetaData(key))
    sitk.WriteImage(image, str(mha), useCompression=compress)
    assert b"srow_x = " in mha.read_bytes()[:4096]


@pytest.fixture
def folders(tmp_path):
    """Truth converted to .mha; a perfect converted prediction per case, 201 shifted."""
    nifti, truth, sub = tmp_path / "nifti", tmp_path / "truth", tmp_path / "sub"
    for folder in (nifti, truth, sub):
        folder.mkdir()
    for cid, (pixel_type, compress) in CASES.items():
        write_volume(lesion(), GEOMETRY, nifti / f"{cid}.nii.gz")
        convert(nifti / f"{cid}.nii.gz", truth / f"{cid}.mha", "sitkUInt8", compress)
        source = nifti / f"{cid}-pred.nii.gz"
        write_volume(lesion(1 if cid == "201" else 0), GEOMETRY, source)
        convert(source, sub / f"{cid}.mha", pixel_type, not compress)
    return truth, sub, tmp_path


def expected(row):
    if row["case"] == "201":  # one row of voxels (0.45 mm) off
        return row["status"] == "ok" and 0 < float(row["dc"]) < 1 and float(row["hd"]) > 0
    return row["status"] == "ok" and float(row["dc"]) == 1.0 and float(row["hd"]) == 0.0


def test_score_reads_converted_truth_and_predictions(folders):
    truth, sub, tmp_path = folders
    result = CliRunner().invoke(cli, ["score", str(sub), "--truth", str(truth), "--out",
                                      str(tmp_path / "scores"), "-j", "1"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "scores" / "cases.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["case"] for row in rows] == list(CASES)
    assert all(expected(row) for row in rows), rows


def test_grand_challenge_evaluates_converted_truth_and_predictions(folders):
    truth, sub, tmp_path = folders
    out = tmp_path / "gc"
    tree = CliRunner().invoke(cli, ["grand-challenge", "dry-run", str(sub), "--truth",
                                    str(truth), "--out", str(out), "-j", "1"])
    assert tree.exit_code == 0, tree.output
    result = CliRunner().invoke(cli, ["grand-challenge", "evaluate", "--input",
                                      str(out / "input"), "--ground-truth", str(truth),
                                      "--output", str(out / "again"), "-j", "1"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "again" / "metrics.json").read_text())
    assert [case["case"] for case in metrics["cases"]] == list(CASES)
    assert all(expected(case) for case in metrics["cases"]), metrics["cases"]
    assert metrics["aggregates"]["status_counts"]["ok"] == len(CASES)
