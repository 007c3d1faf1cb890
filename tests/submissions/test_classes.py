"""Label maps: classes.csv, subtypes.csv and their summary blocks (issue 22, items 1-2).

Fixtures are boxes on the 12 × 32 × 32 test grid (0.45 × 0.45 × 5 mm); every expected
number is counted by hand from the boxes.
"""

import csv
import json
import math

import numpy as np
import pytest
from submission_files import GEOMETRY, write

from ichbench.submissions import score_folder
from ichbench.submissions.classes import LabelMapError, class_names, parse_label_map


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _box(array, value, z, y, x):
    array[z[0]:z[1], y[0]:y[1], x[0]:x[1]] = value
    return array


@pytest.fixture
def label_folders(tmp_path):
    """Case 001: IPH (2) and SDH (5) in the truth; the prediction calls the SDH a SAH (4).

    Case 002: EDH (1) alone in truth and prediction (a label-map case that looks binary).
    Case 003: nothing in either.
    """
    truth, pred, binary = (tmp_path / n for n in ("truth", "pred", "binary"))
    for folder in (truth, pred, binary):
        folder.mkdir()
    gt = _box(np.zeros(GEOMETRY.shape, np.uint8), 2, (3, 7), (4, 10), (4, 10))  # 144 voxels
    _box(gt, 5, (3, 7), (20, 26), (20, 26))                                      # 144 voxels
    pr = _box(np.zeros(GEOMETRY.shape, np.uint8), 2, (3, 7), (4, 10), (4, 10))
    _box(pr, 4, (3, 7), (20, 26), (20, 26))
    edh = _box(np.zeros(GEOMETRY.shape, np.uint8), 1, (2, 5), (5, 9), (5, 9))
    empty = np.zeros(GEOMETRY.shape, np.uint8)
    for name, t, p in (("001", gt, pr), ("002", edh, edh), ("003", empty, empty)):
        write(truth, f"{name}.nii.gz", t)
        write(pred, f"{name}.nii.gz", p)
        write(binary, f"{name}.nii.gz", (p > 0).astype(np.uint8))
    return truth, pred, binary, tmp_path


def test_classes_csv_has_a_row_per_case_and_class_present_and_wrong_subtype_is_fn_and_fp(
        label_folders):
    truth, pred, _, tmp = label_folders
    result = score_folder(pred, truth, tmp / "out", jobs=1)
    rows = {(r["case"], r["class"]): r for r in _rows(result.classes_csv)}
    assert sorted(rows) == [("001", "IPH"), ("001", "SAH"), ("001", "SDH"), ("002", "EDH")]
    sdh, sah = rows["001", "SDH"], rows["001", "SAH"]
    assert (sdh["lesion_fn"], sdh["lesion_tp"], sdh["dc"]) == ("1", "0", "0.0")
    assert (sah["lesion_fp"], sah["lesion_tp"], sah["dc"]) == ("1", "0", "0.0")
    assert rows["001", "IPH"]["dc"] == "1.0"
    # merged ICH: the mislabelled lesion is found, cases.csv is as if binary
    merged = {r["case"]: r for r in _rows(result.cases_csv)}
    assert (merged["001"]["lesion_tp"], merged["001"]["lesion_fn"], merged["001"]["dc"]) == (
        "2", "0", "1.0")
    assert list(_rows(result.cases_csv)[0])[:3] == ["case", "status", "dc"]
    assert list(rows["001", "IPH"])[:4] == ["case", "class", "status", "dc"]


def test_classes_summary_leaves_absent_classes_out_by_default_and_macro_averages(
        label_folders):
    truth, pred, _, tmp = label_folders
    summary = score_folder(pred, truth, tmp / "out", jobs=1).summary["classes"]
    per_class = summary["per_class"]
    assert summary["absent_class"] == "nan"
    assert {n: c["rows"] for n, c in per_class.items()} == {
        "EDH": 1, "IPH": 1, "SAH": 1, "SDH": 1}
    assert per_class["IPH"]["absent_cases"] == 2
    assert per_class["SDH"]["metrics"]["dc"]["mean"] == 0.0
    assert summary["macro"]["dc"] == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert summary["label_map"] == {"1": "EDH", "2": "IPH", "4": "SAH", "5": "SDH"}


