"""PDF reports: page counts, no overflow on any page, rendering, and the run harness hook."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ichbench.reports import build_run_report
from ichbench.reports.inputs import ReportInputError
from ichbench.reports.leaderboard import build_leaderboard
from ichbench.reports.pages import layout_problems
from ichbench.reports.report import build_report, leaderboard_pages, run_pages, save_pdf
from ichbench.reports.report_content import leaderboard_content, run_content


def _render_count(pdf, tmp_path) -> int | None:
    if shutil.which("pdftoppm") is None:
        return None
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    return len(list(tmp_path.glob("page-*.png")))


@pytest.mark.slow
def test_run_report_has_every_page_and_nothing_overflows(tiny_run):
    content = run_content(tiny_run)
    figures, rows = run_pages(content), content.split_rows
    # protocol, split table, distributions, volumes, overlays, clinical volume agreement,
    # learning curves, per-case test, per-case train_oof
    assert len(figures) == 9
    assert [r["split"] for r in rows] == ["test", "train_oof"]
    for i, fig in enumerate(figures):
        assert layout_problems(fig) == [], f"page {i + 1}"


@pytest.mark.slow
def test_build_run_report_writes_pdf_summary_md_and_png(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    pdf = build_run_report(run)
    assert pdf == run / "report.pdf" and pdf.stat().st_size > 10_000
    assert (run / "summary.png").stat().st_size > 10_000
    summary = (run / "summary.md").read_text(encoding="utf-8")
    assert "| test | 3 |" in summary and "report.pdf (9 pages)" in summary
    rendered = _render_count(pdf, tmp_path)
    if rendered is not None:
        assert rendered == 9


def test_run_report_without_history_images_or_scores_still_builds(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("folds", "coarse",
                                                                 "predictions"))
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["data"] = str(tmp_path / "gone")
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (run / "scores" / "validation").mkdir()
    (run / "scores" / "validation" / "cases.csv").write_text("case,dc,nsd,hd,rvd\n",
                                                             encoding="utf-8")
    figures = run_pages(run_content(run))
    assert len(figures) == 7  # no overlays, no learning curves, empty split left out
    first_page = " ".join(t.get_text() for t in figures[0].texts)
    assert "split validation left out" in first_page
    shutil.rmtree(run / "scores")
    assert build_run_report(run).is_file()


@pytest.mark.slow
def test_leaderboard_report_pages_and_layout(team_folders, tmp_path):
    build_leaderboard(team_folders, tmp_path / "lb", n_bootstrap=100, figures=False)
    figures = leaderboard_pages(leaderboard_content(tmp_path / "lb"))
    # protocol, leaderboard, CIs, stability, rank-then-aggregate, pairwise, decisive
    # cases, consensus over lesion-size strata, 3 figures (no images: no overlays),
    # 4 challengeR figures (significance map, podium, ranking methods, Kendall's τ),
    # clinical volume agreement, 4 per-case pages
    assert len(figures) == 20
    titles = [" ".join(t.get_text() for t in fig.texts) for fig in figures]
    assert any("Which cases decide the ranking" in t for t in titles)
    for i, fig in enumerate(figures):
        assert layout_problems(fig) == [], f"page {i + 1}"
    assert save_pdf(figures, tmp_path / "lb.pdf") == 20


def test_build_report_refuses_other_folders(tmp_path):
    with pytest.raises(ReportInputError, match="neither a run folder"):
        build_report(tmp_path, tmp_path / "x.pdf")


def test_metric_names_are_written_once_for_figures_and_tables():
    from ichbench.reports.labels import HEADS, METRIC_LABELS, heads
    from ichbench.reports.report_sections import CASE_HEADER

    assert CASE_HEADER == ["case", "status", "DC", "NSD", "HD (mm)", "HD95 (mm)", "RVD",
                           "true mL", "pred mL"]
    assert all(HEADS[m] == label for m, label in METRIC_LABELS.items())
    assert heads(["lesionwise_hd95", "rank_lesion_f1", "mean_rank_hd"]) == [
        "lesion-wise HD95 (mm)", "rank F1", "mean rank HD (mm)"]
