"""decisive_cases on a hand-built INSTANCE-like leaderboard (issue 22.6)."""

import csv
import math

import numpy as np
import pytest

from ichbench.reports.decisive import decisive_cases, decisive_summary, ranks_of
from ichbench.reports.leaderboard import build_leaderboard

METRICS = ("dc", "nsd", "hd", "rvd")
INF = math.inf


def _board():
    """Three teams, three cases; b and c left case '192' empty (HD inf).

    a: best DC, finite HD everywhere; b: second DC, HD inf on 192; c: DC and NSD worst.
    """
    teams = ["a", "b", "c"]
    cases = ["101", "159", "192"]
    dc = [[0.8, 0.8, 0.5], [0.9, 0.9, 0.0], [0.7, 0.7, 0.0]]
    nsd = [[0.7, 0.7, 0.4], [0.8, 0.8, 0.0], [0.6, 0.6, 0.0]]
    hd = [[30.0, 30.0, 80.0], [10.0, 10.0, INF], [20.0, 20.0, INF]]
    rvd = [[0.2, 0.2, 0.5], [0.1, 0.1, 1.0], [0.3, 0.3, 1.0]]
    return teams, cases, np.array([dc, nsd, hd, rvd], float)


def test_baseline_ranks_follow_the_instance_scheme():
    teams, _, values = _board()
    # means: dc a .7 b .6 c .467; nsd a .6 b .533 c .4; hd a 46.7 b inf c inf;
    # rvd a .3 b .4 c .533 -> ranks a 1,1,1,1; b 2,2,2,2; c 3,3,2,3
    assert ranks_of(teams, values, METRICS, scheme="instance") == {"a": 1, "b": 2, "c": 3}


def test_removing_or_capping_the_empty_case_moves_the_podium():
    teams, cases, values = _board()
    rows = decisive_cases(teams, cases, values, METRICS, scheme="instance")
    removed = [r for r in rows if r["scenario"] == "removed" and r["case"] == "192"]
    # without 192: b has the best DC, NSD, HD and RVD -> b 1, a 2
    assert {(r["team"], r["rank"], r["new_rank"]) for r in removed} == {("a", 1, 2),
                                                                          ("b", 2, 1)}
    assert all(r["podium_changed"] == 1 for r in removed)
    capped = [r for r in rows if r["scenario"] == "hd_capped"]
    assert {r["case"] for r in capped} <= {"192"}
    assert all(r["teams_with_inf_hd"] == "b;c" for r in capped)
    b_row = next(r for r in removed if r["team"] == "b")
    assert (b_row["team_dc"], b_row["team_hd"]) == (0.0, INF)
    assert not [r for r in rows if r["case"] == "101" and r["scenario"] == "removed"]


def test_capped_hd_changes_hd_ranks_only_where_it_matters():
    teams, cases, values = _board()
    values = values.copy()
    rows = decisive_cases(teams, cases, values, METRICS, hd_cap_mm=374.0)
    every = [r for r in rows if r["scenario"] == "all_hd_capped"]
    # capped: hd means a 46.7, b 131.3, c 138: ranks unchanged (a 1, b 2, c 3)
    assert every == []


def test_summary_lists_podium_changes_first():
    teams, cases, values = _board()
    summary = decisive_summary(decisive_cases(teams, cases, values, METRICS))
    assert summary[0]["podium_changed"] == "yes"
    assert summary[0]["case"] == "192" and "a 1→2" in summary[0]["changes"]


def test_rank_then_aggregate_scheme_is_rerun_too():
    teams, cases, values = _board()
    rows = decisive_cases(teams, cases, values, METRICS, scheme="rank-then-aggregate")
    assert all(r["scenario"] in ("removed", "hd_capped", "all_hd_capped") for r in rows)


def test_leaderboard_writes_decisive_cases_csv(team_folders, tmp_path):
    build_leaderboard(team_folders, tmp_path / "board", n_bootstrap=0, figures=False)
    path = tmp_path / "board" / "decisive_cases.csv"
    with open(path, newline="") as handle:
        header = next(csv.reader(handle))
    assert header[:5] == ["scenario", "case", "team", "rank", "new_rank"]
    assert (tmp_path / "board" / "decisive_cases.md").is_file()


@pytest.mark.parametrize("n_cases", [1])
def test_a_single_case_is_never_removed(n_cases):
    values = np.ones((4, 2, n_cases))
    assert decisive_cases(["a", "b"], ["1"], values, METRICS) == []
