"""`ichbench score` on label maps: --label-map, --absent-class, classes.csv (issue 22)."""

import json

import numpy as np
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry((32, 32, 12), (0.45, 0.45, 5.0), (0.0, 0.0, 0.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def _folders(tmp_path):
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    truth.mkdir(), pred.mkdir()
    gt = np.zeros(GEOMETRY.shape, np.uint8)
    gt[3:7, 4:10, 4:10] = 2
    gt[3:7, 20:26, 20:26] = 5
    pr = gt.copy()
    pr[pr == 5] = 4
    write_volume(gt, GEOMETRY, truth / "001.nii.gz")
    write_volume(pr, GEOMETRY, pred / "001.nii.gz")
    return truth, pred


def test_score_label_maps_writes_classes_and_subtypes_and_prints_them(tmp_path):
    truth, pred = _folders(tmp_path)
    result = CliRunner().invoke(cli, ["score", str(pred), "--truth", str(truth), "--out",
                                      str(tmp_path / "out"), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "classes: mean DC IPH 1.0000 (1), SAH 0.0000 (1), SDH 0.0000 (1)" in result.output
    assert "subtypes (lesions found, pooled DC): IPH 1/1 DC 1.0000, SDH 1/1" in result.output
    assert (tmp_path / "out" / "classes.csv").is_file()
    assert (tmp_path / "out" / "subtypes.csv").is_file()


def test_score_label_map_option_and_absent_class_reach_the_summary(tmp_path):
    truth, pred = _folders(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["score", str(pred), "--truth", str(truth), "--out",
                                      str(out), "--jobs", "1", "--label-map",
                                      "2=IPH,4=SAH,5=SDH,9=other", "--absent-class", "one",
                                      "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"]["absent_class"] == "one"
    assert summary["classes"]["label_map"] == {"2": "IPH", "4": "SAH", "5": "SDH"}


def test_score_bad_label_map_is_a_usage_error(tmp_path):
    truth, pred = _folders(tmp_path)
    result = CliRunner().invoke(cli, ["score", str(pred), "--truth", str(truth), "--out",
                                      str(tmp_path / "out"), "--label-map", "1=EDH,oops"])
    assert result.exit_code == 2
    assert "--label-map" in result.output and "value=name" in result.output
