"""The PDF report of a run folder or a leaderboard folder, and a run's one-page summary.

The builder only assembles pages: everything it shows is computed once by
:mod:`ichbench.reports.report_content` (the leaderboard analysis with its bootstrap,
per-split CIs, lesion detection and clinical tables, missed-lesion panels) and handed in;
:func:`leaderboard_pages` and :func:`run_pages` lay that bundle out with
:mod:`ichbench.reports.pages`, the sections both share (:mod:`ichbench.reports.report_sections`),
the words of :mod:`ichbench.reports.report_text` and the figures of
:mod:`ichbench.reports.figures`.
:func:`build_run_report` is what the run harness calls at the end of every run: it writes
``report.pdf``, ``summary.md`` and ``summary.png`` from one bundle. Missing optional pieces
(history, images, truth files, lesion columns) drop their pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from ichbench import __version__
from ichbench.io.atomic import atomic_path, write_text
from ichbench.reports.analysis import leaderboard_columns
from ichbench.reports.inputs import ReportInputError, is_run_folder
from ichbench.reports.labels import heads
from ichbench.reports.pages import PageSet, figure_page, table_pages, text_pages
from ichbench.reports.report_content import (
    SPLIT_COLUMNS,
    LeaderboardContent,
    RunContent,
    leaderboard_content,
    run_content,
)
from ichbench.reports.report_sections import (
    CASE_ALIGN,
    CASE_HEADER,
    case_rows,
    class_pages,
    decisive_page,
    figure_pages,
    fmt_ci,
    lesion_pages,
    protocol_blocks,
)
from ichbench.reports.report_text import RANKING_TEXT, figure_captions
from ichbench.reports.tables import fmt, markdown_text


def leaderboard_pages(content: LeaderboardContent) -> list[Figure]:
    """The pages of a leaderboard folder's report, in order (footers added)."""
    from ichbench.reports.figures import leaderboard_figures

    analysis, meta, teams = content.analysis, content.meta, content.analysis.teams
    metrics = analysis.metrics
    pages = PageSet(f"ichbench {__version__} — leaderboard {content.folder.name}", [])
    inputs = "\n".join(f"{t.name}: {t.kind}, {len(t.cases) if t.cases else 'means only'}"
                       f"{' cases' if t.cases else ''} — {t.source}" for t in teams)
    extra = [("Leaderboard", f"{len(teams)} teams; split {meta.get('split', 'test')}; "
                             f"{len(analysis.case_ids)} paired cases."),
             ("Ranking", RANKING_TEXT[analysis.ranking]),
             ("Statistics", f"Bootstrap: {analysis.n_bootstrap} samples of the cases, paired "
                            f"across teams, numpy Generator seed {analysis.seed}; 95% "
                            "percentile CIs. Pairwise: two-sided Wilcoxon signed-rank per "
                            "metric, Holm-corrected within each metric; test-then-rank: "
                            "one-sided, Holm over all ordered pairs; inf HD ranked above "
                            "every finite value."),
             ("Inputs", inputs)]
    if analysis.notes:
        extra.append(("Notes", "\n".join(analysis.notes)))
    text_pages(pages, "Leaderboard report: protocol",
               protocol_blocks(content.settings, content.protocol, extra))
    columns = leaderboard_columns(analysis)
    rows = [[fmt(r.get(c), c) for c in columns] for r in analysis.table]
    table_pages(pages, "Leaderboard", heads(columns), rows, note=RANKING_TEXT[analysis.ranking],
                align=["right" if c != "team" else "left" for c in columns])
    if analysis.ci_rows:
        by = {(r["team"], r["metric"]): r for r in analysis.ci_rows}
        order = [r["team"] for r in analysis.table if r["team"] in analysis.paired]
        header = ["team", *(f"{heads([m])[0]} mean [95% CI]" for m in metrics)]
        body = [[t, *(fmt_ci(by.get((t, m)), m) for m in metrics)] for t in order]
        if "rvd" in metrics:
            header.append("RVD n excl.")
            for row, t in zip(body, order, strict=True):
                row.append(str(by[(t, "rvd")]["n_excluded"]))
        table_pages(pages, "Bootstrap confidence intervals", header, body,
                    note="inf: at least one resampled mean is inf (an empty prediction "
                         "gives HD inf).")
        stab = analysis.stability_rows
        header = ["team", "median rank", "95% interval",
                  *(f"P(rank {k + 1})" for k in range(len(order)))]
        body = [[r["team"], fmt(r["median_rank"], "rank_"),
                 f"{r['rank_ci_low']}–{r['rank_ci_high']}",
                 *(f"{r[f'p_rank_{k + 1}']:.3f}" for k in range(len(order)))] for r in stab]
        table_pages(pages, "Ranking stability (bootstrap)", header, body)
    if analysis.rta_table and analysis.ranking != "rank-then-aggregate":
        columns = ["rank", "team", "score", *(f"mean_rank_{m}" for m in metrics),
                   *(f"rank_{m}" for m in metrics)]
        table_pages(pages, "Alternative ranking: rank-then-aggregate", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.rta_table],
                    note=RANKING_TEXT["rank-then-aggregate"])
    if analysis.pairwise_rows:
        columns = ["metric", "team_a", "team_b", "n", "median_diff", "p", "p_holm", "better"]
        table_pages(pages, "Pairwise Wilcoxon signed-rank tests (Holm)", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.pairwise_rows],
                    note="median_diff = median of a − b; better: the significantly better team "
                         "(Holm-adjusted p < 0.05).")
    if analysis.values is not None and len(analysis.paired) >= 2:  # issue 22
        decisive_page(pages, content.decisive, len(analysis.case_ids))
    if analysis.challenger is not None and analysis.challenger.consensus:
        from ichbench.reports.challenger_analysis import strata_rows

        rows_ = strata_rows(analysis.challenger)
        columns = list(rows_[0])
        table_pages(pages, "Consensus over lesion-size strata", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in rows_],
                    note="Cases split by their true volume; each stratum ranked like the "
                         "leaderboard; consensus = mean rank over strata.")
    captions = figure_captions(content.settings, analysis)
    figure_pages(pages, leaderboard_figures(analysis, files=content.files), captions)
    lesion_pages(pages, content.lesions)
    class_pages(pages, content.classes, content.subtypes)
    if content.raters:
        columns = ["team", "class", "cases", "dice_mean", "dice_max", "dice_max_mean",
                   "dice_match", "dice_soft", "ged", "interrater_dice_mean",
                   "model_to_ceiling"]
        header = ["team", "class", "cases", "Dice (mean over raters)", "Dice_max",
                  "Dice_max_mean", "Dice_match", "Dice_soft", "GED", "inter-rater Dice",
                  "model / ceiling"]
        body = [[str(r[c]) if c in ("team", "class") else str(int(r[c])) if c == "cases"
                 else fmt(r.get(c, math.nan), "dc") for c in columns] for r in content.raters]
        table_pages(pages, "Against several raters: the model and its ceiling", header,
                    body, note="Means over cases, MBH-Seg25's toolkit's definitions. One "
                               "prediction: Dice_match = the mean per-rater Dice; GED with "
                               "d = 1 − IoU, d(∅, ∅) = 1; inter-rater Dice: pairwise between "
                               "raters, the human ceiling (README, Several raters).")
    for team in teams:
        if team.cases is not None:
            table_pages(pages, f"Per-case results: {team.name}", CASE_HEADER,
                        case_rows(team), align=CASE_ALIGN)
    return pages.finish()


