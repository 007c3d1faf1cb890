import math

import numpy as np
import pytest

from ichbench.submissions.case import CaseScore
from ichbench.submissions.lesions import LESION_COLUMNS
from ichbench.submissions.status import Status
from ichbench.submissions.summary import (
    CSV_COLUMNS,
    describe,
    format_number,
    summarize,
    write_cases_csv,
)

INF, NAN = math.inf, math.nan


def test_describe_matches_numpy_on_finite_values():
    values = [0.2, 0.9, 0.5, 0.7, 0.1]
    stats = describe(values)
    assert stats["mean"] == pytest.approx(np.mean(values))
    assert stats["std"] == pytest.approx(np.std(values))  # population std, ddof=0
    assert stats["median"] == pytest.approx(0.5)
    assert stats["q1"] == pytest.approx(np.percentile(values, 25))
    assert stats["q3"] == pytest.approx(np.percentile(values, 75))
    assert (stats["min"], stats["max"], stats["count"]) == (0.1, 0.9, 5)


def test_describe_with_inf_has_inf_mean_and_std_and_no_nan_quantiles():
    stats = describe([1.0, 2.0, INF, INF])
    assert stats["mean"] == INF and stats["std"] == INF and stats["max"] == INF
    assert stats["median"] == INF  # between 2 and inf: inf, never NaN
    assert stats["q1"] == pytest.approx(1.75) and stats["q3"] == INF
    assert stats["count"] == 4


def test_describe_leaves_nan_out_and_count_tells():
    stats = describe([0.5, NAN, 1.5])
    assert stats["mean"] == 1.0 and stats["count"] == 2


def test_describe_of_nothing_is_nan_with_count_0():
    stats = describe([NAN])
    assert stats["count"] == 0 and math.isnan(stats["mean"]) and math.isnan(stats["median"])


@pytest.mark.parametrize(("value", "text"), [(INF, "inf"), (NAN, "nan"), (3, "3"),
                                             (0.1, "0.1"), (np.int64(7), "7"),
                                             (1 / 3, "0.3333333333333333")])
def test_format_number_round_trips(value, text):
    assert format_number(value) == text
    if not math.isnan(float(value)):
        assert float(text) == float(value)


def _row(case, status=Status.OK, **numbers):
    base = dict(dc=0.5, nsd=0.5, hd=2.0, hd95=1.0, rvd=0.1, gt_volume_ml=1.0,
                pred_volume_ml=1.1, gt_voxels=10, pred_voxels=11, tp_voxels=5)
    return CaseScore(case, status, **{**base, **numbers})


def test_cases_csv_has_the_contract_columns_inf_nan_and_one_line_messages(tmp_path):
    rows = [_row("001"), _row("002", Status.MISSING, hd=INF, message="no 002.nii.gz,\nadd it"),
            CaseScore.unmeasured("003", Status.TRUTH_UNREADABLE, "truth broken")]
    write_cases_csv(tmp_path / "cases.csv", rows)
    lines = (tmp_path / "cases.csv").read_text().splitlines()
    # the INSTANCE columns first, unchanged; the lesion columns (issue 13) appended
    lesion_nan = "," + ",".join(["nan"] * len(LESION_COLUMNS))
    assert lines[0] == ("case,status,dc,nsd,hd,hd95,rvd,gt_volume_ml,pred_volume_ml,"
                        "gt_voxels,pred_voxels,tp_voxels,message," + ",".join(LESION_COLUMNS))
    assert tuple(lines[0].split(",")) == CSV_COLUMNS
    assert lines[1] == "001,ok,0.5,0.5,2.0,1.0,0.1,1.0,1.1,10,11,5," + lesion_nan
    assert lines[2] == ('002,missing,0.5,0.5,inf,1.0,0.1,1.0,1.1,10,11,5,"no 002.nii.gz, add it"'
                        + lesion_nan)
    assert lines[3] == ("003,truth_unreadable," + ",".join(["nan"] * 10) + ",truth broken"
                        + lesion_nan)
    assert len(lines) == 4


def test_summary_has_the_contract_keys_and_every_status_counted():
    rows = [_row("001"), _row("002", Status.MISSING, hd=INF)]
    summary = summarize(rows, tolerance_mm=0.42, version="9.9", predictions="p", truth="t",
                        ignored_files=["x.txt"], warnings=["w"])
    assert list(summary) == ["ichbench_version", "tolerance_mm", "hd_percentile", "n_cases",
                             "status_counts", "metrics", "ignored_files", "warnings",
                             "predictions", "truth", "lesions", "clinical"]
    assert summary["status_counts"] == {s.value: int(s in (Status.OK, Status.MISSING))
                                        for s in Status}
    assert list(summary["metrics"]) == ["dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml",
                                        "pred_volume_ml"]
    assert set(summary["metrics"]["dc"]) == {"mean", "std", "median", "q1", "q3", "min",
                                             "max", "count"}
    assert summary["metrics"]["hd"]["mean"] == INF
    assert summary["hd_percentile"] == 100.0 and summary["n_cases"] == 2
    assert summary["warnings"][0] == "w" and "scored as empty" in summary["warnings"][-1]
