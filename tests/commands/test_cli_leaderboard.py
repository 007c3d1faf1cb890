"""`ichbench leaderboard` through click's CliRunner: outputs, exit codes, one-line errors."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.reports.bench import make_teams


def test_leaderboard_cli_from_score_folders_and_published_csv(tmp_path):
    folders = make_teams(tmp_path / "teams", 3, 10, seed=2)
    published = tmp_path / "published.csv"
    published.write_text("team,dc,nsd,hd,rvd\nwinner,0.6925,0.5359,35.27,0.2121\n"
                         "second,0.7206,0.5200,inf,0.2500\n", encoding="utf-8")
    out = tmp_path / "lb"
    result = CliRunner().invoke(cli, ["leaderboard", str(published), *map(str, folders),
                                      "--out", str(out), "--bootstrap", "50", "--seed", "1",
                                      "--name", "x", "--name", "y", "--name", "z",
                                      "--no-figures"])
    assert result.exit_code == 0, result.output
    assert "| 1 | winner |" in result.output
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as handle:
        teams = [row["team"] for row in csv.DictReader(handle)]
    assert sorted(teams) == ["second", "winner", "x", "y", "z"]
    assert (out / "ci.csv").is_file() and (out / "leaderboard.tex").is_file()


def test_leaderboard_cli_csv_missing_a_column_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("team,dc,nsd,hd\nA,1,1,1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["leaderboard", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "missing column(s) rvd" in result.output and "Traceback" not in result.output


def test_leaderboard_cli_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["leaderboard", "--out", str(tmp_path)]).exit_code == 2
    result = runner.invoke(cli, ["leaderboard", str(tmp_path / "nope"), "--out", "o"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["leaderboard", str(tmp_path), "--out", "o",
                                 "--ranking", "best"])
    assert result.exit_code == 2


def test_leaderboard_cli_rank_then_aggregate(tmp_path):
    folders = make_teams(tmp_path / "teams", 3, 8, seed=3)
    result = CliRunner().invoke(cli, ["leaderboard", *map(str, folders), "--out",
                                      str(tmp_path / "lb"), "--ranking",
                                      "rank-then-aggregate", "--bootstrap", "0",
                                      "--no-figures"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lb" / "rank_then_aggregate.csv").is_file()