def run_pages(content: RunContent) -> list[Figure]:
    """The pages of a run folder's report (footers added)."""
    from ichbench.reports.figures import leaderboard_figures, metric_distributions
    from ichbench.reports.learning_curve import learning_curve_figure
    from ichbench.reports.sources import learning_notes

    config, teams = content.config, content.teams
    pages = PageSet(f"ichbench {__version__} — run {content.run_dir.name}", [])
    settings = ", ".join(f"{k}={v}" for k, v in _dotted(config.get("config") or {}))
    extra = [("Run", f"Folder: {content.run_dir}\nMethod: {content.method}; preset "
                     f"{config.get('preset', '–')}; device {config.get('device', '–')}; seed "
                     f"{config.get('seed', '–')}; folds {config.get('folds', '–')}\n"
                     f"Config hash: {config.get('config_hash', '–')}; ichbench "
                     f"{config.get('ichbench_version', '–')}"),
             ("Method configuration", settings or "–")]
    if not teams:
        extra.append(("Scores", "No scores/<split>/cases.csv in this run folder."))
    if content.notes:
        extra.append(("Notes", "\n".join(content.notes)))
    text_pages(pages, f"Run report: {content.method}",
               protocol_blocks(content.settings, content.protocol, extra))
    captions = figure_captions(content.settings)
    if teams and content.main is not None:
        table_pages(pages, "Scores per split (mean [bootstrap 95% CI])", heads(SPLIT_COLUMNS),
                    [[fmt(r.get(c), c) for c in SPLIT_COLUMNS] for r in content.split_rows],
                    note="Bootstrap over cases, 1000 samples, seed 0. train_oof = out-of-fold "
                         "predictions of the training cases.")
        groups = {t.name: t.cases.values for t in teams if t.cases is not None}
        figure_page(pages, "Per-case metrics by split", metric_distributions(groups),
                    caption=captions["distributions"])
        main_name = content.main.teams[0].name
        figure_pages(pages, leaderboard_figures(content.main, files=content.files), captions,
                      suffix=f" ({main_name} split)", skip=("distributions",))
        lesion_pages(pages, content.lesions)
        class_pages(pages, content.classes, content.subtypes, who="split")
    if content.histories:
        did_not_learn = learning_notes(content.histories)
        figure_page(pages, "Learning curves", learning_curve_figure(content.histories),
                    caption="Per fold: training and validation loss and validation DC per "
                            "epoch (dot: best epoch), from folds/<k>/history.csv. The "
                            "coarse stage keeps its best epoch's weights; nnU-Net (fine) "
                            "predicts with its last epoch's, as nnU-Net does, and its "
                            "validation DC is nnU-Net's pseudo Dice on sampled patches. "
                            + ("; ".join(did_not_learn) if did_not_learn else
                               "Every stage improved on its first epoch in every fold."))
    for team in teams:
        table_pages(pages, f"Per-case results: {team.name} split", CASE_HEADER,
                    case_rows(team), align=CASE_ALIGN)
    return pages.finish()


