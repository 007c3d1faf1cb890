"""cases.csv columns and the one mean, shared by summary.json and the leaderboard."""

import math

import pytest

from ichbench.reports import inputs
from ichbench.reports.inputs import case_means, read_cases_csv
from ichbench.submissions.case import CaseScore
from ichbench.submissions.columns import CASE_COLUMNS, CSV_COLUMNS, SUMMARY_METRICS, mean
from ichbench.submissions.lesions import LESION_COLUMNS
from ichbench.submissions.status import Status
from ichbench.submissions.summary import summarize, write_cases_csv

NAN, INF = math.nan, math.inf


def test_every_column_is_a_case_score_attribute_or_lesion_column_after_message():
    fields = set(CaseScore.__dataclass_fields__)
    end = CSV_COLUMNS.index("message")
    assert all(column.name in fields for column in CASE_COLUMNS[:end + 1])
    assert CSV_COLUMNS[end + 1:] == LESION_COLUMNS
    assert CSV_COLUMNS[:2] == ("case", "status") and end == 12
    assert all(column.meaning.endswith(".") for column in CASE_COLUMNS)


def test_reports_read_the_columns_declared_in_submissions():
    assert inputs.CASE_COLUMNS == SUMMARY_METRICS + LESION_COLUMNS


@pytest.mark.parametrize(("values", "expected"), [([1.0, 3.0], 2.0), ([1.0, NAN, 3.0], 2.0),
                                                  ([0.0, INF], INF), ([NAN, NAN], NAN),
                                                  ([], NAN)])
def test_mean_leaves_nan_out_and_keeps_inf(values, expected):
    got = mean(values)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_truth_unreadable_case_is_left_out_of_both_summary_and_leaderboard_means(tmp_path):
    rows = (CaseScore("001", Status.OK, 0.8, 0.6, 4.0, 3.0, 0.1, 2.0, 2.2, 10, 11, 9),
            CaseScore("002", Status.OK, 0.6, 0.4, 6.0, 5.0, 0.3, 3.0, 2.1, 12, 8, 7),
            CaseScore.unmeasured("003", Status.TRUTH_UNREADABLE, "truth: fix it"))
    write_cases_csv(tmp_path / "cases.csv", rows)
    summary = summarize(rows, tolerance_mm=0.42, version="t", predictions="p", truth="t",
                        ignored_files=(), warnings=())
    means, _ = case_means(read_cases_csv(tmp_path / "cases.csv"))
    for metric in ("dc", "nsd", "hd", "hd95", "rvd"):
        assert means[metric] == pytest.approx(summary["metrics"][metric]["mean"], abs=0)
    assert means["dc"] == pytest.approx(0.7) and summary["metrics"]["dc"]["count"] == 2