def test_absent_class_one_adds_a_perfect_row_per_case_without_the_class(label_folders):
    truth, pred, _, tmp = label_folders
    summary = score_folder(pred, truth, tmp / "out", jobs=1,
                           absent_class="one").summary["classes"]
    sdh = summary["per_class"]["SDH"]["metrics"]
    # SDH: one row with DC 0 (case 001), two cases without SDH scored DC 1, HD 0
    assert sdh["dc"]["mean"] == pytest.approx(2 / 3)
    assert sdh["dc"]["count"] == 3
    assert summary["per_class"]["SDH"]["metrics"]["hd"]["mean"] == math.inf


def test_binary_submission_on_binary_truth_scores_exactly_as_before(tmp_path):
    truth, pred = tmp_path / "t", tmp_path / "p"
    truth.mkdir(), pred.mkdir()
    lesion = _box(np.zeros(GEOMETRY.shape, np.uint8), 1, (3, 7), (4, 10), (4, 10))
    write(truth, "001.nii.gz", lesion)
    write(pred, "001.nii.gz", _box(lesion.copy(), 1, (3, 7), (10, 12), (4, 10)))
    result = score_folder(pred, truth, tmp_path / "out", jobs=1)
    assert result.classes_csv is None and result.subtypes_csv is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cases.csv",
                                                                     "summary.json"]
    summary = json.loads(result.summary_json.read_text())
    assert "classes" not in summary and "subtypes" not in summary
    score = result.cases[0]
    assert score.classes is None and score.subtypes is None


def test_binary_submission_on_label_map_truth_writes_subtypes_not_classes(label_folders):
    truth, _, binary, tmp = label_folders
    result = score_folder(binary, truth, tmp / "out", jobs=1)
    assert result.classes_csv is None
    rows = {(r["case"], r["class"]): r for r in _rows(result.subtypes_csv)}
    assert sorted(rows) == [("001", "IPH"), ("001", "SDH"), ("002", "EDH")]
    assert rows["002", "EDH"]["detected"] == "1"  # the EDH-only case, rescored per subtype
    blocks = result.summary["subtypes"]
    assert blocks["SDH"]["lesion_recall"] == 1.0 and blocks["SDH"]["dc_pooled"] == 1.0


def test_subtypes_show_what_a_binary_method_misses(tmp_path):
    truth, pred = tmp_path / "t", tmp_path / "p"
    truth.mkdir(), pred.mkdir()
    gt = _box(np.zeros(GEOMETRY.shape, np.uint8), 2, (3, 7), (4, 10), (4, 10))  # IPH 144
    _box(gt, 5, (3, 7), (20, 26), (20, 22))                                      # SDH 48
    # finds the IPH with 48 extra voxels around it, misses the SDH
    pr = _box(np.zeros(GEOMETRY.shape, np.uint8), 1, (3, 7), (4, 12), (4, 10))
    write(truth, "001.nii.gz", gt)
    write(pred, "001.nii.gz", pr)
    result = score_folder(pred, truth, tmp_path / "out", jobs=1)
    rows = {r["class"]: r for r in _rows(result.subtypes_csv)}
    assert float(rows["IPH"]["dc"]) == pytest.approx(2 * 144 / (144 + 192))
    assert (rows["SDH"]["detected"], rows["SDH"]["dc"]) == ("0", "0.0")
    assert float(rows["SDH"]["missed_volume_ml"]) == pytest.approx(48 * 0.45 * 0.45 * 5e-3)


def test_label_map_names_classes_and_forces_label_map_mode(label_folders):
    truth, pred, _, tmp = label_folders
    result = score_folder(pred, truth, tmp / "out", jobs=1,
                          label_map={1: "epi", 2: "parenchymal", 4: "sub", 5: "dura"})
    assert {r["class"] for r in _rows(result.classes_csv)} == {"epi", "parenchymal", "sub",
                                                               "dura"}


def test_parse_label_map_forms(tmp_path):
    path = tmp_path / "map.json"
    path.write_text('{"1": "EDH", "7": "other"}')
    assert parse_label_map(str(path)) == {1: "EDH", 7: "other"}
    assert parse_label_map("1=EDH,2=IPH") == {1: "EDH", 2: "IPH"}
    assert parse_label_map('{"3": "IVH"}') == {3: "IVH"}
    for bad in ("1=EDH,x", "0=bg", "1=a,2=a", "a=b"):
        with pytest.raises(LabelMapError):
            parse_label_map(bad)


def test_class_names_default_to_bhsd_only_within_1_to_5():
    assert class_names([1, 3], None) == {1: "EDH", 3: "IVH"}
    assert class_names([1, 6], None) == {1: "1", 6: "6"}
    assert class_names([1, 6], {6: "six"}) == {1: "1", 6: "six"}


def test_per_class_metrics_agree_with_surface_distance(tmp_path):
    """Each class of random multi-class cases against DeepMind's code on ``== c`` masks."""
    surface_distance = pytest.importorskip("surface_distance")
    for old, new in (("Inf", np.inf), ("NaN", np.nan)):
        if not hasattr(np, old):
            setattr(np, old, new)
    rng = np.random.default_rng(22)
    truth, pred = tmp_path / "t", tmp_path / "p"
    truth.mkdir(), pred.mkdir()
    arrays = {}
    for index in range(4):
        gt = np.zeros(GEOMETRY.shape, np.uint8)
        pr = np.zeros(GEOMETRY.shape, np.uint8)
        for value in (1, 2, 3, 4, 5):
            for target, shift in ((gt, 0), (pr, 1)):
                z, y, x = (int(v) for v in rng.integers([0, 0, 0], [9, 26, 26]))
                d = int(rng.integers(0, 2)) * shift
                target[z:z + 3, y + d:y + 5 + d, x:x + 4] = value
        arrays[f"{index:03d}"] = (gt, pr)
        write(truth, f"{index:03d}.nii.gz", gt)
        write(pred, f"{index:03d}.nii.gz", pr)
    result = score_folder(pred, truth, tmp_path / "out", jobs=1)
    spacing = GEOMETRY.spacing_zyx_mm
    worst = 0.0
    for row in _rows(result.classes_csv):
        gt, pr = arrays[row["case"]]
        value = {"EDH": 1, "IPH": 2, "IVH": 3, "SAH": 4, "SDH": 5}[row["class"]]
        g, p = gt == value, pr == value
        distances = surface_distance.compute_surface_distances(g, p, spacing)
        reference = {
            "dc": surface_distance.compute_dice_coefficient(g, p),
            "nsd": surface_distance.compute_surface_dice_at_tolerance(distances, 0.42),
            "hd": surface_distance.compute_robust_hausdorff(distances, 100),
            "hd95": surface_distance.compute_robust_hausdorff(distances, 95)}
        for name, expected in reference.items():
            got = float(row[name])
            if math.isinf(expected) or math.isinf(got):
                assert got == expected
                continue
            worst = max(worst, abs(got - expected))
    print(f"per-class max |diff| against surface-distance: {worst:.3g}")
    assert worst < 1e-6


def test_label_maps_drop_the_per_file_label_notes_binary_truth_keeps_them(label_folders,
                                                                         tmp_path):
    truth, pred, binary, tmp = label_folders
    for submission in (pred, binary):
        summary = score_folder(submission, truth, tmp / f"out_{submission.name}",
                               jobs=1).summary
        assert not [w for w in summary["warnings"] if "non-zero labels" in w]
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in truth.iterdir():
        write(flat, path.name, np.zeros(GEOMETRY.shape, np.uint8))
    write(flat, "001.nii.gz", _box(np.zeros(GEOMETRY.shape, np.uint8), 1, (3, 7), (4, 10),
                                   (4, 10)))
    summary = score_folder(pred, flat, tmp / "onbinary", jobs=1).summary
    assert [w for w in summary["warnings"] if "non-zero labels" in w]
