"""Reading score folders, run folders and published CSVs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ichbench.reports.inputs import (
    ReportInputError,
    case_means,
    load_inputs,
    read_cases_csv,
    read_published_csv,
)

HEADER = ("case,status,dc,nsd,hd,hd95,rvd,gt_volume_ml,pred_volume_ml,gt_voxels,pred_voxels,"
          "tp_voxels,message\n")


def _write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cases.csv").write_text(HEADER + body, encoding="utf-8")
    return folder


def test_cases_csv_keeps_inf_and_nan_and_means_follow_the_policy(tmp_path):
    folder = _write(tmp_path / "s", "1,ok,0.8,0.6,10,5,0.1,2,2.2,1,1,1,\n"
                                    "2,missing,0,0,inf,inf,1,3,0,1,0,0,no file\n"
                                    "3,ok,1,1,0,0,nan,0,0,0,0,0,\n")
    cases = read_cases_csv(folder / "cases.csv")
    assert cases.ids == ("1", "2", "3") and cases.status[1] == "missing"
    means, n_excluded = case_means(cases)
    assert means["dc"] == pytest.approx(0.6)
    assert math.isinf(means["hd"])
    assert means["rvd"] == pytest.approx(0.55) and n_excluded == 1


def test_cases_csv_missing_column_is_a_one_line_error(tmp_path):
    (tmp_path / "cases.csv").write_text("case,dc,nsd,hd\n1,1,1,1\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"cases.csv: missing column\(s\) rvd"):
        read_cases_csv(tmp_path / "cases.csv")


def test_cases_csv_bad_number_names_line_and_column(tmp_path):
    _write(tmp_path, "1,ok,abc,0.6,10,5,0.1,2,2.2,1,1,1,\n")
    with pytest.raises(ReportInputError, match=r"cases.csv:2: column dc is 'abc'"):
        read_cases_csv(tmp_path / "cases.csv")


def test_published_csv_reads_inf_and_optional_hd95(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_text("team,dc,nsd,hd,rvd\nA,0.69,0.53,inf,0.21\nB,0.72,0.5,30,0.3\n",
                    encoding="utf-8-sig")  # with a byte-order mark, as Excel writes
    teams = read_published_csv(path)
    assert [t.name for t in teams] == ["A", "B"] and math.isinf(teams[0].means["hd"])
    assert teams[0].cases is None and teams[0].kind == "published"


def test_published_csv_missing_column(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_text("team,dc,nsd,hd\nA,1,1,1\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"missing column\(s\) rvd"):
        read_published_csv(path)


def test_load_inputs_names_run_folders_and_errors(tmp_path, tiny_run, team_folders):
    teams = load_inputs([tiny_run, team_folders[0]])
    assert [t.name for t in teams] == ["cascade", "team01"]
    assert teams[0].split == "test" and len(teams[0].cases) == 3
    renamed = load_inputs([team_folders[0], team_folders[1]], names=["x", "y"])
    assert [t.name for t in renamed] == ["x", "y"]
    with pytest.raises(ReportInputError, match="--name given 1 time"):
        load_inputs(team_folders[:2], names=["x"])
    with pytest.raises(ReportInputError, match="appears twice"):
        load_inputs([team_folders[0], team_folders[0]])
    with pytest.raises(ReportInputError, match="no scores for split 'validation'"):
        load_inputs([tiny_run], split="validation")
    with pytest.raises(ReportInputError, match="neither a score folder"):
        load_inputs([tmp_path])
