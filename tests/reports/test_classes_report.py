"""Per-class ranking and subtype pages of leaderboards and reports (issue 22)."""

import csv

import numpy as np
import pytest

from ichbench.io.volumes import Geometry, write_volume
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.reports.pages import layout_problems
from ichbench.reports.report import leaderboard_pages
from ichbench.reports.report_content import leaderboard_content
from ichbench.submissions import score_folder

GEOMETRY = Geometry((24, 24, 8), (0.9, 0.9, 5.0), (0.0, 0.0, 0.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def label_board(tmp_path_factory):
    """Truth: IPH (2) and SDH (5) per case; team 'multi' calls the SDH IPH in case 1,
    team 'binary' is binary and misses every SDH."""
    root = tmp_path_factory.mktemp("labels")
    truth, multi, binary = root / "truth", root / "multi", root / "binary"
    for folder in (truth, multi, binary):
        folder.mkdir()
    for i in range(3):
        gt = np.zeros(GEOMETRY.shape, np.uint8)
        gt[2:5, 3:8, 3 + i:8 + i] = 2
        gt[2:5, 15:17, 10:20] = 5
        pred = gt.copy()
        if i == 1:
            pred[pred == 5] = 2
        write_volume(gt, GEOMETRY, truth / f"{i:03d}.nii.gz")
        write_volume(pred, GEOMETRY, multi / f"{i:03d}.nii.gz")
        write_volume((gt == 2).astype(np.uint8), GEOMETRY, binary / f"{i:03d}.nii.gz")
    for team in ("multi", "binary"):
        score_folder(root / team, truth, root / "scores" / team, jobs=1)
    board = root / "board"
    build_leaderboard([root / "scores" / "multi", root / "scores" / "binary"], board,
                      n_bootstrap=0, figures=False)
    return board


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_leaderboard_ranks_each_class_and_the_macro_average(label_board):
    rows = _rows(label_board / "classes_leaderboard.csv")
    assert {r["class"] for r in rows} == {"IPH", "SDH", "macro"}
    assert {r["team"] for r in rows} == {"multi"}  # the binary team has no classes block
    sdh = next(r for r in rows if r["class"] == "SDH")
    assert float(sdh["dc"]) == pytest.approx(2 / 3, abs=1e-6)  # one SDH of three missed


def test_leaderboard_subtypes_show_the_binary_team_missing_sdh(label_board):
    rows = {(r["team"], r["class"]): r for r in _rows(label_board / "subtypes.csv")}
    assert (rows["binary", "SDH"]["detected"], rows["binary", "SDH"]["gt_lesions"]) == ("0",
                                                                                       "3")
    assert float(rows["binary", "IPH"]["lesion_recall"]) == 1.0
    assert float(rows["multi", "SDH"]["lesion_recall"]) == 1.0  # found, as merged ICH


def test_report_has_the_class_and_subtype_pages_laid_out(label_board):
    figures = leaderboard_pages(leaderboard_content(label_board))
    titles = [" ".join(t.get_text() for t in fig.texts) for fig in figures]
    for title in ("Which subtypes are found", "Detection and DC by subtype",
                  "Ranking per class and macro-averaged", "Which cases decide the ranking"):
        assert any(title in t for t in titles), title
    for i, fig in enumerate(figures):
        assert layout_problems(fig) == [], f"page {i + 1}"


def test_rater_folders_enter_the_leaderboard_with_their_ceiling(tmp_path):
    from ichbench.submissions.raters import score_raters

    truth = tmp_path / "raters"
    teams = {"good": tmp_path / "good", "empty": tmp_path / "empty"}
    for folder in teams.values():
        folder.mkdir()
    for i in range(3):
        case = truth / f"c{i}"
        case.mkdir(parents=True)
        for k, shift in ((1, 0), (2, 2)):
            mask = np.zeros(GEOMETRY.shape, np.uint8)
            mask[2:5, 4:10, 4 + shift:10 + shift] = 1
            write_volume(mask, GEOMETRY, case / f"label_annot_{k}.nii.gz")
        good = np.zeros(GEOMETRY.shape, np.uint8)
        good[2:5, 4:10, 5:11] = 1
        write_volume(good, GEOMETRY, teams["good"] / f"c{i}.nii.gz")
        write_volume(np.zeros(GEOMETRY.shape, np.uint8), GEOMETRY,
                     teams["empty"] / f"c{i}.nii.gz")
    for name, folder in teams.items():
        score_raters(folder, truth, tmp_path / "scores" / name, jobs=1)
    board = tmp_path / "board"
    build_leaderboard([tmp_path / "scores" / n for n in teams], board, n_bootstrap=0,
                      figures=False)
    rows = {r["team"]: r for r in _rows(board / "raters_leaderboard.csv")}
    assert float(rows["good"]["interrater_dice_mean"]) == pytest.approx(4 / 6, abs=1e-5)
    assert float(rows["good"]["dice_mean"]) == pytest.approx(5 / 6, abs=1e-5)
    assert float(rows["good"]["dice_max_mean"]) == pytest.approx(5 / 6, abs=1e-5)
    # MBH-Seg25's Dice of an empty prediction: 1e-8 over the rater's voxel count
    assert float(rows["empty"]["dice_max"]) == pytest.approx(0.0, abs=1e-9)
    figures = leaderboard_pages(leaderboard_content(board))
    titles = [" ".join(t.get_text() for t in fig.texts) for fig in figures]
    assert any("the model and its ceiling" in t for t in titles)