def save_pdf(figures: Sequence[Figure], out: Path) -> int:
    """Write pages into one PDF atomically; returns the page count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, PdfPages(tmp) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return len(figures)


def build_report(source: str | Path, out: str | Path, *, images: str | Path | None = None
                 ) -> tuple[Path, int]:
    """Write the PDF report of a run folder or a leaderboard folder.

    Returns
    -------
    (Path, int)
        The PDF path and its page count.

    Raises
    ------
    ReportInputError
        If ``source`` is neither a run folder nor a leaderboard folder.
    """
    source, out = Path(source), Path(out)
    if (source / "leaderboard.json").is_file():
        return out, save_pdf(leaderboard_pages(leaderboard_content(source)), out)
    if (source / "config.json").is_file():
        content = run_content(source, images=images)
        return out, save_pdf(run_pages(content), out)
    raise ReportInputError(f"{source}: neither a run folder (config.json) nor a leaderboard "
                           "folder (leaderboard.json); give one of those")


def summary_figure(rows: list[dict], groups: dict, title: str) -> Figure:
    """One-page summary: the per-split table above the per-case distributions."""
    from ichbench.reports.figures import metric_distributions
    from ichbench.reports.pages import PAGE_IN

    page = PageSet(title, [])
    table_pages(page, title, heads(SPLIT_COLUMNS),
                [[fmt(r.get(c), c) for c in SPLIT_COLUMNS] for r in rows])
    fig = page.pages[0]
    if groups:
        import io

        import matplotlib.image as mpimg

        dist = metric_distributions(groups)
        dist.set_size_inches(PAGE_IN[0] - 1.0, 4.6)
        buffer = io.BytesIO()
        dist.savefig(buffer, format="png", dpi=110)
        buffer.seek(0)
        ax = fig.add_axes((0.04, 0.02, 0.92, 0.62))
        ax.imshow(mpimg.imread(buffer, format="png"))
        ax.axis("off")
    return fig


def build_run_report(run_dir: Path) -> Path:
    """Write ``report.pdf``, ``summary.md`` and ``summary.png`` into a run folder.

    Called by the run harness at the end of every run. Works with whatever the folder
    holds: without scores the PDF has the run page only, without history or images those
    pages are left out.

    Returns
    -------
    Path
        ``run_dir / "report.pdf"``.
    """
    run_dir = Path(run_dir)
    content = run_content(run_dir)
    pdf = run_dir / "report.pdf"
    n_pages = save_pdf(run_pages(content), pdf)
    config, method, rows = content.config, content.method, content.split_rows
    lines = [f"# {method}: {run_dir.name}\n",
             f"ichbench {__version__}, preset {config.get('preset', '–')}, seed "
             f"{config.get('seed', '–')}. Full report: report.pdf ({n_pages} pages).\n"]
    if rows:
        lines.append(markdown_text(rows, SPLIT_COLUMNS))
        lines.append("\nMeans with bootstrap 95% CIs (1000 samples over cases, seed 0).\n")
    else:
        lines.append("No scores in this run folder.\n")
    write_text(run_dir / "summary.md", "\n".join(lines))
    groups = {t.name: t.cases.values for t in content.teams if t.cases is not None}
    fig = summary_figure(rows, groups, f"{method} — {run_dir.name}")
    with atomic_path(run_dir / "summary.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return pdf


__all__ = ["build_report", "build_run_report", "is_run_folder"]


def _dotted(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested config as (dotted key, value) pairs, the form ``--set`` takes.

    >>> _dotted({"coarse": {"train": {"epochs": 10}}, "seed": 0})
    [('coarse.train.epochs', 10), ('seed', 0)]
    """
    pairs: list[tuple[str, object]] = []
    for key, value in config.items():
        if isinstance(value, dict):
            pairs.extend(_dotted(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs

