"""score_raters on MBH-Seg25-style folders: <case>/label_annot_<k>.nii.gz (issue 22.5)."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from submission_files import GEOMETRY, write

from ichbench.cli import cli
from ichbench.submissions import ScoreError
from ichbench.submissions.raters import rater_cases, score_raters


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _box(value, x0, x1):
    mask = np.zeros(GEOMETRY.shape, np.uint8)
    mask[3:7, 8:14, x0:x1] = value
    return mask


@pytest.fixture
def rater_folders(tmp_path):
    """Case a: raters x 4–12 and x 8–16 (IPH, label 2), prediction x 4–12 (IPH).

    Case b: two raters, no prediction (missing).
    """
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    pred.mkdir()
    for case in ("a", "b"):
        (truth / case).mkdir(parents=True)
        write(truth / case, "label_annot_1.nii.gz", _box(2, 4, 12))
        write(truth / case, "label_annot_2.nii.gz", _box(2, 8, 16))
        write(truth / case, "image.nii.gz", np.zeros(GEOMETRY.shape, np.int16))
    write(pred, "a.nii.gz", _box(2, 4, 12))
    return truth, pred, tmp_path / "out"


def test_rater_cases_finds_raters_in_order_and_skips_the_image(rater_folders):
    truth, _, _ = rater_folders
    found = rater_cases(truth)
    assert [p.name for p in found["a"]] == ["label_annot_1.nii.gz", "label_annot_2.nii.gz"]


def test_score_raters_hand_case(rater_folders):
    truth, pred, out = rater_folders
    summary = score_raters(pred, truth, out, jobs=1)
    multi = {(r["case"], r["class"]): r for r in _rows(out / "multirater.csv")}
    assert sorted(multi) == [("a", "ICH"), ("a", "IPH"), ("b", "ICH"), ("b", "IPH")]
    a = multi["a", "ICH"]
    # 4·6·8 = 192 voxels per mask, overlap of the raters 96: DC 0.5, IoU 1/3
    # (MBH-Seg25's toolkit's definitions, ichbench.metrics.raters)
    assert float(a["dice_max"]) == pytest.approx(1.0)
    assert float(a["dice_max_reverse"]) == pytest.approx(0.75)   # (1 + 0.5)/2
    assert float(a["dice_max_mean"]) == pytest.approx(0.875)
    assert float(a["dice_match"]) == pytest.approx(0.75)
    assert float(a["interrater_dice_mean"]) == pytest.approx(0.5, abs=1e-5)
    # soft: t = .1, .3 the raters' union (288 voxels) against P (192, all inside):
    # 2·192/480 = 0.8; t = .5, .7, .9 their intersection (96): 2·96/288 = 2/3
    assert float(a["dice_soft"]) == pytest.approx((2 * 0.8 + 3 * 2 / 3) / 5)
    # d(R1,P) = 0, d(R2,P) = 1 - 96/288 = 2/3; E[d(R,R')] = (0 + 2/3 + 2/3 + 0)/4
    assert float(a["ged"]) == pytest.approx(2 * (2 / 3) / 2 - (4 / 3) / 4)
    b = multi["b", "ICH"]
    # an empty prediction: the toolkit's Dice 1e-8/192 against each rater, GED 1
    assert b["status"] == "missing"
    assert float(b["dice_max"]) == pytest.approx(0.0, abs=1e-9)
    assert float(b["ged"]) == 1.0
    per_rater = [r for r in _rows(out / "raters.csv") if r["case"] == "a"
                 and r["class"] == "ICH"]
    assert [r["rater"] for r in per_rater] == ["1", "2"]
    assert float(per_rater[1]["hd"]) == pytest.approx(4 * 0.45)
    block = summary["raters"]["classes"]["ICH"]
    assert block["interrater_dice_mean"] == pytest.approx(0.5, abs=1e-5)
    assert block["model_dice_mean"] == pytest.approx((0.75 + 0.0) / 2, abs=1e-5)
    assert summary["status_counts"]["missing"] == 1
    # cases.csv: against the consensus, here the union of the two raters (x 4-16)
    cases = {r["case"]: r for r in _rows(out / "cases.csv")}
    assert float(cases["a"]["dc"]) == pytest.approx(2 * 192 / (192 + 288), abs=1e-5)
    assert cases["b"]["status"] == "missing"


def test_score_raters_refuses_a_folder_without_rater_masks(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "p").mkdir()
    with pytest.raises(ScoreError, match="label_annot"):
        score_raters(tmp_path / "p", tmp_path / "t", tmp_path / "o")


def test_cli_score_raters(rater_folders):
    truth, pred, out = rater_folders
    result = CliRunner().invoke(cli, ["score", str(pred), "--truth", str(truth), "--out",
                                      str(out), "--raters", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "ICH: dice_mean 0.3750" in result.output
    assert "inter-rater Dice 0.5000" in result.output
    assert (out / "multirater.csv").is_file() and (out / "raters.csv").is_file()


def test_binary_prediction_against_label_raters_gets_merged_rows_only(rater_folders):
    truth, pred, out = rater_folders
    write(pred, "a.nii.gz", (_box(2, 4, 12) > 0).astype(np.uint8))
    write(pred, "b.nii.gz", np.zeros(GEOMETRY.shape, np.uint8))
    score_raters(pred, truth, out, jobs=1)
    assert {r["class"] for r in _rows(out / "multirater.csv")} == {"ICH"}
    # a label map in one case makes the whole submission a label map: every case is
    # rescored per class, and case a's 1 is then read as EDH (a false positive of EDH)
    write(pred, "b.nii.gz", _box(2, 8, 16))
    score_raters(pred, truth, out, jobs=1)
    assert {(r["case"], r["class"]) for r in _rows(out / "multirater.csv")} == {
        ("a", "ICH"), ("a", "EDH"), ("a", "IPH"), ("b", "ICH"), ("b", "IPH")}


def test_a_case_holding_only_label_1_gets_its_class_rows_in_a_label_map_submission(
        tmp_path):
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    pred.mkdir()
    for case, value in (("a", 1), ("b", 2)):  # a: EDH alone (looks binary), b: IPH
        (truth / case).mkdir(parents=True)
        for k in (1, 2):
            write(truth / case, f"label_annot_{k}.nii.gz", _box(value, 4, 12))
        write(pred, f"{case}.nii.gz", _box(value, 4, 12))
    score_raters(pred, truth, tmp_path / "out", jobs=1)
    rows = {(r["case"], r["class"]) for r in _rows(tmp_path / "out" / "multirater.csv")}
    assert ("a", "EDH") in rows and ("b", "IPH") in rows
