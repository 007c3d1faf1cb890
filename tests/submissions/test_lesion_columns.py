"""The lesion-wise columns of cases.csv and the lesions/clinical blocks of summary.json."""

import csv
import json
import math
import tracemalloc

import numpy as np
import pytest
from submission_files import GEOMETRY, blob, write

from ichbench.io.volumes import Geometry, read_geometry, write_volume
from ichbench.submissions import score_folder
from ichbench.submissions.lesions import LESION_COLUMNS, lesion_summary
from ichbench.submissions.summary import CSV_COLUMNS, describe

VOXEL_ML = 0.45 * 0.45 * 5.0 / 1000


def test_lesion_columns_are_appended_after_the_instance_columns():
    assert CSV_COLUMNS[:13][-1] == "message"
    assert CSV_COLUMNS[13:] == LESION_COLUMNS
    assert {"lesion_tp", "lesion_fp", "lesion_fn", "lesion_f1", "lesionwise_dc",
            "lesionwise_hd95", "abs_volume_error_ml", "recall_lt1ml"} <= set(LESION_COLUMNS)


def test_score_folder_writes_lesion_counts_and_the_pooled_summary(truth_dir, pred_dir, tmp_path):
    two = blob(2, 4, 2, 6, 2, 6) | blob(8, 10, 20, 28, 20, 28)  # 32 and 128 voxels
    write(truth_dir, "001.nii.gz", two)
    pred = blob(2, 4, 2, 6, 2, 6) | blob(6, 7, 28, 30, 0, 2)   # finds one, adds a 4-voxel FP
    write(pred_dir, "001.nii.gz", pred)
    write(pred_dir, "003.nii.gz", np.zeros(GEOMETRY.shape, np.uint8))  # empty on empty
    result = score_folder(pred_dir, truth_dir, tmp_path / "out", jobs=1, progress=False)
    with open(tmp_path / "out" / "cases.csv", newline="") as handle:
        rows = {r["case"]: r for r in csv.DictReader(handle)}
    first = rows["001"]
    assert (first["lesion_tp"], first["lesion_fp"], first["lesion_fn"]) == ("1", "1", "1")
    assert float(first["lesion_f1"]) == pytest.approx(2 / 4)
    assert float(first["fp_volume_ml"]) == pytest.approx(4 * VOXEL_ML)
    assert float(first["abs_volume_error_ml"]) == pytest.approx(abs(36 - 160) * VOXEL_ML)
    assert first["gt_lesions_lt1ml"] == "2" and first["recall_lt1ml"] == "0.5"
    assert first["recall_ge30ml"] == "nan"
    assert float(first["lesionwise_hd95"]) == pytest.approx((0 + 374 + 374) / 3)
    missing = rows["002"]  # no file: scored as empty, its lesion missed
    assert (missing["lesion_tp"], missing["lesion_fn"], missing["lesion_f1"]) == ("0", "1",
                                                                                 "0.0")
    assert rows["003"]["lesion_f1"] == "1.0"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    pooled = summary["lesions"]
    assert (pooled["lesion_tp"], pooled["lesion_fp"], pooled["lesion_fn"]) == (1, 1, 2)
    assert pooled["lesion_f1_pooled"] == pytest.approx(2 / 5)
    assert pooled["recall_by_volume"]["lt1ml"] == {"lesions": 3, "detected": 1,
                                                   "recall": pytest.approx(1 / 3)}
    assert summary["clinical"]["n"] == 3
    assert summary["clinical"]["detection_tn"] == 1
    assert result.cases[0].lesion["lesion_tp"] == 1


def test_lesion_summary_leaves_unknown_rows_out_and_empty_runs_perfect():
    known = {c: 0 for c in LESION_COLUMNS}
    unknown = {c: math.nan for c in LESION_COLUMNS}
    out = lesion_summary([known, unknown], [0.0, math.nan], [0.0, 1.0], describe)
    assert out["lesions"]["cases"] == 1 and out["lesions"]["lesion_f1_pooled"] == 1.0
    assert out["clinical"]["n_excluded"] == 1
    nothing = lesion_summary([unknown], [math.nan], [math.nan], describe)
    assert math.isnan(nothing["lesions"]["lesion_f1_pooled"])


# large enough that the fixed 32 MiB of look-up buffers does not dominate the bound
BIG = Geometry((256, 256, 16), (0.45, 0.45, 5.0), (0.0, 0.0, 0.0),
               (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def _attack(kind):
    """Issue 23's attacks at test size: a box over 64 lesions, a one-voxel-per-2³ speckle."""
    gt, pred = np.zeros(BIG.shape, np.uint8), np.zeros(BIG.shape, np.uint8)
    if kind == "box":
        for y in np.linspace(20, 232, 8).astype(int):
            for x in np.linspace(20, 232, 8).astype(int):
                gt[7:9, y:y + 3, x:x + 3] = 1
        pred[2:14, 10:246, 10:246] = 1
    else:
        gt[4:12, 80:180, 80:180] = 1
        pred[::2, ::2, ::2] = 1
    return gt, pred


@pytest.mark.parametrize("kind", ["box", "speckle"])
def test_attacks_score_within_the_memory_bound_with_the_arrays_values(tmp_path, kind):
    """Scored from files, in one process: the README's bound (64 B per truth voxel + 32
    MiB beyond the process) holds for the metrics and lesions, and the row is what the
    metrics give on the arrays."""
    from ichbench.metrics import evaluate_case, evaluate_lesions

    gt, pred = _attack(kind)
    for folder, array in (("truth", gt), ("pred", pred)):
        (tmp_path / folder).mkdir()
        write_volume(array, BIG, tmp_path / folder / "001.nii.gz")
    tracemalloc.start()
    result = score_folder(tmp_path / "pred", tmp_path / "truth", tmp_path / "out", jobs=1,
                          progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * gt.size + (32 << 20)
    row = result.cases[0]
    spacing = read_geometry(tmp_path / "truth" / "001.nii.gz").spacing_zyx_mm  # float32
    case = evaluate_case(gt, pred, spacing_mm=spacing)
    lesions = evaluate_lesions(gt, pred, spacing_mm=spacing)
    assert row.status.value == "ok" and row.hd95 == case.hd95 and row.nsd == case.nsd
    assert row.lesion["lesion_tp"] == lesions.lesion_tp
    assert row.lesion["lesion_fp"] == lesions.lesion_fp
    assert row.lesion["lesionwise_hd95"] == lesions.lesionwise_hd95
