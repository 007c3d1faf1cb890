"""`ichbench data synth|check|show` through the CLI (CliRunner) and the library."""

from __future__ import annotations

import os

import numpy as np
from click.testing import CliRunner
from ich_layout import GEOM, _write, make_release

from ichbench.cli import cli
from ichbench.data.datacheck import check_dataset
from ichbench.io.volumes import Geometry, write_volume


def run(*args):
    return CliRunner().invoke(cli, ["data", *map(str, args)])


def test_synth_writes_instance_layout_and_check_accepts_it(tmp_path):
    out = tmp_path / "syn"
    res = run("synth", out, "--cases", 3, "--preset", "small", "--seed", 5, "--jobs", 2)
    assert res.exit_code == 0, res.output
    assert "wrote 3 cases" in res.output
    assert [p.name for p in (out / "train" / "data").iterdir()] == ["001.nii.gz"]
    assert sorted(p.name for p in (out / "evaluation_label").iterdir()) == ["101.nii.gz",
                                                                           "131.nii.gz"]
    assert (out / "ichbench_synthetic.json").is_file()
    res = run("check", out)
    assert res.exit_code == 0, res.output
    assert "train 1, validation 1, test 1" in res.output
    assert "0 error(s)" in res.output
    assert "label values" not in res.output     # phantom v6's subtype codes are expected
    fig = tmp_path / "fig.png"
    res = run("show", out, "--out", fig, "--cases", "001,131")
    assert res.exit_code == 0, res.output
    assert fig.stat().st_size > 10_000


def test_synth_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    res = run("synth", tmp_path, "--cases", 3)
    assert res.exit_code != 0 and "not empty" in res.output


def test_check_clean_tiny_release_exits_0(tmp_path):
    make_release(tmp_path)
    res = run("check", tmp_path)
    assert res.exit_code == 0, res.output
    assert "train 6, validation 2, test 2" in res.output


def test_check_accepts_train_2(tmp_path):
    make_release(tmp_path, train_dir="train_2", eval_labels=False)
    res = run("check", tmp_path)
    assert res.exit_code == 0, res.output


def test_check_never_modifies_the_data(tmp_path):
    make_release(tmp_path)
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    run("check", tmp_path)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")}
    assert before == after


def test_check_missing_label_is_an_error(tmp_path):
    make_release(tmp_path)
    (tmp_path / "train" / "label" / "004.nii.gz").unlink()
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "ERROR   train/data/004.nii.gz: training CT without label" in res.output


def test_check_geometry_mismatch_is_an_error(tmp_path):
    make_release(tmp_path)
    shifted = Geometry(GEOM.size_xyz, GEOM.spacing_xyz_mm, (11.0, -3.0, 2.0), GEOM.direction)
    _write(tmp_path / "train" / "label" / "002.nii.gz", 1, shifted)
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "train/label/002.nii.gz: label grid differs from its CT: origin" in res.output


def test_check_label_values(tmp_path):
    make_release(tmp_path)
    write_volume(np.full(GEOM.shape, 0.5, np.float32), GEOM,
                 tmp_path / "train" / "label" / "003.nii.gz")
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "train/label/003.nii.gz: label values 0.5 are not a mask" in res.output
    # 0/255 masks are usable (non-zero = hemorrhage): a warning only.
    _write(tmp_path / "train" / "label" / "003.nii.gz", 255)
    res = run("check", tmp_path)
    assert res.exit_code == 0, res.output
    assert "WARNING train/label/003.nii.gz: label values 255" in res.output


def test_check_reports_orientation_blank_slices_and_unreadable_files(tmp_path):
    make_release(tmp_path)
    flipped = Geometry(GEOM.size_xyz, GEOM.spacing_xyz_mm, GEOM.origin_mm,
                       (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    _write(tmp_path / "evaluation" / "101.nii.gz", 40, flipped)
    _write(tmp_path / "evaluation_label" / "101.nii.gz", 0, flipped)
    (tmp_path / "evaluation" / "131.nii.gz").write_bytes(b"not nifti")
    report = check_dataset(tmp_path)
    lines = [str(p) for p in report.problems]
    assert any("evaluation/101.nii.gz: flipped orientation" in ln for ln in lines)
    assert any("blank slice" in ln for ln in lines)
    assert any(ln.startswith("ERROR   evaluation/131.nii.gz") for ln in lines)
    assert not report.usable


def test_check_without_train_folder_exits_1(tmp_path):
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "no train/data/" in res.output


def test_show_unknown_case_is_a_one_line_error(tmp_path):
    make_release(tmp_path)
    res = run("show", tmp_path, "--out", tmp_path / "f.png", "--cases", "999")
    assert res.exit_code != 0
    assert "no case '999'" in res.output
    assert not os.path.exists(tmp_path / "f.png")


def test_check_reports_nan_voxels_in_a_ct_and_a_label(tmp_path):
    make_release(tmp_path)
    ct = np.full(GEOM.shape, 40.0, np.float32)
    ct[0, 0, 0] = -1000.0
    ct[1, 2, 3] = np.nan
    write_volume(ct, GEOM, tmp_path / "train" / "data" / "002.nii.gz")
    label = np.zeros(GEOM.shape, np.float32)
    label[2, 2, 2] = np.nan
    write_volume(label, GEOM, tmp_path / "train" / "label" / "003.nii.gz")
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "train/data/002.nii.gz: 1 NaN or infinite voxel(s)" in res.output
    assert "train/label/003.nii.gz: 1 NaN or infinite voxel(s)" in res.output


def test_check_reports_a_ct_that_is_a_fifo_or_a_link_to_dev_zero(tmp_path):
    make_release(tmp_path)
    os.mkfifo(tmp_path / "evaluation" / "140.nii.gz")
    os.symlink("/dev/zero", tmp_path / "evaluation" / "141.nii.gz")
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "evaluation/140.nii.gz: is not a regular file" in res.output
    assert "evaluation/141.nii.gz: is not a regular file" in res.output


def test_check_reports_a_file_name_that_is_not_utf8(tmp_path):
    make_release(tmp_path)
    name = os.fsdecode(b"1\xff2.nii.gz")
    _write(tmp_path / "evaluation" / "142.nii.gz", 40)
    os.rename(tmp_path / "evaluation" / "142.nii.gz", tmp_path / "evaluation" / name)
    res = run("check", tmp_path)
    assert res.exit_code == 1
    assert "not valid UTF-8; rename it" in res.output and "Traceback" not in res.output
