"""Leaderboard inputs an attacker or a spreadsheet could hand over: one-line errors only."""

from __future__ import annotations

import math
import shutil

import pytest
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.reports.inputs import ReportInputError, read_cases_csv, read_published_csv
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.reports.tables import latex_text


def test_latin1_published_csv_is_a_one_line_error(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_bytes("team,dc,nsd,hd,rvd\nMüller,0.7,0.5,30,0.2\n".encode("latin-1"))
    with pytest.raises(ReportInputError, match=r"pub\.csv: not UTF-8 text .* save it as UTF-8"):
        read_published_csv(path)


def test_latin1_cases_csv_in_a_score_folder_is_a_one_line_error(tmp_path, team_folders):
    folder = tmp_path / "team"
    shutil.copytree(team_folders[0], folder)
    text = (folder / "cases.csv").read_text(encoding="utf-8")
    (folder / "cases.csv").write_bytes(text.replace("\n", ",é\n", 2).encode("latin-1"))
    result = CliRunner().invoke(cli, ["leaderboard", str(folder), "--out", str(tmp_path / "lb")])
    assert result.exit_code == 1 and "not UTF-8 text" in result.output
    assert "Traceback" not in result.output


def test_field_over_the_csv_limit_is_a_one_line_error(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_text("team,dc,nsd,hd,rvd\n" + "x" * 200_000 + ",0.7,0.5,30,0.2\n",
                    encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"not a readable CSV .*field limit"):
        read_published_csv(path)


@pytest.mark.parametrize(("row", "metric"), [("Cheat,5,9,-inf,-3", "dc"),
                                             ("Cheat,0.5,1.5,10,0.1", "nsd"),
                                             ("Cheat,0.5,0.5,-1,0.1", "hd"),
                                             ("Cheat,0.5,0.5,10,-0.1", "rvd"),
                                             ("Cheat,nan,0.5,10,0.1", "dc")])
def test_implausible_published_means_are_refused_with_the_line(tmp_path, row, metric):
    path = tmp_path / "pub.csv"
    path.write_text(f"team,dc,nsd,hd,rvd\nFair,0.7,0.5,30,0.2\n{row}\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match=rf"pub\.csv:3: {metric} "):
        read_published_csv(path)


def test_published_inf_hd_is_still_accepted(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_text("team,dc,nsd,hd,rvd\nA,0.7,0.5,inf,0.2\n", encoding="utf-8")
    assert math.isinf(read_published_csv(path)[0].means["hd"])


def test_cases_csv_with_dice_above_one_is_refused(tmp_path, team_folders):
    folder = tmp_path / "team"
    shutil.copytree(team_folders[0], folder)
    lines = (folder / "cases.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[2] = "1.5"  # dc
    lines[1] = ",".join(cells)
    (folder / "cases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"cases\.csv:2: dc = 1.5 is outside \[0, 1\]"):
        read_cases_csv(folder / "cases.csv")


def test_inf_inside_a_team_name_stays_text_in_latex():
    tex = latex_text([{"team": "INFINITY lab", "hd": math.inf}], ["team", "hd"])
    assert "INFINITY lab" in tex and r"$\infty$" in tex
    assert r"$\infty$INITY" not in tex


def test_latex_special_team_name_is_escaped_and_figures_draw(tmp_path, team_folders):
    name = "$\\frac$ <&> 100%"
    build_leaderboard(team_folders[:2], tmp_path / "lb", names=[name, "b"], n_bootstrap=20,
                      figures=True)
    tex = (tmp_path / "lb" / "leaderboard.tex").read_text(encoding="utf-8")
    assert r"\$\textbackslash{}frac\$ \textless{}\&\textgreater{} 100\%" in tex
    assert (tmp_path / "lb" / "figures").is_dir()
    assert any((tmp_path / "lb" / "figures").iterdir())


@pytest.mark.parametrize("damage", ["json", "latin1_csv", "missing_key"])
def test_damaged_leaderboard_folder_is_a_one_line_report_error(tmp_path, team_folders, damage):
    from ichbench.reports.leaderboard import load_leaderboard_dir

    out = tmp_path / "lb"
    build_leaderboard(team_folders[:2], out, n_bootstrap=10, figures=False)
    if damage == "json":
        (out / "leaderboard.json").write_text("{not json", encoding="utf-8")
    elif damage == "latin1_csv":
        (out / "cases_long.csv").write_bytes("team,case\nMüller,1\n".encode("latin-1"))
    else:
        (out / "leaderboard.json").write_text('{"inputs": [{}]}', encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"lb: not a leaderboard folder .* build it"):
        load_leaderboard_dir(out)


@pytest.mark.parametrize(("column", "value"), [("lesion_f1", "inf"), ("lesionwise_dc", "3"),
                                               ("lesionwise_hd95", "-50"),
                                               ("recall_lt1ml", "1.5")])
def test_impossible_lesionwise_values_are_refused_not_ranked_first(tmp_path, team_folders,
                                                                   column, value):
    # issue 23: lesion_f1 = inf, lesionwise_dc = 3, lesionwise_hd95 = -50 beat a perfect team
    import pandas as pd

    folders = []
    for i, cheat in enumerate((False, True)):
        folder = tmp_path / f"team{i}"
        shutil.copytree(team_folders[i], folder)
        cases = pd.read_csv(folder / "cases.csv", keep_default_na=False)
        cases["lesionwise_dc"], cases["lesionwise_hd95"], cases["lesion_f1"] = 1.0, 0.0, 1.0
        cases["recall_lt1ml"] = 1.0
        if cheat:
            cases[column] = cases[column].astype(str)
            cases.loc[0, column] = value
        cases.to_csv(folder / "cases.csv", index=False)
        folders.append(str(folder))
    out = tmp_path / "lb"
    result = CliRunner().invoke(cli, ["leaderboard", *folders, "--ranking", "lesionwise",
                                      "--out", str(out), "--no-figures"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0
    assert f"cases.csv:2: {column} = {float(value):g} is outside" in result.output
    assert not (out / "leaderboard.csv").exists()
