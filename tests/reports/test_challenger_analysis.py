"""Leaderboards with --ranking lesionwise, challengeR tables, strata and task consensus."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.reports.analysis import analyse
from ichbench.reports.challenger import kendall_tau_to_bootstrap, test_then_rank
from ichbench.reports.inputs import ReportInputError, load_inputs
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.reports.tasks import build_task_leaderboards, parse_tasks


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _with_lesion_columns(folder, dest, dc, hd95, f1):
    """Copy a score folder and append lesion-wise columns with the given per-case values."""
    shutil.copytree(folder, dest)
    cases = pd.read_csv(dest / "cases.csv", keep_default_na=False)
    n = len(cases)
    cases["lesionwise_dc"] = np.resize(dc, n)
    cases["lesionwise_hd95"] = np.resize(hd95, n)
    cases["lesion_f1"] = np.resize(f1, n)
    cases.to_csv(dest / "cases.csv", index=False)
    return dest


def test_lesionwise_ranking_ranks_the_means_of_its_three_metrics(tmp_path, team_folders):
    # a: best DC and F1, worst HD95 -> ranks 1, 3, 1; b: 2, 1, 3; c: 3, 2, 2
    a = _with_lesion_columns(team_folders[0], tmp_path / "a", [0.9, 0.8], [30.0, 40.0], [1.0])
    b = _with_lesion_columns(team_folders[1], tmp_path / "b", [0.7, 0.8], [5.0, 5.0], [0.2])
    c = _with_lesion_columns(team_folders[2], tmp_path / "c", [0.5, 0.6], [10.0, 12.0], [0.5])
    analysis = build_leaderboard([a, b, c], tmp_path / "lb", n_bootstrap=50, figures=False,
                                 ranking="lesionwise")
    rows = _rows(tmp_path / "lb" / "leaderboard.csv")
    assert list(rows[0]) == ["rank", "team", "score", "lesionwise_dc", "lesionwise_hd95",
                             "lesion_f1", "rank_lesionwise_dc", "rank_lesionwise_hd95",
                             "rank_lesion_f1"]
    by = {r["team"]: r for r in rows}
    assert float(by["a"]["score"]) == pytest.approx(5 / 3)
    assert float(by["b"]["score"]) == pytest.approx(2.0)
    assert float(by["c"]["score"]) == pytest.approx(7 / 3)
    assert [r["team"] for r in rows] == ["a", "b", "c"]
    assert analysis.metrics == ("lesionwise_dc", "lesionwise_hd95", "lesion_f1")
    assert {r["metric"] for r in analysis.pairwise_rows} == set(analysis.metrics)


def test_lesionwise_ranking_without_lesion_columns_names_the_fix(team_folders):
    teams = load_inputs(team_folders[:2])
    with pytest.raises(ReportInputError, match="rescore with 'ichbench score'"):
        analyse(teams, ranking="lesionwise", n_bootstrap=0)


def test_challenger_tables_match_the_statistics_they_format(tmp_path, team_folders):
    analysis = build_leaderboard(team_folders, tmp_path / "lb", n_bootstrap=60, seed=2,
                                 figures=False)
    out = tmp_path / "lb"
    for name in ("test_then_rank.csv", "significance.csv", "ranking_methods.csv",
                 "kendall_tau.csv"):
        assert (out / name).is_file(), name
    direct = test_then_rank(analysis.paired, analysis.values[0], metric="dc")
    written = [r for r in _rows(out / "test_then_rank.csv") if r["metric"] == "dc"]
    assert {r["team"]: int(r["wins"]) for r in written} == dict(
        zip(analysis.paired, direct.wins.tolist(), strict=True))
    res = analysis.challenger
    full = np.array([next(r["rank"] for r in analysis.table if r["team"] == t)
                     for t in analysis.boot.teams])
    np.testing.assert_array_equal(res.taus["instance"],
                                  kendall_tau_to_bootstrap(full, analysis.boot.ranks))
    methods = _rows(out / "ranking_methods.csv")
    assert list(methods[0])[1:] == list(res.methods)
    leader = {r["team"]: int(r["rank"]) for r in analysis.table}
    for row in methods:  # aggregate-then-rank (mean) is the INSTANCE ranking
        assert int(row["aggregate-then-rank (mean)"]) == leader[row["team"]]


def test_strata_consensus_ranks_each_truth_volume_stratum(tmp_path, team_folders):
    analysis = analyse(load_inputs(team_folders), n_bootstrap=0)
    res = analysis.challenger
    volume = analysis.teams[0].cases.subset(analysis.case_ids).values["gt_volume_ml"]
    expected = {"<5 mL": int((volume < 5).sum()),
                "5–30 mL": int(((volume >= 5) & (volume < 30)).sum()),
                "≥30 mL": int((volume >= 30).sum())}
    assert res.stratum_cases == {k: v for k, v in expected.items() if v}
    if len(res.stratum_ranks) >= 2:
        mean = {t: np.mean([r[t] for r in res.stratum_ranks.values()])
                for t in analysis.paired}
        assert {r["team"]: r["mean_rank"] for r in res.consensus} == pytest.approx(mean)


def _reversed_copy(folder, dest):
    shutil.copytree(folder, dest)
    cases = pd.read_csv(dest / "cases.csv", keep_default_na=False)
    cases["dc"] = 1.0 - cases["dc"]
    cases["nsd"] = 1.0 - cases["nsd"]
    cases.to_csv(dest / "cases.csv", index=False)
    return dest


def test_task_consensus_is_the_mean_rank_over_tasks(tmp_path, team_folders):
    small = [(None, str(f)) for f in team_folders[:3]]
    large = [(None, str(_reversed_copy(f, tmp_path / "large" / f.name)))
             for f in team_folders[:3]]
    analyses, rows = build_task_leaderboards({"small": small, "large": large},
                                             tmp_path / "out", n_bootstrap=30, figures=False)
    ranks = {task: {r["team"]: r["rank"] for r in a.table} for task, a in analyses.items()}
    for row in rows:
        assert row["mean_rank"] == pytest.approx(
            (ranks["small"][row["team"]] + ranks["large"][row["team"]]) / 2)
        assert row["rank_small"] == ranks["small"][row["team"]]
    assert (tmp_path / "out" / "consensus.csv").is_file()
    assert (tmp_path / "out" / "tasks" / "small" / "leaderboard.csv").is_file()


def test_tasks_with_different_teams_or_bad_specs_are_one_line_errors(tmp_path, team_folders):
    with pytest.raises(ReportInputError, match="different teams"):
        build_task_leaderboards(parse_tasks([f"a={team_folders[0]}", f"a={team_folders[1]}",
                                             f"b={team_folders[0]}", f"b={team_folders[2]}"]),
                                tmp_path / "o", n_bootstrap=0, figures=False)
    with pytest.raises(ReportInputError, match="NAME=PATH"):
        parse_tasks(["nonsense"])
    with pytest.raises(ReportInputError, match="for every input of the task or for none"):
        parse_tasks(["a:x=p", "a=q"])
    with pytest.raises(ReportInputError, match="two or more"):
        build_task_leaderboards(parse_tasks([f"x={team_folders[0]}"]), tmp_path / "o")


def test_team_names_in_task_specs_name_folders_that_share_a_name(tmp_path, team_folders):
    specs = []
    for task in ("small", "large"):
        for team, folder in zip(("x", "y"), team_folders[:2], strict=True):
            copy = tmp_path / team / task  # both teams' folders are called small / large
            shutil.copytree(folder, copy)
            specs.append(f"{task}:{team}={copy}")
    analyses, rows = build_task_leaderboards(parse_tasks(specs), tmp_path / "out",
                                             n_bootstrap=0, figures=False)
    assert sorted(r["team"] for r in rows) == ["x", "y"]
    assert {r["team"] for r in analyses["large"].table} == {"x", "y"}


def test_cli_task_and_lesionwise_options(tmp_path, team_folders):
    out = tmp_path / "cli"
    args = ["leaderboard", "--out", str(out), "--bootstrap", "20", "--no-figures"]
    for task in ("t1", "t2"):
        args += [f"--task={task}={f}" for f in team_folders[:2]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "mean_rank" in result.output and (out / "consensus.md").is_file()
    result = CliRunner().invoke(cli, ["leaderboard", str(team_folders[0]), "--task",
                                      f"a={team_folders[0]}", "--out", str(out)])
    assert result.exit_code == 2 and "not both" in result.output
    result = CliRunner().invoke(cli, ["leaderboard", *map(str, team_folders[:2]), "--ranking",
                                      "lesionwise", "--out", str(out / "lw"), "--no-figures"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rescore" in result.output and result.output.strip().count("\n") == 0


def test_docstring_examples_run():
    import doctest

    from ichbench.reports import tasks

    result = doctest.testmod(tasks)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("name", ["../../x", "..", ".", "/ABS", "a/b", "a\\b", "a\x00b",
                                  "a b", "x" * 101, "y" * 200_000])
def test_cli_task_name_that_is_not_one_folder_name_is_refused_before_writing(
        tmp_path, team_folders, name):
    # issue 23: --task ../../x wrote a leaderboard into a sibling of --out
    out = tmp_path / "deep" / "er" / "out"
    if name == "/ABS":
        name = str(tmp_path / "abs")
    args = ["leaderboard", "--out", str(out), "--bootstrap", "0", "--no-figures"]
    for task in (name, "ok"):
        args += [f"--task={task}:{team}={folder}"
                 for team, folder in zip("ab", team_folders[:2], strict=True)]
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0
    assert "task name" in result.output and "must be 1-100 letters" in result.output
    assert len(result.output) < 400
    assert sorted(tmp_path.rglob("*")) == before


def test_task_names_are_checked_by_the_library_too(tmp_path, team_folders):
    tasks = {"../x": [(None, str(team_folders[0]))], "ok": [(None, str(team_folders[0]))]}
    with pytest.raises(ReportInputError, match=r"task name '\.\./x'"):
        build_task_leaderboards(tasks, tmp_path / "out", n_bootstrap=0, figures=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "out").exists()
