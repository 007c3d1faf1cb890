"""Lesion pages of the reports, and the builder assembling only what it is handed."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from ichbench.io.volumes import read_volume, write_volume
from ichbench.reports.inputs import CaseTable, TeamResults, load_inputs
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.reports.lesion_report import clinical_rows, detection_rows
from ichbench.reports.pages import layout_problems
from ichbench.reports.report import leaderboard_pages, run_pages
from ichbench.reports.report_content import (
    leaderboard_content,
    recorded_settings,
    run_content,
)
from ichbench.reports.report_text import figure_captions
from ichbench.submissions import score_folder

BINS = ("lt1ml", "1to5ml", "5to30ml", "ge30ml")


def _team(name, **columns):
    n = len(next(iter(columns.values())))
    values = {k: np.asarray(v, float) for k, v in columns.items()}
    return TeamResults(name, "score", "x", {}, CaseTable(tuple(f"{i:03d}" for i in range(n)),
                                                           ("ok",) * n, values))


def test_detection_rows_pool_counts_over_cases_and_skip_teams_without_columns():
    per_bin = {f"gt_lesions_{b}": [1, 0] for b in BINS} | {f"lesion_tp_{b}": [0, 0]
                                                             for b in BINS}
    per_bin["gt_lesions_lt1ml"], per_bin["lesion_tp_lt1ml"] = [2, 1], [1, 1]
    per_bin["gt_lesions_ge30ml"], per_bin["lesion_tp_ge30ml"] = [1, np.nan], [1, np.nan]
    team = _team("a", lesion_tp=[2, 1], lesion_fp=[1, 2], lesion_fn=[3, 0], **per_bin)
    old = _team("old", dc=[0.5, 0.5])
    rows = detection_rows([team, old])
    assert [r["team"] for r in rows] == ["a"]
    row = rows[0]
    assert (row["lesion_tp"], row["lesion_fp"], row["lesion_fn"]) == (3, 3, 3)
    assert row["lesion_f1"] == pytest.approx(6 / 12)
    assert row["fp_per_case"] == pytest.approx(1.5)
    assert (row["n_lt1ml"], row["tp_lt1ml"], row["recall_lt1ml"]) == (3, 2, pytest.approx(2 / 3))
    assert row["n_1to5ml"] == 1 and row["recall_1to5ml"] == 0.0
    assert row["n_ge30ml"] == 1 and row["recall_ge30ml"] == 1.0


def test_clinical_rows_use_volume_agreement():
    team = _team("a", gt_volume_ml=[0.0, 40.0, 10.0], pred_volume_ml=[0.0, 20.0, 10.5])
    (row,) = clinical_rows([team])
    assert row["n"] == 3 and row["table_30ml"] == "2/0/1/0"
    assert row["mae_ml"] == pytest.approx((0 + 20 + 0.5) / 3)
    assert row["expansion_sized"] == 1 and row["specificity"] == 1.0


@pytest.fixture
def scored_run(tiny_run, tmp_path):
    """The tiny run with a far extra truth lesion in case 132 and real lesion columns."""
    root = tmp_path / "copy"
    shutil.copytree(tiny_run.parents[1], root)
    run = root / "runs" / tiny_run.name
    data = root / "data"
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["data"] = str(data)
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    label = data / "evaluation_label" / "132.nii.gz"
    volume = read_volume(label)
    mask = volume.array.copy()
    mask[4, 26:29, 3:6] = 1  # 9 voxels far from the predicted blob: a missed lesion
    write_volume(mask, volume.geometry, label)
    shutil.rmtree(run / "scores" / "test")
    score_folder(run / "predictions" / "test", data / "evaluation_label", run / "scores" / "test",
                 jobs=1, progress=False)
    return run


@pytest.mark.slow
def test_run_report_gets_detection_clinical_and_missed_lesion_pages(scored_run):
    content = run_content(scored_run)
    (test_row,) = [r for r in content.lesions.detection if r["team"] == "test"]
    assert test_row["lesion_fn"] == 1 and test_row["lesions"] == 4
    assert content.lesions.missed_team == "test" and len(content.lesions.missed_panels) == 1
    assert "case 132: missed" in content.lesions.missed_panels[0]["title"]
    figures = run_pages(content)
    titles = [fig.texts[0].get_text() for fig in figures]
    for title in ("Detection by lesion size", "Lesion detection", "Clinical volume agreement",
                  "Largest missed lesions: test"):
        assert title in titles, titles
    for i, fig in enumerate(figures):
        assert layout_problems(fig) == [], f"page {i + 1}"


@pytest.mark.slow
def test_run_pages_only_assemble_what_they_are_handed(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    content = run_content(run)
    expected = len(run_pages(content))
    shutil.rmtree(run)  # nothing left to read: the pages come from the content alone
    assert len(run_pages(content)) == expected


def _with_tolerance(folders, root, tolerances):
    copies = []
    for folder, tol in zip(folders, tolerances, strict=True):
        dest = root / folder.name
        shutil.copytree(folder, dest)
        summary = json.loads((dest / "summary.json").read_text(encoding="utf-8"))
        summary["tolerance_mm"] = tol
        (dest / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        copies.append(dest)
    return copies


def test_captions_and_protocol_say_the_recorded_tolerance(team_folders, tmp_path):
    folders = _with_tolerance(team_folders[:2], tmp_path / "t", [1.5, 1.5])
    build_leaderboard(folders, tmp_path / "lb", n_bootstrap=20, figures=False)
    content = leaderboard_content(tmp_path / "lb")
    shutil.rmtree(tmp_path / "lb")  # assembling reads nothing
    pages = leaderboard_pages(content)
    protocol = " ".join(t.get_text() for t in pages[0].texts)
    assert "τ = 1.5 mm" in protocol and "0.42" not in protocol.replace("INSTANCE 2022: 0.42", "")
    assert "τ = 1.5 mm" in figure_captions(content.settings)["distributions"]


def test_tolerances_that_differ_are_not_recorded_and_noted(team_folders, tmp_path):
    folders = _with_tolerance(team_folders[:2], tmp_path / "t", [0.42, 2.0])
    settings = recorded_settings(load_inputs(folders))
    assert settings.tolerance_mm is None and "different tolerance_mm" in settings.notes[0]
    assert "τ not recorded" in figure_captions(settings)["distributions"]
    assert not math.isnan(settings.hd_percentile)
