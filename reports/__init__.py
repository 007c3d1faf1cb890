"""ichbench.reports: leaderboards, ranking and statistics, tables, figures and the PDF report.

Modules, lowest first (each imports only modules above it in this list; tested by
``tests/reports/test_layering.py``): :mod:`~ichbench.reports.inputs` (score/run folders,
published means), :mod:`~ichbench.reports.labels` and :mod:`~ichbench.reports.style`
(display names, figure style), :mod:`~ichbench.reports.learning_curve` (the learning-curve
figure, also drawn for each trained fold), :mod:`~ichbench.reports.ranking` (INSTANCE and
rank-then-aggregate), :mod:`~ichbench.reports.stats` (bootstrap, Wilcoxon, Holm),
:mod:`~ichbench.reports.challenger` and :mod:`~ichbench.reports.challenger_analysis`
(challengeR's analyses), :mod:`~ichbench.reports.analysis` (the frozen analysis record),
:mod:`~ichbench.reports.sources` (the NIfTI files behind the scores),
:mod:`~ichbench.reports.figures`, :mod:`~ichbench.reports.leaderboard` (the output
folder), :mod:`~ichbench.reports.tasks` (several tasks and their consensus),
:mod:`~ichbench.reports.report_content` (what a PDF shows),
:mod:`~ichbench.reports.report_text`, :mod:`~ichbench.reports.report_sections`,
:mod:`~ichbench.reports.pages` (PDF layout) and :mod:`~ichbench.reports.report` (the PDF).

``build_run_report`` and ``build_report`` are imported lazily so that importing this package
loads no matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["build_leaderboard", "build_report", "build_run_report"]


def build_run_report(run_dir: Path) -> Path:
    """Write ``report.pdf``, ``summary.md`` and ``summary.png`` into ``run_dir``.

    Returns the PDF path; see :func:`ichbench.reports.report.build_run_report`.
    """
    from ichbench.reports.report import build_run_report as build

    return build(Path(run_dir))


def build_report(source: Any, out: Any, **kwargs: Any) -> tuple[Path, int]:
    """See :func:`ichbench.reports.report.build_report`."""
    from ichbench.reports.report import build_report as build

    return build(source, out, **kwargs)


def build_leaderboard(inputs: Any, out_dir: Any, **kwargs: Any) -> Any:
    """See :func:`ichbench.reports.leaderboard.build_leaderboard`."""
    from ichbench.reports.leaderboard import build_leaderboard as build

    return build(inputs, out_dir, **kwargs)
