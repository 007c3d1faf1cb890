"""The pandas API: score folders, run folders and leaderboards as DataFrames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichbench.reports.frames import (
    describe_by,
    load_leaderboard,
    load_results,
    load_run,
    load_scores,
)
from ichbench.reports.inputs import ReportInputError, read_cases_csv
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.submissions.summary import describe


def test_load_scores_keeps_inf_nan_status_and_every_column(team_folders):
    frame = load_scores(team_folders[0])
    assert list(frame.columns[:4]) == ["team", "split", "case", "status"]
    assert (frame["team"] == team_folders[0].name).all()
    table = read_cases_csv(team_folders[0] / "cases.csv")
    assert frame["case"].tolist() == list(table.ids)
    for column in ("dc", "hd", "rvd"):
        np.testing.assert_array_equal(frame[column].to_numpy(), table.values[column])
    assert frame["hd"].dtype == float


def test_load_results_stacks_runs_and_score_folders_with_names(team_folders, tiny_run):
    frame = load_results([team_folders[0], tiny_run], names=["mine", "run"])
    assert set(frame["team"]) == {"mine", "run"}
    assert set(frame.loc[frame["team"] == "run", "split"]) == {"test", "train_oof"}
    assert len(frame) == len(load_scores(team_folders[0])) + len(load_run(tiny_run))
    with pytest.raises(ReportInputError, match="one per path"):
        load_results([team_folders[0]], names=["a", "b"])


def test_load_run_refuses_an_unknown_split(tiny_run):
    assert set(load_run(tiny_run, splits=["test"])["split"]) == {"test"}
    with pytest.raises(ReportInputError, match="validation"):
        load_run(tiny_run, splits=["validation"])


def test_describe_by_gives_the_summary_json_statistics(team_folders):
    frame = load_results(team_folders[:2])
    table = describe_by(frame, "hd")
    for team, group in frame.groupby("team"):
        expected = describe(group["hd"].tolist())
        for key, value in expected.items():
            got = table.loc[team, key]
            assert (math.isnan(value) and math.isnan(got)) or got == pytest.approx(value)


def test_load_leaderboard_table_and_cases(team_folders, tmp_path):
    build_leaderboard(team_folders[:2], tmp_path / "lb", n_bootstrap=0, figures=False)
    board = load_leaderboard(tmp_path / "lb")
    assert board["rank"].is_monotonic_increasing and len(board) == 2
    cases = load_leaderboard(tmp_path / "lb", cases=True)
    assert set(cases["team"]) == set(board["team"]) and cases["dc"].dtype == float
    with pytest.raises(ReportInputError, match="ichbench leaderboard"):
        load_leaderboard(tmp_path)


def test_a_value_that_is_not_a_number_is_a_one_line_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "cases.csv").write_text("case,status,dc\n001,ok,high\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="column dc holds 'high'"):
        load_scores(folder)
