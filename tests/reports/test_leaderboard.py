"""Leaderboard folders: files, columns, published path, mixed inputs, round trip."""

from __future__ import annotations

import csv
import math

import pytest

from ichbench.reports.analysis import analyse
from ichbench.reports.inputs import ReportInputError
from ichbench.reports.leaderboard import build_leaderboard, load_leaderboard_dir


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_leaderboard_from_score_folders_writes_every_table(tmp_path, team_folders):
    out = tmp_path / "lb"
    analysis = build_leaderboard(team_folders, out, n_bootstrap=200, seed=3, figures=False,
                                 names=["a_1", "b&2", "c", "d"])
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.tex", "ci.csv",
                 "rank_stability.csv", "rank_then_aggregate.csv", "pairwise_wilcoxon.csv",
                 "instance_ranking.csv", "cases_long.csv", "leaderboard.json"):
        assert (out / name).is_file(), name
    rows = _rows(out / "leaderboard.csv")
    assert list(rows[0]) == ["rank", "team", "score", "dc", "nsd", "hd", "rvd", "rank_dc",
                             "rank_nsd", "rank_hd", "rank_rvd", "hd95"]
    assert [int(r["rank"]) for r in rows] == sorted(int(r["rank"]) for r in rows)
    tex = (out / "leaderboard.tex").read_text(encoding="utf-8")
    assert r"a\_1" in tex and r"b\&2" in tex and r"$\infty$" in tex
    assert len(_rows(out / "pairwise_wilcoxon.csv")) == 4 * 6
    assert len(_rows(out / "ci.csv")) == 4 * 4
    assert any("empty truth" in n for n in analysis.notes)


def test_leaderboard_from_published_csv_ranks_on_means_only(tmp_path):
    path = tmp_path / "instance2022.csv"
    path.write_text("team,dc,nsd,hd,rvd\nwinner,0.6925,0.5359,35.27,0.2121\n"
                    "second,0.7206,0.5200,40.10,0.2500\nthird,0.6925,0.4800,inf,0.2121\n",
                    encoding="utf-8")
    analysis = build_leaderboard([path], tmp_path / "lb", figures=False)
    rows = _rows(tmp_path / "lb" / "leaderboard.csv")
    assert [(r["rank"], r["team"]) for r in rows] == [("1", "winner"), ("2", "second"),
                                                      ("3", "third")]
    assert rows[2]["hd"] == "inf"
    assert analysis.boot is None and not (tmp_path / "lb" / "ci.csv").exists()


def test_rank_then_aggregate_needs_per_case_results(tmp_path, team_folders):
    path = tmp_path / "pub.csv"
    path.write_text("team,dc,nsd,hd,rvd\nP,0.7,0.5,30,0.2\n", encoding="utf-8")
    with pytest.raises(ReportInputError, match="rank-then-aggregate needs per-case"):
        build_leaderboard([path, *team_folders], tmp_path / "lb", figures=False,
                          ranking="rank-then-aggregate")
    analysis = build_leaderboard([path, *team_folders], tmp_path / "lb2", figures=False,
                                 n_bootstrap=50)
    assert len(analysis.table) == 5 and len(analysis.paired) == 4
    assert any("means only" in n for n in analysis.notes)


def test_leaderboard_folder_round_trip_gives_the_same_numbers(tmp_path, team_folders):
    first = build_leaderboard(team_folders, tmp_path / "lb", n_bootstrap=100, seed=5,
                              figures=False, ranking="rank-then-aggregate")
    teams, meta = load_leaderboard_dir(tmp_path / "lb")
    again = analyse(teams, ranking=meta["ranking"], n_bootstrap=meta["bootstrap"],
                    seed=meta["seed"])
    assert again.table == first.table
    assert again.ci_rows == first.ci_rows
    assert math.isinf(max(r["ci_high"] for r in again.ci_rows if r["metric"] == "hd"))


def test_analysis_is_frozen_and_notes_make_a_new_record(team_folders):
    import dataclasses

    from ichbench.reports.inputs import load_inputs

    analysis = analyse(load_inputs(team_folders[:2]), n_bootstrap=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.notes = ()  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        analysis.values[0, 0, 0] = 1.0
    noted = analysis.with_notes(["ABC/2 left out: x"])
    assert noted.notes == (*analysis.notes, "ABC/2 left out: x")
    assert "ABC/2 left out: x" not in analysis.notes
    assert noted.table == analysis.table and noted.challenger is analysis.challenger


def test_notes_of_figures_that_fail_reach_leaderboard_json_and_the_result(
        tmp_path, team_folders, monkeypatch):
    import json

    from ichbench.reports import sources

    def unreadable(*args, **kwargs):
        raise RuntimeError("truth unreadable\nsecond line")

    monkeypatch.setattr(sources, "truth_abc2", unreadable)
    analysis = build_leaderboard(team_folders[:2], tmp_path / "lb", n_bootstrap=10)
    note = "ABC/2 left out: RuntimeError: truth unreadable"
    assert analysis.notes[-1] == note
    meta = json.loads((tmp_path / "lb" / "leaderboard.json").read_text(encoding="utf-8"))
    assert meta["notes"] == list(analysis.notes)
    tables_only = build_leaderboard(team_folders[:2], tmp_path / "lb2", n_bootstrap=10,
                                    figures=False)
    assert note not in tables_only.notes  # no figures: nothing read, nothing noted
